"""KPIs per legal entity: service level, backlog, inventory, margin, exception aging and approval cycle time.

Every figure is computed by set-based SQL (a fixed handful of statements whatever the data size,
never the rows themselves brought into Python), only for the entities in the actor's scope, in
each entity's own currency, and comes with a one-sentence `basis` an answer can cite.

Medians and percentiles are ranked in SQL (ROW_NUMBER and COUNT over each entity's rows) and only
the one or two rows at the ranks a percentile needs come back; Python interpolates between them.
That works the same on SQLite, which has no PERCENTILE_CONT, and on PostgreSQL.
"""

import difflib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import ColumnElement, Float, SQLColumnExpression, and_, case, exists, func, literal, or_, select
from sqlalchemy.orm import Session

from core import clock
from core.actor import Actor
from core.drafts.models import DraftAction, DraftApproval, DraftStatus
from core.errors import InvalidInput, NotFound
from core.exceptions.models import ACTIVE_STATUSES, ExceptionCase
from core.finance.service import margin_by_entity
from core.fx import Rate, rates_on
from core.masterdata.models import Item, LegalEntity, Warehouse
from core.money import format_money, round_money
from core.sales.models import OrderStatus, SalesOrder, SalesOrderLine, Shipment, ShipmentLine
from core.sales.pricing import GROUP_CURRENCY, margin_percent, round_percent
from core.stock.models import DemandSource, Reservation, StockBalance

DEFAULT_PERIOD_DAYS = 90
DAYS_PER_YEAR = 365
TENTH = Decimal("0.1")  # medians and percentiles of days and hours
TURNS_PLACES = Decimal("0.01")  # inventory turns: a ratio, shown to two places
OPEN_ORDER_STATUSES = (OrderStatus.CONFIRMED.value, OrderStatus.PARTIALLY_SHIPPED.value)
# A draft that went to a person and came back with a verdict; `failed` is approved but refused at execution.
DECIDED_STATUSES = (
    DraftStatus.EXECUTED.value,
    DraftStatus.APPROVED.value,
    DraftStatus.REJECTED.value,
    DraftStatus.FAILED.value,
)
MEDIAN, P90 = 50, 90


@dataclass(frozen=True)
class EntityKpis:
    entity: str
    currency: str
    period_start: date
    period_end: date
    fill_rate_pct: Decimal | None
    on_time_pct: Decimal | None
    backlog_value: Decimal
    backlog_lines: int
    backordered_units: int
    inventory_value: Decimal
    inventory_turns: Decimal | None
    revenue: Decimal
    margin_pct: Decimal | None
    basis: dict[str, str]


@dataclass(frozen=True)
class ExceptionAging:
    entity: str
    open_cases: int
    by_type: dict[str, int]
    oldest_days: int | None
    overdue_sla: int
    median_age_hours: Decimal | None
    basis: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ApprovalStats:
    entity: str
    decided: int
    pending: int
    median_cycle_hours: Decimal | None
    p90_cycle_hours: Decimal | None
    approved_pct: Decimal | None
    basis: dict[str, str] = field(default_factory=dict)


# --- Scope, period and small helpers -------------------------------------------------------------


@dataclass(frozen=True)
class _Entity:
    id: int
    code: str
    currency: str


def entities_in_scope(session: Session, actor: Actor, entity: str | None) -> list[_Entity]:
    """The actor's entities (or the one named, which must be one of them), by code."""
    rows = session.execute(select(LegalEntity.id, LegalEntity.code, LegalEntity.base_currency)).all()
    mine = sorted((_Entity(*row) for row in rows if actor.can_see(row.id)), key=lambda e: e.code)
    if entity is None:
        return mine
    wanted = entity.strip().upper()
    named = next((_Entity(*row) for row in rows if row.code == wanted), None)
    if named is None:
        codes = [e.code for e in mine]
        raise NotFound("legal entity", entity, difflib.get_close_matches(wanted, codes, n=3, cutoff=0.5) or codes)
    actor.require_entity(named.id, f"entity {named.code}")
    return [named]


def reporting_period(since: date | None, until: date | None) -> tuple[date, date]:
    """The inclusive period asked for; by default the 90 days up to today. It may not reach past today."""
    today = clock.today()
    end = until or today
    start = since or end - timedelta(days=DEFAULT_PERIOD_DAYS - 1)
    if start > end:
        raise InvalidInput(f"the period starts ({start}) after it ends ({end})")
    if end > today:
        raise InvalidInput(f"the period ends {end}, after today ({today}); KPIs cover days that have happened")
    return start, end


