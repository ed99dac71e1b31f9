"""Sales history: orders placed day by day, with seasons, growth and ABC-skewed item demand.

Orders and lines are written as they are made; what the stock simulation and the invoices need
later is kept in compact arrays (line -> order, net price, unit cost) and per-item demand lists.
"""

import bisect
import math
import random
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import accumulate

from sqlalchemy.orm import Session

from core.actor import Role
from core.bulk import Row, insert_rows
from core.demo.company import Company, CustomerRef, ItemRef
from core.demo.directory import user_for
from core.masterdata.service import convert
from core.sales.models import OrderStatus, PriceSource, SalesOrder, SalesOrderLine
from core.sales.pricing import net_price

LINES_PER_ITEM_MONTH = 0.54  # demand grows with the catalogue ...
LINES_PER_CUSTOMER_MONTH = 2.5  # ... and with the customer base
LINE_COUNTS = ((1, 30), (2, 22), (3, 16), (4, 11), (5, 8), (6, 5), (8, 4), (10, 2), (15, 1.5), (25, 0.5))
MEAN_LINES = sum(n * w for n, w in LINE_COUNTS) / sum(w for _, w in LINE_COUNTS)
WEEKDAYS_PER_MONTH = 261 / 12
HANDLING_DAYS = (0, 1, 1, 1, 2)
REQUESTED_DAYS = (1, 2, 3, 3, 5, 7, 10, 14)
ANNUAL_GROWTH = 0.06
TIER_QUANTITY = {"A": 1.6, "B": 1.0, "C": 0.7}
TIER_DISCOUNTS = {"A": (0.25, (2, 3, 5, 7.5)), "B": (0.10, (2, 3, 5)), "C": (0.0, (0,))}
E4 = Decimal(10_000)
FLUSH_ROWS = 5_000

Demand = tuple[int, int, int, int]  # (ship day, warehouse id, order line id, quantity)


@dataclass
class OrderBook:
    """What later phases need of the history's orders, without holding the rows."""

    line_order: "array[int]" = field(default_factory=lambda: array("l", [0]))  # index = line id
    line_net_e4: "array[int]" = field(default_factory=lambda: array("q", [0]))  # net price, 1/10000 units
    line_cost_e4: "array[int]" = field(default_factory=lambda: array("q", [0]))
    order_customer: "array[int]" = field(default_factory=lambda: array("l", [0]))  # index = order id
    demand: dict[int, list[Demand]] = field(default_factory=dict)  # by item id

    @property
    def orders(self) -> int:
        return len(self.order_customer) - 1

    @property
    def lines(self) -> int:
        return len(self.line_order) - 1


def poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw: exact for small means, normal approximation for large ones."""
    if mean > 30:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return k


def season(month: int, peak: int, amplitude: float) -> float:
    return 1 + amplitude * math.cos(2 * math.pi * (month - peak) / 12)


def line_quantity(rng: random.Random, item: ItemRef, tier: str) -> int:
    """Units on one order line: around the item's usual quantity, bigger for bigger customers."""
    return max(1, round(item.typical_qty * rng.lognormvariate(0, 0.6) * TIER_QUANTITY[tier]))


