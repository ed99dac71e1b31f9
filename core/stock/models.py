"""Stock tables. The balance is the ledger summed, kept in step in the same transaction."""

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Literal, get_args

from sqlalchemy import CheckConstraint, ForeignKey, Index, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base
from core.numbering import STOCK_ADJUSTMENT

OPENING_STOCK_REF = "opening_stock"  # the ledger's ref_type of an opening entry; ref_id is an OpeningStock row


class Bucket(StrEnum):
    ON_HAND = "on_hand"
    IN_TRANSIT = "in_transit"


class Movement(StrEnum):
    RECEIPT = "receipt"
    SHIPMENT = "shipment"
    TRANSFER_OUT = "transfer_out"
    TRANSFER_IN_TRANSIT = "transfer_in_transit"
    TRANSFER_IN = "transfer_in"
    TRANSFER_LOSS = "transfer_loss"  # shipped but not put on hand at the destination: short or damaged
    ADJUSTMENT = "adjustment"
    CUSTOMER_RETURN = "customer_return"  # returned goods put back on the shelf (a return authorisation's restock)
    OPENING = "opening"  # on-hand taken over from the previous system when the company starts here (an import)


class SupplySource(StrEnum):
    PURCHASE_ORDER_LINE = "purchase_order_line"
    TRANSFER_LINE = "transfer_line"


class DemandSource(StrEnum):
    SALES_ORDER_LINE = "sales_order_line"
    TRANSFER_LINE = "transfer_line"


class LedgerEntry(Base):
    """One stock movement; never updated or deleted."""

    __tablename__ = "stock_ledger"

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"))
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouses.id"))
    bucket: Mapped[str] = mapped_column(String(12))
    movement: Mapped[str] = mapped_column(String(24))
    quantity: Mapped[int]
    ref_type: Mapped[str] = mapped_column(String(32))
    ref_id: Mapped[int]
    posted_at: Mapped[datetime]
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    note: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (
        Index("ix_stock_ledger_item_wh", "item_id", "warehouse_id"),
        Index("ix_stock_ledger_ref", "ref_type", "ref_id"),
        CheckConstraint("quantity <> 0", name="ck_stock_ledger_nonzero"),
    )


class StockBalance(Base):
    """Per item and warehouse: what is there, promised, short, coming and on the road."""

    __tablename__ = "stock_balances"

    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), primary_key=True)
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouses.id"), primary_key=True)
    on_hand: Mapped[int] = mapped_column(default=0)
    reserved: Mapped[int] = mapped_column(default=0)
    backordered: Mapped[int] = mapped_column(default=0)
    incoming: Mapped[int] = mapped_column(default=0)
    in_transit: Mapped[int] = mapped_column(default=0)

    __table_args__ = (
        CheckConstraint("on_hand >= 0", name="ck_stock_balances_on_hand"),
        CheckConstraint("reserved >= 0 AND reserved <= on_hand", name="ck_stock_balances_reserved"),
        CheckConstraint("backordered >= 0", name="ck_stock_balances_backordered"),
        CheckConstraint("incoming >= 0", name="ck_stock_balances_incoming"),
        CheckConstraint("in_transit >= 0", name="ck_stock_balances_in_transit"),
        Index("ix_stock_balances_warehouse", "warehouse_id"),
    )


class IncomingSupply(Base):
    """Open, dated supply for a warehouse: a purchase-order line or an inbound transfer line."""

    __tablename__ = "incoming_supply"

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"))
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouses.id"))
    due_date: Mapped[date]
    quantity: Mapped[int]
    source_type: Mapped[str] = mapped_column(String(24))
    source_id: Mapped[int]

    __table_args__ = (
        Index("ix_incoming_supply_item_wh_due", "item_id", "warehouse_id", "due_date"),
        Index("ix_incoming_supply_source", "source_type", "source_id", unique=True),
        CheckConstraint("quantity >= 0", name="ck_incoming_supply_qty"),
    )


