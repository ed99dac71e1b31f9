"""Customer payments and their applications to invoices.

A payment is money received from one customer, in the customer's entity currency. Applications spread it over
that customer's invoices; what no application takes stays on account (unapplied cash). A reversal voids the
payment: its applications stay on record with `reversed_on` set, and no longer count.
"""

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base
from core.numbering import PAYMENT


class PaymentStatus(StrEnum):
    POSTED = "posted"
    REVERSED = "reversed"


class CustomerPayment(Base):
    """Money received from a customer (PAY-), applied to its invoices or held on account."""

    __tablename__ = "customer_payments"

    id: Mapped[int] = mapped_column(primary_key=True)
    entity_id: Mapped[int] = mapped_column(ForeignKey("legal_entities.id"), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[Decimal]
    received_on: Mapped[date]
    bank_reference: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(10), index=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime]
    reversed_on: Mapped[date | None]
    reversed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reversal_reason: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        CheckConstraint("amount > 0", name="ck_customer_payments_positive"),
        CheckConstraint("status IN ('posted', 'reversed')", name="ck_customer_payments_status"),
    )

    @property
    def number(self) -> str:
        return PAYMENT.format(self.id)


class PaymentApplication(Base):
    """Part of a payment settling one invoice of the same customer and entity; void once `reversed_on` is set."""

    __tablename__ = "payment_applications"

    id: Mapped[int] = mapped_column(primary_key=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("customer_payments.id"))
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    amount: Mapped[Decimal]
    applied_on: Mapped[date]
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reversed_on: Mapped[date | None]

    __table_args__ = (
        Index("ix_payment_applications_payment", "payment_id"),
        Index("ix_payment_applications_invoice", "invoice_id"),
        Index("ix_payment_applications_customer", "customer_id"),
        CheckConstraint("amount > 0", name="ck_payment_applications_positive"),
    )
