"""The documents replenishment proposes: which need is met by a transfer, an intercompany transfer or a purchase.

An item whose position is at or below its reorder point is due (`core.planning.replenishment_levels`): it needs
its order-up-to level minus its position. The need is met, in this order:

1. by a **transfer** from a warehouse of the same entity with surplus: what that warehouse holds free above its
   own order-up-to level (so it never falls below its reorder point);
2. by an **intercompany transfer** from another entity's warehouse with surplus, when the transfer price (standard
   cost plus the pair's markup, in the sender's currency, as core.transfers prices it) plus
   `intercompany_cost_pct`, converted into the receiver's currency at the day's rate (core.fx), is below the
   landed cost of buying (the supplier's last price plus `landed_cost_pct`, converted the same way), or when
   there is nowhere to buy the item;
3. by a **purchase order** to the item's source for the rest, rounded up to the source's packs and minimum.

Items that would run out first draw on surplus first. Proposals group into one document per supplier and
warehouse (purchase orders) and per pair of warehouses (transfers). The run sees only its entities: an
intercompany source is proposed when both entities are in the run (the scheduled run sees them all).
"""

import math
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Literal

from sqlalchemy.orm import Session

from core.errors import MissingRate
from core.fx import rate_on
from core.money import round_money, round_unit_price
from core.planning.replenishment import ReplenishmentSettings, order_quantity, replenishment_settings
from core.planning.replenishment_levels import ItemLevels, Key, ReplenishmentInputs
from core.planning.supply import Source
from core.sales.pricing import GROUP_CURRENCY
from core.transfers.service import transfer_unit_price

DocumentKind = Literal["purchase_order", "transfer"]


@dataclass(frozen=True)
class ProposedLine:
    """One item of a proposed document: how many, why, and at what unit cost."""

    target: ItemLevels
    quantity: int
    need: float  # the need this line answers (after what earlier lines of the same item brought)
    rounding: str  # how the need became the quantity
    unit_cost: Decimal  # the supplier's price (a purchase order) or the transfer price, in the document's currency
    priced: bool  # the purchase-order price is the supplier's last price (False: standard cost, the core prices it)
    origin: ItemLevels | None = None  # the sending warehouse of a transfer
    comparison: dict[str, str] = field(default_factory=dict)  # intercompany: transfer landed vs buying landed


@dataclass(frozen=True)
class ProposedDocument:
    """A purchase order to one supplier for one warehouse, or a transfer between two warehouses."""

    kind: DocumentKind
    entity_id: int  # the receiving entity: where the need is
    warehouse: str  # the receiving warehouse
    currency: str  # of the unit costs: the supplier's, or the sender's for a transfer
    lines: list[ProposedLine]
    supplier: Source | None = None
    from_warehouse: str | None = None
    intercompany: bool = False
    value_at_risk: Decimal = Decimal(0)  # list value of the demand left uncovered within the lead time (see below)
    entity_currency: str = ""  # the receiving entity's: the value at risk's

    @property
    def key(self) -> str:
        if self.kind == "purchase_order":
            assert self.supplier is not None
            return f"replenishment:po:{self.supplier.supplier}:{self.warehouse}"
        return f"replenishment:transfer:{self.from_warehouse}:{self.warehouse}"

    @property
    def value(self) -> Decimal:
        return round_money(sum((ln.unit_cost * ln.quantity for ln in self.lines), Decimal(0)))


@dataclass(frozen=True)
class ReplenishmentPlan:
    """Every item's levels in the run's warehouses, the documents proposed, and the due items with no way to
    replenish them (no supplier, or no rate to price it, and no surplus anywhere)."""

    as_of: date
    settings: ReplenishmentSettings
    items: list[ItemLevels]
    documents: list[ProposedDocument]
    unsourced: list[ItemLevels]

    def covering(self, key: Key) -> list[ProposedDocument]:
        """The documents that bring stock to this item in this warehouse."""
        return [d for d in self.documents if any(ln.target.key == key for ln in d.lines)]


