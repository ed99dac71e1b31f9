"""What replenishment reads and works out per item and warehouse: the position, the levels, the stock-out date.

For every item in every warehouse of the run's entities:

- **levels** (`core.planning.replenishment.reorder_levels`) from the demand estimate (`demand_estimates`), the
  item's ABC class in its entity (expected weekly units x standard cost), the class's service level and cycle,
  the review period, and the lead time of the supplier it is bought from (`core.planning.supply`);
- its **projected position**: on hand + incoming (purchase-order lines and inbound transfers, including those
  on the road) - reserved - backordered. Goods in transit are counted once: a transfer's incoming supply stays
  until it is received;
- its **projected stock-out date**: free stock (on hand - reserved - backordered) plus dated supply as it
  arrives, less the estimated daily demand.

Positions are today's balances; `as_of` dates the history, the lead times and the projected dates.
"""

import math
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.masterdata.models import IntercompanyRule, Item, LegalEntity, Warehouse
from core.planning.abc import abc_classes
from core.planning.demand import DemandEstimate, demand_estimates
from core.planning.replenishment import Levels, ReplenishmentSettings, reorder_levels, stockout_date
from core.planning.supply import LeadTime, Purchases, Source, purchases_before, supplier_lead_times, supply_sources
from core.stock.models import IncomingSupply, StockBalance

Key = tuple[int, int]  # (item_id, warehouse_id)


@dataclass(frozen=True)
class Position:
    """Where an item stands in a warehouse now, in units."""

    on_hand: int = 0
    reserved: int = 0
    backordered: int = 0
    incoming: int = 0  # on order from suppliers and inbound transfers, those on the road included
    in_transit: int = 0  # of the incoming, what is on the road

    @property
    def projected(self) -> int:
        return self.on_hand + self.incoming - self.reserved - self.backordered

    @property
    def free(self) -> int:
        """On the shelf and promised to nobody: what a transfer could take."""
        return max(0, self.on_hand - self.reserved)


@dataclass(frozen=True)
class ItemLevels:
    """One item in one warehouse: its position, its levels and the figures they come from."""

    item_id: int
    sku: str
    warehouse_id: int
    warehouse: str
    entity_id: int
    active: bool
    position: Position
    estimate: DemandEstimate | None
    abc: str
    service_level: float
    cycle_weeks: float
    lead_time: LeadTime
    source: Source | None
    levels: Levels
    stockout: date | None

    @property
    def key(self) -> Key:
        return (self.item_id, self.warehouse_id)

    @property
    def method(self) -> str:
        return self.estimate.method if self.estimate else "none (no demand in the history)"

    @property
    def mean_weekly(self) -> float:
        return self.estimate.mean_weekly if self.estimate else 0.0

    @property
    def need(self) -> float:
        """Units to bring the position up to the order-up-to level."""
        return self.levels.order_up_to - self.position.projected

    @property
    def due(self) -> bool:
        """At or below the reorder point, with something to order (an inactive item is not replenished)."""
        return self.active and self.position.projected <= self.levels.reorder_point and self.need > 0

    @property
    def surplus(self) -> int:
        """Free units above the order-up-to level: what may go elsewhere without bringing this one below its
        reorder point."""
        return max(0, min(self.position.free, math.floor(self.position.projected - self.levels.order_up_to)))

    def short_within(self, as_of: date, days: float) -> bool:
        return self.stockout is not None and self.stockout < as_of + timedelta(days=math.ceil(days))


