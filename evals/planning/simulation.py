"""The replay: one event loop over days, stock per (item, warehouse), the same for every policy.

Each day, in order: at a week's start the policy sets its targets from the weeks before (and, if it
rebalances, sends surplus to sibling warehouses below their reorder point); what arrives today is put
away and serves backorders first; today's order lines take what is on the shelf, the rest waits as a
backorder; on each supplier's review day every key it supplies whose position (on hand + on order -
backorders) is at or below its reorder point is ordered up to its order-up-to level, to arrive after the
lead time the supplier really gave an order placed that day. A policy is only its targets.
"""

import math
from collections import defaultdict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from evals.planning.world import Key, WeeklyHistory, World, item_classes, weekly_history


@dataclass(frozen=True)
class Target:
    """Order when the position falls to `reorder_point`, up to `order_up_to`."""

    reorder_point: float
    order_up_to: float
    keep: float | None = None  # stock it never gives a sibling (its order-up-to level when None)
    # Ask a sibling only while the position is below this (at or below the reorder point when None), and then
    # only up to `rush_to` (the order-up-to level when None).
    rush_below: float | None = None
    rush_to: float | None = None


Plan = Callable[[World, WeeklyHistory, int], Mapping[Key, Target]]  # (world, history, week) -> targets


@dataclass(frozen=True)
class Policy:
    name: str
    plan: Plan
    rebalances: bool = False


@dataclass
class Stock:
    """One item in one warehouse during the replay."""

    on_hand: int = 0
    on_order: int = 0  # ordered or in transit to it, not yet arrived
    backorders: deque[list[int]] = field(default_factory=deque)  # [units, promise day], oldest first
    owed: int = 0

    @property
    def position(self) -> int:
        return self.on_hand + self.on_order - self.owed


@dataclass
class Tally:
    """The replay's running figures."""

    units_ordered: int = 0
    units_filled: int = 0  # from the shelf the day they were ordered
    units_on_time: int = 0  # shipped by their promise day
    lines: int = 0
    lines_filled: int = 0
    stockout_days: int = 0  # key-days ending with a backorder waiting
    value_days: float = 0.0  # sum over days of the stock's value (on hand and in transit between warehouses)
    cogs: float = 0.0  # cost of every unit shipped
    purchase_orders: set[tuple[int, int, int]] = field(default_factory=set)  # (supplier, warehouse, day)
    po_lines: int = 0
    units_bought: int = 0
    transfers: set[tuple[int, int, int]] = field(default_factory=set)  # (source, target, day)
    transfer_lines: int = 0
    units_moved: int = 0
    ordered_by_class: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    filled_by_class: dict[str, int] = field(default_factory=lambda: defaultdict(int))


@dataclass(frozen=True)
class Outcome:
    """What one policy achieved over the replay."""

    policy: str
    days: int
    units_ordered: int
    units_filled: int
    units_on_time: int
    lines: int
    lines_filled: int
    stockout_days: int
    average_inventory: float
    cogs: float
    purchase_orders: int
    po_lines: int
    units_bought: int
    transfers: int
    transfer_lines: int
    units_moved: int
    fill_by_class: dict[str, float]  # fill rate per ABC class (classes from the whole replayed stream)

    @property
    def fill_rate(self) -> float:
        return self.units_filled / self.units_ordered if self.units_ordered else 1.0

    @property
    def line_fill_rate(self) -> float:
        return self.lines_filled / self.lines if self.lines else 1.0

    @property
    def on_time_rate(self) -> float:
        return self.units_on_time / self.units_ordered if self.units_ordered else 1.0

    @property
    def turns(self) -> float:
        """Cost of goods shipped per year over the average inventory value."""
        return self.cogs * 365 / self.days / self.average_inventory if self.average_inventory else 0.0


