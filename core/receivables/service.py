"""Customer payments: record one (PAY-), apply it to invoices, keep the rest on account, reverse it.

A payment is in its customer's entity currency and is applied only to that customer's invoices in that entity:
to the invoices named (with or without amounts), or oldest due first. No application takes more than an
invoice's open amount or more than the payment has left; what is not applied stays on account and can be applied
later. Reversing a payment voids it: its applications stop counting, so the invoices' open amounts come back.

Concurrency: applying locks the payment row first (two clerks applying the same cash queue there, and the second
sees what the first applied), then the invoices in id order (two payments settling one invoice queue there).
"""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import clock
from core.actor import Actor, Permission
from core.documents import load_document
from core.errors import CurrencyMismatch, InvalidInput, InvalidState, WrongCounterparty
from core.finance.models import Invoice
from core.finance.service import get_invoice
from core.masterdata.models import Customer
from core.masterdata.service import entity_codes, get_customer
from core.money import format_money, round_money
from core.numbering import INVOICE, PAYMENT
from core.outbox.service import publish
from core.receivables.models import CustomerPayment, PaymentApplication, PaymentStatus
from core.receivables.sums import HALF_CENT, ZERO, applied_by_payment, open_amount, open_items
from core.text import require_storable

MAX_REFERENCE = 64
MAX_REASON = 500
MAX_LISTED = 50


@dataclass(frozen=True)
class Allocation:
    """Part of a payment for one invoice; no amount means as much as the invoice has open (and cash allows)."""

    invoice: str | int
    amount: Decimal | None = None


# --- Record, apply, reverse ---------------------------------------------------------------------


def record_payment(
    session: Session,
    actor: Actor,
    *,
    customer: str,
    amount: Decimal,
    bank_reference: str,
    currency: str | None = None,
    received_on: date | None = None,
    allocations: list[Allocation] | None = None,
    auto_apply: bool = True,
) -> CustomerPayment:
    """Record money received from a customer and apply it: to `allocations`, else oldest due first (`auto_apply`);
    the rest stays on account."""
    actor.require(Permission.RECORD_PAYMENT)
    cust = get_customer(session, actor, code=customer)
    ccy = cust.entity.base_currency
    if currency is not None and currency.strip().upper() != ccy:
        raise CurrencyMismatch(
            f"{cust.code} is invoiced in {ccy} ({cust.entity.code}); record the payment in {ccy} "
            f"(as the bank converted it), not in {currency.strip().upper()}"
        )
    amount = _positive(amount, "a payment")
    received = received_on or clock.today()
    if received > clock.today():
        raise InvalidInput(f"a payment cannot be received in the future ({received}); today is {clock.today()}")
    payment = CustomerPayment(
        entity_id=cust.entity_id,
        customer_id=cust.id,
        currency=ccy,
        amount=amount,
        received_on=received,
        bank_reference=_checked_text(bank_reference, "the bank reference", MAX_REFERENCE),
        status=PaymentStatus.POSTED.value,
        created_by=actor.user_id,
        created_at=clock.now(),
    )
    session.add(payment)
    session.flush()
    if allocations or auto_apply:
        _apply(session, actor, payment, allocations or None, quiet=not allocations)
    return payment


def apply_payment(
    session: Session, actor: Actor, *, payment_number: str | int, allocations: list[Allocation] | None = None
) -> list[PaymentApplication]:
    """Apply a payment's cash on account: to `allocations`, else to the customer's invoices oldest due first."""
    actor.require(Permission.RECORD_PAYMENT)
    payment = get_payment(session, actor, payment_number=payment_number, lock=True)
    return _apply(session, actor, payment, allocations or None, quiet=False)


def reverse_payment(session: Session, actor: Actor, *, payment_number: str | int, reason: str) -> CustomerPayment:
    """Void a payment (misapplied, returned by the bank): its applications stop counting and the invoices it
    settled are open again. Who may reverse is the write gate's decision (a second person)."""
    actor.require(Permission.RECORD_PAYMENT)
    reason = _checked_text(reason, "the reversal reason", MAX_REASON)
    payment = get_payment(session, actor, payment_number=payment_number, lock=True)
    if payment.status != PaymentStatus.POSTED.value:
        raise InvalidState(f"{payment.number} is already reversed ({payment.reversal_reason})")
    applications = active_applications(session, payment.id)
    _lock_invoices(session, sorted({a.invoice_id for a in applications}))
    today = clock.today()
    for application in applications:
        application.reversed_on = today
    payment.status = PaymentStatus.REVERSED.value
    payment.reversed_on = today
    payment.reversed_by = actor.user_id
    payment.reversal_reason = reason
    session.flush()
    return payment


