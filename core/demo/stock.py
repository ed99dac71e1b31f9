"""Stock history: each item simulated day by day across its warehouses, so on-hand never goes negative.

Every (item, warehouse) follows a reorder-point policy against its supplier's lead time; buyers
order from each supplier on its weekly review day, so one purchase order carries many lines, and
suppliers are sometimes late. A shortage ships what is there and backorders the rest until the next receipt;
a purchase order that could not arrive before `as_of` is not placed, unless a backorder waits for
it, in which case it is expedited to arrive on the last day. So every history order ships in full.
"""

import heapq
import math
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from core.demo.company import Company, ItemRef, SupplierRef
from core.demo.demand import Demand, OrderBook
from core.demo.scenario import DRAIN_DAYS, Shortage
from core.transfers.models import TRANSIT_DAYS, TransferKind

SAFETY_DAYS = {"A": 10, "B": 7, "C": 5}
CYCLE_DAYS = {"A": 30, "B": 45, "C": 60}
REVIEW_DAYS = 7  # a supplier's orders go out once a week, so stock must cover the wait too
MIN_LINES_PER_RECEIPT = 2  # a receipt covers at least this many average order lines
BUFFER_LINES = 1.0  # safety stock of average order lines on top of the days of cover, for lumpy demand
OPENING_COVER = (0.2, 0.7)  # opening stock: the reorder point plus this share of an order quantity
SUPPLIER_DELAYS = (-1,) + (0,) * 15 + (1, 2, 3, 5, 8)  # days late against the promised date
TRANSFERS_PER_MONTH = 3
TRANSFER_ROUTES = (
    ("DAL", "RNO", 4),
    ("DAL", "ATL", 3),
    ("ATL", "RNO", 2),
    ("BHM", "MAN", 4),
    ("DAL", "BHM", 1),
    ("DAL", "SIN", 1),
    ("BHM", "SIN", 1),
)

# Phases order the moves of one day: receipts first, shipments last.
OPENING, RECEIPT, ARRIVAL, DISPATCH, SALE = range(5)
# Kinds of ledger move.
K_OPENING, K_RECEIPT, K_SHIPMENT, K_TRANSFER_OUT, K_TRANSIT_IN, K_TRANSIT_OUT, K_TRANSFER_IN = range(7)

LedgerMove = tuple[int, int, int, int, int, int, int, int]  # day, phase, seq, item, warehouse, kind, qty, ref
Event = tuple[int, int, int, int, int, int]  # day, phase, seq, warehouse, a, b


@dataclass(frozen=True)
class Policy:
    reorder_point: int
    order_quantity: int
    supplier: SupplierRef


@dataclass
class KeyState:
    """One item in one warehouse while it is simulated."""

    policy: Policy
    on_hand: int = 0
    on_order: int = 0
    waiting: deque[list[int]] = field(default_factory=deque)  # [order line id, units still owed]
    waiting_units: int = 0
    drain_from: int | None = None
    last_group: int = -1  # the purchase order this key ordered on last, and its receipt
    last_token: int = -1


@dataclass(frozen=True)
class KeyEnd:
    """How an (item, warehouse) ends the history."""

    on_hand: int
    reorder_point: int
    order_quantity: int


@dataclass(frozen=True)
class TransferPlan:
    day: int
    source: int  # warehouse ids
    target: int
    kind: TransferKind
    items: dict[int, int]  # item id -> units wanted


@dataclass(frozen=True)
class PurchaseGroup:
    """One purchase order: lines ordered from one supplier into one warehouse on one day."""

    order_day: int
    supplier_id: int
    warehouse_id: int
    expected_day: int
    arrival_day: int


@dataclass
class StockHistory:
    ledger: list[LedgerMove] = field(default_factory=list)
    shipments: list[tuple[int, int, int, int]] = field(default_factory=list)  # day, order, line, units
    groups: list[PurchaseGroup] = field(default_factory=list)
    group_lines: list[dict[int, int]] = field(default_factory=list)  # per group: item id -> units
    transfer_lines: dict[int, list[tuple[int, int]]] = field(default_factory=dict)  # plan -> (item, units)
    end: dict[tuple[int, int], KeyEnd] = field(default_factory=dict)


