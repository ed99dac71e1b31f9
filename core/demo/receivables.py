"""Receivables the collections desk needs to see, chosen from the history without a random draw:

- a *delinquent* customer of NA (in good standing, not ACME) that never paid its invoices due 95 to 200 days ago,
  well over the overdue-hold limit, so the first exception pass puts it on credit hold with a case for finance;
- a *late* customer of NA that has not paid its invoices due 20 to 45 days ago (overdue, under the limit: chased,
  not held), and which sent money on account without a remittance advice: a payment held as unapplied cash.

Runs after the credit limits are set, so the delinquent customer ends over its limit, as such customers are.
"""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from core.actor import Role
from core.bulk import reset_sequences
from core.db import Database
from core.demo.company import Company, CustomerRef
from core.demo.directory import ACME_CODE, user_for
from core.finance.models import Invoice
from core.receivables.models import CustomerPayment, PaymentApplication, PaymentStatus

DELINQUENT_WINDOW = (95, 200)  # days past due of the invoices the delinquent customer never paid
DELINQUENT_TARGET = Decimal(12000)  # USD: the customer whose unpaid sum lands closest is chosen
DELINQUENT_FLOOR = Decimal(8000)
LATE_WINDOW = (20, 45)
LATE_RANGE = (Decimal(500), Decimal(4000))
ON_ACCOUNT = Decimal("1000.00")
ON_ACCOUNT_DAYS_AGO = 2
ON_ACCOUNT_REFERENCE = "BNK-NO-REMITTANCE"


@dataclass(frozen=True)
class Staged:
    """Who was chosen (None when a short history has no such customer: a small seeded company)."""

    delinquent: str | None
    late: str | None
    unapplied_payment: int | None


def _paid_in_window(
    session: Session, customer_ids: list[int], today: date, window: tuple[int, int]
) -> dict[int, tuple[Decimal, list[int]]]:
    """Per customer: the amount and ids of applications on its invoices due `window` days ago."""
    rows = session.execute(
        select(PaymentApplication.customer_id, PaymentApplication.id, PaymentApplication.payment_id, Invoice.amount)
        .join(Invoice, Invoice.id == PaymentApplication.invoice_id)
        .where(
            PaymentApplication.customer_id.in_(customer_ids),
            Invoice.due_on <= today - timedelta(days=window[0]),
            Invoice.due_on >= today - timedelta(days=window[1]),
        )
        .order_by(PaymentApplication.id)
    ).all()
    found: dict[int, tuple[Decimal, list[int]]] = {}
    for cid, _, payment_id, amount in rows:
        total, payments = found.get(cid, (Decimal(0), []))
        found[cid] = (total + Decimal(amount), [*payments, payment_id])
    return found


def _unpay(session: Session, payment_ids: list[int]) -> None:
    session.execute(delete(PaymentApplication).where(PaymentApplication.payment_id.in_(payment_ids)))
    session.execute(delete(CustomerPayment).where(CustomerPayment.id.in_(payment_ids)))


def _candidates(company: Company) -> list[CustomerRef]:
    na = next(e.id for e in company.entities if e.code == "NA")
    return [c for c in company.customers if c.entity_id == na and not c.on_hold and c.code != ACME_CODE]


def _on_account(session: Session, company: Company, customer_id: int, finance: int, today: date) -> int:
    """Money from `customer_id` without a remittance advice: a payment applied to nothing."""
    received = today - timedelta(days=ON_ACCOUNT_DAYS_AGO)
    next_id = (session.scalar(select(func.max(CustomerPayment.id))) or 0) + 1
    entity_id = company.customer_by_id[customer_id].entity_id
    session.add(
        CustomerPayment(
            id=next_id,
            entity_id=entity_id,
            customer_id=customer_id,
            currency=company.entity_by_id[entity_id].currency,
            amount=ON_ACCOUNT,
            received_on=received,
            bank_reference=ON_ACCOUNT_REFERENCE,
            status=PaymentStatus.POSTED.value,
            created_by=finance,
            created_at=datetime.combine(received, time(10)),
        )
    )
    session.flush()
    reset_sequences(session)
    return next_id


def stage_receivables(db: Database, company: Company) -> Staged:
    """Leave one customer long overdue and one late with cash on account (see the module's text)."""
    today = company.horizon.date_of(company.horizon.last) + timedelta(days=1)
    pool = _candidates(company)
    finance = company.users[user_for(Role.FINANCE, "NA")]

    def command(session: Session) -> Staged:
        ids = [c.id for c in pool]
        codes = {c.id: c.code for c in pool}
        old = _paid_in_window(session, ids, today, DELINQUENT_WINDOW)
        eligible = [(cid, s) for cid, s in old.items() if s[0] >= DELINQUENT_FLOOR]
        delinquent = None
        if eligible:
            delinquent, (_, payments) = min(eligible, key=lambda e: (abs(e[1][0] - DELINQUENT_TARGET), e[0]))
            _unpay(session, payments)
        recent = _paid_in_window(session, [i for i in ids if i != delinquent], today, LATE_WINDOW)
        fits = [(cid, s) for cid, s in recent.items() if LATE_RANGE[0] <= s[0] <= LATE_RANGE[1]]
        if not fits:
            return Staged(codes.get(delinquent or 0), None, None)
        late, (_, late_payments) = min(fits, key=lambda e: (-e[1][0], e[0]))
        _unpay(session, late_payments)
        return Staged(codes.get(delinquent or 0), codes[late], _on_account(session, company, late, finance, today))

    return db.run(command)
