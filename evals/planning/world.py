"""The world a backtest replays: the demo company's demand, suppliers' real lead times and starting stock.

Days count from the history's first day (day 0); week k is days 7k..7k+6, so the weekly series a plan reads
at the start of week k is exactly `core.planning.history.weekly_demand(as_of=day 7k, weeks=k)`.
`load_world` reads a demo database once; everything after it is pure and in memory.
"""

import bisect
import statistics
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.demo.directory import SUPPLIERS
from core.masterdata.models import Item, Supplier, Warehouse
from core.planning.abc import abc_classes
from core.planning.history import NOT_DEMAND
from core.purchasing.models import PurchaseOrder, PurchaseOrderLine
from core.sales.models import SalesOrder, SalesOrderLine
from core.stock.models import LedgerEntry

Key = tuple[int, int]  # (item id, warehouse id)
TRANSIT_DAYS = 2  # an inter-warehouse transfer (core.transfers.models.TRANSIT_DAYS)


@dataclass(frozen=True)
class Sale:
    """One order line: wanted on `day` from the key's warehouse, promised for `promise_day`."""

    day: int
    key: Key
    units: int
    promise_day: int


@dataclass(frozen=True)
class Arrival:
    """Stock already on its way when the replay starts (a purchase order or a transfer)."""

    day: int
    key: Key
    units: int


@dataclass(frozen=True)
class SupplierRecord:
    """A supplier's promise and what it really did: (order day, receipt day) of each purchase order it filled."""

    id: int
    promised_days: int
    review_weekday: int  # 0 Monday .. 4 Friday: the day its orders go out (as the demo's buyers do)
    deliveries: tuple[tuple[int, int], ...]  # sorted by order day

    def lead_time_on(self, order_day: int) -> int:
        """The lead time it gave a purchase order placed on `order_day`: the real one that day, else the nearest."""
        if not self.deliveries:
            return self.promised_days
        days = [d for d, _ in self.deliveries]
        i = bisect.bisect_left(days, order_day)
        near = [j for j in (i - 1, i) if 0 <= j < len(days)]
        j = min(near, key=lambda j: (abs(days[j] - order_day), days[j]))
        return self.deliveries[j][1] - self.deliveries[j][0]

    def known_lead_time(self, as_of: int) -> tuple[float, float]:
        """Mean and spread of the lead times of the deliveries received before `as_of` (the promise if none yet)."""
        lags = [received - ordered for ordered, received in self.deliveries if received < as_of]
        if len(lags) < 2:
            return float(self.promised_days), 0.0
        return statistics.fmean(lags), statistics.stdev(lags)


@dataclass(frozen=True)
class World:
    """Everything both policies are given, identical for each."""

    start_weekday: int  # weekday of day 0, Monday 0
    first_day: int  # the replay's first day, a week boundary; the days before it are history only
    end_day: int  # the day after the last
    sales: tuple[Sale, ...]  # sorted by day
    unit_cost: Mapping[int, float]  # item id -> standard cost
    supplier_of: Mapping[Key, int]
    suppliers: Mapping[int, SupplierRecord]
    entity_of: Mapping[int, int]  # warehouse id -> entity id
    opening: Mapping[Key, int]  # on hand on the first day
    pipeline: tuple[Arrival, ...] = ()
    transit_days: int = TRANSIT_DAYS
    keys: tuple[Key, ...] = field(init=False)

    def __post_init__(self) -> None:
        keys = {s.key for s in self.sales} | set(self.opening) | {a.key for a in self.pipeline}
        object.__setattr__(self, "keys", tuple(sorted(keys)))

    def weekday(self, day: int) -> int:
        return (self.start_weekday + day) % 7

    def next_weekday(self, day: int) -> int:
        while self.weekday(day) >= 5:
            day += 1
        return day


@dataclass(frozen=True)
class WeeklyHistory:
    """Units and order lines per key per week over the whole stream; a plan reads only the weeks before its own."""

    units: Mapping[Key, list[int]]
    lines: Mapping[Key, list[int]]
    weeks: int


