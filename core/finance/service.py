"""Invoices, credit notes, credit exposure, margin by entity and intercompany balances.

Payments and what is owed live in core.receivables; exposure reads its sums (core.receivables.sums)."""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from core import clock
from core.actor import Actor
from core.documents import load_document
from core.errors import InvalidInput, InvalidState, NotFound
from core.finance.margin import MarginBy, MarginLine, margins
from core.finance.models import CreditNote, IntercompanyPosting, Invoice, PostingKind
from core.masterdata.models import Customer, LegalEntity
from core.masterdata.service import get_customer
from core.money import round_money
from core.numbering import CREDIT_NOTE, INVOICE
from core.receivables.sums import credited_by_invoice, open_amount, owed_by_customer
from core.sales.models import OrderStatus, SalesOrder, SalesOrderLine


def get_invoice(session: Session, actor: Actor, *, invoice_number: str | int, lock: bool = False) -> Invoice:
    """The invoice, if its entity is in scope (`lock`: for a command that pays it)."""
    invoice = load_document(session, Invoice, invoice_number, kind=INVOICE, lock=lock)
    actor.require_entity(invoice.entity_id, f"invoice {invoice.number}")
    return invoice


def invoice_customer(session: Session, invoice: Invoice) -> Customer:
    """The customer an invoice is owed by (an opening invoice has no order to ask)."""
    customer = session.get(Customer, invoice.customer_id)
    if customer is None:
        raise NotFound("customer", str(invoice.customer_id))
    return customer


def invoice_open_amount(session: Session, invoice: Invoice) -> Decimal:
    """What is still owed on one invoice: invoiced minus credited minus applied payments."""
    return open_amount(session, invoice)


def get_credit_note(session: Session, actor: Actor, *, number: str | int) -> CreditNote:
    """The credit note, if its entity is in scope."""
    note = load_document(session, CreditNote, number, kind=CREDIT_NOTE, lock=False)
    actor.require_entity(note.entity_id, f"credit note {note.number}")
    return note


def credited_amount(session: Session, invoice_id: int) -> Decimal:
    """What credit notes have already given back on one invoice."""
    return credited_by_invoice(session, [invoice_id]).get(invoice_id, Decimal("0.00"))


def issue_credit_note(
    session: Session, actor: Actor, *, invoice: Invoice, amount: Decimal, source_id: int
) -> CreditNote:
    """Credit `amount` against an invoice (goods came back); never more than the invoice has not yet credited.

    Who may credit is the caller's check (a return's receipt); the invoice must be in scope and locked by the
    caller's document lock."""
    actor.require_entity(invoice.entity_id, f"invoice {invoice.number}")
    amount = round_money(amount)
    if amount <= 0:
        raise InvalidInput(f"a credit note must be positive, got {amount}")
    left = round_money(invoice.amount) - credited_amount(session, invoice.id)
    if amount > left:
        raise InvalidInput(
            f"a credit of {amount} {invoice.currency} is more than the {left} {invoice.currency} "
            f"of {invoice.number} not yet credited"
        )
    note = CreditNote(
        entity_id=invoice.entity_id,
        customer_id=invoice.customer_id,
        invoice_id=invoice.id,
        source_id=source_id,
        currency=invoice.currency,
        amount=amount,
        issued_on=clock.today(),
        created_by=actor.user_id,
    )
    session.add(note)
    session.flush()
    return note


def _receivables_by_customer(session: Session, customer_ids: Select[int] | list[int]) -> dict[int, Decimal]:
    """Invoiced minus credited minus applied payments, per customer (summed in core.receivables.sums)."""
    return owed_by_customer(session, customer_ids)


def _open_orders_by_customer(session: Session, customer_ids: Select[int] | list[int]) -> dict[int, Decimal]:
    """Confirmed but not yet invoiced, per customer: open quantity of confirmed orders at net price."""
    rows = session.execute(
        select(
            SalesOrder.customer_id,
            func.sum((SalesOrderLine.quantity - SalesOrderLine.qty_invoiced) * SalesOrderLine.net_price),
        )
        .join(SalesOrder, SalesOrder.id == SalesOrderLine.order_id)
        .where(
            SalesOrder.customer_id.in_(customer_ids),
            SalesOrder.status.in_([OrderStatus.CONFIRMED.value, OrderStatus.PARTIALLY_SHIPPED.value]),
        )
        .group_by(SalesOrder.customer_id)
    ).all()
    return {cid: round_money(value) for cid, value in rows}


def open_receivables(session: Session, customer_id: int) -> Decimal:
    """Invoiced minus credited minus applied payments, for one customer."""
    return _receivables_by_customer(session, [customer_id]).get(customer_id, Decimal("0.00"))


def open_order_value(session: Session, customer_id: int) -> Decimal:
    """Confirmed but not yet invoiced, for one customer."""
    return _open_orders_by_customer(session, [customer_id]).get(customer_id, Decimal("0.00"))