def plan_replenishment(
    session: Session, *, as_of: date, entity_ids: Collection[int] | None = None
) -> ReplenishmentPlan:
    """The levels of every item in the warehouses of these entities (None: all) and the documents proposed."""
    settings = replenishment_settings()
    world = ReplenishmentInputs.read(session, as_of=as_of, entity_ids=entity_ids, settings=settings)
    items = world.levels()
    prices = _Prices(session, world, settings)
    documents, unsourced = _allocate(items, prices)
    return ReplenishmentPlan(as_of, settings, items, documents, unsourced)


# --- Prices: buying against an intercompany transfer --------------------------------------------------------


class _Prices:
    """Unit costs in the currencies the comparison needs, at the rates of `as_of` (a missing rate: no figure)."""

    def __init__(self, session: Session, world: ReplenishmentInputs, settings: ReplenishmentSettings) -> None:
        self.session, self.world, self.as_of, self.settings = session, world, world.as_of, settings
        self._rates: dict[tuple[str, str], Decimal | None] = {}

    def rate(self, from_currency: str, to_currency: str) -> Decimal | None:
        pair = (from_currency, to_currency)
        if pair not in self._rates:
            try:
                found = rate_on(self.session, from_currency=from_currency, to_currency=to_currency, on=self.as_of)
                self._rates[pair] = found.rate
            except MissingRate:
                self._rates[pair] = None
        return self._rates[pair]

    def currency(self, entity_id: int) -> str:
        return self.world.entities[entity_id].base_currency

    def purchase_price(self, target: ItemLevels) -> tuple[Decimal, bool] | None:
        """The supplier's unit price in its currency, and whether it is its last price (else standard cost)."""
        if target.source is None:
            return None
        last = self.world.purchases.last_cost.get((target.source.supplier_id, target.item_id))
        if last is not None:
            return last, True
        rate = self.rate(GROUP_CURRENCY, target.source.currency)
        return None if rate is None else (round_unit_price(self.standard_cost(target) * rate), False)

    def buy_landed(self, target: ItemLevels) -> Decimal | None:
        """Buying one unit, landed, in the receiving entity's currency."""
        price = self.purchase_price(target)
        if price is None or target.source is None:
            return None
        rate = self.rate(target.source.currency, self.currency(target.entity_id))
        return None if rate is None else _landed(price[0] * rate, self.settings.landed_cost_pct)

    def transfer_price(self, origin: ItemLevels, target: ItemLevels) -> Decimal | None:
        """The transfer price in the sender's currency, as core.transfers prices it (standard cost + markup)."""
        markup = self.world.markups.get((origin.entity_id, target.entity_id))
        rate = self.rate(GROUP_CURRENCY, self.currency(origin.entity_id))
        if markup is None or rate is None:
            return None
        return transfer_unit_price(round_unit_price(self.standard_cost(origin) * rate), markup)

    def transfer_landed(self, origin: ItemLevels, target: ItemLevels) -> Decimal | None:
        price = self.transfer_price(origin, target)
        rate = self.rate(self.currency(origin.entity_id), self.currency(target.entity_id))
        if price is None or rate is None:
            return None
        return _landed(price * rate, self.settings.intercompany_cost_pct)

    def standard_cost(self, levels: ItemLevels) -> Decimal:
        """The item's standard cost, in the group currency."""
        return Decimal(self.world.items[levels.item_id].standard_cost)

    def list_price(self, levels: ItemLevels) -> Decimal:
        """The item's list price, in the group currency."""
        return Decimal(self.world.items[levels.item_id].list_price)

    def transfer_cost(self, origin: ItemLevels, target: ItemLevels) -> Decimal | None:
        """A transfer's unit price in the sender's currency: standard cost within an entity, plus the markup
        between two (None when a rate or the intercompany rule is missing: core.transfers could not price it)."""
        if origin.entity_id != target.entity_id:
            return self.transfer_price(origin, target)
        rate = self.rate(GROUP_CURRENCY, self.currency(origin.entity_id))
        return None if rate is None else round_unit_price(self.standard_cost(origin) * rate)


