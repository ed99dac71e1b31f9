"""Ageing, overdue invoices, DSO and the collections worklist: who owes what, how late, and who to chase first.

Every figure comes from `core.receivables.sums.open_items` (invoiced minus credit notes minus applied payments,
per invoice), aged by days past the invoice's due date.
"""

from collections.abc import Collection
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import ColumnElement, func, select, true
from sqlalchemy.orm import Session

from core import clock
from core.actor import Actor
from core.errors import InvalidInput
from core.finance.ageing import BUCKETS, bucket_of
from core.finance.models import Invoice
from core.finance.service import credit_status
from core.masterdata.models import Customer, LegalEntity
from core.masterdata.service import exchange_rate, get_customer, get_entity
from core.money import round_money
from core.numbering import INVOICE
from core.receivables.models import CustomerPayment, PaymentApplication
from core.receivables.sums import ZERO, OpenItem, open_items, unapplied_by_customer

DSO_DAYS = 90
MAX_LISTED = 50
AGE_WEIGHT = {"1-30": 1, "31-60": 2, "61-90": 3, "90+": 4}
OVER_LIMIT_WEIGHT = Decimal("1.5")
LATE_PAYER_DAYS = 15
LATE_PAYER_WEIGHT = Decimal("1.25")
RANKING = (
    "score = past due in USD weighted by age (1-30 days x1, 31-60 x2, 61-90 x3, 90+ x4), "
    f"x{OVER_LIMIT_WEIGHT} when exposure is over the credit limit, x{LATE_PAYER_WEIGHT} when the customer pays "
    f"more than {LATE_PAYER_DAYS} days late on average"
)


def _empty() -> dict[str, Decimal]:
    return dict.fromkeys(BUCKETS, ZERO)


@dataclass
class AgeingLine:
    """One customer's (or one entity's) open receivables by bucket, in its entity currency."""

    code: str
    name: str
    entity: str
    currency: str
    buckets: dict[str, Decimal] = field(default_factory=_empty)
    oldest_days: int = 0
    oldest_invoice: str | None = None
    invoices: int = 0
    unapplied: Decimal = ZERO

    @property
    def total(self) -> Decimal:
        return sum(self.buckets.values(), ZERO)

    @property
    def past_due(self) -> Decimal:
        return self.total - self.buckets["current"]

    def add(self, item: OpenItem, today: date) -> None:
        days = item.days_past_due(today)
        self.buckets[bucket_of(days)] += item.open
        self.invoices += 1
        if days > self.oldest_days:
            self.oldest_days, self.oldest_invoice = days, INVOICE.format(item.invoice_id)


@dataclass(frozen=True)
class Dso:
    """Days sales outstanding of one entity, with the formula and its figures."""

    entity: str
    currency: str
    receivables: Decimal
    credit_sales: Decimal
    days: Decimal | None

    @property
    def formula(self) -> str:
        if self.days is None:
            return f"DSO = receivables / credit sales of the last {DSO_DAYS} days x {DSO_DAYS}: no sales, no DSO"
        return (
            f"DSO = receivables / credit sales of the last {DSO_DAYS} days x {DSO_DAYS} = "
            f"{self.receivables:,.2f} / {self.credit_sales:,.2f} x {DSO_DAYS} = {self.days} days"
        )


@dataclass(frozen=True)
class Ageing:
    as_of: date
    customers: list[AgeingLine]  # most past due first
    entities: list[AgeingLine]
    dso: list[Dso]


@dataclass(frozen=True)
class _Filter:
    where: list[ColumnElement[bool]]
    customer: Customer | None
    entity_ids: list[int]


def _filter(session: Session, actor: Actor, customer: str | None, entity: str | None) -> _Filter:
    """What the caller may see and asked for: a customer, an entity, or all entities in scope."""
    if customer:
        cust = get_customer(session, actor, code=customer)
        return _Filter([Invoice.customer_id == cust.id], cust, [cust.entity_id])
    if entity:
        ent = get_entity(session, code=entity.strip().upper())
        actor.require_entity(ent.id, f"entity {ent.code}")
        return _Filter([Invoice.entity_id == ent.id], None, [ent.id])
    ids = sorted(actor.entity_ids)
    return _Filter([Invoice.entity_id.in_(ids)], None, ids)