def _pct(part: int, whole: int) -> Decimal | None:
    return round_percent(Decimal(part) * 100 / whole) if whole else None


def _hours_between(
    session: Session, start: SQLColumnExpression[datetime], end: SQLColumnExpression[datetime | None]
) -> ColumnElement[float]:
    """`end - start` in hours, as SQL for the session's database."""
    if session.get_bind().dialect.name == "sqlite":
        return ((func.julianday(end) - func.julianday(start)) * 24.0).cast(Float)
    return (func.extract("epoch", end - start) / 3600.0).cast(Float)


def _rank_bounds(n: ColumnElement[int], pct: int) -> tuple[ColumnElement[int], ColumnElement[int]]:
    """The 1-based ranks either side of the `pct` percentile among n sorted values (linear interpolation)."""
    scaled = (n - 1) * pct
    return 1 + scaled // 100, 1 + (scaled + 99) // 100


def _percentiles(
    session: Session,
    group: SQLColumnExpression[int],
    value: ColumnElement[float],
    where: Sequence[ColumnElement[bool]],
    pcts: Sequence[int],
) -> dict[int, dict[int, Decimal]]:
    """Per group, the `pcts` percentiles of `value` (as PERCENTILE_CONT), reading only the rows at the ranks needed."""
    ranked = (
        select(
            group.label("grp"),
            value.label("value"),
            func.row_number().over(partition_by=group, order_by=value).label("rank"),
            func.count().over(partition_by=group).label("n"),
        )
        .where(*where)
        .subquery()
    )
    needed = [bound for pct in pcts for bound in _rank_bounds(ranked.c.n, pct)]
    at_ranks = or_(*(ranked.c.rank == bound for bound in needed))
    rows = session.execute(select(ranked.c.grp, ranked.c.n, ranked.c.rank, ranked.c.value).where(at_ranks)).all()
    ranks: dict[int, dict[int, Decimal]] = {}
    sizes: dict[int, int] = {}
    for grp, n, rank, val in rows:
        ranks.setdefault(grp, {})[rank] = Decimal(str(val))
        sizes[grp] = n
    return {grp: {pct: _interpolate(values, sizes[grp], pct) for pct in pcts} for grp, values in ranks.items()}


def _interpolate(ranks: dict[int, Decimal], n: int, pct: int) -> Decimal:
    """The `pct` percentile of n sorted values from the values at the ranks either side of it."""
    lower, remainder = divmod((n - 1) * pct, 100)
    low = ranks[lower + 1]
    high = ranks[lower + 2] if remainder else low
    return (low + (high - low) * remainder / 100).quantize(TENTH, ROUND_HALF_UP)


# --- Sales and stock KPIs -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Service:
    lines: int = 0
    filled: int = 0
    on_time: int = 0


def _service_level(session: Session, entity_ids: list[int], start: date, end: date) -> dict[int, _Service]:
    """Per entity: order lines whose first shipment fell in the period, those it filled whole, those on time.

    The work grows with the shipments in the period, not with the history before it (figures at scale:
    evals/results/hardening-scale-latest.md).
    """
    shipped_in_period = (
        select(ShipmentLine.order_line_id)
        .join(Shipment, Shipment.id == ShipmentLine.shipment_id)
        .join(SalesOrder, SalesOrder.id == Shipment.order_id)
        .where(SalesOrder.entity_id.in_(entity_ids), Shipment.shipped_on >= start, Shipment.shipped_on <= end)
    )
    # Every shipment of those lines, earlier ones too: a line whose first shipment predates the period is out.
    per_line = (
        select(
            SalesOrder.entity_id,
            func.min(Shipment.shipped_on).label("first_shipped"),
            func.count().label("shipments"),
            func.sum(ShipmentLine.quantity).label("shipped"),
            SalesOrderLine.quantity.label("ordered"),
            SalesOrder.requested_date,
        )
        .select_from(ShipmentLine)
        .join(Shipment, Shipment.id == ShipmentLine.shipment_id)
        .join(SalesOrderLine, SalesOrderLine.id == ShipmentLine.order_line_id)
        .join(SalesOrder, SalesOrder.id == SalesOrderLine.order_id)
        .where(ShipmentLine.order_line_id.in_(shipped_in_period))
        .group_by(ShipmentLine.order_line_id, SalesOrder.entity_id, SalesOrderLine.quantity, SalesOrder.requested_date)
        .having(func.min(Shipment.shipped_on) >= start)
        .subquery()
    )
    # One shipment carrying the whole ordered quantity is exactly "complete on the first shipment".
    filled = and_(per_line.c.shipments == 1, per_line.c.shipped == per_line.c.ordered)
    rows = session.execute(
        select(
            per_line.c.entity_id,
            func.count(),
            func.sum(case((filled, 1), else_=0)),
            func.sum(case((per_line.c.first_shipped <= per_line.c.requested_date, 1), else_=0)),
        ).group_by(per_line.c.entity_id)
    ).all()
    return {eid: _Service(int(n), int(f or 0), int(t or 0)) for eid, n, f, t in rows}