class OrderMaker:
    """Makes the history's sales orders and writes them in chunks."""

    def __init__(self, session: Session, company: Company, rng: random.Random, customers: int) -> None:
        self.session = session
        self.company = company
        self.rng = rng
        self.book = OrderBook()
        self.orders: list[Row] = []
        self.lines: list[Row] = []
        monthly_lines = len(company.items) * LINES_PER_ITEM_MONTH + customers * LINES_PER_CUSTOMER_MONTH
        self.daily_orders = monthly_lines / MEAN_LINES / WEEKDAYS_PER_MONTH
        self.item_weights: dict[tuple[bool, int], list[float]] = {}
        self.customer_pool = {e.id: [c for c in company.customers if c.entity_id == e.id] for e in company.entities}
        self.customer_weights = {e: list(accumulate(c.weight for c in pool)) for e, pool in self.customer_pool.items()}
        self.sellers = {e.id: company.users[user_for(Role.SALES, e.code)] for e in company.entities}

    # -- how much, who, what ------------------------------------------------------------

    def orders_on(self, day: int, entity_id: int) -> int:
        entity = self.company.entity_by_id[entity_id].spec
        month = self.company.horizon.date_of(day).month
        if entity.tropical:
            factor = 0.85 if month == 2 else 1.0
        else:
            factor = (
                season(month, 5, 0.10)
                * (0.8 if month == 12 else 1.0)
                * (0.88 if entity.code == "UK" and month == 8 else 1.0)
            )
        growth = (1 + ANNUAL_GROWTH) ** ((day - self.company.horizon.last) / 365)
        return poisson(self.rng, self.daily_orders * entity.order_share * factor * growth)

    def _cumulative_weights(self, tropical: bool, month: int) -> list[float]:
        key = (tropical, month)
        if key not in self.item_weights:
            self.item_weights[key] = list(
                accumulate(
                    i.weight * (1.0 if tropical else season(month, i.category.peak_month, i.category.amplitude))
                    for i in self.company.items
                )
            )
        return self.item_weights[key]

    def _customer(self, entity_id: int) -> CustomerRef:
        pool = self.customer_pool[entity_id]
        weights = self.customer_weights[entity_id]
        return pool[bisect.bisect_right(weights, self.rng.random() * weights[-1])]

    def _items(self, tropical: bool, month: int) -> list[ItemRef]:
        count = self.rng.choices([n for n, _ in LINE_COUNTS], weights=[w for _, w in LINE_COUNTS])[0]
        cumulative = self._cumulative_weights(tropical, month)
        picks = self.rng.choices(self.company.items, cum_weights=cumulative, k=count)
        return list({item.id: item for item in picks}.values())

    def _discount(self, tier: str) -> Decimal:
        chance, options = TIER_DISCOUNTS[tier]
        return Decimal(str(self.rng.choice(options))) if self.rng.random() < chance else Decimal(0)

    # -- making one order --------------------------------------------------------------

    def make(self, day: int, entity_id: int, seq: int) -> None:
        horizon = self.company.horizon
        customer = self._customer(entity_id)
        entity = self.company.entity_by_id[entity_id]
        when = horizon.date_of(day)
        order_id = self.book.orders + 1
        requested = day + self.rng.choice(REQUESTED_DAYS)
        ship_day = min(horizon.next_weekday(day + self.rng.choice(HANDLING_DAYS)), horizon.last)
        self.book.order_customer.append(customer.id)
        self.orders.append(
            {
                "id": order_id,
                "entity_id": entity_id,
                "customer_id": customer.id,
                "currency": entity.currency,
                "status": OrderStatus.INVOICED.value,
                "order_date": when,
                "requested_date": horizon.date_of(requested),
                "customer_reference": f"PO {self.rng.randint(10_000, 99_999)}" if self.rng.random() < 0.6 else "",
                "hold_reason": None,
                "created_by": self.sellers[entity_id],
                "created_at": horizon.at(day, 8 * 3600 + seq * 41),
            }
        )
        rate = self.company.rates.from_usd(entity.currency, when)
        for line_no, item in enumerate(self._items(entity.spec.tropical, when.month), start=1):
            self._line(order_id, line_no, item, customer, day, ship_day, requested, rate)

    def _line(
        self,
        order_id: int,
        line_no: int,
        item: ItemRef,
        customer: CustomerRef,
        day: int,
        ship_day: int,
        requested: int,
        rate: Decimal,
    ) -> None:
        horizon = self.company.horizon
        price = self.company.prices.price(customer, item, horizon.date_of(day), rate)
        discount = self._discount(customer.tier) if price.source is not PriceSource.CONTRACT else Decimal(0)
        net = net_price(price.unit_price, discount)
        cost = convert(item.item.standard_cost, rate)
        quantity = line_quantity(self.rng, item, customer.tier)
        warehouse_id = self.company.fulfilment_warehouse(item, customer.home_id)
        line_id = self.book.lines + 1
        self.book.line_order.append(order_id)
        self.book.line_net_e4.append(int(net * E4))
        self.book.line_cost_e4.append(int(cost * E4))
        self.book.demand.setdefault(item.id, []).append((ship_day, warehouse_id, line_id, quantity))
        self.lines.append(
            {
                "id": line_id,
                "order_id": order_id,
                "line_no": line_no,
                "item_id": item.id,
                "warehouse_id": warehouse_id,
                "quantity": quantity,
                "unit_price": price.unit_price,
                "price_source": price.source.value,
                "discount_pct": discount,
                "net_price": net,
                "unit_cost": cost,
                "qty_shipped": quantity,
                "qty_invoiced": quantity,
                "promise_date": horizon.date_of(requested),
            }
        )

    def flush(self, force: bool = False) -> None:
        if force or len(self.lines) >= FLUSH_ROWS:
            insert_rows(self.session, SalesOrder, self.orders)
            insert_rows(self.session, SalesOrderLine, self.lines)
            self.orders, self.lines = [], []


def make_orders(
    session: Session, company: Company, rng: random.Random, customers: int, report: Callable[[int, int], None]
) -> OrderBook:
    """Every history order, day by day: all of them shipped and invoiced by the stock simulation."""
    maker = OrderMaker(session, company, rng, customers)
    weekdays = company.horizon.weekdays()
    for done, day in enumerate(weekdays, start=1):
        seq = 0
        for entity in company.entities:
            for _ in range(maker.orders_on(day, entity.id)):
                maker.make(day, entity.id, seq)
                seq += 1
        maker.flush()
        if done % 5 == 0 or done == len(weekdays):
            report(done, len(weekdays))
    maker.flush(force=True)
    return maker.book