def ageing(session: Session, actor: Actor, *, customer: str | None = None, entity: str | None = None) -> Ageing:
    """Open receivables by customer and by entity in buckets of days past due, and each entity's DSO."""
    scope = _filter(session, actor, customer, entity)
    today = clock.today()
    items = open_items(session, *scope.where)
    customers = _customers(session, {i.customer_id for i in items} | ({scope.customer.id} if scope.customer else set()))
    entities = {e.id: e for e in session.scalars(select(LegalEntity).where(LegalEntity.id.in_(scope.entity_ids)))}
    by_customer: dict[int, AgeingLine] = {}
    by_entity = {
        e.id: AgeingLine(e.code, e.name, e.code, e.base_currency)
        for e in sorted(entities.values(), key=lambda e: e.code)
    }
    for item in items:
        cust = customers[item.customer_id]
        line = by_customer.setdefault(cust.id, _line_of(cust))
        line.add(item, today)
        by_entity[item.entity_id].add(item, today)
    if scope.customer is not None:
        by_customer.setdefault(scope.customer.id, _line_of(scope.customer))
    for cid, cash in unapplied_by_customer(session, list(by_customer)).items():
        by_customer[cid].unapplied = cash
    ranked = sorted(by_customer.values(), key=lambda ln: (-ln.past_due, -ln.total, ln.code))
    ordered = sorted(entities.values(), key=lambda e: e.code)
    dso = [] if scope.customer else [_dso(session, e, by_entity[e.id].total, today) for e in ordered]
    return Ageing(today, ranked, [] if scope.customer else list(by_entity.values()), dso)


def _customers(session: Session, ids: set[int]) -> dict[int, Customer]:
    return {c.id: c for c in session.scalars(select(Customer).where(Customer.id.in_(sorted(ids))))} if ids else {}


def _line_of(customer: Customer) -> AgeingLine:
    return AgeingLine(customer.code, customer.name, customer.entity.code, customer.entity.base_currency)


def _dso(session: Session, entity: LegalEntity, receivables: Decimal, today: date) -> Dso:
    """Receivables over the last 90 days' credit sales (invoices issued), times 90."""
    since = today - timedelta(days=DSO_DAYS - 1)
    sales = round_money(
        session.scalar(
            select(func.sum(Invoice.amount)).where(
                Invoice.entity_id == entity.id, Invoice.issued_on >= since, Invoice.issued_on <= today
            )
        )
    )
    days = (receivables / sales * DSO_DAYS).quantize(Decimal("0.1")) if sales > 0 else None
    return Dso(entity.code, entity.base_currency, receivables, sales, days)


# --- Overdue invoices ---------------------------------------------------------------------------


@dataclass(frozen=True)
class OverdueInvoice:
    invoice: str
    customer: str
    entity: str
    currency: str
    issued_on: date
    due_on: date
    days_past_due: int
    open: Decimal

    @property
    def bucket(self) -> str:
        return bucket_of(self.days_past_due)


def overdue_invoices(
    session: Session, actor: Actor, *, customer: str | None = None, entity: str | None = None, limit: int = 20
) -> list[OverdueInvoice]:
    """Invoices past their due date with money open, the longest overdue first."""
    if not 1 <= limit <= MAX_LISTED:
        raise InvalidInput(f"list between 1 and {MAX_LISTED} invoices, not {limit}")
    scope = _filter(session, actor, customer, entity)
    today = clock.today()
    items = open_items(session, *scope.where, Invoice.due_on < today)[:limit]
    customers = _customers(session, {i.customer_id for i in items})
    return [
        OverdueInvoice(
            invoice=INVOICE.format(i.invoice_id),
            customer=customers[i.customer_id].code,
            entity=customers[i.customer_id].entity.code,
            currency=i.currency,
            issued_on=i.issued_on,
            due_on=i.due_on,
            days_past_due=i.days_past_due(today),
            open=i.open,
        )
        for i in items
    ]


# --- Collections worklist -----------------------------------------------------------------------


@dataclass(frozen=True)
class CollectionTarget:
    """A customer to chase, and the facts behind its rank."""

    rank: int
    customer: str
    name: str
    entity: str
    currency: str
    past_due: Decimal
    past_due_usd: Decimal
    buckets: dict[str, Decimal]
    oldest_days: int
    oldest_invoice: str | None
    exposure: Decimal
    credit_limit: Decimal
    on_hold: bool
    avg_days_late: Decimal | None  # of its paid invoices (negative: early)
    paid_invoices: int
    unapplied: Decimal
    score: Decimal

    @property
    def over_limit(self) -> bool:
        return self.credit_limit > 0 and self.exposure > self.credit_limit