@dataclass(frozen=True)
class _Backlog:
    value: Decimal = Decimal("0.00")
    lines: int = 0
    backordered: int = 0


def _backlog(session: Session, entity_ids: list[int]) -> dict[int, _Backlog]:
    """Per entity: open quantity at net price, open lines and backordered units of confirmed orders, now."""
    rows = session.execute(
        select(
            SalesOrder.entity_id,
            func.sum((SalesOrderLine.quantity - SalesOrderLine.qty_shipped) * SalesOrderLine.net_price),
            func.count(),
            func.sum(func.coalesce(Reservation.backordered, 0)),
        )
        .join(SalesOrder, SalesOrder.id == SalesOrderLine.order_id)
        .outerjoin(
            Reservation,
            and_(
                Reservation.source_type == DemandSource.SALES_ORDER_LINE.value,
                Reservation.source_id == SalesOrderLine.id,
            ),
        )
        .where(
            SalesOrder.entity_id.in_(entity_ids),
            SalesOrder.status.in_(OPEN_ORDER_STATUSES),
            SalesOrderLine.quantity > SalesOrderLine.qty_shipped,
        )
        .group_by(SalesOrder.entity_id)
    ).all()
    return {eid: _Backlog(round_money(value), int(n), int(b or 0)) for eid, value, n, b in rows}


def _inventory_usd(session: Session, entity_ids: list[int]) -> dict[int, Decimal]:
    """Per entity: on-hand units in its warehouses at standard cost, in the group currency."""
    rows = session.execute(
        select(Warehouse.entity_id, func.sum(StockBalance.on_hand * Item.standard_cost))
        .select_from(StockBalance)
        .join(Warehouse, Warehouse.id == StockBalance.warehouse_id)
        .join(Item, Item.id == StockBalance.item_id)
        .where(Warehouse.entity_id.in_(entity_ids), StockBalance.on_hand > 0)
        .group_by(Warehouse.entity_id)
    ).all()
    return {eid: Decimal(str(value or 0)) for eid, value in rows}


def _sales_basis(entity: _Entity, start: date, end: date, service: _Service, backlog: _Backlog) -> dict[str, str]:
    period, today = f"{start}..{end}", clock.today()
    if not service.lines:
        none = f"No order line of {entity.code} had its first shipment in {period}, so there is no rate."
        return {"fill_rate_pct": none, "on_time_pct": none, **_backlog_basis(entity, today, backlog)}
    return {
        "fill_rate_pct": (
            f"{service.filled} of the {service.lines} order lines whose first shipment was in {period} shipped "
            f"their whole ordered quantity in that first shipment (a line shipped in parts counts as not filled)."
        ),
        "on_time_pct": (
            f"{service.on_time} of the {service.lines} order lines whose first shipment was in {period} shipped it "
            f"on or before the order's requested date."
        ),
        **_backlog_basis(entity, today, backlog),
    }


def _backlog_basis(entity: _Entity, today: date, backlog: _Backlog) -> dict[str, str]:
    return {
        "backlog_value": (
            f"Quantity still to ship (ordered minus shipped) x net unit price over the {backlog.lines} open lines "
            f"of {entity.code}'s confirmed and partially shipped orders on {today}, in {entity.currency}."
        ),
        "backlog_lines": f"Lines of confirmed or partially shipped orders with quantity still to ship, on {today}.",
        "backordered_units": (
            f"Units on those open order lines that are backordered (waiting for stock, not reserved), on {today}."
        ),
    }


def _stock_basis(entity: _Entity, start: date, end: date, rate: Rate, cogs: Decimal, value: Decimal) -> dict[str, str]:
    days = (end - start).days + 1
    conversion = "in USD, no conversion" if rate.valid_from is None else f"converted at {rate.describe()}"
    turns = (
        f"Cost of goods shipped (invoiced at shipment) in {start}..{end} ({format_money(cogs, entity.currency)}) "
        f"x {DAYS_PER_YEAR} / {days} days, divided by today's inventory value (ending, not average, inventory)."
    )
    if not value:
        turns = f"{entity.code} holds no stock on hand, so there are no turns to compute."
    return {
        "inventory_value": (
            f"On-hand units in {entity.code}'s warehouses x item standard cost (USD), {conversion}, on "
            f"{clock.today()}; stock in transit is not counted, reserved stock is (it is still on hand)."
        ),
        "inventory_turns": turns,
    }


