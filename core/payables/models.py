"""Supplier invoices (SINV-) booked against purchase orders, and their lines with the three-way match of each."""

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, Index, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base
from core.numbering import SUPPLIER_INVOICE


class InvoiceStatus(StrEnum):
    """approved (for payment) or on_hold (a mismatch waits for the buyer, a new receipt or a person's release)."""

    APPROVED = "approved"
    ON_HOLD = "on_hold"


class MatchResult(StrEnum):
    """One line's three-way match: billed price against the PO's, billed units against units received."""

    MATCHED = "matched"
    PRICE_OVER = "price_over"  # billed unit price above the PO's by more than the tolerance
    OVER_BILLED = "over_billed"  # billed more units than received and not yet billed
    NOT_RECEIVED = "not_received"  # nothing of the line has been received yet


class SupplierInvoice(Base):
    """A supplier's bill for goods on one purchase order, in the PO's entity and currency: what we owe."""

    __tablename__ = "supplier_invoices"

    id: Mapped[int] = mapped_column(primary_key=True)
    entity_id: Mapped[int] = mapped_column(ForeignKey("legal_entities.id"), index=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id"), index=True)
    po_id: Mapped[int] = mapped_column(ForeignKey("purchase_orders.id"), index=True)
    supplier_ref: Mapped[str] = mapped_column(String(40))  # the supplier's own invoice number, as normalised
    currency: Mapped[str] = mapped_column(String(3))
    invoice_date: Mapped[date]
    due_date: Mapped[date] = mapped_column(index=True)
    status: Mapped[str] = mapped_column(String(12), index=True)
    total: Mapped[Decimal] = mapped_column(Numeric(18, 4))
    amount_paid: Mapped[Decimal] = mapped_column(Numeric(18, 4), default=Decimal(0))
    booked_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    booked_at: Mapped[datetime]
    released_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))  # a person approved it despite a hold
    approved_at: Mapped[datetime | None]
    release_reason: Mapped[str] = mapped_column(Text, default="")

    lines: Mapped[list["SupplierInvoiceLine"]] = relationship(
        order_by="SupplierInvoiceLine.id", cascade="all, delete-orphan"
    )

    __table_args__ = (
        UniqueConstraint("supplier_id", "supplier_ref", name="uq_supplier_invoices_ref"),
        CheckConstraint("status IN ('approved', 'on_hold')", name="ck_supplier_invoices_status"),
        CheckConstraint("total >= 0", name="ck_supplier_invoices_total"),
    )

    @property
    def number(self) -> str:
        return SUPPLIER_INVOICE.format(self.id)

    @property
    def open_amount(self) -> Decimal:
        return Decimal(self.total) - Decimal(self.amount_paid)


class SupplierInvoiceLine(Base):
    """Units of one PO line billed at a unit price, with the figures its last match was made on."""

    __tablename__ = "supplier_invoice_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("supplier_invoices.id"))
    po_line_id: Mapped[int] = mapped_column(ForeignKey("purchase_order_lines.id"))
    quantity: Mapped[int]
    unit_price: Mapped[Decimal] = mapped_column(Numeric(18, 4))
    po_price: Mapped[Decimal] = mapped_column(Numeric(18, 4))
    received: Mapped[int]  # units of the PO line received when last matched
    billed_before: Mapped[int]  # units of the PO line that earlier invoices bill
    price_variance_pct: Mapped[Decimal] = mapped_column(Numeric(9, 2))
    result: Mapped[str] = mapped_column(String(16))  # a MatchResult

    __table_args__ = (
        Index("ix_supplier_invoice_lines_invoice", "invoice_id"),
        Index("ix_supplier_invoice_lines_po_line", "po_line_id"),
        CheckConstraint("quantity > 0", name="ck_supplier_invoice_lines_qty"),
        CheckConstraint("unit_price >= 0", name="ck_supplier_invoice_lines_price"),
        CheckConstraint(
            "result IN ('matched', 'price_over', 'over_billed', 'not_received')",
            name="ck_supplier_invoice_lines_result",
        ),
    )
