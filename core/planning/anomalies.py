"""Demand anomalies: recent weeks whose demand is far from the forecast made the week before, with their orders.

For each of the last `window_weeks` weeks, the forecast is made from the weeks before it only
(`core.planning.forecast.forecast`, the method its class chooses) and the week's residual is scored
robustly against that forecast's own one-step errors on those earlier weeks:

    score = (actual - forecast - median(errors)) / max(1.4826 x MAD(errors), 1 unit)

1.4826 x MAD is the standard deviation a normal sample would have, but one large week cannot inflate it,
so a spike does not hide itself or the next one. A smooth or erratic series is judged both ways (spikes and
drops). An intermittent or lumpy series (Croston's view: a size and an interval) is judged only in weeks with
demand, and by the size: (actual - median size) / (1.4826 x MAD of its earlier non-zero weeks). Its many
empty weeks are its normal, so an empty week is no drop, and the per-week forecast (a fraction of a unit)
is no yardstick for an order that does come. A week is anomalous when |score| >= `threshold` and it is at
least `min_units` from the usual figure the score is measured from.
"""

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import TypeVar

import numpy as np
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from core import clock
from core.actor import Actor
from core.exceptions.findings import Finding
from core.exceptions.models import ExceptionType, Severity
from core.masterdata.models import Customer, Item, Warehouse
from core.money import round_money
from core.numbering import SALES_ORDER
from core.planning.config import planning_section
from core.planning.demand import history_window
from core.planning.forecast import DemandClass, DemandParams, demand_params, forecast
from core.planning.history import NOT_DEMAND, weekly_demand
from core.reporting.service import entities_in_scope
from core.sales.models import SalesOrder, SalesOrderLine

MAD_TO_SD = 1.4826
MIN_SCALE = 1.0  # units: a series that never missed by more than a unit is not 'infinitely' surprised by two
MAX_ORDERS = 10  # orders named per finding (the largest first)
SLOW = (DemandClass.INTERMITTENT, DemandClass.LUMPY)
T = TypeVar("T", Item, Warehouse)


class AnomalyParams(BaseModel):
    """The `anomalies:` section of the planning file."""

    window_weeks: int = Field(default=4, ge=1, le=52)
    threshold: float = Field(default=3.5, gt=0)
    min_units: int = Field(default=3, ge=0)
    min_history_weeks: int = Field(default=13, ge=4)
    min_demand_weeks: int = Field(default=4, ge=2)  # weeks with demand before the week: fewer, and nothing is usual yet
    high_score: float = Field(default=6.0, gt=0)


def anomaly_params() -> AnomalyParams:
    return planning_section("anomalies", AnomalyParams)


@dataclass(frozen=True)
class WeekScore:
    """One week judged against the forecast made before it."""

    week: int  # index into the series
    actual: int
    expected: float
    score: float  # robust SDs from the forecast; > 0 a spike, < 0 a drop; 0 when the week is not judged
    scale: float  # units per robust SD
    usual: float  # the demand that would score 0: the forecast (+ the errors' median), or a slow mover's median size
    method: str
    judged: bool  # False: too little history, or an empty week of a slow mover


def score_week(series: list[int], t: int, demand: DemandParams, params: AnomalyParams) -> WeekScore:
    """Week `t` of the series scored against the forecast made from the weeks before it.

    The scale is given even for a week that is not judged (an empty week of a slow mover), so that a benchmark
    can plant a change of known size into it."""
    actual = int(series[t])
    before = np.asarray(series[:t], dtype=float)
    if t < params.min_history_weeks or np.count_nonzero(before) < params.min_demand_weeks:
        return WeekScore(t, actual, 0.0, 0.0, 0.0, 0.0, "", False)
    made = forecast(before, 1, demand)
    expected, errors = float(made.fit.forecast[0]), made.fit.errors
    slow = made.classification.demand_class in SLOW
    # a slow mover's week with demand is judged by its size against the sizes of its earlier weeks with demand
    reference = before[before > 0] if slow else errors[~np.isnan(errors)]
    if reference.size < 2:
        return WeekScore(t, actual, expected, 0.0, 0.0, expected, made.method, False)
    centre, scale = robust_centre_and_scale(reference)
    usual = centre if slow else expected + centre
    return WeekScore(
        t, actual, expected, (actual - usual) / scale, scale, usual, made.method, not (slow and actual == 0)
    )


def robust_centre_and_scale(errors: np.ndarray) -> tuple[float, float]:
    """The median of the errors and 1.4826 x their median absolute deviation (at least MIN_SCALE)."""
    centre = float(np.median(errors))
    return centre, max(MAD_TO_SD * float(np.median(np.abs(errors - centre))), MIN_SCALE)


def is_anomalous(week: WeekScore, params: AnomalyParams) -> bool:
    return week.judged and abs(week.score) >= params.threshold and abs(week.actual - week.usual) >= params.min_units


def anomalous_weeks(series: list[int], demand: DemandParams, params: AnomalyParams) -> list[WeekScore]:
    """The weeks of the recent window (the last `window_weeks`) that are anomalous, oldest first.

    A week found anomalous counts as its usual figure when the later weeks are judged, so a spike does not
    raise the next week's forecast and make an ordinary week look like a drop."""
    cleaned = list(series)
    found = []
    for t in range(max(0, len(series) - params.window_weeks), len(series)):
        week = score_week(cleaned[: t + 1], t, demand, params)
        if is_anomalous(week, params):
            found.append(week)
            cleaned[t] = max(0, round(week.usual))
    return found