def _margin_basis(entity: _Entity, start: date, end: date, revenue: Decimal, cost: Decimal) -> dict[str, str]:
    margin = (
        f"(Revenue - cost, {format_money(cost, entity.currency)}) / revenue x 100; cost is the standard cost at "
        f"order time of the goods invoiced in {entity.currency}, plus absorbed freight, less goods returned to stock."
    )
    return {
        "revenue": (
            f"Sum of invoices of {entity.code} issued in {start}..{end}, at net prices, less credit notes issued "
            f"in it (returns), in {entity.currency}."
        ),
        "margin_pct": margin if revenue else f"No invoice of {entity.code} was issued in {start}..{end}.",
    }


def entity_kpis(
    session: Session,
    actor: Actor,
    *,
    since: date | None = None,
    until: date | None = None,
    entity: str | None = None,
) -> list[EntityKpis]:
    """Fill rate, on-time, backlog, inventory value and turns, revenue and margin per entity in scope, with bases."""
    start, end = reporting_period(since, until)
    entities = entities_in_scope(session, actor, entity)
    if not entities:
        return []
    ids = [e.id for e in entities]
    rates = rates_on(session, [(GROUP_CURRENCY, e.currency) for e in entities], clock.today())
    service = _service_level(session, ids, start, end)
    backlog = _backlog(session, ids)
    stock = _inventory_usd(session, ids)
    margins = {m.entity: (m.revenue, m.cost) for m in margin_by_entity(session, actor, since=start, until=end)}
    zero = (Decimal("0.00"), Decimal("0.00"))
    return [
        _kpis_of(
            ent,
            (start, end),
            rates[(GROUP_CURRENCY, ent.currency)],
            service.get(ent.id, _Service()),
            backlog.get(ent.id, _Backlog()),
            stock.get(ent.id, Decimal(0)),
            margins.get(ent.code, zero),
        )
        for ent in entities
    ]


def _kpis_of(
    ent: _Entity,
    period: tuple[date, date],
    rate: Rate,
    served: _Service,
    open_orders: _Backlog,
    stock_usd: Decimal,
    invoiced: tuple[Decimal, Decimal],
) -> EntityKpis:
    """One entity's figures from the set-wide query results."""
    (start, end), (revenue, cost) = period, invoiced
    value = rate.apply(stock_usd)
    days = (end - start).days + 1
    return EntityKpis(
        entity=ent.code,
        currency=ent.currency,
        period_start=start,
        period_end=end,
        fill_rate_pct=_pct(served.filled, served.lines),
        on_time_pct=_pct(served.on_time, served.lines),
        backlog_value=open_orders.value,
        backlog_lines=open_orders.lines,
        backordered_units=open_orders.backordered,
        inventory_value=value,
        inventory_turns=(cost * DAYS_PER_YEAR / days / value).quantize(TURNS_PLACES, ROUND_HALF_UP) if value else None,
        revenue=revenue,
        margin_pct=margin_percent(revenue - cost, revenue) if revenue else None,
        basis={
            **_sales_basis(ent, start, end, served, open_orders),
            **_stock_basis(ent, start, end, rate, cost, value),
            **_margin_basis(ent, start, end, revenue, cost),
        },
    )


# --- Exception aging --------------------------------------------------------------------------------


