"""Payment drafts: record a customer's payment and apply it (or apply cash already on account), and reverse one.

The assistant's one payment tool takes `PaymentAsked` (an `action` picks record, apply or reverse, to keep one
schema); the write gate stores it as a `customer_payment` or a `payment_reversal`, so the policy judges each on its
own facts (finance records alone; a reversal needs a second person).
"""

from datetime import date
from decimal import Decimal
from typing import ClassVar, Literal

from pydantic import Field
from sqlalchemy.orm import Session

from core.actor import Actor
from core.drafts.base import Applied, DraftPayload, Payload, normalised
from core.errors import InvalidInput
from core.finance.service import CreditStatus, credit_status
from core.masterdata.models import Customer
from core.money import format_money
from core.numbering import INVOICE
from core.receivables.models import CustomerPayment, PaymentApplication
from core.receivables.service import (
    Allocation,
    active_applications,
    apply_payment,
    get_payment,
    record_payment,
    reverse_payment,
    unapplied_amount,
)


class InvoiceAllocation(Payload):
    invoice: str = Field(min_length=1, max_length=24, description="e.g. INV-1042")
    amount: Decimal | None = Field(default=None, gt=0, description="default: what is open")


class CustomerPaymentDraft(DraftPayload):
    """Record a payment (customer, amount, bank reference) and apply it, or apply a payment's cash on account."""

    customer: str | None = Field(default=None, max_length=160)
    amount: Decimal | None = Field(default=None, gt=0, le=Decimal(10) ** 12)
    currency: str | None = Field(default=None, max_length=3)
    bank_reference: str | None = Field(default=None, max_length=64)
    received_on: date | None = None
    payment_number: str | None = Field(default=None, max_length=24)
    invoices: list[InvoiceAllocation] = Field(default_factory=list, max_length=100)

    def subject(self) -> tuple[str, ...]:
        return normalised(self.payment_number or self.customer or "", self.bank_reference or "")


class PaymentReversalDraft(DraftPayload):
    payment_number: str = Field(min_length=1, max_length=24, description="e.g. PAY-12")
    reason: str = Field(min_length=3, max_length=500)

    def subject(self) -> tuple[str, ...]:
        return normalised(self.payment_number)


# The assistant's one payment tool (no docstring: it would join the schema the model reads).
class PaymentAsked(DraftPayload):
    REASON_FOR: ClassVar[frozenset[str]] = frozenset({"reverse"})  # the actions that take a reason

    action: Literal["record", "apply", "reverse"]
    customer: str | None = Field(default=None, max_length=160, description="record: customer code or name")
    amount: Decimal | None = Field(default=None, gt=0, description="record: amount received")
    bank_reference: str | None = Field(default=None, max_length=64, description="record: bank reference")
    payment_number: str | None = Field(default=None, max_length=24, description="apply/reverse: e.g. PAY-12")
    invoices: list[InvoiceAllocation] = Field(default_factory=list, max_length=100, description="default: oldest due")
    reason: str | None = Field(default=None, max_length=500, description="reverse: why")

    def subject(self) -> tuple[str, ...]:
        return normalised(self.action, self.payment_number or self.customer or "")


def as_kind(asked: PaymentAsked) -> tuple[str, DraftPayload]:
    """The draft kind and payload a `PaymentAsked` names; says what is missing for the action."""
    if asked.action == "record":
        missing = [n for n, v in (("customer", asked.customer), ("amount", asked.amount)) if not v]
        missing += [] if asked.bank_reference else ["bank_reference"]
        if missing:
            raise InvalidInput(f"to record a payment give {', '.join(missing)}")
        return "customer_payment", CustomerPaymentDraft(
            customer=asked.customer, amount=asked.amount, bank_reference=asked.bank_reference, invoices=asked.invoices
        )
    if not asked.payment_number:
        raise InvalidInput(f"to {asked.action} a payment give payment_number (e.g. PAY-12)")
    if asked.action == "apply":
        return "customer_payment", CustomerPaymentDraft(payment_number=asked.payment_number, invoices=asked.invoices)
    if not asked.reason or len(asked.reason.strip()) < 3:
        raise InvalidInput("to reverse a payment say why (misapplied, returned by the bank, ...)")
    return "payment_reversal", PaymentReversalDraft(payment_number=asked.payment_number, reason=asked.reason)


def _allocations(invoices: list[InvoiceAllocation]) -> list[Allocation] | None:
    return [Allocation(a.invoice, a.amount) for a in invoices] or None


def _customer(session: Session, payment: CustomerPayment) -> Customer:
    customer = session.get(Customer, payment.customer_id)
    assert customer is not None
    return customer


