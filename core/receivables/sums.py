"""What customers owe: the one place invoices, credit notes and applied payments are summed.

Finance (credit exposure, an invoice's open amount), ageing, collections and the overdue-hold detector all read
these figures, so they always agree. Only applications that are not reversed count; unapplied cash is the
customer's money on account and lowers no invoice.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session

from core.finance.models import CreditNote, Invoice
from core.money import round_money
from core.receivables.models import CustomerPayment, PaymentApplication, PaymentStatus

Ids = Select[Any] | Iterable[int]
ZERO = Decimal("0.00")
HALF_CENT = Decimal("0.005")  # SQLite sums money in binary floating point: below this is nothing owed


def _ids(ids: Ids) -> Select[Any] | list[int]:
    return ids if isinstance(ids, Select) else list(ids)


def _sum_by(session: Session, key: Any, amount: Any, *where: ColumnElement[bool]) -> dict[int, Decimal]:
    rows = session.execute(select(key, func.sum(amount)).where(*where).group_by(key)).all()
    return {k: round_money(v) for k, v in rows}


def applied_by_invoice(session: Session, invoice_ids: Ids) -> dict[int, Decimal]:
    """Payments applied (and not reversed) per invoice."""
    return _sum_by(
        session,
        PaymentApplication.invoice_id,
        PaymentApplication.amount,
        PaymentApplication.invoice_id.in_(_ids(invoice_ids)),
        PaymentApplication.reversed_on.is_(None),
    )


def applied_by_payment(session: Session, payment_ids: Ids) -> dict[int, Decimal]:
    """How much of each payment is applied to invoices (not reversed)."""
    return _sum_by(
        session,
        PaymentApplication.payment_id,
        PaymentApplication.amount,
        PaymentApplication.payment_id.in_(_ids(payment_ids)),
        PaymentApplication.reversed_on.is_(None),
    )


def credited_by_invoice(session: Session, invoice_ids: Ids) -> dict[int, Decimal]:
    """Credit notes issued per invoice."""
    return _sum_by(session, CreditNote.invoice_id, CreditNote.amount, CreditNote.invoice_id.in_(_ids(invoice_ids)))


def open_amount(session: Session, invoice: Invoice) -> Decimal:
    """What is still owed on one invoice: invoiced minus credited minus applied payments."""
    credited = credited_by_invoice(session, [invoice.id]).get(invoice.id, ZERO)
    applied = applied_by_invoice(session, [invoice.id]).get(invoice.id, ZERO)
    return round_money(invoice.amount) - credited - applied


def owed_by_customer(session: Session, customer_ids: Ids) -> dict[int, Decimal]:
    """Invoiced minus credited minus applied payments, per customer (customers with invoices)."""
    ids = _ids(customer_ids)
    invoiced = _sum_by(session, Invoice.customer_id, Invoice.amount, Invoice.customer_id.in_(ids))
    credited = _sum_by(session, CreditNote.customer_id, CreditNote.amount, CreditNote.customer_id.in_(ids))
    applied = _sum_by(
        session,
        PaymentApplication.customer_id,
        PaymentApplication.amount,
        PaymentApplication.customer_id.in_(ids),
        PaymentApplication.reversed_on.is_(None),
    )
    return {cid: amount - credited.get(cid, ZERO) - applied.get(cid, ZERO) for cid, amount in invoiced.items()}


def unapplied_by_customer(session: Session, customer_ids: Ids) -> dict[int, Decimal]:
    """Cash on account per customer: posted payments minus what of them is applied."""
    ids = _ids(customer_ids)
    posted = (CustomerPayment.customer_id.in_(ids), CustomerPayment.status == PaymentStatus.POSTED.value)
    received = _sum_by(session, CustomerPayment.customer_id, CustomerPayment.amount, *posted)
    applied = dict(
        session.execute(
            select(CustomerPayment.customer_id, func.sum(PaymentApplication.amount))
            .join(CustomerPayment, CustomerPayment.id == PaymentApplication.payment_id)
            .where(*posted, PaymentApplication.reversed_on.is_(None))
            .group_by(CustomerPayment.customer_id)
        ).all()
    )
    return {cid: amount - round_money(applied.get(cid)) for cid, amount in received.items()}


@dataclass(frozen=True)
class OpenItem:
    """One invoice with money still owed on it."""

    invoice_id: int
    customer_id: int
    entity_id: int
    currency: str
    issued_on: date
    due_on: date
    open: Decimal

    def days_past_due(self, today: date) -> int:
        return max((today - self.due_on).days, 0)


def open_items(session: Session, *where: ColumnElement[bool]) -> list[OpenItem]:
    """Invoices (filtered by `where` on Invoice) with money still owed, oldest due first; one statement."""
    applied = (
        select(PaymentApplication.invoice_id, func.sum(PaymentApplication.amount).label("applied"))
        .where(PaymentApplication.reversed_on.is_(None))
        .group_by(PaymentApplication.invoice_id)
        .subquery()
    )
    credited = (
        select(CreditNote.invoice_id, func.sum(CreditNote.amount).label("credited"))
        .group_by(CreditNote.invoice_id)
        .subquery()
    )
    owed = Invoice.amount - func.coalesce(credited.c.credited, 0) - func.coalesce(applied.c.applied, 0)
    rows = session.execute(
        select(
            Invoice.id,
            Invoice.customer_id,
            Invoice.entity_id,
            Invoice.currency,
            Invoice.issued_on,
            Invoice.due_on,
            owed,
        )
        .outerjoin(applied, applied.c.invoice_id == Invoice.id)
        .outerjoin(credited, credited.c.invoice_id == Invoice.id)
        .where(owed >= HALF_CENT, *where)
        .order_by(Invoice.due_on, Invoice.id)
    ).all()
    return [OpenItem(*row[:6], round_money(row[6])) for row in rows if round_money(row[6]) > 0]
