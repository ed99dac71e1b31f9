"""The two policies the backtest compares, each only a way of setting targets at the start of a week.

- The engine: `core.planning.demand.estimate` on the weekly history known then, `core.planning.replenishment.
  reorder_levels` with the supplier's lead time and its spread as received so far, a service level per ABC class,
  and rebalancing from sibling warehouses with surplus.
- The demo's own rule (`core.demo.stock`): reorder point = rate x (promised lead time + review + safety days of
  its class) + one average line; order quantity = the larger of the class's cycle days of demand and two lines.
  The demo computes its rate over the whole history (hindsight); the causal variant uses the weeks known then.
"""

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from core.demo.stock import BUFFER_LINES, CYCLE_DAYS, MIN_LINES_PER_RECEIPT, REVIEW_DAYS, SAFETY_DAYS
from core.planning.demand import estimate
from core.planning.forecast import demand_params
from core.planning.replenishment import reorder_levels
from evals.planning.simulation import Plan, Target
from evals.planning.world import Key, WeeklyHistory, World, item_classes

HISTORY_WEEKS = 52  # what the engine reads (core.planning.demand.HISTORY_WEEKS)
DEFAULT_SERVICE = {"A": 0.98, "B": 0.95, "C": 0.90}


def uniform_service(level: float) -> dict[str, float]:
    return {"A": level, "B": level, "C": level}


@dataclass(frozen=True)
class EngineSettings:
    service: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_SERVICE))  # per ABC class
    cycle_days: Mapping[str, float] = field(default_factory=lambda: dict(CYCLE_DAYS))  # order this much demand
    review_days: float = REVIEW_DAYS
    history_weeks: int = HISTORY_WEEKS
    # A source keeps at least the order-up-to level of its mean over the whole history window, so a key whose
    # recent weeks were quiet (a level forecast of 0) is not emptied for a sibling just before its demand returns.
    protect_sources: bool = False
    # Transfer only to a key whose position is below the demand over its supplier's lead time (it runs out before
    # a purchase order placed now could land), and only up to its reorder point: the purchase order does the rest.
    urgent_transfers: bool = False


@dataclass(frozen=True)
class Estimate:
    mean_weekly: float
    error_sd: float


Forecasts = dict[tuple[int, ...], Estimate]  # forecasts by the weeks they are made from (the same weeks, the same one)


def _estimate(cache: Forecasts, key: Key, series: Sequence[int], start: int, week: int) -> Estimate:
    """The forecast of a key from the weeks start..week, made once however many policies of the replay ask (it does
    not depend on their settings: every engine variant sees the same forecast)."""
    weeks = tuple(series[start:week])
    cached = cache.get(weeks)
    if cached is None:
        found = estimate(key[0], key[1], list(weeks), params=demand_params())
        cached = cache[weeks] = Estimate(found.mean_weekly, found.error_sd)
    return cached


def engine_plan(settings: EngineSettings, forecasts: Forecasts | None = None) -> Plan:
    """The engine's targets at the start of `week`, from the weeks before it only (`forecasts`: shared with the other
    policies replaying the same history)."""
    cache: Forecasts = {} if forecasts is None else forecasts

    def plan(world: World, history: WeeklyHistory, week: int) -> dict[Key, Target]:
        start = max(0, week - settings.history_weeks)
        classes = item_classes(world, history.units, start, week)
        leads = {s: r.known_lead_time(7 * week) for s, r in world.suppliers.items()}
        targets = {}
        for key, series in history.units.items():
            supplier = world.supplier_of.get(key)
            if supplier is None:
                continue
            found = _estimate(cache, key, series, start, week)
            abc = classes.get(key[0], "C")
            lead, spread = leads[supplier]
            levels = reorder_levels(
                mean_weekly=found.mean_weekly,
                error_sd=found.error_sd,
                lead_time_days=lead,
                lead_time_sd_days=spread,
                service_level=settings.service[abc],
                review_days=settings.review_days,
                cycle_weeks=settings.cycle_days[abc] / 7,
            )
            keep = levels.order_up_to
            if settings.protect_sources and week > start:
                long_mean = sum(series[start:week]) / (week - start)
                keep = max(keep, long_mean * (lead + settings.review_days + settings.cycle_days[abc]) / 7)
            target = Target(levels.reorder_point, levels.order_up_to, keep)
            if settings.urgent_transfers:
                target = replace(target, rush_below=found.mean_weekly * lead / 7, rush_to=levels.reorder_point)
            targets[key] = target
        return targets

    return plan


def demo_target(units: int, lines: int, days: int, promised_days: int, abc: str) -> Target:
    """`core.demo.stock.StockSimulation._policy` at its expected safety days (the demo draws 0.7-1.3 of them)."""
    if not units or not days:
        return Target(0, 0)
    rate, line = units / days, units / lines
    reorder = math.ceil(rate * (promised_days + REVIEW_DAYS + SAFETY_DAYS[abc]) + line * BUFFER_LINES)
    quantity = max(math.ceil(rate * CYCLE_DAYS[abc]), math.ceil(line * MIN_LINES_PER_RECEIPT))
    return Target(reorder, reorder + quantity)


def demo_plan(hindsight: bool = False) -> Plan:
    """The demo's rule; with `hindsight` its rate and classes come from the whole history, as the demo made them."""

    def plan(world: World, history: WeeklyHistory, week: int) -> dict[Key, Target]:
        stop = history.weeks if hindsight else week
        days = world.end_day if hindsight else 7 * week
        classes = item_classes(world, history.units, 0, stop)
        targets = {}
        for key, series in history.units.items():
            supplier = world.supplier_of.get(key)
            if supplier is None:
                continue
            units, lines = sum(series[:stop]), sum(history.lines[key][:stop])
            promised = world.suppliers[supplier].promised_days
            targets[key] = demo_target(units, lines, days, promised, classes.get(key[0], "C"))
        return targets

    return plan