class StockSimulation:
    """Runs the stock history one item at a time."""

    def __init__(
        self,
        company: Company,
        book: OrderBook,
        rng: random.Random,
        plans: list[TransferPlan],
        shortages: list[Shortage],
    ) -> None:
        self.company = company
        self.horizon = company.horizon
        self.book = book
        self.rng = rng
        self.out = StockHistory()
        self.group_index: dict[PurchaseGroup, int] = {}
        self.pending: list[int] = []
        self.seq = 0
        self.delays = {
            s.id: [rng.choice(SUPPLIER_DELAYS) for _ in range(self.horizon.last + 1)] for s in company.suppliers
        }
        self.plans = plans
        self.plans_by_item: dict[int, list[int]] = {}
        for index, plan in enumerate(plans):
            for item_id in plan.items:
                self.plans_by_item.setdefault(item_id, []).append(index)
        self.topups: dict[int, list[tuple[int, int]]] = {}
        self.drained: set[tuple[int, int]] = set()
        for s in shortages:
            item = company.item_by_sku[s.sku]
            short, plentiful = company.warehouse_by_code[s.short].id, company.warehouse_by_code[s.plentiful].id
            self.topups.setdefault(item.id, []).extend([(short, s.short_atp), (plentiful, s.plentiful_atp)])
            self.drained.add((item.id, short))

    # -- bookkeeping --------------------------------------------------------------------

    def _next(self) -> int:
        self.seq += 1
        return self.seq

    def _post(self, day: int, phase: int, item_id: int, warehouse_id: int, kind: int, quantity: int, ref: int) -> None:
        self.out.ledger.append((day, phase, self._next(), item_id, warehouse_id, kind, quantity, ref))

    def _ship(self, day: int, item_id: int, warehouse_id: int, line_id: int, quantity: int) -> None:
        order_id = self.book.line_order[line_id]
        self._post(day, SALE, item_id, warehouse_id, K_SHIPMENT, -quantity, order_id)
        self.out.shipments.append((day, order_id, line_id, quantity))

    def _group(self, group: PurchaseGroup) -> int:
        if group not in self.group_index:
            self.group_index[group] = len(self.out.groups)
            self.out.groups.append(group)
            self.out.group_lines.append({})
        return self.group_index[group]

    # -- policy -------------------------------------------------------------------------

    def _policy(self, item: ItemRef, warehouse_id: int, lines: list[Demand]) -> Policy:
        supplier = self.company.supplier_for(item, self.company.warehouse_by_id[warehouse_id].entity_id)
        if not lines:
            return Policy(0, 0, supplier)
        units = sum(line[3] for line in lines)
        rate = units / (self.horizon.last + 1)
        safety = SAFETY_DAYS[item.abc] * self.rng.uniform(0.7, 1.3)
        line = units / len(lines)
        reorder_point = math.ceil(rate * (supplier.spec.lead_time_days + REVIEW_DAYS + safety) + line * BUFFER_LINES)
        quantity = max(math.ceil(rate * CYCLE_DAYS[item.abc]), math.ceil(line * MIN_LINES_PER_RECEIPT))
        return Policy(reorder_point, quantity, supplier)

    def _states(self, item: ItemRef, demand: list[Demand]) -> dict[int, KeyState]:
        by_warehouse: dict[int, list[Demand]] = {}
        for line in demand:
            by_warehouse.setdefault(line[1], []).append(line)
        states = {}
        for warehouse_id in sorted(by_warehouse):
            policy = self._policy(item, warehouse_id, by_warehouse[warehouse_id])
            state = KeyState(policy)
            if (item.id, warehouse_id) in self.drained:
                state.drain_from = self.horizon.last - DRAIN_DAYS
            states[warehouse_id] = state
            opening = round(policy.reorder_point + policy.order_quantity * self.rng.uniform(*OPENING_COVER))
            self._receive_opening(item.id, warehouse_id, state, opening)
        return states

    def _state(self, item: ItemRef, states: dict[int, KeyState], warehouse_id: int) -> KeyState:
        if warehouse_id not in states:
            states[warehouse_id] = KeyState(self._policy(item, warehouse_id, []))
        return states[warehouse_id]

    def _receive_opening(self, item_id: int, warehouse_id: int, state: KeyState, quantity: int) -> None:
        if quantity > 0:
            state.on_hand += quantity
            self._post(0, OPENING, item_id, warehouse_id, K_OPENING, quantity, 0)

    # -- events -------------------------------------------------------------------------

    def _reorder(self, events: list[Event], state: KeyState, warehouse_id: int, day: int) -> None:
        """Order more when stock plus what is on order, less backorders, falls to the reorder point."""
        policy = state.policy
        position = state.on_hand + state.on_order - state.waiting_units
        if policy.order_quantity == 0 or position > policy.reorder_point:
            return
        if state.drain_from is not None and day >= state.drain_from and not state.waiting_units:
            return
        quantity = policy.order_quantity + policy.reorder_point - position
        supplier = policy.supplier
        order_day = day if state.waiting_units else self._review_day(supplier, day)
        expected = self.horizon.next_weekday(order_day + supplier.spec.lead_time_days)
        arrival = self.horizon.next_weekday(expected + self.delays[supplier.id][min(order_day, self.horizon.last)])
        if arrival > self.horizon.last:
            if not state.waiting_units:
                return
            expected = arrival = self.horizon.last
        group = self._group(PurchaseGroup(order_day, supplier.id, warehouse_id, expected, arrival))
        state.on_order += quantity
        if group == state.last_group:
            self.pending[state.last_token] += quantity
            return
        state.last_group, state.last_token = group, len(self.pending)
        self.pending.append(quantity)
        heapq.heappush(events, (arrival, RECEIPT, self._next(), warehouse_id, group, state.last_token))

    def _review_day(self, supplier: SupplierRef, day: int) -> int:
        """The supplier's next weekly review day (a weekday fixed per supplier); backorders do not wait for it."""
        weekday = (self.horizon.start.weekday() + day) % 7
        return day + (supplier.id % 5 - weekday) % REVIEW_DAYS

    def _serve_waiting(self, day: int, item_id: int, warehouse_id: int, state: KeyState) -> None:
        while state.waiting and state.on_hand > 0:
            claim = state.waiting[0]
            take = min(claim[1], state.on_hand)
            state.on_hand -= take
            state.waiting_units -= take
            claim[1] -= take
            self._ship(day, item_id, warehouse_id, claim[0], take)
            if claim[1] == 0:
                state.waiting.popleft()

    def _sale(self, events: list[Event], item_id: int, state: KeyState, event: Event) -> None:
        day, _, _, warehouse_id, line_id, quantity = event
        shipped = min(state.on_hand, quantity)
        if shipped:
            state.on_hand -= shipped
            self._ship(day, item_id, warehouse_id, line_id, shipped)
        if quantity > shipped:
            state.waiting.append([line_id, quantity - shipped])
            state.waiting_units += quantity - shipped
        self._reorder(events, state, warehouse_id, day)

    def _receipt(self, events: list[Event], item_id: int, state: KeyState, event: Event) -> None:
        day, _, _, warehouse_id, group, token = event
        quantity = self.pending[token]
        state.on_hand += quantity
        state.on_order -= quantity
        lines = self.out.group_lines[group]
        lines[item_id] = lines.get(item_id, 0) + quantity
        self._post(day, RECEIPT, item_id, warehouse_id, K_RECEIPT, quantity, group)
        self._serve_waiting(day, item_id, warehouse_id, state)
        self._reorder(events, state, warehouse_id, day)

    def _dispatch(self, events: list[Event], item: ItemRef, states: dict[int, KeyState], event: Event) -> None:
        """Send spare stock (above the source's reorder point) on a planned transfer."""
        day, _, _, source_id, plan_index, target_id = event
        source = states.get(source_id)
        if source is None or source.waiting_units:
            return
        plan = self.plans[plan_index]
        quantity = min(plan.items[item.id], source.on_hand - source.policy.reorder_point)
        arrival = self.horizon.next_weekday(day + TRANSIT_DAYS[plan.kind])
        if quantity <= 0 or arrival > self.horizon.last:
            return
        source.on_hand -= quantity
        self._post(day, DISPATCH, item.id, source_id, K_TRANSFER_OUT, -quantity, plan_index)
        self._post(day, DISPATCH, item.id, target_id, K_TRANSIT_IN, quantity, plan_index)
        self.out.transfer_lines.setdefault(plan_index, []).append((item.id, quantity))
        self._state(item, states, target_id)
        heapq.heappush(events, (arrival, ARRIVAL, self._next(), target_id, plan_index, quantity))
        self._reorder(events, source, source_id, day)

    def _arrival(self, item_id: int, state: KeyState, event: Event) -> None:
        day, _, _, warehouse_id, plan_index, quantity = event
        self._post(day, ARRIVAL, item_id, warehouse_id, K_TRANSIT_OUT, -quantity, plan_index)
        self._post(day, ARRIVAL, item_id, warehouse_id, K_TRANSFER_IN, quantity, plan_index)
        state.on_hand += quantity
        self._serve_waiting(day, item_id, warehouse_id, state)

    # -- one item -----------------------------------------------------------------------

    def run_item(self, item: ItemRef, demand: list[Demand]) -> None:
        states = self._states(item, demand)
        events: list[Event] = [(d, SALE, self._next(), w, line, q) for d, w, line, q in demand]
        for index in self.plans_by_item.get(item.id, []):
            plan = self.plans[index]
            events.append((plan.day, DISPATCH, self._next(), plan.source, index, plan.target))
        heapq.heapify(events)
        while events:
            event = heapq.heappop(events)
            phase, warehouse_id = event[1], event[3]
            if phase == SALE:
                self._sale(events, item.id, states[warehouse_id], event)
            elif phase == RECEIPT:
                self._receipt(events, item.id, states[warehouse_id], event)
            elif phase == DISPATCH:
                self._dispatch(events, item, states, event)
            else:
                self._arrival(item.id, states[warehouse_id], event)
        self._top_up(item, states)
        for warehouse_id, state in states.items():
            assert not state.waiting_units, f"item {item.sku} still owes {state.waiting_units} at {warehouse_id}"
            self.out.end[(item.id, warehouse_id)] = KeyEnd(
                state.on_hand, state.policy.reorder_point, state.policy.order_quantity
            )

    def _top_up(self, item: ItemRef, states: dict[int, KeyState]) -> None:
        """Scenario stock: a receipt on the last day brings a warehouse up to its scenario minimum."""
        last = self.horizon.last
        for warehouse_id, minimum in self.topups.get(item.id, []):
            state = self._state(item, states, warehouse_id)
            if state.on_hand >= minimum:
                continue
            quantity = minimum - state.on_hand + self.rng.randint(0, max(1, minimum // 10))
            supplier = state.policy.supplier
            order_day = max(0, last - supplier.spec.lead_time_days)
            group = self._group(PurchaseGroup(order_day, supplier.id, warehouse_id, last, last))
            self.pending.append(quantity)
            self._receipt([], item.id, state, (last, RECEIPT, 0, warehouse_id, group, len(self.pending) - 1))

    def run_obsolete(self, item: ItemRef) -> None:
        """Stock of an item nobody buys any more, left in one main warehouse."""
        mains = [w for w in self.company.warehouses if w.spec.rank == 0]
        warehouse = self.rng.choice(mains)
        state = KeyState(self._policy(item, warehouse.id, []))
        self._receive_opening(item.id, warehouse.id, state, item.typical_qty * self.rng.randint(3, 25))
        self.out.end[(item.id, warehouse.id)] = KeyEnd(state.on_hand, 0, 0)


def plan_transfers(company: Company, rng: random.Random) -> list[TransferPlan]:
    """A few rebalancing transfers a month, between sister warehouses and now and then between entities."""
    horizon = company.horizon
    popular = [i for i in company.items if i.abc == "A" and i.weight > 0]
    weekdays = horizon.weekdays()
    count = round(len(weekdays) / 21.75 * max(TRANSFERS_PER_MONTH, len(company.items) / 2_000))
    routes = [(a, b) for a, b, _ in TRANSFER_ROUTES]
    plans = []
    for day in sorted(rng.choice(weekdays) for _ in range(count)):
        source, target = rng.choices(routes, weights=[w for _, _, w in TRANSFER_ROUTES])[0]
        ids = company.warehouse_by_code[source].id, company.warehouse_by_code[target].id
        kind = (
            TransferKind.INTER_WAREHOUSE
            if company.entity_of(ids[0]) == company.entity_of(ids[1])
            else TransferKind.INTERCOMPANY
        )
        items = {i.id: i.typical_qty * rng.randint(3, 10) for i in rng.choices(popular, k=rng.randint(1, 4))}
        plans.append(TransferPlan(day, ids[0], ids[1], kind, items))
    return plans


def simulate_stock(
    company: Company,
    book: OrderBook,
    rng: random.Random,
    shortages: list[Shortage],
    report: Callable[[int, int], None],
) -> tuple[StockHistory, list[TransferPlan]]:
    """The whole stock history, item by item (each item's demand list is released once simulated)."""
    plans = plan_transfers(company, rng)
    simulation = StockSimulation(company, book, rng, plans, shortages)
    total = len(company.items)
    for done, item in enumerate(company.items, start=1):
        demand = book.demand.pop(item.id, [])
        if demand or item.id in simulation.plans_by_item or item.id in simulation.topups:
            simulation.run_item(item, demand)
        elif item.active and item.weight == 0:
            simulation.run_obsolete(item)
        if done % 500 == 0 or done == total:
            report(done, total)
    return simulation.out, plans