def collections(
    session: Session, actor: Actor, *, customer: str | None = None, entity: str | None = None, limit: int = 10
) -> list[CollectionTarget]:
    """Customers with money past due, ranked by `RANKING`: who to chase today, and why."""
    if not 1 <= limit <= MAX_LISTED:
        raise InvalidInput(f"list between 1 and {MAX_LISTED} customers, not {limit}")
    lines = [ln for ln in ageing(session, actor, customer=customer, entity=entity).customers if ln.past_due > 0]
    today = clock.today()
    codes = {ln.code for ln in lines}
    customers = {c.code: c for c in session.scalars(select(Customer).where(Customer.code.in_(sorted(codes))))}
    behaviour = payment_behaviour(session, [c.id for c in customers.values()])
    targets = [_target(session, actor, ln, customers[ln.code], behaviour, today) for ln in lines]
    targets.sort(key=lambda t: (-t.score, -t.oldest_days, t.customer))
    return [replace(t, rank=n) for n, t in enumerate(targets[:limit], start=1)]


def _target(
    session: Session,
    actor: Actor,
    line: AgeingLine,
    cust: Customer,
    behaviour: dict[int, tuple[Decimal, int]],
    today: date,
) -> CollectionTarget:
    rate = exchange_rate(session, from_currency=line.currency, to_currency="USD", on=today)
    status = credit_status(session, actor, customer=cust.code)
    avg, paid = behaviour.get(cust.id, (None, 0))
    weighted = sum((line.buckets[b] * w for b, w in AGE_WEIGHT.items()), ZERO) * rate
    over = status.credit_limit > 0 and status.exposure > status.credit_limit
    late = avg is not None and avg > LATE_PAYER_DAYS
    weight = (OVER_LIMIT_WEIGHT if over else 1) * (LATE_PAYER_WEIGHT if late else 1)
    return CollectionTarget(
        rank=0,
        customer=line.code,
        name=line.name,
        entity=line.entity,
        currency=line.currency,
        past_due=line.past_due,
        past_due_usd=round_money(line.past_due * rate),
        buckets=dict(line.buckets),
        oldest_days=line.oldest_days,
        oldest_invoice=line.oldest_invoice,
        exposure=status.exposure,
        credit_limit=status.credit_limit,
        on_hold=status.on_hold,
        avg_days_late=avg,
        paid_invoices=paid,
        unapplied=line.unapplied,
        score=round_money(weighted * weight),
    )


def payment_behaviour(session: Session, customer_ids: list[int]) -> dict[int, tuple[Decimal, int]]:
    """Per customer: average days between due date and payment of its settled invoices, and how many."""
    if not customer_ids:
        return {}
    paid_on = (
        select(
            Invoice.customer_id,
            Invoice.id,
            Invoice.due_on,
            func.max(CustomerPayment.received_on).label("paid_on"),
        )
        .join(PaymentApplication, PaymentApplication.invoice_id == Invoice.id)
        .join(CustomerPayment, CustomerPayment.id == PaymentApplication.payment_id)
        .where(Invoice.customer_id.in_(customer_ids), PaymentApplication.reversed_on.is_(None))
        .group_by(Invoice.customer_id, Invoice.id, Invoice.due_on)
    )
    still_open = {i.invoice_id for i in open_items(session, Invoice.customer_id.in_(customer_ids))}
    late: dict[int, list[int]] = {}
    for cid, invoice_id, due_on, paid in session.execute(paid_on):
        if invoice_id not in still_open:
            late.setdefault(cid, []).append((paid - due_on).days)
    return {cid: (Decimal(sum(days) / len(days)).quantize(Decimal("0.1")), len(days)) for cid, days in late.items()}


# --- The overdue-hold rule's figures (exception detection; no actor) -----------------------------


@dataclass(frozen=True)
class LongOverdue:
    customer_id: int
    entity_id: int
    currency: str
    amount: Decimal
    invoices: list[str]
    oldest_invoice: str
    oldest_due: date


def long_overdue(
    session: Session, *where: ColumnElement[bool], entity_ids: Collection[int] | None, days: int
) -> dict[int, LongOverdue]:
    """Per customer: what is open on invoices more than `days` past due (in `entity_ids`, or all; `where` on
    Invoice narrows it further)."""
    cutoff = clock.today() - timedelta(days=days)
    scope = true() if entity_ids is None else Invoice.entity_id.in_(sorted(entity_ids))
    found: dict[int, LongOverdue] = {}
    for item in open_items(session, scope, Invoice.due_on < cutoff, *where):  # oldest due first
        seen = found.get(item.customer_id)
        number = INVOICE.format(item.invoice_id)
        if seen is None:
            found[item.customer_id] = LongOverdue(
                item.customer_id, item.entity_id, item.currency, item.open, [number], number, item.due_on
            )
        else:
            found[item.customer_id] = LongOverdue(
                seen.customer_id,
                seen.entity_id,
                seen.currency,
                seen.amount + item.open,
                [*seen.invoices, number],
                seen.oldest_invoice,
                seen.oldest_due,
            )
    return found