def _apply(
    session: Session, actor: Actor, payment: CustomerPayment, allocations: list[Allocation] | None, *, quiet: bool
) -> list[PaymentApplication]:
    """Spread what is left of `payment` over invoices; `quiet`: nothing to apply to is no error (cash on account)."""
    if payment.status != PaymentStatus.POSTED.value:
        raise InvalidState(f"{payment.number} is reversed; record the payment again to apply it")
    left = unapplied_amount(session, payment)
    if left <= 0:
        raise InvalidState(f"{payment.number} is fully applied; nothing is left on account")
    plan = _named(session, actor, payment, allocations, left) if allocations else _oldest_first(session, payment, left)
    if not plan and not quiet:
        raise InvalidState(
            f"{_customer_code(session, payment)} has no open invoice in {payment.currency}; "
            f"{format_money(left, payment.currency)} of {payment.number} stays on account"
        )
    today = clock.today()
    made = [
        PaymentApplication(
            payment_id=payment.id,
            invoice_id=invoice.id,
            customer_id=payment.customer_id,
            amount=amount,
            applied_on=today,
            created_by=actor.user_id,
        )
        for invoice, amount in plan
    ]
    session.add_all(made)
    session.flush()
    if made:
        _publish_applied(session, payment, plan)
    return made


def _publish_applied(session: Session, payment: CustomerPayment, plan: list[tuple[Invoice, Decimal]]) -> None:
    publish(
        session,
        type="payment.applied",
        document_type="payment",
        document_number=payment.number,
        entity_id=payment.entity_id,
        payload={
            "payment": payment.number,
            "customer": _customer_code(session, payment),
            "currency": payment.currency,
            "amount": payment.amount,
            "applied": round_money(sum((amount for _, amount in plan), Decimal(0))),
            "unapplied": unapplied_amount(session, payment),
            "invoices": [{"invoice": invoice.number, "amount": amount} for invoice, amount in plan],
        },
    )


def _named(
    session: Session, actor: Actor, payment: CustomerPayment, allocations: list[Allocation], left: Decimal
) -> list[tuple[Invoice, Decimal]]:
    """The invoices named, each checked against the payment's customer and entity, its open amount and the cash."""
    wanted: dict[int, Decimal | None] = {}
    for allocation in allocations:
        invoice_id = INVOICE.parse(allocation.invoice)
        if invoice_id in wanted:
            raise InvalidInput(f"{INVOICE.format(invoice_id)} is named twice; give it once with its amount")
        wanted[invoice_id] = None if allocation.amount is None else _positive(allocation.amount, "an application")
    invoices = {inv.id: inv for inv in _lock_invoices(session, sorted(wanted), actor=actor)}
    plan: list[tuple[Invoice, Decimal]] = []
    for invoice_id, asked in wanted.items():
        invoice = invoices[invoice_id]
        _same_counterparty(session, payment, invoice)
        still_open = open_amount(session, invoice)
        if still_open <= 0:
            raise InvalidState(f"{invoice.number} is settled; nothing is open on it")
        if asked is not None and asked > still_open:
            raise InvalidInput(
                f"{invoice.number} has {format_money(still_open, invoice.currency)} open; applying "
                f"{format_money(asked, invoice.currency)} would over-apply it"
            )
        amount = asked if asked is not None else min(still_open, left)
        if amount > left:
            raise InvalidInput(
                f"{payment.number} has {format_money(left, payment.currency)} left to apply; the invoices named "
                f"take more"
            )
        if amount > 0:
            plan.append((invoice, amount))
        left -= amount
    return plan


def _oldest_first(session: Session, payment: CustomerPayment, left: Decimal) -> list[tuple[Invoice, Decimal]]:
    """The customer's open invoices in its entity, oldest due first, until the cash runs out."""
    items = open_items(session, Invoice.customer_id == payment.customer_id, Invoice.entity_id == payment.entity_id)
    chosen: list[int] = []
    running = ZERO
    for item in items:  # a first pass picks the invoices to lock; amounts are read again under the lock
        if running >= left:
            break
        chosen.append(item.invoice_id)
        running += item.open
    invoices = {inv.id: inv for inv in _lock_invoices(session, sorted(chosen))}
    plan: list[tuple[Invoice, Decimal]] = []
    for invoice_id in chosen:
        still_open = open_amount(session, invoices[invoice_id])
        amount = min(still_open, left)
        if amount > 0:
            plan.append((invoices[invoice_id], amount))
            left -= amount
    return plan


def _lock_invoices(session: Session, invoice_ids: list[int], *, actor: Actor | None = None) -> list[Invoice]:
    """Invoices locked in id order (no deadlock between two payments); with `actor`, each checked in scope."""
    if actor is not None:
        return [get_invoice(session, actor, invoice_number=i, lock=True) for i in invoice_ids]
    return [load_document(session, Invoice, i, kind=INVOICE, lock=True) for i in invoice_ids]


def _same_counterparty(session: Session, payment: CustomerPayment, invoice: Invoice) -> None:
    if invoice.entity_id != payment.entity_id:
        codes = entity_codes(session, [invoice.entity_id, payment.entity_id])
        raise WrongCounterparty(
            f"{invoice.number} is an invoice of {codes[invoice.entity_id]}; {payment.number} was received by "
            f"{codes[payment.entity_id]} and settles only its invoices"
        )
    if invoice.customer_id != payment.customer_id:
        raise WrongCounterparty(
            f"{invoice.number} is not {_customer_code(session, payment)}'s invoice; {payment.number} settles only "
            f"{_customer_code(session, payment)}'s invoices"
        )


