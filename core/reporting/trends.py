"""KPIs over time: fill rate, backlog, inventory turns, margin, exception ageing and approval cycle time, per week
or month, per entity in the caller's scope and for the group, all money in one reporting currency.

Each bucket uses the same definitions as `core.reporting.service` (a period's KPIs are its first shipments, its
invoices less credit notes, its decided drafts); the figures that are states rather than flows (backlog, inventory,
open cases) are reconstructed as they stood at the end of the bucket:
- backlog: lines of orders placed by then, less what had shipped by then (an order since invoiced counts what it
  finally shipped, one since cancelled or back on hold is left out, as nothing records when that happened);
- inventory: today's on-hand less the ledger's on-hand movements posted after then, at standard cost;
- open cases: raised by then and not yet resolved or dismissed then (the last close of a reopened case counts).
Money is translated at the rate valid on each bucket's last day (`core.fx`); ratios for the group are recomputed
from the summed parts, never averaged. A handful of statements per bucket, whatever the data size.
"""

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

from sqlalchemy import case, exists, func, or_, select
from sqlalchemy.orm import Session

from core import clock
from core.actor import Actor
from core.drafts.models import DraftAction, DraftApproval
from core.errors import InvalidInput
from core.exceptions.models import ACTIVE_STATUSES, CaseEvent, EventKind, ExceptionCase
from core.finance.margin import MarginBy, margins
from core.fx import Rate, rates_on
from core.masterdata.models import Item, Warehouse
from core.reporting.group import reporting_currency
from core.reporting.service import (
    DAYS_PER_YEAR,
    DECIDED_STATUSES,
    OPEN_ORDER_STATUSES,
    TENTH,
    TURNS_PLACES,
    _Entity,
    _inventory_usd,
    _pct,
    _Service,
    _service_level,
    entities_in_scope,
    reporting_period,
)
from core.sales.models import OrderStatus, SalesOrder, SalesOrderLine, Shipment, ShipmentLine
from core.sales.pricing import GROUP_CURRENCY, margin_percent
from core.stock.models import Bucket, LedgerEntry

GROUP = "group"
MAX_BUCKETS = 60
ZERO = Decimal("0.00")
# Open cases by age at the bucket's end: (label, age below this many days; None: no upper bound).
AGE_BANDS: tuple[tuple[str, int | None], ...] = (
    ("under 1 day", 1),
    ("1-3 days", 3),
    ("3-7 days", 7),
    ("over 7 days", None),
)
BAND_LABELS = tuple(label for label, _ in AGE_BANDS)


class Granularity(StrEnum):
    WEEK = "week"
    MONTH = "month"


DEFAULT_BUCKETS = 12  # by default: the current week or month to date and the eleven whole ones before it


@dataclass(frozen=True)
class Period:
    """One bucket: its first and last day (inclusive); the first and last buckets are cut to the period asked."""

    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def label(self) -> str:
        return f"{self.start:%Y-%m-%d}"


@dataclass(frozen=True)
class TrendPoint:
    """One entity's (or the group's) figures for one bucket; money in the reporting currency."""

    start: date
    end: date
    lines_shipped: int  # order lines whose first shipment fell in the bucket
    lines_filled: int  # of those, shipped whole in that first shipment
    fill_rate_pct: Decimal | None
    backlog_value: Decimal  # at the bucket's end
    inventory_value: Decimal  # at the bucket's end
    cost_of_goods: Decimal  # of the goods invoiced in the bucket, less returns
    inventory_turns: Decimal | None  # cost of goods, annualised, over the ending inventory
    revenue: Decimal
    margin: Decimal
    margin_pct: Decimal | None
    open_cases: dict[str, int]  # age band -> open cases at the bucket's end
    approvals_decided: int
    median_cycle_hours: Decimal | None  # draft to decision, over drafts decided in the bucket


@dataclass(frozen=True)
class TrendSeries:
    entity: str  # an entity code, or "group"
    currency: str  # the entity's own currency (the figures are translated out of it)
    points: list[TrendPoint]


@dataclass(frozen=True)
class KpiTrends:
    currency: str
    granularity: Granularity
    period_start: date
    period_end: date
    periods: list[Period]
    entities: list[TrendSeries]
    group: TrendSeries
    rates: list[Rate]  # every rate used, by pair and day
    basis: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class FindingsAge:
    """Open exception cases of one type in one entity, counted by age band, now."""

    entity: str
    type: str
    by_band: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.by_band.values())