def exception_aging(session: Session, actor: Actor, *, entity: str | None = None) -> list[ExceptionAging]:
    """Open exception cases per entity in scope: how many, of which type, how old, how many past their SLA."""
    entities = entities_in_scope(session, actor, entity)
    if not entities:
        return []
    now = clock.now()
    active = [ExceptionCase.entity_id.in_([e.id for e in entities]), ExceptionCase.status.in_(ACTIVE_STATUSES)]
    rows = session.execute(
        select(
            ExceptionCase.entity_id,
            ExceptionCase.type,
            func.count(),
            func.min(ExceptionCase.created_at),
            func.sum(case((ExceptionCase.sla_due_at < now, 1), else_=0)),
        )
        .where(*active)
        .group_by(ExceptionCase.entity_id, ExceptionCase.type)
    ).all()
    age = _hours_between(session, ExceptionCase.created_at, literal(now, ExceptionCase.created_at.type))
    medians = _percentiles(session, ExceptionCase.entity_id, age, active, [MEDIAN])
    by_entity: dict[int, list[tuple[str, int, datetime, int]]] = {}
    for eid, kind, count, oldest, overdue in rows:
        by_entity.setdefault(eid, []).append((kind, int(count), oldest, int(overdue or 0)))
    result = []
    for ent in entities:
        types = by_entity.get(ent.id, [])
        oldest = min((t[2] for t in types), default=None)
        result.append(
            ExceptionAging(
                entity=ent.code,
                open_cases=sum(t[1] for t in types),
                by_type={kind: count for kind, count, _, _ in sorted(types)},
                oldest_days=(now - oldest).days if oldest is not None else None,
                overdue_sla=sum(t[3] for t in types),
                median_age_hours=medians.get(ent.id, {}).get(MEDIAN),
                basis=_aging_basis(ent, now),
            )
        )
    return result


def _aging_basis(entity: _Entity, now: datetime) -> dict[str, str]:
    at = f"{now:%Y-%m-%d %H:%M} UTC"
    return {
        "open_cases": f"Exception cases of {entity.code} open or assigned (not resolved or dismissed) at {at}.",
        "by_type": "Those open cases counted by type (shortage, credit hold, price deviation, late supplier, ...).",
        "oldest_days": f"Whole days since the oldest open case was raised, at {at}.",
        "overdue_sla": f"Open cases whose SLA due time (set by the routing rule when raised) had passed at {at}.",
        "median_age_hours": f"Median of the hours since each open case was raised, at {at}.",
    }


# --- Approval cycle time ------------------------------------------------------------------------------


def approval_stats(
    session: Session, actor: Actor, *, since: date | None = None, entity: str | None = None
) -> list[ApprovalStats]:
    """Per entity in scope: drafts approvers decided since a date, cycle time from draft to decision, share approved."""
    start, _ = reporting_period(since, None)
    entities = entities_in_scope(session, actor, entity)
    if not entities:
        return []
    in_scope = DraftAction.entity_id.in_([e.id for e in entities])
    decided = and_(
        DraftAction.status.in_(DECIDED_STATUSES),
        DraftAction.decided_at >= datetime.combine(start, time.min),
        exists().where(DraftApproval.draft_id == DraftAction.id),
    )
    pending = DraftAction.status == DraftStatus.PENDING_APPROVAL.value
    let_through = and_(decided, DraftAction.status != DraftStatus.REJECTED.value)
    rows = session.execute(
        select(
            DraftAction.entity_id,
            func.sum(case((decided, 1), else_=0)),
            func.sum(case((let_through, 1), else_=0)),
            func.sum(case((pending, 1), else_=0)),
        )
        .where(in_scope, or_(pending, decided))
        .group_by(DraftAction.entity_id)
    ).all()
    counts = {eid: (int(d or 0), int(a or 0), int(p or 0)) for eid, d, a, p in rows}
    cycle = _hours_between(session, DraftAction.created_at, DraftAction.decided_at)
    cycles = _percentiles(session, DraftAction.entity_id, cycle, [in_scope, decided], [MEDIAN, P90])
    result = []
    for ent in entities:
        n_decided, n_approved, n_pending = counts.get(ent.id, (0, 0, 0))
        times = cycles.get(ent.id, {})
        result.append(
            ApprovalStats(
                entity=ent.code,
                decided=n_decided,
                pending=n_pending,
                median_cycle_hours=times.get(MEDIAN),
                p90_cycle_hours=times.get(P90),
                approved_pct=_pct(n_approved, n_decided),
                basis=_approval_basis(ent, start),
            )
        )
    return result


def _approval_basis(entity: _Entity, start: date) -> dict[str, str]:
    decided = (
        f"drafts of {entity.code} decided since {start} that went to approvers (at least one approval or "
        f"rejection recorded), now executed, approved, rejected or failed at execution"
    )
    return {
        "decided": f"Count of {decided}.",
        "pending": f"Drafts of {entity.code} waiting for approval now, whenever they were drafted.",
        "median_cycle_hours": f"Median of decided minus drafted time, in hours, over the {decided}.",
        "p90_cycle_hours": (
            f"90th percentile (linear interpolation) of decided minus drafted time, in hours, over the {decided}."
        ),
        "approved_pct": (
            "Share of those decided drafts the approvers let through (all but rejected; a draft that failed at "
            "execution was approved)."
        ),
    }