@dataclass(frozen=True)
class CreditStatus:
    customer: str
    name: str
    entity: str
    currency: str
    credit_limit: Decimal
    open_receivables: Decimal
    open_orders: Decimal
    on_hold: bool
    hold_reason: str | None
    note: str = ""  # the customer's standing note (deliveries, invoicing)

    @property
    def exposure(self) -> Decimal:
        """Open receivables plus confirmed, not yet invoiced orders."""
        return self.open_receivables + self.open_orders

    @property
    def available(self) -> Decimal:
        """Credit left before the limit (negative when over)."""
        return self.credit_limit - self.exposure

    def exposure_with(self, additional: Decimal) -> Decimal:
        """Exposure if an order worth `additional` were confirmed too."""
        return self.exposure + additional


def _status_of(customer: Customer, receivables: Decimal, open_orders: Decimal) -> CreditStatus:
    return CreditStatus(
        customer=customer.code,
        name=customer.name,
        entity=customer.entity.code,
        currency=customer.entity.base_currency,
        credit_limit=round_money(customer.credit_limit),
        open_receivables=receivables,
        open_orders=open_orders,
        on_hold=customer.on_credit_hold,
        hold_reason=customer.credit_hold_reason,
        note=customer.note,
    )


def credit_status(session: Session, actor: Actor, *, customer: str) -> CreditStatus:
    """A customer's limit, exposure and hold, in the customer's entity currency."""
    cust = get_customer(session, actor, code=customer)
    return _status_of(cust, open_receivables(session, cust.id), open_order_value(session, cust.id))


def margin_by_entity(session: Session, actor: Actor, *, since: date, until: date | None = None) -> list[MarginLine]:
    """Revenue (invoiced less credit notes), cost and margin per entity in scope, each in its own currency; freight
    charged on orders and absorbed (not billed) counts as cost, returned goods put back on a shelf do not."""
    return margins(session, actor, by=MarginBy.ENTITY, since=since, until=until or clock.today())


def intercompany_balance(session: Session, actor: Actor, *, entity: str) -> dict[str, Decimal]:
    """Net amount due from (+) or to (-) each counterparty entity, in this entity's currency."""
    ent = session.scalars(select(LegalEntity).where(LegalEntity.code == entity.upper())).first()
    if ent is None:
        raise NotFound("legal entity", entity)
    actor.require_entity(ent.id, f"entity {ent.code}")
    counterparty = {e.id: e.code for e in session.scalars(select(LegalEntity))}
    balance: dict[str, Decimal] = {}
    for posting in session.scalars(select(IntercompanyPosting).where(IntercompanyPosting.entity_id == ent.id)):
        sign = 1 if posting.kind == PostingKind.DUE_FROM else -1
        code = counterparty[posting.counterparty_entity_id]
        balance[code] = balance.get(code, Decimal(0)) + sign * round_money(posting.amount)
    return balance


def customers_near_limit(session: Session, actor: Actor, *, threshold_pct: int = 90) -> list[CreditStatus]:
    """Customers in scope whose exposure is at least `threshold_pct` of their limit, most exposed first."""
    if not 0 < threshold_pct <= 1000:
        raise InvalidInput(f"threshold must be a percentage between 1 and 1000, got {threshold_pct}")
    in_scope = select(Customer.id).where(Customer.entity_id.in_(actor.entity_ids))
    receivables = _receivables_by_customer(session, in_scope)
    open_orders = _open_orders_by_customer(session, in_scope)
    zero = Decimal("0.00")
    statuses = [
        _status_of(c, receivables.get(c.id, zero), open_orders.get(c.id, zero))
        for c in session.scalars(select(Customer).where(Customer.entity_id.in_(actor.entity_ids)))
    ]
    near = [s for s in statuses if s.credit_limit > 0 and s.exposure * 100 >= s.credit_limit * threshold_pct]
    return sorted(near, key=lambda s: (-(s.exposure / s.credit_limit), s.customer))


def release_credit_hold(session: Session, actor: Actor, *, customer: str, reason: str) -> Customer:
    """Take a customer off credit hold; their held orders go back to draft, ready to confirm.

    Who may release is the write gate's decision (policy: a finance approver), so this checks scope only.
    """
    if not reason.strip():
        raise InvalidInput("releasing a credit hold needs a reason (payment received, limit raised, ...)")
    cust = get_customer(session, actor, code=customer)
    if not cust.on_credit_hold:
        raise InvalidState(f"customer {cust.code} is not on credit hold")
    cust.on_credit_hold = False
    cust.credit_hold_reason = None
    for order in session.scalars(
        select(SalesOrder).where(SalesOrder.customer_id == cust.id, SalesOrder.status == OrderStatus.ON_HOLD.value)
    ):
        order.status = OrderStatus.DRAFT.value
        order.hold_reason = None
    session.flush()
    return cust
