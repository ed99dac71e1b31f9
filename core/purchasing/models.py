"""Purchase-order tables."""

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base
from core.numbering import PURCHASE_ORDER


class PurchaseOrderStatus(StrEnum):
    OPEN = "open"
    PARTIALLY_RECEIVED = "partially_received"
    RECEIVED = "received"
    CLOSED = "closed"  # closed short: what was not received will not come
    CANCELLED = "cancelled"


class PurchaseOrder(Base):
    __tablename__ = "purchase_orders"

    id: Mapped[int] = mapped_column(primary_key=True)
    entity_id: Mapped[int] = mapped_column(ForeignKey("legal_entities.id"), index=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id"), index=True)
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouses.id"))
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(20), index=True)
    order_date: Mapped[date]
    expected_date: Mapped[date]
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime]
    external_ref: Mapped[str | None] = mapped_column(String(64))  # its number in the system it came from

    __table_args__ = (Index("ix_purchase_orders_external_ref", "entity_id", "external_ref", unique=True),)

    lines: Mapped[list["PurchaseOrderLine"]] = relationship(
        back_populates="order",
        order_by="PurchaseOrderLine.id",
        cascade="all, delete-orphan",
    )

    @property
    def number(self) -> str:
        return PURCHASE_ORDER.format(self.id)


class PurchaseOrderLine(Base):
    __tablename__ = "purchase_order_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("purchase_orders.id"), index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), index=True)
    quantity: Mapped[int]
    qty_received: Mapped[int] = mapped_column(default=0)
    unit_cost: Mapped[Decimal]

    order: Mapped[PurchaseOrder] = relationship(back_populates="lines")

    __table_args__ = (
        CheckConstraint("quantity > 0", name="ck_po_lines_qty"),
        # More than ordered may arrive (an over-receipt the policy allowed), never less than nothing.
        CheckConstraint("qty_received >= 0", name="ck_po_lines_received"),
    )

    @property
    def open_quantity(self) -> int:
        return max(0, self.quantity - self.qty_received)


class ItemSource(Base):
    """Where an entity buys an item: the supplier, its minimum order quantity and the pack it sells in.

    A purchase order proposed for the item orders at least `moq` units, in whole packs of `pack_size`.
    An item with no source row is bought from the supplier it was last bought from (planning reads both)."""

    __tablename__ = "item_sources"

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"))
    entity_id: Mapped[int] = mapped_column(ForeignKey("legal_entities.id"), index=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id"), index=True)
    moq: Mapped[int] = mapped_column(default=1)
    pack_size: Mapped[int] = mapped_column(default=1)

    __table_args__ = (
        UniqueConstraint("item_id", "entity_id", name="uq_item_sources_item_entity"),
        CheckConstraint("moq >= 1", name="ck_item_sources_moq"),
        CheckConstraint("pack_size >= 1", name="ck_item_sources_pack"),
    )