class Reservation(Base):
    """A demand line's claim on a warehouse: `quantity` set aside, `backordered` still waiting."""

    __tablename__ = "reservations"

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"))
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouses.id"))
    quantity: Mapped[int]
    backordered: Mapped[int] = mapped_column(default=0)
    source_type: Mapped[str] = mapped_column(String(24))
    source_id: Mapped[int]

    __table_args__ = (
        Index("ix_reservations_source", "source_type", "source_id", unique=True),
        Index("ix_reservations_item_wh", "item_id", "warehouse_id"),
        CheckConstraint("quantity >= 0", name="ck_reservations_qty"),
        CheckConstraint("backordered >= 0", name="ck_reservations_backordered"),
    )


class AdjustmentReason(StrEnum):
    """Why stock was adjusted: lost (damage, shrinkage), gained (found), or a count that corrects the book."""

    DAMAGE = "damage"
    SHRINKAGE = "shrinkage"
    FOUND = "found"
    CORRECTION = "correction"


# The reason codes as a payload field carries them (inline in a tool's schema, where the enum would add a $defs).
Reason = Literal["damage", "shrinkage", "found", "correction"]
assert set(get_args(Reason)) == {r.value for r in AdjustmentReason}
# The other words people use for each reason ("write off 3, missing"), as stems ("leak" for leaked, leaking); the
# reason's own word in any form ("damaged") needs none.
REASON_WORDS = {
    "damage": ["broke", "crush", "leak"],
    "shrinkage": ["missing", "lost", "stole", "theft"],
    "found": ["extra", "turned up"],
    "correction": ["count", "miscount", "keying"],
}


class StockAdjustment(Base):
    """One posted count or adjustment of an item at a warehouse, valued at standard cost; never updated."""

    __tablename__ = "stock_adjustments"

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"))
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouses.id"))
    entity_id: Mapped[int] = mapped_column(ForeignKey("legal_entities.id"))
    reason: Mapped[str] = mapped_column(String(16))
    counted: Mapped[int | None]  # the units counted on the shelf; None for a write-off or find of some units
    book_quantity: Mapped[int]  # on hand on the books just before
    quantity: Mapped[int]  # the change posted: counted - book, or the units written off (-) or found (+)
    backordered: Mapped[int] = mapped_column(default=0)  # reserved units the count left short, now backordered
    unit_cost: Mapped[Decimal] = mapped_column(Numeric(18, 4))
    value: Mapped[Decimal]  # quantity x unit_cost, in the entity's currency
    currency: Mapped[str] = mapped_column(String(3))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    posted_at: Mapped[datetime]
    note: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (
        Index("ix_stock_adjustments_entity_posted", "entity_id", "posted_at"),
        CheckConstraint("reason IN ('damage', 'shrinkage', 'found', 'correction')", name="ck_stock_adjustments_reason"),
        CheckConstraint("counted IS NULL OR counted >= 0", name="ck_stock_adjustments_counted"),
        CheckConstraint("book_quantity + quantity >= 0", name="ck_stock_adjustments_result"),
        CheckConstraint("backordered >= 0", name="ck_stock_adjustments_backordered"),
    )

    @property
    def number(self) -> str:
        return STOCK_ADJUSTMENT.format(self.id)


class OpeningStock(Base):
    """One opening entry of an item at a warehouse, taken over from the previous system, valued at the unit cost
    that system held (in the warehouse entity's currency).

    Its ledger row (movement `opening`) carries `quantity`; a corrected re-import, while nothing else has moved
    the stock, adds another entry for the difference, so the ledger stays append-only. `on_hand` is the figure
    imported, the total of the pair's opening entries."""

    __tablename__ = "opening_stock"

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"))
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouses.id"))
    entity_id: Mapped[int] = mapped_column(ForeignKey("legal_entities.id"))
    quantity: Mapped[int]  # the change this entry posted
    on_hand: Mapped[int]  # the opening figure imported, after this entry
    unit_cost: Mapped[Decimal] = mapped_column(Numeric(18, 4))
    value: Mapped[Decimal]  # quantity x unit_cost
    currency: Mapped[str] = mapped_column(String(3))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    posted_at: Mapped[datetime]

    __table_args__ = (
        Index("ix_opening_stock_item_wh", "item_id", "warehouse_id"),
        Index("ix_opening_stock_warehouse", "warehouse_id"),
        CheckConstraint("quantity <> 0", name="ck_opening_stock_nonzero"),
        CheckConstraint("on_hand >= 0", name="ck_opening_stock_on_hand"),
        CheckConstraint("unit_cost >= 0", name="ck_opening_stock_cost"),
    )