def weekly_history(world: World) -> WeeklyHistory:
    """The stream bucketed by week (week k = days 7k..7k+6), as `weekly_demand` buckets it."""
    weeks = (world.end_day + 6) // 7
    units: dict[Key, list[int]] = {}
    lines: dict[Key, list[int]] = {}
    for sale in world.sales:
        week = sale.day // 7
        units.setdefault(sale.key, [0] * weeks)[week] += sale.units
        lines.setdefault(sale.key, [0] * weeks)[week] += 1
    return WeeklyHistory(units, lines, weeks)


# -- reading a demo database ----------------------------------------------------------------


def _day(start: date, when: date | datetime) -> int:
    return ((when.date() if isinstance(when, datetime) else when) - start).days


def load_world(session: Session, *, start: date, end: date, warmup_weeks: int) -> World:
    """The demo history between `start` (day 0) and `end` (the business date, excluded), replayed from week
    `warmup_weeks`; the weeks before are history the plans may read."""
    first_day = 7 * warmup_weeks
    end_day = (end - start).days
    if not 0 < first_day < end_day:
        raise ValueError(f"a warm-up of {warmup_weeks} weeks leaves nothing to replay in {end_day} days")
    first_date = start + timedelta(days=first_day)
    receipts = _receipt_days(session, start, end)
    entity_of = {w: e for w, e in session.execute(select(Warehouse.id, Warehouse.entity_id))}
    return World(
        start_weekday=start.weekday(),
        first_day=first_day,
        end_day=end_day,
        sales=_sales(session, start, end),
        unit_cost={i: float(c) for i, c in session.execute(select(Item.id, Item.standard_cost))},
        supplier_of=_supplier_of(session, entity_of),
        suppliers=_suppliers(session, start, receipts),
        entity_of=entity_of,
        opening=_on_hand_before(session, first_date),
        pipeline=_pipeline(session, start, first_date, receipts),
    )


def _sales(session: Session, start: date, end: date) -> tuple[Sale, ...]:
    query = (
        select(
            SalesOrder.order_date,
            SalesOrderLine.promise_date,
            SalesOrder.requested_date,
            SalesOrderLine.item_id,
            SalesOrderLine.warehouse_id,
            SalesOrderLine.quantity,
        )
        .join(SalesOrder, SalesOrder.id == SalesOrderLine.order_id)
        .where(SalesOrder.order_date >= start, SalesOrder.order_date < end, SalesOrder.status.not_in(NOT_DEMAND))
        .order_by(SalesOrder.order_date, SalesOrderLine.id)
    )
    return tuple(
        Sale(_day(start, ordered), (item, warehouse), units, _day(start, promised or requested))
        for ordered, promised, requested, item, warehouse, units in session.execute(query)
    )


def _receipt_days(session: Session, start: date, end: date) -> dict[int, int]:
    """Purchase order id -> the day of its first receipt before `end`."""
    query = select(LedgerEntry.ref_id, LedgerEntry.posted_at).where(
        LedgerEntry.movement == "receipt", LedgerEntry.ref_type == "purchase_order"
    )
    first: dict[int, int] = {}
    for po_id, posted in session.execute(query):
        if posted.date() < end:
            day = _day(start, posted)
            first[po_id] = min(day, first.get(po_id, day))
    return first


def _suppliers(session: Session, start: date, receipts: Mapping[int, int]) -> dict[int, SupplierRecord]:
    last_day = max(receipts.values(), default=0)
    deliveries: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for po_id, supplier_id, ordered in session.execute(
        select(PurchaseOrder.id, PurchaseOrder.supplier_id, PurchaseOrder.order_date)
    ):
        # a receipt on the history's last day may be one the demo squeezed in early (an expedite at the edge)
        if po_id in receipts and receipts[po_id] < last_day:
            deliveries[supplier_id].append((_day(start, ordered), receipts[po_id]))
    return {
        s: SupplierRecord(s, promised, s % 5, tuple(sorted(deliveries[s])))
        for s, promised in session.execute(select(Supplier.id, Supplier.lead_time_days))
    }