@dataclass
class ReplenishmentInputs:
    """Everything the analysis reads, once per run, for the warehouses of its entities."""

    as_of: date
    settings: ReplenishmentSettings
    warehouses: dict[int, Warehouse]
    entities: dict[int, LegalEntity]
    items: dict[int, Item]
    balances: dict[Key, Position]
    supply: dict[Key, list[tuple[date, int]]]
    estimates: dict[Key, DemandEstimate]
    sources: dict[tuple[int, int], Source]
    lead_times: dict[int, LeadTime]
    purchases: Purchases
    markups: dict[tuple[int, int], Decimal]

    @classmethod
    def read(
        cls, session: Session, *, as_of: date, entity_ids: Collection[int] | None, settings: ReplenishmentSettings
    ) -> "ReplenishmentInputs":
        scope = None if entity_ids is None else sorted(set(entity_ids))
        entities = {e.id: e for e in session.scalars(select(LegalEntity)) if scope is None or e.id in scope}
        warehouses = {w.id: w for w in session.scalars(select(Warehouse)) if w.entity_id in entities}
        in_scope = list(warehouses)
        balances = {
            (b.item_id, b.warehouse_id): Position(b.on_hand, b.reserved, b.backordered, b.incoming, b.in_transit)
            for b in session.scalars(select(StockBalance).where(StockBalance.warehouse_id.in_(in_scope)))
        }
        supply: dict[Key, list[tuple[date, int]]] = {}
        for row in session.scalars(
            select(IncomingSupply).where(IncomingSupply.warehouse_id.in_(in_scope), IncomingSupply.quantity > 0)
        ):
            supply.setdefault((row.item_id, row.warehouse_id), []).append((row.due_date, row.quantity))
        estimates = demand_estimates(session, as_of=as_of, entity_ids=list(entities))
        purchases = purchases_before(session, as_of=as_of, entity_ids=list(entities))
        return cls(
            as_of=as_of,
            settings=settings,
            warehouses=warehouses,
            entities=entities,
            items={i.id: i for i in session.scalars(select(Item))},
            balances=balances,
            supply=supply,
            estimates={k: e for k, e in estimates.items() if k[1] in warehouses},
            sources=supply_sources(session, purchases, entity_ids=list(entities)),
            lead_times=supplier_lead_times(session, as_of=as_of, settings=settings),
            purchases=purchases,
            markups={
                (r.from_entity_id, r.to_entity_id): Decimal(r.markup_pct)
                for r in session.scalars(select(IntercompanyRule))
            },
        )

    def levels(self) -> list[ItemLevels]:
        """Every item with a balance or an estimate in the run's warehouses, by warehouse and SKU."""
        keys = sorted(set(self.balances) | set(self.estimates), key=self._order)
        classes = self._classes()
        return [self._levels(key, classes) for key in keys if key[0] in self.items]

    def _order(self, key: Key) -> tuple[str, str]:
        return (self.warehouses[key[1]].code, self.items[key[0]].sku if key[0] in self.items else "")

    def _classes(self) -> dict[tuple[int, int], str]:
        """ABC class of each (item, entity): expected weekly units over the entity's warehouses x standard cost."""
        values: dict[int, dict[int, float]] = {e: {} for e in self.entities}
        for (item_id, warehouse_id), estimate in self.estimates.items():
            by_item = values[self.warehouses[warehouse_id].entity_id]
            cost = float(self.items[item_id].standard_cost) if item_id in self.items else 0.0
            by_item[item_id] = by_item.get(item_id, 0.0) + estimate.mean_weekly * cost
        return {(item, entity): grade for entity, v in values.items() for item, grade in abc_classes(v).items()}

    def _levels(self, key: Key, classes: dict[tuple[int, int], str]) -> ItemLevels:
        item, warehouse = self.items[key[0]], self.warehouses[key[1]]
        s = self.settings
        estimate = self.estimates.get(key)
        grade = classes.get((item.id, warehouse.entity_id), "C")
        source = self.sources.get((item.id, warehouse.entity_id))
        lead = (
            self.lead_times[source.supplier_id]
            if source is not None
            else LeadTime(float(s.default_lead_time_days), 0.0, 0, "no supplier known: the planning file's default")
        )
        mean, error = (estimate.mean_weekly, estimate.error_sd) if estimate else (0.0, 0.0)
        levels = reorder_levels(
            mean_weekly=mean,
            error_sd=error,
            lead_time_days=lead.days,
            lead_time_sd_days=lead.sd_days,
            service_level=s.service_levels[grade],
            review_days=s.review_days,
            cycle_weeks=s.cycle_weeks[grade],
        )
        position = self.balances.get(key, Position())
        stockout = stockout_date(
            as_of=self.as_of,
            free_now=position.on_hand - position.reserved - position.backordered,
            daily=mean / 7,
            supply=self.supply.get(key, []),
            horizon_days=s.stockout_horizon_days,
        )
        return ItemLevels(
            item_id=item.id,
            sku=item.sku,
            warehouse_id=warehouse.id,
            warehouse=warehouse.code,
            entity_id=warehouse.entity_id,
            active=item.active,
            position=position,
            estimate=estimate,
            abc=grade,
            service_level=s.service_levels[grade],
            cycle_weeks=s.cycle_weeks[grade],
            lead_time=lead,
            source=source,
            levels=levels,
            stockout=stockout,
        )
