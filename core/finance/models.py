"""Finance tables."""

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base
from core.numbering import CREDIT_NOTE, INVOICE


class Invoice(Base):
    """Raised for one shipment; amount in the order's (the entity's) currency.

    An opening invoice, taken over from the previous system (`external_ref` is its number there), has no order
    or shipment here: its amount is what was still open, its cost unknown (0), and it counts as receivables,
    in ageing, DSO and collections like any other, but not as revenue or margin here (they were the old books')."""

    __tablename__ = "invoices"

    id: Mapped[int] = mapped_column(primary_key=True)
    entity_id: Mapped[int] = mapped_column(ForeignKey("legal_entities.id"), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("sales_orders.id"), index=True)
    shipment_id: Mapped[int | None] = mapped_column(ForeignKey("shipments.id"), unique=True)
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[Decimal]
    cost: Mapped[Decimal]
    issued_on: Mapped[date]
    due_on: Mapped[date]
    external_ref: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_invoices_external_ref", "entity_id", "external_ref", unique=True),
        # Only an opening invoice (one with its number in the previous system) stands without a shipment.
        CheckConstraint(
            "(order_id IS NOT NULL AND shipment_id IS NOT NULL) OR external_ref IS NOT NULL",
            name="ck_invoices_source",
        ),
    )

    @property
    def is_opening(self) -> bool:
        """Taken over from the previous system, not raised for a shipment here."""
        return self.shipment_id is None

    @property
    def number(self) -> str:
        return INVOICE.format(self.id)


class CreditNote(Base):
    """Money given back against one invoice (goods returned): lowers what the invoice and its customer owe.

    `source_id` is the return authorisation it settles; finance does not know returns beyond that id."""

    __tablename__ = "credit_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    entity_id: Mapped[int] = mapped_column(ForeignKey("legal_entities.id"), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), index=True)
    source_id: Mapped[int] = mapped_column(index=True)  # the return authorisation (RMA-) it settles
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[Decimal]
    issued_on: Mapped[date]
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    __table_args__ = (CheckConstraint("amount > 0", name="ck_credit_notes_positive"),)

    @property
    def number(self) -> str:
        return CREDIT_NOTE.format(self.id)


class PostingKind(StrEnum):
    DUE_FROM = "due_from"  # the selling entity is owed
    DUE_TO = "due_to"  # the buying entity owes


class IntercompanyPosting(Base):
    """One side of an intercompany transfer in one entity's books, in that entity's currency."""

    __tablename__ = "intercompany_postings"

    id: Mapped[int] = mapped_column(primary_key=True)
    transfer_id: Mapped[int] = mapped_column(ForeignKey("transfers.id"), index=True)
    entity_id: Mapped[int] = mapped_column(ForeignKey("legal_entities.id"), index=True)
    counterparty_entity_id: Mapped[int] = mapped_column(ForeignKey("legal_entities.id"))
    kind: Mapped[str] = mapped_column(String(10))
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[Decimal]
    posted_at: Mapped[datetime]