def _supplier_of(session: Session, entity_of: Mapping[int, int]) -> dict[Key, int]:
    """Who supplies each (item, warehouse): the supplier of its latest purchase order there, else the one the demo
    buys the item from in that entity (`core.demo.company.Company.supplier_for`, from the demo's directory)."""
    query = (
        select(PurchaseOrderLine.item_id, PurchaseOrder.warehouse_id, PurchaseOrder.supplier_id)
        .join(PurchaseOrder, PurchaseOrder.id == PurchaseOrderLine.order_id)
        .order_by(PurchaseOrder.order_date, PurchaseOrder.id)
    )
    bought = {(item, warehouse): supplier for item, warehouse, supplier in session.execute(query)}
    categories = {spec.code: spec.categories for spec in SUPPLIERS}
    covering: dict[tuple[int, str], list[int]] = defaultdict(list)
    for supplier_id, code, entity_id in session.execute(
        select(Supplier.id, Supplier.code, Supplier.entity_id).order_by(Supplier.id)
    ):
        for category in categories.get(code, ()):
            covering[(entity_id, category)].append(supplier_id)
    usual = {}
    for item_id, category in session.execute(select(Item.id, Item.category)):
        for warehouse_id, entity_id in entity_of.items():
            candidates = covering.get((entity_id, category))
            if candidates:
                usual[(item_id, warehouse_id)] = candidates[item_id % len(candidates)]
    return usual | bought


def _on_hand_before(session: Session, first: date) -> dict[Key, int]:
    query = select(LedgerEntry.item_id, LedgerEntry.warehouse_id, LedgerEntry.quantity, LedgerEntry.posted_at).where(
        LedgerEntry.bucket == "on_hand"
    )
    stock: dict[Key, int] = defaultdict(int)
    for item, warehouse, quantity, posted in session.execute(query):
        if posted.date() < first:
            stock[(item, warehouse)] += quantity
    return {key: units for key, units in stock.items() if units > 0}


def _pipeline(session: Session, start: date, first: date, receipts: Mapping[int, int]) -> tuple[Arrival, ...]:
    """Purchase orders placed before the first day and received on or after it, and transfers then in transit."""
    first_day = _day(start, first)
    arrivals = []
    po_query = (
        select(PurchaseOrder.id, PurchaseOrder.warehouse_id, PurchaseOrderLine.item_id, PurchaseOrderLine.quantity)
        .join(PurchaseOrderLine, PurchaseOrderLine.order_id == PurchaseOrder.id)
        .where(PurchaseOrder.order_date < first)
    )
    for po_id, warehouse, item, units in session.execute(po_query):
        if receipts.get(po_id, -1) >= first_day:
            arrivals.append(Arrival(receipts[po_id], (item, warehouse), units))
    moves = select(
        LedgerEntry.ref_id,
        LedgerEntry.movement,
        LedgerEntry.item_id,
        LedgerEntry.warehouse_id,
        LedgerEntry.quantity,
        LedgerEntry.posted_at,
    ).where(LedgerEntry.ref_type == "transfer")
    sent: set[tuple[int, int]] = set()
    landed: list[tuple[int, int, int, int, datetime]] = []
    for ref, movement, item, warehouse, units, posted in session.execute(moves):
        if movement == "transfer_out" and posted.date() < first:
            sent.add((ref, item))
        elif movement == "transfer_in" and posted.date() >= first:
            landed.append((ref, item, warehouse, units, posted))
    arrivals += [Arrival(_day(start, p), (i, w), u) for ref, i, w, u, p in landed if (ref, i) in sent]
    return tuple(sorted(arrivals, key=lambda a: (a.day, a.key)))


def item_classes(world: World, units: Mapping[Key, list[int]], start: int, stop: int) -> dict[int, str]:
    """ABC class of each item from the value it sold (units x standard cost, all warehouses) in weeks start..stop-1."""
    value: dict[int, float] = {}
    for key, series in units.items():
        value[key[0]] = value.get(key[0], 0.0) + sum(series[start:stop]) * world.unit_cost.get(key[0], 0.0)
    return abc_classes(value)