# --- Buckets -------------------------------------------------------------------------------------------


def parse_granularity(value: Granularity | str) -> Granularity:
    try:
        return Granularity(str(value).strip().lower())
    except ValueError:
        raise InvalidInput(f"unknown bucket {value!r}: use 'week' or 'month'") from None


def buckets(start: date, end: date, granularity: Granularity) -> list[Period]:
    """Monday-to-Sunday weeks or calendar months covering start..end, the first and last cut to it."""
    periods, day = [], start
    while day <= end:
        natural_end = _week_end(day) if granularity is Granularity.WEEK else _month_end(day)
        periods.append(Period(day, min(natural_end, end)))
        day = natural_end + timedelta(days=1)
    return periods


def _week_end(day: date) -> date:
    return day + timedelta(days=6 - day.weekday())


def _month_end(day: date) -> date:
    following = date(day.year + day.month // 12, day.month % 12 + 1, 1)
    return following - timedelta(days=1)


def trend_period(since: date | None, until: date | None, granularity: Granularity) -> tuple[date, date, list[Period]]:
    """The period asked (by default the last twelve weeks or months, the current one to date) and its buckets."""
    end = until or clock.today()
    start, end = reporting_period(since or _default_start(end, granularity), end)
    count = (end - start).days // 7 + 1 if granularity is Granularity.WEEK else _months_between(start, end) + 1
    if count > MAX_BUCKETS + 1:  # before making them: a period from year 1 is refused at once
        raise InvalidInput(
            f"{start}..{end} is about {count} {granularity.value}s; ask for at most {MAX_BUCKETS} "
            f"(a shorter period, or monthly buckets)"
        )
    periods = buckets(start, end, granularity)
    if len(periods) > MAX_BUCKETS:
        raise InvalidInput(
            f"{start}..{end} is {len(periods)} {granularity.value}s; ask for at most {MAX_BUCKETS} "
            f"(a shorter period, or monthly buckets)"
        )
    return start, end, periods


def _months_between(start: date, end: date) -> int:
    return (end.year - start.year) * 12 + end.month - start.month


def _default_start(end: date, granularity: Granularity) -> date:
    """The first day of the week or month DEFAULT_BUCKETS - 1 before the one `end` falls in, so all are whole
    (cut to the first day of the calendar for an `end` in its first year)."""
    if granularity is Granularity.WEEK:
        back = end.weekday() + 7 * (DEFAULT_BUCKETS - 1)
        return end - timedelta(days=back) if end.toordinal() > back else date.min
    months = max(end.year * 12 + end.month - 1 - (DEFAULT_BUCKETS - 1), 12)
    return date(months // 12, months % 12 + 1, 1)


# --- State at a moment -------------------------------------------------------------------------------


def _end_of(day: date) -> datetime:
    """The moment a day's state is read at: its end, or now for today."""
    return min(datetime.combine(day + timedelta(days=1), time.min), clock.now())


def _backlogs(session: Session, entity_ids: list[int], days: list[date]) -> list[dict[int, Decimal]]:
    """Per day and entity: quantity ordered by that day and not shipped by it, at net price, in the entity's currency.

    What was ordered by a day less what had shipped by it, both summed over the whole history in one pass each
    (a column per day), so the work does not grow with the number of buckets."""
    closed = SalesOrder.status == OrderStatus.INVOICED.value
    ordered = case((closed, SalesOrderLine.qty_shipped), else_=SalesOrderLine.quantity) * SalesOrderLine.net_price
    counted = [
        SalesOrder.entity_id.in_(entity_ids),
        SalesOrder.status.in_((*OPEN_ORDER_STATUSES, OrderStatus.INVOICED.value)),
    ]
    placed = session.execute(
        select(SalesOrder.entity_id, *(func.sum(case((SalesOrder.order_date <= d, ordered), else_=0)) for d in days))
        .join(SalesOrder, SalesOrder.id == SalesOrderLine.order_id)
        .where(*counted)
        .group_by(SalesOrder.entity_id)
    ).all()
    sent = ShipmentLine.quantity * SalesOrderLine.net_price
    shipped = session.execute(
        select(SalesOrder.entity_id, *(func.sum(case((Shipment.shipped_on <= d, sent), else_=0)) for d in days))
        .select_from(ShipmentLine)
        .join(Shipment, Shipment.id == ShipmentLine.shipment_id)
        .join(SalesOrderLine, SalesOrderLine.id == ShipmentLine.order_line_id)
        .join(SalesOrder, SalesOrder.id == SalesOrderLine.order_id)
        .where(*counted)
        .group_by(SalesOrder.entity_id)
    ).all()
    out = {row[0]: [Decimal(str(v or 0)) for v in row[1:]] for row in shipped}
    return [
        {row[0]: Decimal(str(row[i + 1] or 0)) - out.get(row[0], [ZERO] * len(days))[i] for row in placed}
        for i in range(len(days))
    ]


def _stock_moved_after_usd(
    session: Session, entity_ids: list[int], moments: list[datetime]
) -> list[dict[int, Decimal]]:
    """Per moment and entity: on-hand units posted to the ledger after it, at standard cost (USD), in one pass."""
    value = LedgerEntry.quantity * Item.standard_cost
    rows = session.execute(
        select(Warehouse.entity_id, *(func.sum(case((LedgerEntry.posted_at >= m, value), else_=0)) for m in moments))
        .join(Warehouse, Warehouse.id == LedgerEntry.warehouse_id)
        .join(Item, Item.id == LedgerEntry.item_id)
        .where(
            Warehouse.entity_id.in_(entity_ids),
            LedgerEntry.bucket == Bucket.ON_HAND.value,
            LedgerEntry.posted_at >= min(moments),
        )
        .group_by(Warehouse.entity_id)
    ).all()
    return [{row[0]: Decimal(str(row[i + 1] or 0)) for row in rows} for i in range(len(moments))]


def _days_before(moment: datetime, days: int) -> datetime:
    """`days` before `moment`, or the calendar's first moment for a moment in its first days."""
    return moment - timedelta(days=days) if moment - datetime.min > timedelta(days=days) else datetime.min


def _open_cases_at(session: Session, entity_ids: list[int], moment: datetime) -> dict[tuple[int, str, int], int]:
    """Open cases at `moment` per (entity, type, age band index)."""
    closes = (
        select(CaseEvent.case_id, func.max(CaseEvent.at).label("at"))
        .where(CaseEvent.kind.in_((EventKind.RESOLVED.value, EventKind.DISMISSED.value)))
        .group_by(CaseEvent.case_id)
        .subquery()
    )
    closed_at = func.coalesce(closes.c.at, ExceptionCase.updated_at)
    still_open = or_(ExceptionCase.status.in_(ACTIVE_STATUSES), closed_at > moment)
    band = case(
        *(
            (ExceptionCase.created_at > _days_before(moment, days), index)
            for index, (_, days) in enumerate(AGE_BANDS)
            if days is not None
        ),
        else_=len(AGE_BANDS) - 1,
    )
    rows = session.execute(
        select(ExceptionCase.entity_id, ExceptionCase.type, band, func.count())
        .outerjoin(closes, closes.c.case_id == ExceptionCase.id)
        .where(ExceptionCase.entity_id.in_(entity_ids), ExceptionCase.created_at <= moment, still_open)
        .group_by(ExceptionCase.entity_id, ExceptionCase.type, band)
    ).all()
    return {(eid, kind, int(index)): int(n) for eid, kind, index, n in rows}


def _cycle_hours(session: Session, entity_ids: list[int], start: date, end: date) -> list[tuple[int, date, float]]:
    """(entity, day decided, hours from draft to decision) of every draft approvers decided in start..end.

    Rows come back one per decision: people make these, so there are as many as people can make."""
    rows = session.execute(
        select(DraftAction.entity_id, DraftAction.created_at, DraftAction.decided_at).where(
            DraftAction.entity_id.in_(entity_ids),
            DraftAction.status.in_(DECIDED_STATUSES),
            DraftAction.decided_at >= datetime.combine(start, time.min),
            DraftAction.decided_at < datetime.combine(end + timedelta(days=1), time.min),
            exists().where(DraftApproval.draft_id == DraftAction.id),
        )
    ).all()
    return [
        (eid, decided.date(), (decided - made).total_seconds() / 3600)
        for eid, made, decided in rows
        if decided is not None
    ]


def _median(hours: Sequence[float]) -> Decimal | None:
    if not hours:
        return None
    return Decimal(str(statistics.median(hours))).quantize(TENTH, ROUND_HALF_UP)


# --- The trends ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _State:
    """What stood at a bucket's end, per entity: backlog in its currency, stock at standard cost in USD."""

    backlog: dict[int, Decimal]
    stock_usd: dict[int, Decimal]


@dataclass
class _Sums:
    """One entity's raw figures for a bucket, already translated; the group adds these up."""

    service: _Service
    backlog: Decimal
    inventory: Decimal
    cost: Decimal
    revenue: Decimal
    bands: list[int]
    hours: list[float]


def kpi_trends(
    session: Session,
    actor: Actor,
    *,
    since: date | None = None,
    until: date | None = None,
    granularity: Granularity | str = Granularity.WEEK,
    entity: str | None = None,
    currency: str | None = None,
) -> KpiTrends:
    """Fill rate, backlog, turns, margin, open cases by age and approval cycle time per bucket, per entity and group."""
    grain, ccy = parse_granularity(granularity), reporting_currency(currency)
    start, end, periods = trend_period(since, until, grain)
    entities = entities_in_scope(session, actor, entity)
    ids = [e.id for e in entities]
    cycles = _cycle_hours(session, ids, start, end) if ids else []
    stock_now = _inventory_usd(session, ids) if ids else {}
    ends = [p.end for p in periods]
    backlogs = _backlogs(session, ids, ends) if ids else [{} for _ in periods]
    moved = _stock_moved_after_usd(session, ids, [_end_of(d) for d in ends]) if ids else [{} for _ in periods]
    per_entity: dict[str, list[_Sums]] = {e.code: [] for e in entities}
    used: set[Rate] = set()
    for period, backlog, moved_after in zip(periods, backlogs, moved, strict=True):
        stock = {eid: stock_now.get(eid, ZERO) - moved_after.get(eid, ZERO) for eid in ids}
        sums = _bucket(session, actor, entities, period, ccy, _State(backlog, stock), cycles, used)
        for ent in entities:
            per_entity[ent.code].append(sums[ent.id])
    series = [
        TrendSeries(e.code, e.currency, [_point(p, s) for p, s in zip(periods, per_entity[e.code], strict=True)])
        for e in entities
    ]
    group_points = [_point(p, _added([per_entity[e.code][i] for e in entities])) for i, p in enumerate(periods)]
    return KpiTrends(
        currency=ccy,
        granularity=grain,
        period_start=start,
        period_end=end,
        periods=periods,
        entities=series,
        group=TrendSeries(GROUP, ccy, group_points),
        rates=sorted(used, key=lambda r: (r.pair, r.valid_from or date.min)),
        basis=_basis(ccy, grain),
    )


def _bucket(
    session: Session,
    actor: Actor,
    entities: list[_Entity],
    period: Period,
    ccy: str,
    state: "_State",
    cycles: list[tuple[int, date, float]],
    used: set[Rate],
) -> dict[int, _Sums]:
    """Every entity's figures for one bucket, translated at the rates valid on its last day."""
    ids = [e.id for e in entities]
    if not ids:
        return {}
    moment = _end_of(period.end)
    rates = rates_on(session, [(c, ccy) for c in {e.currency for e in entities} | {GROUP_CURRENCY}], period.end)
    service = _service_level(session, ids, period.start, period.end)
    invoiced = {m.entity: m for m in margins(session, actor, by=MarginBy.ENTITY, since=period.start, until=period.end)}
    cases = _open_cases_at(session, ids, moment)
    result = {}
    for ent in entities:
        rate, usd = rates[(ent.currency, ccy)], rates[(GROUP_CURRENCY, ccy)]
        used.update({rate, usd})
        line = invoiced.get(ent.code)
        result[ent.id] = _Sums(
            service=service.get(ent.id, _Service()),
            backlog=rate.apply(state.backlog.get(ent.id, ZERO)),
            inventory=usd.apply(state.stock_usd.get(ent.id, ZERO)),
            cost=rate.apply(line.cost) if line else ZERO,
            revenue=rate.apply(line.revenue) if line else ZERO,
            bands=[
                sum(n for (eid, _, b), n in cases.items() if eid == ent.id and b == i) for i in range(len(AGE_BANDS))
            ],
            hours=[h for eid, day, h in cycles if eid == ent.id and period.start <= day <= period.end],
        )
    return result


def _added(parts: list[_Sums]) -> _Sums:
    return _Sums(
        service=_Service(
            sum(p.service.lines for p in parts),
            sum(p.service.filled for p in parts),
            sum(p.service.on_time for p in parts),
        ),
        backlog=sum((p.backlog for p in parts), ZERO),
        inventory=sum((p.inventory for p in parts), ZERO),
        cost=sum((p.cost for p in parts), ZERO),
        revenue=sum((p.revenue for p in parts), ZERO),
        bands=[sum(p.bands[i] for p in parts) for i in range(len(AGE_BANDS))],
        hours=[h for p in parts for h in p.hours],
    )


def _point(period: Period, s: _Sums) -> TrendPoint:
    turns = s.cost * DAYS_PER_YEAR / period.days / s.inventory if s.inventory > 0 else None
    return TrendPoint(
        start=period.start,
        end=period.end,
        lines_shipped=s.service.lines,
        lines_filled=s.service.filled,
        fill_rate_pct=_pct(s.service.filled, s.service.lines),
        backlog_value=s.backlog,
        inventory_value=s.inventory,
        cost_of_goods=s.cost,
        inventory_turns=None if turns is None else turns.quantize(TURNS_PLACES, ROUND_HALF_UP),
        revenue=s.revenue,
        margin=s.revenue - s.cost,
        margin_pct=margin_percent(s.revenue - s.cost, s.revenue) if s.revenue else None,
        open_cases=dict(zip(BAND_LABELS, s.bands, strict=True)),
        approvals_decided=len(s.hours),
        median_cycle_hours=_median(s.hours),
    )


def _basis(ccy: str, grain: Granularity) -> dict[str, str]:
    bucket = "Monday-to-Sunday week" if grain is Granularity.WEEK else "calendar month"
    return {
        "buckets": f"One point per {bucket}; the first and last are cut to the period asked.",
        "fill_rate_pct": "Order lines whose first shipment fell in the bucket and shipped whole in it, over all such "
        "lines; the group's is the entities' counts added up.",
        "backlog_value": f"Quantity ordered by the bucket's last day and not shipped by it, at net price, in {ccy} "
        "(orders since cancelled or put on hold are left out; an invoiced order counts what it shipped).",
        "inventory_turns": f"Cost of goods invoiced in the bucket (less returns) x {DAYS_PER_YEAR} / days in the "
        "bucket, over the inventory at standard cost on its last day (today's on-hand less later ledger movements).",
        "margin_pct": "(Revenue - cost) / revenue, revenue being invoices less credit notes issued in the bucket; "
        "the group's from the translated sums.",
        "open_cases": "Exception cases raised by the bucket's end and not resolved or dismissed by then, by age then.",
        "median_cycle_hours": "Median hours from draft to decision over the drafts approvers decided in the bucket.",
        "currency": f"Money in {ccy}, translated at the rate valid on each bucket's last day.",
    }


# --- Findings now ----------------------------------------------------------------------------------------


def findings_by_age(session: Session, actor: Actor, *, entity: str | None = None) -> list[FindingsAge]:
    """Open exception cases per entity and type, counted by age band, now."""
    entities = entities_in_scope(session, actor, entity)
    if not entities:
        return []
    code = {e.id: e.code for e in entities}
    cases = _open_cases_at(session, list(code), clock.now())
    keys = sorted({(code[eid], kind) for eid, kind, _ in cases})
    found = {key: [0] * len(AGE_BANDS) for key in keys}
    for (eid, kind, band), n in cases.items():
        found[(code[eid], kind)][band] += n
    return [
        FindingsAge(ent, kind, dict(zip(BAND_LABELS, counts, strict=True))) for (ent, kind), counts in found.items()
    ]


__all__ = [
    "AGE_BANDS",
    "BAND_LABELS",
    "GROUP",
    "FindingsAge",
    "Granularity",
    "KpiTrends",
    "Period",
    "TrendPoint",
    "TrendSeries",
    "buckets",
    "findings_by_age",
    "kpi_trends",
]
