"""Finance tables."""

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base
from core.numbering import CREDIT_NOTE, INVOICE


class Invoice(Base):
    """Raised for one shipment; amount in the order's (the entity's) currency."""

    __tablename__ = "invoices"

    id: Mapped[int] = mapped_column(primary_key=True)
    entity_id: Mapped[int] = mapped_column(ForeignKey("legal_entities.id"), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("sales_orders.id"), index=True)
    shipment_id: Mapped[int] = mapped_column(ForeignKey("shipments.id"), unique=True)
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[Decimal]
    cost: Mapped[Decimal]
    issued_on: Mapped[date]
    due_on: Mapped[date]

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
