"""Demand estimates per item and warehouse: the interface the planning analyses read.

`demand_estimates` is what replenishment, the backtest and the briefing use. Its figures come from
the weekly history (`core.planning.history`); the forecast itself is `core.planning.forecast`'s: the
series is classified (smooth, erratic, intermittent, lumpy) and forecast by the best of its class's
methods, and the error is that method's one-step-ahead RMSE on the history.
"""

import math
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import clock
from core.actor import Actor
from core.errors import InvalidInput
from core.masterdata.models import Warehouse
from core.masterdata.service import get_item, get_warehouse_in_scope
from core.planning.forecast import DemandParams, demand_params, forecast
from core.planning.history import NOT_DEMAND, Key, week_starts, weekly_demand
from core.reporting.service import entities_in_scope
from core.sales.models import SalesOrder

HISTORY_WEEKS: int | None = None  # None: the planning file's `demand.history_weeks`, as far back as orders go


@dataclass(frozen=True)
class DemandEstimate:
    """What an item is expected to sell from a warehouse, per week, and how wrong that tends to be."""

    item_id: int
    warehouse_id: int
    mean_weekly: float  # the expected units per week over the coming weeks
    error_sd: float  # standard deviation of a one-week forecast's error, in units
    method: str  # how the forecast was made
    history_weeks: int  # weeks of history it was made from
    forecast: tuple[float, ...]  # the next weeks, one figure per week


def estimate(
    item_id: int, warehouse_id: int, series: list[int], horizon: int = 13, *, params: DemandParams | None = None
) -> DemandEstimate:
    """The forecast of the series' class's best method; its error is that method's one-step RMSE in units."""
    made = forecast(series, horizon, params or demand_params())
    weeks = tuple(float(x) for x in made.fit.forecast)
    mean = sum(weeks) / len(weeks) if weeks else 0.0
    return DemandEstimate(item_id, warehouse_id, mean, made.error_sd, made.method, len(series), weeks)


def demand_estimates(
    session: Session,
    *,
    as_of: date,
    entity_ids: Collection[int] | None = None,
    keys: Collection[Key] | None = None,
    history_weeks: int | None = HISTORY_WEEKS,
) -> dict[Key, DemandEstimate]:
    """The estimate of every (item, warehouse) with demand in the history before `as_of` (by default the planning
    file's weeks of history, as far back as the orders go)."""
    params = demand_params()
    if history_weeks is None:
        history_weeks = history_window(session, as_of=as_of, wanted=params.history_weeks)
    history = weekly_demand(session, as_of=as_of, weeks=history_weeks, entity_ids=entity_ids, keys=keys)
    return {key: estimate(key[0], key[1], series, params=params) for key, series in history.items()}


def history_window(session: Session, *, as_of: date, wanted: int) -> int:
    """`wanted` weeks, or fewer when the orders begin later: the whole weeks between the first order and `as_of`.

    Weeks before the data began are not weeks without demand: counted as zeros they would make every series look
    intermittent and start its level at nothing."""
    first = session.scalar(select(func.min(SalesOrder.order_date)).where(SalesOrder.status.not_in(NOT_DEMAND)))
    if first is None or first >= as_of:
        return wanted
    return max(1, min(wanted, (as_of - first).days // 7))


@dataclass(frozen=True)
class ItemForecast:
    """One item's forecast at one warehouse, with the history it was made from and why its method was chosen."""

    sku: str
    warehouse: str
    as_of: date
    week_starts: list[date]  # the history's weeks, oldest first
    history: list[int]
    demand_class: str
    adi: float | None  # None when there was no demand
    cv2: float
    method: str
    rmse_by_method: dict[str, float]
    estimate: DemandEstimate
    forecast_week_starts: list[date]
    fitted: list[float | None]  # per history week, the chosen method's forecast made the week before (None: too early)


def item_forecast(
    session: Session,
    actor: Actor,
    *,
    sku: str,
    warehouse: str | None = None,
    entity: str | None = None,
    weeks: int | None = None,
    horizon: int = 13,
) -> ItemForecast:
    """The forecast of an item at a warehouse in the actor's scope, from its weekly history before today; with no
    warehouse named, at the actor's warehouse (of `entity`, if given) where it sold the most in the last year."""
    if horizon < 1 or horizon > 104:
        raise InvalidInput(f"a horizon of {horizon} weeks; give 1 to 104")
    params = demand_params()
    if weeks is not None and not 4 <= weeks <= 520:
        raise InvalidInput(f"{weeks} weeks of history; give 4 to 520")
    item = get_item(session, sku=sku)
    if warehouse is not None:
        place = get_warehouse_in_scope(session, actor, code=warehouse)
    else:
        place = busiest_warehouse(session, actor, item_id=item.id, entity=entity)
    as_of = clock.today()
    history_weeks = history_window(session, as_of=as_of, wanted=params.history_weeks) if weeks is None else weeks
    key = (item.id, place.id)
    series = weekly_demand(session, as_of=as_of, weeks=history_weeks, keys=[key]).get(key, [0] * history_weeks)
    made = forecast(series, horizon, params)
    c = made.classification
    return ItemForecast(
        sku=item.sku,
        warehouse=place.code,
        as_of=as_of,
        week_starts=week_starts(as_of, history_weeks),
        history=series,
        demand_class=c.demand_class.value,
        adi=None if c.adi == float("inf") else c.adi,
        cv2=c.cv2,
        method=made.method,
        rmse_by_method=made.rmse_by_method,
        estimate=estimate(item.id, place.id, series, horizon, params=params),
        forecast_week_starts=[as_of + timedelta(days=7 * i) for i in range(horizon)],
        fitted=[None if math.isnan(e) else float(x - e) for x, e in zip(series, made.fit.errors, strict=True)],
    )


def busiest_warehouse(session: Session, actor: Actor, *, item_id: int, entity: str | None = None) -> Warehouse:
    """The actor's warehouse (in `entity`, if given) that sold the most of the item over the last 52 weeks; the first
    by code when it sold nowhere."""
    ids = [e.id for e in entities_in_scope(session, actor, entity)]
    places = list(session.scalars(select(Warehouse).where(Warehouse.entity_id.in_(ids)).order_by(Warehouse.code)))
    if not places:
        raise InvalidInput("no warehouse in your entities")
    sold = weekly_demand(session, as_of=clock.today(), weeks=52, keys=[(item_id, w.id) for w in places])
    return max(places, key=lambda w: sum(sold.get((item_id, w.id), [])))
