"""Master-data tables."""

from datetime import date
from decimal import Decimal

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base


class LegalEntity(Base):
    __tablename__ = "legal_entities"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    base_currency: Mapped[str] = mapped_column(String(3))
    country: Mapped[str] = mapped_column(String(2))


class Warehouse(Base):
    __tablename__ = "warehouses"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    city: Mapped[str] = mapped_column(String(80))
    entity_id: Mapped[int] = mapped_column(ForeignKey("legal_entities.id"), index=True)

    entity: Mapped[LegalEntity] = relationship(lazy="joined")


class Item(Base):
    """A stocked product. Costs and list prices are in the group currency (USD)."""

    __tablename__ = "items"

    id: Mapped[int] = mapped_column(primary_key=True)
    sku: Mapped[str] = mapped_column(String(40), unique=True)
    # Upper-cased, punctuation-free SKU, so that "v200" finds "V-200".
    sku_key: Mapped[str] = mapped_column(String(40), index=True)
    name: Mapped[str] = mapped_column(String(160))
    description: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[str] = mapped_column(String(60), index=True)
    uom: Mapped[str] = mapped_column(String(8), default="EA")
    standard_cost: Mapped[Decimal]
    list_price: Mapped[Decimal]
    active: Mapped[bool] = mapped_column(default=True)

    __table_args__ = (
        CheckConstraint("standard_cost >= 0", name="ck_items_cost_nonneg"),
        CheckConstraint("list_price >= 0", name="ck_items_price_nonneg"),
    )


class ItemSubstitute(Base):
    __tablename__ = "item_substitutes"

    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), primary_key=True)
    substitute_id: Mapped[int] = mapped_column(ForeignKey("items.id"), primary_key=True)
    priority: Mapped[int] = mapped_column(default=1)


class PriceList(Base):
    __tablename__ = "price_lists"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    entity_id: Mapped[int] = mapped_column(ForeignKey("legal_entities.id"))
    currency: Mapped[str] = mapped_column(String(3))


class PriceListItem(Base):
    __tablename__ = "price_list_items"

    price_list_id: Mapped[int] = mapped_column(ForeignKey("price_lists.id"), primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), primary_key=True)
    unit_price: Mapped[Decimal]


class Customer(Base):
    """A customer of one legal entity; credit limit in the entity's currency."""

    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(160), index=True)
    entity_id: Mapped[int] = mapped_column(ForeignKey("legal_entities.id"), index=True)
    tier: Mapped[str] = mapped_column(String(8))
    credit_limit: Mapped[Decimal]
    payment_terms_days: Mapped[int] = mapped_column(default=30)
    price_list_id: Mapped[int | None] = mapped_column(ForeignKey("price_lists.id"))
    on_credit_hold: Mapped[bool] = mapped_column(default=False)
    credit_hold_reason: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str] = mapped_column(Text, default="")

    entity: Mapped[LegalEntity] = relationship(lazy="joined")


class ContractPrice(Base):
    __tablename__ = "contract_prices"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"))
    unit_price: Mapped[Decimal]
    valid_from: Mapped[date]
    valid_to: Mapped[date | None]

    __table_args__ = (Index("ix_contract_prices_customer_item", "customer_id", "item_id"),)


class Supplier(Base):
    __tablename__ = "suppliers"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(160))
    entity_id: Mapped[int] = mapped_column(ForeignKey("legal_entities.id"), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    lead_time_days: Mapped[int]
    note: Mapped[str] = mapped_column(Text, default="")
    # Days from a supplier invoice's date to its due date, unless the invoice says otherwise.
    payment_terms_days: Mapped[int] = mapped_column(default=30, server_default="30")


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(120))
    email: Mapped[str] = mapped_column(String(160), unique=True)
    active: Mapped[bool] = mapped_column(default=True)


class UserRole(Base):
    __tablename__ = "user_roles"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    role: Mapped[str] = mapped_column(String(16), primary_key=True)


class UserEntityScope(Base):
    """An entity a user may see and act in, with their approval limit there (entity currency)."""

    __tablename__ = "user_entity_scopes"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    entity_id: Mapped[int] = mapped_column(ForeignKey("legal_entities.id"), primary_key=True)
    approval_limit: Mapped[Decimal] = mapped_column(default=Decimal(0))


class CurrencyRate(Base):
    """1 unit of `from_currency` is `rate` units of `to_currency` from `valid_from` on."""

    __tablename__ = "currency_rates"

    id: Mapped[int] = mapped_column(primary_key=True)
    from_currency: Mapped[str] = mapped_column(String(3))
    to_currency: Mapped[str] = mapped_column(String(3))
    rate: Mapped[Decimal] = mapped_column(Numeric(18, 8))
    valid_from: Mapped[date]

    __table_args__ = (
        UniqueConstraint(
            "from_currency",
            "to_currency",
            "valid_from",
            name="uq_currency_rates_pair_day",
        ),
        CheckConstraint("rate > 0", name="ck_currency_rates_positive"),
    )


class IntercompanyRule(Base):
    """Transfer price between two entities: standard cost plus `markup_pct` percent."""

    __tablename__ = "intercompany_rules"

    from_entity_id: Mapped[int] = mapped_column(ForeignKey("legal_entities.id"), primary_key=True)
    to_entity_id: Mapped[int] = mapped_column(ForeignKey("legal_entities.id"), primary_key=True)
    markup_pct: Mapped[Decimal]