def _positive(amount: Decimal, what: str) -> Decimal:
    value = round_money(amount)
    if value <= 0:
        raise InvalidInput(f"{what} must be positive, got {value}")
    return value


def _checked_text(text: str, what: str, limit: int) -> str:
    require_storable(text, what)
    value = text.strip()
    if not value:
        raise InvalidInput(f"give {what}")
    if len(value) > limit:
        raise InvalidInput(f"{what} may have at most {limit} characters")
    return value


def _customer_code(session: Session, payment: CustomerPayment) -> str:
    customer = session.get(Customer, payment.customer_id)
    assert customer is not None
    return customer.code


# --- Reading --------------------------------------------------------------------------------------


def get_payment(session: Session, actor: Actor, *, payment_number: str | int, lock: bool = False) -> CustomerPayment:
    """The payment, if its entity is in scope (`lock`: for a command that applies or reverses it)."""
    payment = load_document(session, CustomerPayment, payment_number, kind=PAYMENT, lock=lock)
    actor.require_entity(payment.entity_id, f"payment {payment.number}")
    return payment


def active_applications(session: Session, payment_id: int) -> list[PaymentApplication]:
    """A payment's applications that count (not reversed), in the order they were made."""
    return list(
        session.scalars(
            select(PaymentApplication)
            .where(PaymentApplication.payment_id == payment_id, PaymentApplication.reversed_on.is_(None))
            .order_by(PaymentApplication.id)
        )
    )


def unapplied_amount(session: Session, payment: CustomerPayment) -> Decimal:
    """Cash of a posted payment not yet applied to an invoice (zero once reversed)."""
    if payment.status != PaymentStatus.POSTED.value:
        return ZERO
    return round_money(payment.amount) - applied_by_payment(session, [payment.id]).get(payment.id, ZERO)


@dataclass(frozen=True)
class AppliedLine:
    invoice: str
    amount: Decimal
    applied_on: date
    reversed: bool


@dataclass(frozen=True)
class PaymentView:
    number: str
    customer: str
    customer_name: str
    entity: str
    currency: str
    amount: Decimal
    applied: Decimal
    unapplied: Decimal
    received_on: date
    bank_reference: str
    status: str
    reversal_reason: str | None
    applications: list[AppliedLine]


def payment_view(session: Session, actor: Actor, *, payment_number: str | int) -> PaymentView:
    """A payment with what it settled and what is left on account."""
    return _view(session, get_payment(session, actor, payment_number=payment_number))


def _view(session: Session, payment: CustomerPayment) -> PaymentView:
    customer = session.get(Customer, payment.customer_id)
    assert customer is not None
    rows = session.scalars(
        select(PaymentApplication).where(PaymentApplication.payment_id == payment.id).order_by(PaymentApplication.id)
    )
    lines = [
        AppliedLine(INVOICE.format(a.invoice_id), round_money(a.amount), a.applied_on, a.reversed_on is not None)
        for a in rows
    ]
    applied = sum((ln.amount for ln in lines if not ln.reversed), ZERO)
    return PaymentView(
        number=payment.number,
        customer=customer.code,
        customer_name=customer.name,
        entity=customer.entity.code,
        currency=payment.currency,
        amount=round_money(payment.amount),
        applied=applied,
        unapplied=unapplied_amount(session, payment),
        received_on=payment.received_on,
        bank_reference=payment.bank_reference,
        status=payment.status,
        reversal_reason=payment.reversal_reason,
        applications=lines,
    )


def list_payments(
    session: Session, actor: Actor, *, customer: str | None = None, unapplied_only: bool = False, limit: int = 20
) -> list[PaymentView]:
    """Payments in scope, newest first (of one customer; with cash on account only)."""
    if not 1 <= limit <= MAX_LISTED:
        raise InvalidInput(f"list between 1 and {MAX_LISTED} payments, not {limit}")
    query = select(CustomerPayment).where(CustomerPayment.entity_id.in_(actor.entity_ids))
    if customer is not None:
        query = query.where(CustomerPayment.customer_id == get_customer(session, actor, code=customer).id)
    if unapplied_only:
        applied = (
            select(func.coalesce(func.sum(PaymentApplication.amount), 0))
            .where(PaymentApplication.payment_id == CustomerPayment.id, PaymentApplication.reversed_on.is_(None))
            .scalar_subquery()
        )
        query = query.where(
            CustomerPayment.status == PaymentStatus.POSTED.value, CustomerPayment.amount - applied >= HALF_CENT
        )
    newest = query.order_by(CustomerPayment.received_on.desc(), CustomerPayment.id.desc()).limit(limit)
    return [_view(session, payment) for payment in session.scalars(newest)]