def _money_moves(before: CreditStatus, after: CreditStatus) -> str:
    ccy = before.currency
    return (
        f"{before.customer}: receivables {format_money(before.open_receivables, ccy)} → "
        f"{format_money(after.open_receivables, ccy)}, exposure {format_money(before.exposure, ccy)} → "
        f"{format_money(after.exposure, ccy)}"
    )


def _applied_words(applications: list[PaymentApplication], currency: str) -> str:
    return ", ".join(f"{INVOICE.format(a.invoice_id)} {format_money(a.amount, currency)}" for a in applications)


def _facts(before: CreditStatus, after: CreditStatus) -> dict[str, object]:
    return {
        "customer": before.customer,
        "customer_on_hold": before.on_hold,
        "credit_limit": before.credit_limit,
        "exposure_before": before.exposure,
        "exposure_after": after.exposure,
    }


def apply_customer_payment(session: Session, actor: Actor, payload: CustomerPaymentDraft) -> Applied:
    """Record the payment and apply it (named invoices, else oldest due first), or apply cash on account."""
    if payload.payment_number:
        return _apply_on_account(session, actor, payload)
    if not payload.customer or payload.amount is None or not payload.bank_reference:
        raise InvalidInput("to record a payment give customer, amount and bank_reference")
    before = credit_status(session, actor, customer=payload.customer)
    payment = record_payment(
        session,
        actor,
        customer=payload.customer,
        amount=payload.amount,
        currency=payload.currency,
        bank_reference=payload.bank_reference,
        received_on=payload.received_on,
        allocations=_allocations(payload.invoices),
    )
    applications = active_applications(session, payment.id)
    left = unapplied_amount(session, payment)
    after = credit_status(session, actor, customer=before.customer)
    ccy = payment.currency
    applied = f"applied to {_applied_words(applications, ccy)}" if applications else "applied to no invoice"
    return Applied(
        result_ref=payment.number,
        entity_id=payment.entity_id,
        currency=ccy,
        amount=payment.amount,
        summary=(
            f"Payment of {format_money(payment.amount, ccy)} from {before.customer} (ref {payment.bank_reference}, "
            f"received {payment.received_on}): {applied}; {format_money(left, ccy)} on account"
        ),
        facts=_facts(before, after),
        effects=[
            # No PAY- number here: PostgreSQL spends a new one on every preview, and confirming compares the two.
            f"new payment: {format_money(payment.amount, ccy)} received, {applied}",
            *([f"{format_money(left, ccy)} stays on account (unapplied cash)"] if left > 0 else []),
            _money_moves(before, after),
        ],
    )


def _apply_on_account(session: Session, actor: Actor, payload: CustomerPaymentDraft) -> Applied:
    payment = get_payment(session, actor, payment_number=payload.payment_number or "")
    customer = _customer(session, payment)
    before = credit_status(session, actor, customer=customer.code)
    applications = apply_payment(
        session, actor, payment_number=payment.number, allocations=_allocations(payload.invoices)
    )
    left = unapplied_amount(session, payment)
    after = credit_status(session, actor, customer=customer.code)
    ccy = payment.currency
    total = sum((Decimal(a.amount) for a in applications), Decimal(0))
    return Applied(
        result_ref=payment.number,
        entity_id=payment.entity_id,
        currency=ccy,
        amount=total,
        summary=(
            f"Apply {format_money(total, ccy)} of {payment.number} ({customer.code}) to "
            f"{_applied_words(applications, ccy)}; {format_money(left, ccy)} left on account"
        ),
        facts=_facts(before, after),
        effects=[f"{payment.number}: applied {_applied_words(applications, ccy)}", _money_moves(before, after)],
    )


def apply_payment_reversal(session: Session, actor: Actor, payload: PaymentReversalDraft) -> Applied:
    """Void the payment: the invoices it settled are open again."""
    payment = get_payment(session, actor, payment_number=payload.payment_number)
    customer = _customer(session, payment)
    before = credit_status(session, actor, customer=customer.code)
    undone = active_applications(session, payment.id)
    reverse_payment(session, actor, payment_number=payment.number, reason=payload.reason)
    after = credit_status(session, actor, customer=customer.code)
    ccy = payment.currency
    reopened = f"reopens {_applied_words(undone, ccy)}" if undone else "reopens no invoice (it was all on account)"
    return Applied(
        result_ref=payment.number,
        entity_id=payment.entity_id,
        currency=ccy,
        amount=payment.amount,
        summary=(
            f"Reverse {payment.number}: {format_money(payment.amount, ccy)} from {customer.code} "
            f"(ref {payment.bank_reference}); {reopened}; reason: {payment.reversal_reason}"
        ),
        facts=_facts(before, after),
        effects=[f"{payment.number}: status posted → reversed; {reopened}", _money_moves(before, after)],
    )
