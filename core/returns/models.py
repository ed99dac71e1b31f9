"""Return authorisations (RMA-) and their lines: what the customer may send back, and what became of it."""

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Literal, get_args

from sqlalchemy import CheckConstraint, ForeignKey, Index, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base
from core.numbering import RETURN_AUTHORISATION


class ReturnStatus(StrEnum):
    """authorised → received (nothing to credit) or credited; authorised → cancelled."""

    AUTHORISED = "authorised"
    RECEIVED = "received"
    CREDITED = "credited"
    CANCELLED = "cancelled"


class Disposition(StrEnum):
    RESTOCK = "restock"  # back on the shelf of a warehouse of the order's entity, at the line's unit cost
    SCRAP = "scrap"  # not sellable: credited, no stock


# The dispositions as a payload field carries them (inline in a tool's schema, where an enum would add a $defs).
DispositionCode = Literal["restock", "scrap"]
assert set(get_args(DispositionCode)) == {d.value for d in Disposition}


class ReturnAuthorisation(Base):
    """A customer's return of goods shipped on one sales order, in the order's entity and currency."""

    __tablename__ = "return_authorisations"

    id: Mapped[int] = mapped_column(primary_key=True)
    entity_id: Mapped[int] = mapped_column(ForeignKey("legal_entities.id"), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("sales_orders.id"), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(12), index=True)
    reason: Mapped[str] = mapped_column(Text)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    authorised_at: Mapped[datetime]
    received_at: Mapped[datetime | None]
    received_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    lines: Mapped[list["ReturnLine"]] = relationship(order_by="ReturnLine.id", cascade="all, delete-orphan")

    __table_args__ = (
        CheckConstraint(
            "status IN ('authorised', 'received', 'credited', 'cancelled')", name="ck_return_authorisations_status"
        ),
    )

    @property
    def number(self) -> str:
        return RETURN_AUTHORISATION.format(self.id)


class ReturnLine(Base):
    """Units of one shipment line coming back, at the order line's net price (credit) and unit cost (restock)."""

    __tablename__ = "return_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    rma_id: Mapped[int] = mapped_column(ForeignKey("return_authorisations.id"))
    order_line_id: Mapped[int] = mapped_column(ForeignKey("sales_order_lines.id"))
    shipment_line_id: Mapped[int] = mapped_column(ForeignKey("shipment_lines.id"))
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"))
    quantity: Mapped[int]
    net_price: Mapped[Decimal] = mapped_column(Numeric(18, 4))
    unit_cost: Mapped[Decimal] = mapped_column(Numeric(18, 4))
    disposition: Mapped[str | None] = mapped_column(String(8))  # set on receipt
    warehouse_id: Mapped[int | None] = mapped_column(ForeignKey("warehouses.id"))  # where restocked

    __table_args__ = (
        Index("ix_return_lines_rma", "rma_id"),
        Index("ix_return_lines_shipment_line", "shipment_line_id"),
        CheckConstraint("quantity > 0", name="ck_return_lines_qty"),
        CheckConstraint("disposition IS NULL OR disposition IN ('restock', 'scrap')", name="ck_return_lines_disp"),
    )
