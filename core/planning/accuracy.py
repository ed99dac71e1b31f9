"""Forecast accuracy per ABC class and per method, from a rolling-origin holdout.

Each of the last `holdout_weeks` weeks of the history is forecast one week ahead from the weeks before it
only, by the same choice of method the live estimate makes (`core.planning.forecast.forecast`). The
forecasts are then compared with what was ordered:

    WAPE = sum |forecast - actual| x cost / sum actual x cost      (the headline figure)
    bias = sum (forecast - actual) x cost / sum actual x cost      (positive: the forecast ran high)
    MAPE = mean of |forecast - actual| / actual over weeks with demand only

WAPE is the headline because most of the catalogue sells intermittently: a week with no demand has no
percentage error (division by zero), so MAPE must leave those weeks out, and weeks of one or two units
blow it up. WAPE counts every week, zero weeks included, and weighting by the item's standard cost makes
a class's figure speak for the money it moves rather than for its unit counts. The count of zero weeks
left out of MAPE is reported beside it.

ABC classes (core.planning.abc) rank the (item, warehouse) keys by value sold over the history: units x
the item's standard cost.
"""

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date

import numpy as np
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from core import clock
from core.actor import Actor
from core.masterdata.models import Item
from core.planning.abc import abc_classes
from core.planning.config import planning_section
from core.planning.demand import history_window
from core.planning.forecast import DemandParams, demand_params, forecast
from core.planning.history import Key, weekly_demand
from core.reporting.service import entities_in_scope


class AccuracyParams(BaseModel):
    """The `accuracy:` section of the planning file."""

    holdout_weeks: int = Field(default=13, ge=1, le=104)
    a_share: float = Field(default=0.80, gt=0, le=1)
    b_share: float = Field(default=0.95, gt=0, le=1)


def accuracy_params() -> AccuracyParams:
    return planning_section("accuracy", AccuracyParams)


@dataclass(frozen=True)
class HoldoutWeek:
    """One week of the holdout: the method chosen from the weeks before it, its forecast and what was ordered."""

    key: Key
    week: int  # index into the series
    method: str
    forecast: float
    actual: int


@dataclass(frozen=True)
class Accuracy:
    """The accuracy of one group of holdout weeks (a class, a method, or all)."""

    group: str
    keys: int
    weeks: int
    wape: float | None  # None when the group sold nothing in the holdout
    bias: float | None
    mape: float | None  # over weeks with demand only; None when there were none
    zero_weeks: int  # weeks left out of MAPE (no demand)


@dataclass(frozen=True)
class AccuracyReport:
    holdout_weeks: int
    by_class: list[Accuracy]
    by_method: list[Accuracy]
    overall: Accuracy
    basis: str


def holdout(key: Key, series: list[int], weeks: int, params: DemandParams) -> list[HoldoutWeek]:
    """Each of the last `weeks` weeks forecast from the weeks before it (a first week, with none before, is skipped)."""
    y = np.asarray(series, dtype=float)
    start = max(1, y.size - weeks)
    made = [(t, forecast(y[:t], 1, params)) for t in range(start, y.size)]
    return [HoldoutWeek(key, t, f.method, float(f.fit.forecast[0]), int(series[t])) for t, f in made]


def summarise(group: str, weeks: list[HoldoutWeek], unit_cost: Mapping[Key, float]) -> Accuracy:
    """WAPE, bias and MAPE of a group of holdout weeks, WAPE and bias weighted by the key's unit cost."""
    cost = np.array([unit_cost.get(w.key, 0.0) for w in weeks], dtype=float)
    f = np.array([w.forecast for w in weeks], dtype=float)
    a = np.array([w.actual for w in weeks], dtype=float)
    sold = float(np.sum(a * cost))
    wape = float(np.sum(np.abs(f - a) * cost)) / sold if sold > 0 else None
    bias = float(np.sum((f - a) * cost)) / sold if sold > 0 else None
    demand = a > 0
    mape = float(np.mean(np.abs(f[demand] - a[demand]) / a[demand])) if demand.any() else None
    keys = len({w.key for w in weeks})
    return Accuracy(group, keys, len(weeks), wape, bias, mape, int(np.count_nonzero(~demand)))


def accuracy_of(
    history: Mapping[Key, list[int]],
    unit_cost: Mapping[Key, float],
    *,
    params: AccuracyParams,
    demand: DemandParams,
) -> AccuracyReport:
    """The holdout's accuracy per ABC class (by units x unit cost over the history), per method and overall."""
    values = {key: sum(series) * unit_cost.get(key, 0.0) for key, series in history.items()}
    classes = abc_classes(values, params.a_share, params.b_share)
    weeks = [w for key, series in history.items() for w in holdout(key, series, params.holdout_weeks, demand)]
    by_class = [
        summarise(c, [w for w in weeks if classes[w.key] == c], unit_cost)
        for c in ("A", "B", "C")
        if any(classes[w.key] == c for w in weeks)
    ]
    methods = sorted({w.method for w in weeks})
    by_method = [summarise(m, [w for w in weeks if w.method == m], unit_cost) for m in methods]
    basis = (
        f"Each of the last {params.holdout_weeks} weeks forecast one week ahead from the weeks before it only. "
        "WAPE and bias are weighted by standard cost (bias > 0: forecast high); MAPE leaves out weeks with no "
        "demand, which have no percentage error."
    )
    return AccuracyReport(params.holdout_weeks, by_class, by_method, summarise("all", weeks, unit_cost), basis)


def forecast_accuracy(session: Session, *, as_of: date, entity_ids: Collection[int] | None = None) -> AccuracyReport:
    """The accuracy of the demand forecasts of every (item, warehouse) with demand before `as_of`."""
    demand = demand_params()
    weeks = history_window(session, as_of=as_of, wanted=demand.history_weeks)
    history = weekly_demand(session, as_of=as_of, weeks=weeks, entity_ids=entity_ids)
    return accuracy_of(history, unit_costs(session, history), params=accuracy_params(), demand=demand)


def accuracy_report(session: Session, actor: Actor, *, entity: str | None = None) -> AccuracyReport:
    """The forecast accuracy of the actor's entities (or the one named, which must be theirs), as of today."""
    entity_ids = [e.id for e in entities_in_scope(session, actor, entity)]
    return forecast_accuracy(session, as_of=clock.today(), entity_ids=entity_ids)


def unit_costs(session: Session, keys: Collection[Key]) -> dict[Key, float]:
    """Each key's item's standard cost, as a float weight."""
    items = sorted({item for item, _ in keys})
    cost: dict[int, float] = {}
    for start in range(0, len(items), 1000):
        rows = session.execute(select(Item.id, Item.standard_cost).where(Item.id.in_(items[start : start + 1000])))
        cost.update({int(i): float(c) for i, c in rows})
    return {key: cost.get(key[0], 0.0) for key in keys}
