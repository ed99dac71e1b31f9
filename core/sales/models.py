"""Sales-order tables."""

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base
from core.money import round_money
from core.numbering import SALES_ORDER, SHIPMENT


class OrderStatus(StrEnum):
    DRAFT = "draft"
    ON_HOLD = "on_hold"
    CONFIRMED = "confirmed"
    PARTIALLY_SHIPPED = "partially_shipped"
    INVOICED = "invoiced"
    CANCELLED = "cancelled"


class PriceSource(StrEnum):
    CONTRACT = "contract"
    PRICE_LIST = "price_list"
    LIST_PRICE = "list_price"
    OVERRIDE = "override"


class SalesOrder(Base):
    __tablename__ = "sales_orders"

    id: Mapped[int] = mapped_column(primary_key=True)
    entity_id: Mapped[int] = mapped_column(ForeignKey("legal_entities.id"), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(20), index=True)
    order_date: Mapped[date]
    requested_date: Mapped[date]
    customer_reference: Mapped[str] = mapped_column(String(64), default="")
    hold_reason: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime]
    external_ref: Mapped[str | None] = mapped_column(String(64))  # its number in the system it came from

    __table_args__ = (Index("ix_sales_orders_external_ref", "entity_id", "external_ref", unique=True),)

    lines: Mapped[list["SalesOrderLine"]] = relationship(
        back_populates="order",
        order_by="SalesOrderLine.line_no",
        cascade="all, delete-orphan",
    )

    @property
    def number(self) -> str:
        return SALES_ORDER.format(self.id)


class SalesOrderLine(Base):
    """A line: prices in the order currency; `unit_cost` is standard cost converted at order time."""

    __tablename__ = "sales_order_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("sales_orders.id"), index=True)
    line_no: Mapped[int]
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), index=True)
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouses.id"))
    quantity: Mapped[int]
    unit_price: Mapped[Decimal]
    price_source: Mapped[str] = mapped_column(String(12))
    discount_pct: Mapped[Decimal] = mapped_column(default=Decimal(0))
    net_price: Mapped[Decimal]
    unit_cost: Mapped[Decimal]
    qty_shipped: Mapped[int] = mapped_column(default=0)
    qty_invoiced: Mapped[int] = mapped_column(default=0)
    promise_date: Mapped[date | None]

    order: Mapped[SalesOrder] = relationship(back_populates="lines")

    __table_args__ = (
        CheckConstraint("quantity > 0", name="ck_so_lines_qty"),
        CheckConstraint("qty_shipped >= 0 AND qty_shipped <= quantity", name="ck_so_lines_shipped"),
        CheckConstraint(
            "qty_invoiced >= 0 AND qty_invoiced <= qty_shipped",
            name="ck_so_lines_invoiced",
        ),
        CheckConstraint("discount_pct >= 0 AND discount_pct <= 100", name="ck_so_lines_discount"),
    )

    @property
    def open_quantity(self) -> int:
        """Ordered but not yet shipped."""
        return self.quantity - self.qty_shipped

    @property
    def net_amount(self) -> Decimal:
        return round_money(self.net_price * self.quantity)


class Shipment(Base):
    """Goods of one order leaving one warehouse, with how they travel (carrier, tracking, packages, weight).

    `warehouse_id` is empty only on shipments older than the shipping service (the demo's history): their
    lines left from the order lines' warehouses."""

    __tablename__ = "shipments"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("sales_orders.id"), index=True)
    shipped_on: Mapped[date]
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    warehouse_id: Mapped[int | None] = mapped_column(ForeignKey("warehouses.id"))
    carrier: Mapped[str] = mapped_column(String(40), default="")
    service_level: Mapped[str] = mapped_column(String(40), default="")
    tracking_number: Mapped[str] = mapped_column(String(64), default="", index=True)
    packages: Mapped[int | None]
    weight_kg: Mapped[Decimal | None]

    lines: Mapped[list["ShipmentLine"]] = relationship(cascade="all, delete-orphan")

    __table_args__ = (
        CheckConstraint("packages IS NULL OR packages > 0", name="ck_shipments_packages"),
        CheckConstraint("weight_kg IS NULL OR weight_kg > 0", name="ck_shipments_weight"),
    )

    @property
    def number(self) -> str:
        return SHIPMENT.format(self.id)


class ShipmentLine(Base):
    __tablename__ = "shipment_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    shipment_id: Mapped[int] = mapped_column(ForeignKey("shipments.id"), index=True)
    order_line_id: Mapped[int] = mapped_column(ForeignKey("sales_order_lines.id"), index=True)
    quantity: Mapped[int]

    __table_args__ = (
        CheckConstraint("quantity > 0", name="ck_shipment_lines_qty"),
        Index(
            "ix_shipment_lines_shipment_line",
            "shipment_id",
            "order_line_id",
            unique=True,
        ),
    )


class ChargeKind(StrEnum):
    EXPEDITE = "expedite"


class OrderCharge(Base):
    """A charge on an order beyond its lines (expedited freight), in the order's currency; never updated but for
    the invoice a billed charge went on.

    Absorbed (`billed` false): a cost of the order that lowers its margin. Billed: the customer pays it on the
    order's next shipment invoice (`invoice_id` set then), so it is revenue and cost alike."""

    __tablename__ = "order_charges"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("sales_orders.id"), index=True)
    entity_id: Mapped[int] = mapped_column(ForeignKey("legal_entities.id"))
    shipment_id: Mapped[int | None] = mapped_column(ForeignKey("shipments.id"))
    kind: Mapped[str] = mapped_column(String(16))
    amount: Mapped[Decimal]
    currency: Mapped[str] = mapped_column(String(3))
    carrier: Mapped[str] = mapped_column(String(40))
    reason: Mapped[str] = mapped_column(Text)
    billed: Mapped[bool] = mapped_column(default=False)
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"))
    charged_on: Mapped[date]
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime]

    __table_args__ = (
        Index("ix_order_charges_entity_charged", "entity_id", "charged_on"),
        CheckConstraint("amount > 0", name="ck_order_charges_amount"),
        CheckConstraint("kind IN ('expedite')", name="ck_order_charges_kind"),
    )