# --- findings -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WeekOrder:
    number: str
    customer: str
    quantity: int


def find_demand_anomalies(session: Session, *, as_of: date, entity_ids: Collection[int] | None = None) -> list[Finding]:
    """A finding per anomalous recent week of each (item, warehouse), naming the orders that made the week."""
    demand, params = demand_params(), anomaly_params()
    weeks = history_window(session, as_of=as_of, wanted=demand.history_weeks)
    history = weekly_demand(session, as_of=as_of, weeks=weeks, entity_ids=entity_ids)
    flagged = [(key, w) for key, series in sorted(history.items()) for w in anomalous_weeks(series, demand, params)]
    if not flagged:
        return []
    start = as_of - timedelta(days=7 * weeks)
    items = _by_id(session, Item, {key[0] for key, _ in flagged})
    warehouses = _by_id(session, Warehouse, {key[1] for key, _ in flagged})
    findings = []
    for (item_id, warehouse_id), week in flagged:
        week_start = start + timedelta(days=7 * week.week)
        orders = week_orders(session, item_id=item_id, warehouse_id=warehouse_id, start=week_start)
        findings.append(_finding(items[item_id], warehouses[warehouse_id], week_start, week, orders, params))
    return findings


def demand_anomalies(session: Session, actor: Actor, *, entity: str | None = None) -> list[Finding]:
    """The demand anomalies of the actor's entities (or the one named, which must be theirs), as of today."""
    entity_ids = [e.id for e in entities_in_scope(session, actor, entity)]
    return find_demand_anomalies(session, as_of=clock.today(), entity_ids=entity_ids)


def week_orders(session: Session, *, item_id: int, warehouse_id: int, start: date) -> list[WeekOrder]:
    """The orders for the item from the warehouse placed in the week from `start`, the largest first."""
    rows = session.execute(
        select(SalesOrder.id, Customer.code, SalesOrderLine.quantity)
        .join(SalesOrder, SalesOrder.id == SalesOrderLine.order_id)
        .join(Customer, Customer.id == SalesOrder.customer_id)
        .where(
            SalesOrderLine.item_id == item_id,
            SalesOrderLine.warehouse_id == warehouse_id,
            SalesOrder.order_date >= start,
            SalesOrder.order_date < start + timedelta(days=7),
            SalesOrder.status.not_in(NOT_DEMAND),
        )
    ).all()
    units: dict[tuple[int, str], int] = {}
    for order_id, customer, quantity in rows:
        units[(order_id, customer)] = units.get((order_id, customer), 0) + int(quantity)
    ranked = sorted(units.items(), key=lambda kv: (-kv[1], kv[0][0]))
    return [WeekOrder(SALES_ORDER.format(order_id), customer, qty) for (order_id, customer), qty in ranked]


def anomaly_key(item_id: int, warehouse_id: int, week_start: date) -> str:
    return f"demand_anomaly:item:{item_id}:warehouse:{warehouse_id}:week:{week_start.isoformat()}"


def _finding(
    item: Item, warehouse: Warehouse, week_start: date, week: WeekScore, orders: list[WeekOrder], params: AnomalyParams
) -> Finding:
    kind = "spike" if week.score > 0 else "drop"
    expected = round(week.expected, 1)
    named = orders[:MAX_ORDERS]
    listed = ", ".join(f"{o.number} ({o.customer}, {o.quantity})" for o in named) or "no orders"
    more = f" and {len(orders) - len(named)} more" if len(orders) > len(named) else ""
    detail = (
        f"Week of {week_start}: {week.actual} units of {item.sku} ordered from {warehouse.code} against "
        f"{expected} forecast ({week.method}, from the weeks before), {abs(week.score):.1f} robust SDs "
        f"{'above' if kind == 'spike' else 'below'} (1 robust SD = {week.scale:.1f} units). "
        f"Orders that week: {listed}{more}."
    )
    return Finding(
        type=ExceptionType.DEMAND_ANOMALY,
        entity_id=warehouse.entity_id,
        key=anomaly_key(item.id, warehouse.id, week_start),
        severity=Severity.HIGH if abs(week.score) >= params.high_score else Severity.MEDIUM,
        title=f"Demand {kind}: {item.sku} at {warehouse.code}, week of {week_start}: {week.actual} vs {expected}",
        detail=detail,
        evidence={
            "sku": item.sku,
            "warehouse": warehouse.code,
            "week_start": week_start.isoformat(),
            "direction": kind,
            "actual": week.actual,
            "expected": expected,
            "score": round(week.score, 2),
            "robust_sd": round(week.scale, 2),
            "method": week.method,
            "orders": [{"number": o.number, "customer": o.customer, "quantity": o.quantity} for o in orders],
        },
        impact=round_money(Decimal(str(abs(week.actual - week.expected))) * item.standard_cost),
    )


def _by_id(session: Session, model: type[T], ids: set[int]) -> dict[int, T]:
    return {row.id: row for row in session.scalars(select(model).where(model.id.in_(sorted(ids))))}
