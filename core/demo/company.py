"""The demo company as the generator holds it in memory: ids, calendar, rates and prices."""

import bisect
import calendar
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from core.demo.catalog import CATEGORY, CatalogItem, Category
from core.demo.directory import EntitySpec, SupplierSpec, WarehouseSpec
from core.masterdata.service import convert
from core.sales.pricing import GROUP_CURRENCY, ResolvedPrice, choose_price


def months_before(day: date, months: int) -> date:
    """The same day of the month `months` earlier (the month's last day when it has fewer days)."""
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


@dataclass(frozen=True)
class Horizon:
    """The history's calendar: day 0 is `start`, the last day is the day before `as_of`."""

    start: date
    as_of: date

    @property
    def last(self) -> int:
        return (self.as_of - self.start).days - 1

    def date_of(self, day: int) -> date:
        return self.start + timedelta(days=day)

    def at(self, day: int, seconds: int) -> datetime:
        """A moment on a history day, `seconds` after midnight."""
        return datetime.combine(self.date_of(day), time()) + timedelta(seconds=seconds)

    def index(self, when: date) -> int:
        return (when - self.start).days

    def is_weekday(self, day: int) -> bool:
        return (self.start.weekday() + day) % 7 < 5

    def next_weekday(self, day: int) -> int:
        while not self.is_weekday(day):
            day += 1
        return day

    def weekdays(self) -> list[int]:
        return [d for d in range(self.last + 1) if self.is_weekday(d)]


class RateBook:
    """Currency rates by pair and validity date, as the currency_rates table holds them."""

    def __init__(self, rows: list[tuple[str, str, Decimal, date]]) -> None:
        self.rows = rows
        self.by_pair: dict[tuple[str, str], tuple[list[date], list[Decimal]]] = {}
        for source, target, rate, valid_from in sorted(rows, key=lambda r: (r[0], r[1], r[3])):
            dates, rates = self.by_pair.setdefault((source, target), ([], []))
            dates.append(valid_from)
            rates.append(rate)

    def rate(self, source: str, target: str, on: date) -> Decimal:
        """Units of `target` per unit of `source` on a day (the latest rate on or before it)."""
        if source == target:
            return Decimal(1)
        dates, rates = self.by_pair[(source, target)]
        return rates[bisect.bisect_right(dates, on) - 1]

    def from_usd(self, currency: str, on: date) -> Decimal:
        return self.rate(GROUP_CURRENCY, currency, on)


@dataclass(frozen=True)
class EntityRef:
    id: int
    spec: EntitySpec

    @property
    def code(self) -> str:
        return self.spec.code

    @property
    def currency(self) -> str:
        return self.spec.currency


@dataclass(frozen=True)
class WarehouseRef:
    id: int
    spec: WarehouseSpec
    entity_id: int

    @property
    def code(self) -> str:
        return self.spec.code


@dataclass(frozen=True)
class ItemRef:
    id: int
    item: CatalogItem
    weight: float  # share of demand; 0 for obsolete and inactive items
    abc: str
    typical_qty: int  # units on a usual order line
    active: bool = True

    @property
    def sku(self) -> str:
        return self.item.sku

    @property
    def category(self) -> Category:
        return CATEGORY[self.item.category]

    @property
    def depth(self) -> int:
        """How many warehouses of an entity stock it, by warehouse rank: A items all, C items the main one."""
        return {"A": 3, "B": 2, "C": 1}[self.abc]


@dataclass(frozen=True)
class CustomerRef:
    id: int
    code: str
    entity_id: int
    tier: str
    home_id: int  # the warehouse that usually serves it
    terms_days: int
    weight: float  # how often it orders
    price_list_id: int | None
    on_hold: bool


@dataclass(frozen=True)
class SupplierRef:
    id: int
    spec: SupplierSpec
    entity_id: int

    @property
    def code(self) -> str:
        return self.spec.code


@dataclass
class PriceBook:
    """Price-list and contract prices, resolved as core.sales.pricing resolves them."""

    listed: dict[tuple[int, int], Decimal] = field(default_factory=dict)  # (price list, item) -> price
    contracts: dict[tuple[int, int], list[tuple[date, date | None, Decimal]]] = field(default_factory=dict)

    def contract(self, customer_id: int, item_id: int, on: date) -> Decimal | None:
        valid = [
            (start, price)
            for start, end, price in self.contracts.get((customer_id, item_id), [])
            if start <= on and (end is None or end >= on)
        ]
        return max(valid)[1] if valid else None

    def price(self, customer: CustomerRef, item: ItemRef, on: date, rate: Decimal) -> ResolvedPrice:
        """The customer's price of the item on a day, in the entity currency (`rate` per USD)."""
        listed = self.listed.get((customer.price_list_id, item.id)) if customer.price_list_id else None
        return choose_price(self.contract(customer.id, item.id, on), listed, convert(item.item.list_price, rate))


@dataclass
class Company:
    """Everything later phases need to know about the master data, by id."""

    horizon: Horizon
    entities: list[EntityRef]
    warehouses: list[WarehouseRef]
    items: list[ItemRef]
    customers: list[CustomerRef]
    suppliers: list[SupplierRef]
    users: dict[str, int]
    rates: RateBook
    prices: PriceBook
    markups: dict[tuple[int, int], Decimal] = field(default_factory=dict)  # (from, to entity) -> percent

    def __post_init__(self) -> None:
        self.entity_by_id = {e.id: e for e in self.entities}
        self.warehouse_by_id = {w.id: w for w in self.warehouses}
        self.warehouse_by_code = {w.code: w for w in self.warehouses}
        self.item_by_sku = {i.sku: i for i in self.items}
        self.item_by_id = {i.id: i for i in self.items}
        self.customer_by_id = {c.id: c for c in self.customers}
        self.supplier_by_id = {s.id: s for s in self.suppliers}
        self._main = {w.entity_id: w.id for w in self.warehouses if w.spec.rank == 0}
        self._suppliers: dict[tuple[int, str], list[SupplierRef]] = {}
        for supplier in self.suppliers:
            for category in supplier.spec.categories:
                self._suppliers.setdefault((supplier.entity_id, category), []).append(supplier)

    def entity_of(self, warehouse_id: int) -> EntityRef:
        return self.entity_by_id[self.warehouse_by_id[warehouse_id].entity_id]

    def stocks(self, item: ItemRef, warehouse_id: int) -> bool:
        """Whether the warehouse keeps the item on its shelves."""
        return self.warehouse_by_id[warehouse_id].spec.rank < item.depth

    def fulfilment_warehouse(self, item: ItemRef, home_id: int) -> int:
        """The customer's own warehouse if it stocks the item, else the entity's main one."""
        if self.stocks(item, home_id):
            return home_id
        return self._main[self.warehouse_by_id[home_id].entity_id]

    def supplier_for(self, item: ItemRef, entity_id: int) -> SupplierRef:
        """The entity's supplier of the item: one of those covering its category, fixed per item."""
        candidates = self._suppliers[(entity_id, item.item.category)]
        return candidates[item.id % len(candidates)]