class Replay:
    """The state of one replay; `simulate` drives it."""

    def __init__(self, world: World, policy: Policy, classes: Mapping[int, str]) -> None:
        self.world, self.policy, self.classes = world, policy, classes
        self.stock: dict[Key, Stock] = {key: Stock(on_hand=world.opening.get(key, 0)) for key in world.keys}
        self.arrivals: dict[int, list[tuple[Key, int, bool]]] = defaultdict(list)  # day -> (key, units, transfer)
        self.targets: Mapping[Key, Target] = {}
        self.tally = Tally()
        self.value = sum(s.on_hand * world.unit_cost.get(k[0], 0.0) for k, s in self.stock.items())
        self.short: set[Key] = set()
        self.by_supplier: dict[int, list[Key]] = defaultdict(list)
        for key in world.keys:
            if key in world.supplier_of:
                self.by_supplier[world.supplier_of[key]].append(key)
        self.siblings = siblings(world)
        for arrival in world.pipeline:
            self.stock[arrival.key].on_order += arrival.units
            self.arrivals[arrival.day].append((arrival.key, arrival.units, False))

    def cost(self, key: Key) -> float:
        return self.world.unit_cost.get(key[0], 0.0)

    # -- a day --------------------------------------------------------------------------

    def receive(self, day: int) -> None:
        for key, units, transfer in self.arrivals.pop(day, []):
            stock = self.stock[key]
            stock.on_order -= units
            stock.on_hand += units
            if not transfer:
                self.value += units * self.cost(key)
            self.serve_backorders(day, key, stock)

    def serve_backorders(self, day: int, key: Key, stock: Stock) -> None:
        while stock.backorders and stock.on_hand:
            claim = stock.backorders[0]
            take = min(claim[0], stock.on_hand)
            self.ship(key, stock, take)
            stock.owed -= take
            claim[0] -= take
            if day <= claim[1]:
                self.tally.units_on_time += take
            if not claim[0]:
                stock.backorders.popleft()
        if not stock.owed:
            self.short.discard(key)

    def ship(self, key: Key, stock: Stock, units: int) -> None:
        stock.on_hand -= units
        self.value -= units * self.cost(key)
        self.tally.cogs += units * self.cost(key)

    def sell(self, key: Key, units: int, day: int, promise_day: int) -> None:
        stock = self.stock[key]
        taken = min(units, stock.on_hand)
        if taken:
            self.ship(key, stock, taken)
        tally = self.tally
        tally.units_ordered += units
        tally.units_filled += taken
        tally.units_on_time += taken
        tally.lines += 1
        tally.lines_filled += taken == units
        abc = self.classes.get(key[0], "C")
        tally.ordered_by_class[abc] += units
        tally.filled_by_class[abc] += taken
        if taken < units:
            stock.backorders.append([units - taken, promise_day])
            stock.owed += units - taken
            self.short.add(key)

    def review(self, day: int) -> None:
        """Each supplier reviewing today gets one purchase order per warehouse for its keys at or below reorder."""
        weekday = self.world.weekday(day)
        for supplier_id, keys in self.by_supplier.items():
            supplier = self.world.suppliers[supplier_id]
            if supplier.review_weekday != weekday:
                continue
            arrival = self.world.next_weekday(day + supplier.lead_time_on(day))
            for key in keys:
                units = order_quantity(self.stock[key], self.targets.get(key))
                if units:
                    self.stock[key].on_order += units
                    self.arrivals[arrival].append((key, units, False))
                    self.tally.purchase_orders.add((supplier_id, key[1], day))
                    self.tally.po_lines += 1
                    self.tally.units_bought += units

    def rebalance(self, day: int) -> None:
        """Send stock a sibling of the same entity holds beyond what it keeps to keys that need it (`transfer_need`)."""
        arrival = self.world.next_weekday(day + self.world.transit_days)
        for key, target in sorted(self.targets.items()):
            stock = self.stock[key]
            for source in self.siblings[key]:
                need = transfer_need(stock, target)
                if not need:
                    break
                units = min(need, surplus(self.stock[source], self.targets.get(source)))
                if units > 0:
                    self.stock[source].on_hand -= units
                    stock.on_order += units
                    self.arrivals[arrival].append((key, units, True))
                    self.tally.transfers.add((source[1], key[1], day))
                    self.tally.transfer_lines += 1
                    self.tally.units_moved += units

    def close_day(self) -> None:
        self.tally.stockout_days += len(self.short)
        self.tally.value_days += self.value


def siblings(world: World) -> dict[Key, list[Key]]:
    """The other warehouses of the same entity that hold each key's item."""
    by_item: dict[tuple[int, int | None], list[Key]] = defaultdict(list)
    for key in world.keys:
        by_item[(key[0], world.entity_of.get(key[1]))].append(key)
    return {key: [k for k in by_item[(key[0], world.entity_of.get(key[1]))] if k != key] for key in world.keys}


def order_quantity(stock: Stock, target: Target | None) -> int:
    """Units to order: up to the order-up-to level once the position is at or below the reorder point."""
    if target is None or stock.position > target.reorder_point:
        return 0
    return max(0, math.ceil(target.order_up_to - stock.position))


def transfer_need(stock: Stock, target: Target) -> int:
    """Units to ask a sibling for: as for a purchase order, unless the target sets when and how far to rush."""
    if target.rush_below is None:
        return order_quantity(stock, target)
    if stock.position >= target.rush_below:
        return 0
    rush_to = target.order_up_to if target.rush_to is None else target.rush_to
    return max(0, math.ceil(rush_to - stock.position))


def surplus(stock: Stock, target: Target | None) -> int:
    """Units on the shelf beyond what the key owes and its order-up-to level (none for a key without a target:
    without a plan there is no telling what it needs)."""
    if target is None:
        return 0
    keep = target.order_up_to if target.keep is None else target.keep
    return max(0, stock.on_hand - stock.owed - math.ceil(keep))


def simulate(world: World, policy: Policy, history: WeeklyHistory | None = None) -> Outcome:
    """Replay the world's days from its first day under `policy`."""
    history = history or weekly_history(world)
    replay = Replay(world, policy, item_classes(world, history.units, world.first_day // 7, history.weeks))
    sales = [s for s in world.sales if s.day >= world.first_day]
    next_sale = 0
    for day in range(world.first_day, world.end_day):
        if day % 7 == 0:
            replay.targets = policy.plan(world, history, day // 7)
            if policy.rebalances:
                replay.rebalance(day)
        replay.receive(day)
        while next_sale < len(sales) and sales[next_sale].day == day:
            sale = sales[next_sale]
            replay.sell(sale.key, sale.units, day, sale.promise_day)
            next_sale += 1
        if world.weekday(day) < 5:
            replay.review(day)
        replay.close_day()
    return outcome(policy.name, world.end_day - world.first_day, replay.tally)


def outcome(name: str, days: int, tally: Tally) -> Outcome:
    return Outcome(
        policy=name,
        days=days,
        units_ordered=tally.units_ordered,
        units_filled=tally.units_filled,
        units_on_time=tally.units_on_time,
        lines=tally.lines,
        lines_filled=tally.lines_filled,
        stockout_days=tally.stockout_days,
        average_inventory=tally.value_days / days if days else 0.0,
        cogs=tally.cogs,
        purchase_orders=len(tally.purchase_orders),
        po_lines=tally.po_lines,
        units_bought=tally.units_bought,
        transfers=len(tally.transfers),
        transfer_lines=tally.transfer_lines,
        units_moved=tally.units_moved,
        fill_by_class={c: tally.filled_by_class[c] / n for c, n in sorted(tally.ordered_by_class.items()) if n},
    )