def _landed(amount: Decimal, extra_pct: float) -> Decimal:
    return round_unit_price(amount * (Decimal(100) + Decimal(str(extra_pct))) / Decimal(100))


# --- Allocating the needs -------------------------------------------------------------------------------------


class _Allocation:
    """The surplus still free to move, and the lines planned so far, as the needs are met one by one."""

    def __init__(self, items: list[ItemLevels], prices: _Prices) -> None:
        self.prices = prices
        self.surplus = {lv.key: lv.surplus for lv in items if lv.surplus > 0}
        self.holders: dict[int, list[ItemLevels]] = {}
        for lv in items:
            if lv.key in self.surplus:
                self.holders.setdefault(lv.item_id, []).append(lv)
        self.transfers: dict[tuple[str, str], list[ProposedLine]] = {}
        self.orders: dict[tuple[str, str], list[ProposedLine]] = {}
        self.heads: dict[tuple[str, str], tuple[int, Source | None, str]] = {}
        self.unsourced: list[ItemLevels] = []

    def meet(self, target: ItemLevels) -> None:
        position = float(target.position.projected)
        upto = self._moved_up_to(target)
        if upto is not None:
            for origin in self._siblings(target):
                position += self._transfer(origin, target, position, upto)
            if position <= target.levels.reorder_point:
                for origin, comparison in self._intercompany(target):
                    position += self._transfer(origin, target, position, upto, comparison)
                    if position > target.levels.reorder_point:
                        break
        if position > target.levels.reorder_point:
            return
        if target.source is None or not self._buy(target, target.levels.order_up_to - position):
            self.unsourced.append(target)

    def _moved_up_to(self, target: ItemLevels) -> float | None:
        """The level stock may be moved up to from other warehouses, or None when it is bought instead (the
        `transfers` setting; the backtest found moving every due item's stock around costs fill rate)."""
        mode = self.prices.settings.transfers
        if target.source is None or mode == "always":
            return target.levels.order_up_to
        if mode == "urgent" and target.short_within(self.prices.as_of, target.lead_time.days):
            return target.levels.reorder_point  # what a purchase could not bring in time; the rest is bought
        return None

    def _siblings(self, target: ItemLevels) -> list[ItemLevels]:
        return sorted(
            (
                h
                for h in self.holders.get(target.item_id, [])
                if h.entity_id == target.entity_id and h.key != target.key
            ),
            key=lambda h: (-self.surplus[h.key], h.warehouse),
        )

    def _intercompany(self, target: ItemLevels) -> list[tuple[ItemLevels, dict[str, str]]]:
        buying = self.prices.buy_landed(target)
        offers = []
        for origin in self.holders.get(target.item_id, []):
            if origin.entity_id == target.entity_id:
                continue
            landed = self.prices.transfer_landed(origin, target)
            if landed is None or (buying is not None and landed >= buying):
                continue
            comparison = {
                "transfer_price": str(self.prices.transfer_price(origin, target)),
                "transfer_currency": self.prices.currency(origin.entity_id),
                "transfer_landed": str(landed),
                "buy_landed": "none: no supplier known" if buying is None else str(buying),
                "compared_in": self.prices.currency(target.entity_id),
            }
            offers.append((landed, -self.surplus[origin.key], origin.warehouse, origin, comparison))
        return [(origin, comparison) for *_, origin, comparison in sorted(offers, key=lambda o: o[:3])]

    def _transfer(
        self,
        origin: ItemLevels,
        target: ItemLevels,
        position: float,
        upto: float,
        comparison: dict[str, str] | None = None,
    ) -> int:
        need = upto - position
        take = min(self.surplus.get(origin.key, 0), math.ceil(need - 1e-9))
        cost = self.prices.transfer_cost(origin, target)
        if take <= 0 or cost is None:
            return 0
        self.surplus[origin.key] -= take
        pair = (origin.warehouse, target.warehouse)
        self.heads.setdefault(pair, (target.entity_id, None, self.prices.currency(origin.entity_id)))
        rounding = f"{take} of the {origin.warehouse} surplus of {take + self.surplus[origin.key]}"
        line = ProposedLine(target, take, round(need, 1), rounding, cost, True, origin, comparison or {})
        self.transfers.setdefault(pair, []).append(line)
        return take

    def _buy(self, target: ItemLevels, need: float) -> bool:
        """Order the need from the item's source; False when it cannot be priced (a rate is missing)."""
        source = target.source
        assert source is not None
        quantity = order_quantity(need, moq=source.moq, pack_size=source.pack_size)
        if quantity <= 0:
            return True
        price = self.prices.purchase_price(target)
        if price is None:
            return False
        rounding = _rounding(need, quantity, source)
        pair = (source.supplier, target.warehouse)
        self.heads.setdefault(pair, (target.entity_id, source, source.currency))
        self.orders.setdefault(pair, []).append(ProposedLine(target, quantity, round(need, 1), rounding, *price))
        return True

    def documents(self) -> list[ProposedDocument]:
        made = []
        for pair, lines in self.transfers.items():
            entity_id, _, currency = self.heads[pair]
            made.append(
                ProposedDocument(
                    "transfer",
                    entity_id,
                    pair[1],
                    currency,
                    lines,
                    from_warehouse=pair[0],
                    intercompany=self._ic(lines),
                    value_at_risk=self._at_risk(entity_id, lines),
                    entity_currency=self.prices.currency(entity_id),
                )
            )
        for pair, lines in self.orders.items():
            entity_id, source, currency = self.heads[pair]
            risk = self._at_risk(entity_id, lines)
            made.append(
                ProposedDocument(
                    "purchase_order", entity_id, pair[1], currency, lines, supplier=source, value_at_risk=risk
                )
            )
        return sorted(made, key=lambda d: d.key)

    def _at_risk(self, entity_id: int, lines: list[ProposedLine]) -> Decimal:
        """The list value, in the receiving entity's currency, of the demand its position does not cover before
        a supplier's delivery could arrive: what the proposal protects (0 when a rate is missing)."""
        rate = self.prices.rate(GROUP_CURRENCY, self.prices.currency(entity_id))
        if rate is None:
            return Decimal(0)
        total = Decimal(0)
        for line in lines:
            lv = line.target
            short = max(0.0, lv.mean_weekly * lv.lead_time.days / 7 - lv.position.projected)
            total += Decimal(str(round(short, 2))) * self.prices.list_price(lv) * rate
        return round_money(total)

    @staticmethod
    def _ic(lines: list[ProposedLine]) -> bool:
        return any(ln.origin is not None and ln.origin.entity_id != ln.target.entity_id for ln in lines)


def _rounding(need: float, quantity: int, source: Source) -> str:
    units = math.ceil(need - 1e-9)
    if quantity == units:
        return f"need {units} ordered as is"
    parts = []
    if source.moq > units:
        parts.append(f"minimum order {source.moq}")
    if source.pack_size > 1:
        parts.append(f"packs of {source.pack_size}")
    return f"need {units} rounded up to {quantity} ({', '.join(parts)})"


def _urgency(levels: ItemLevels) -> tuple[date, float, str, str]:
    return (
        levels.stockout or date.max,
        levels.position.projected - levels.levels.reorder_point,
        levels.sku,
        levels.warehouse,
    )


def _allocate(items: Iterable[ItemLevels], prices: _Prices) -> tuple[list[ProposedDocument], list[ItemLevels]]:
    """Meet the due items' needs, the soonest to run out first; the documents made and the items left unsupplied."""
    listed = list(items)
    allocation = _Allocation(listed, prices)
    for target in sorted((lv for lv in listed if lv.due), key=_urgency):
        allocation.meet(target)
    return allocation.documents(), allocation.unsourced
