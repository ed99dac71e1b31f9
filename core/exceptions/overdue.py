"""The overdue-hold rule: a customer with more than the routing file's `overdue_hold.over` (in its entity's
currency) open on invoices more than `overdue_hold.days_past_due` past due is put on credit hold, and a case goes
to finance.

Once per customer (the case's key): when finance releases the hold (a credit_hold_release draft), the pass does not
put it back for the same customer; a customer already on hold (by hand, or for another reason) is left as it is.
"""

from decimal import Decimal

from sqlalchemy import String, cast, exists, literal, select
from sqlalchemy.orm import Session

from core.audit import AuditContext, record_event
from core.exceptions.models import ExceptionCase, ExceptionType, Severity
from core.exceptions.routing import load_routing
from core.exceptions.service import NewCase
from core.finance.models import Invoice
from core.masterdata.models import Customer
from core.money import format_money
from core.receivables.ageing import LongOverdue, long_overdue

CASE = ExceptionType.OVERDUE_RECEIVABLES
MAX_NAMED = 10


def overdue_key(customer_id: int) -> str:
    """The case key of the overdue hold of one customer (as `detection.dedup_key` writes keys)."""
    return f"{CASE.value}:customer:{customer_id}"


def detect_overdue_holds(session: Session, scope: frozenset[int] | None) -> list[NewCase]:
    """Put customers over the overdue limit on credit hold and return their cases (none twice)."""
    rule = load_routing().overdue_hold
    if rule is None or not rule.over:
        return []
    days, limits = rule.days_past_due, rule.over
    key = literal(f"{CASE.value}:customer:", String) + cast(Customer.id, String)
    not_yet = select(Customer.id).where(
        Customer.on_credit_hold.is_(False), ~exists().where(ExceptionCase.dedup_key == key)
    )  # customers already on hold, or held by this rule before, are left alone: one statement when none is new
    found = long_overdue(session, Invoice.customer_id.in_(not_yet), entity_ids=scope, days=days)
    over = {cid: o for cid, o in found.items() if o.currency in limits and o.amount > limits[o.currency]}
    if not over:
        return []
    cases, held = [], {}
    for customer in session.scalars(select(Customer).where(Customer.id.in_(sorted(over))).order_by(Customer.id)):
        late = over[customer.id]
        customer.on_credit_hold = True
        customer.credit_hold_reason = held[customer.id] = _reason(late, days, limits[late.currency])
        cases.append(_case(customer, late, days, limits[late.currency]))
    session.flush()
    for customer_id, reason in held.items():  # the hold itself is audited, as a person's hold is through the gate
        record_event(
            session,
            AuditContext(actor_user_id=None),
            action="customer.credit_hold",
            subject_type="customer",
            subject_id=customer_id,
            entity_id=over[customer_id].entity_id,
            data={"rule": "overdue_hold", "reason": reason},
        )
    return cases


def _reason(found: LongOverdue, days: int, limit: Decimal) -> str:
    return (
        f"automatic hold: {format_money(found.amount, found.currency)} more than {days} days past due on "
        f"{len(found.invoices)} invoice(s), over the {format_money(limit, found.currency)} limit; oldest "
        f"{found.oldest_invoice} due {found.oldest_due.isoformat()}"
    )


def _case(customer: Customer, found: LongOverdue, days: int, limit: Decimal) -> NewCase:
    amount = format_money(found.amount, found.currency)
    return NewCase(
        type=CASE,
        entity_id=customer.entity_id,
        dedup_key=overdue_key(customer.id),
        severity=Severity.HIGH,
        title=f"{customer.code} put on credit hold: {amount} more than {days} days past due",
        detail=(
            f"{customer.name} ({customer.code}) owes {amount} on invoices more than {days} days past due "
            f"(limit {format_money(limit, found.currency)}); oldest {found.oldest_invoice} due "
            f"{found.oldest_due.isoformat()}. New orders are blocked until finance releases the hold."
        ),
        related={
            "customer": customer.code,
            "overdue_amount": str(found.amount),
            "currency": found.currency,
            "days_past_due_over": days,
            "limit": str(limit),
            "invoices": found.invoices[:MAX_NAMED],
            "oldest_invoice": found.oldest_invoice,
            "oldest_due": found.oldest_due.isoformat(),
        },
    )
