"""Demand planning for people who ask the API: an item's forecast, forecast accuracy, demand anomalies."""

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from assistant.channels.web.auth import CurrentUser, ServicesDep
from assistant.channels.web.errors import documented
from core.exceptions.findings import Finding
from core.planning.accuracy import Accuracy, AccuracyReport, accuracy_report
from core.planning.anomalies import demand_anomalies
from core.planning.demand import ItemForecast, item_forecast

router = APIRouter(prefix="/api/planning", tags=["planning"])
ERRORS = documented(401, 403, 404, 422)
HistoryWeeks = Annotated[int | None, Query(ge=4, le=520, description="weeks of history (default the planning file's)")]
EntityCode = Annotated[str | None, Query(max_length=16, description="one legal entity, e.g. NA")]


class WeekUnits(BaseModel):
    week_start: date
    units: float


class ForecastView(BaseModel):
    """An item's weekly history at a warehouse, its demand class and the forecast of the method chosen for it."""

    sku: str
    warehouse: str
    as_of: date
    demand_class: str  # smooth, erratic, intermittent, lumpy or none
    adi: float | None  # average weeks between weeks with demand; None without demand
    cv2: float  # squared coefficient of variation of the non-zero weeks
    method: str
    rmse_by_method: dict[str, float]  # each candidate's one-step RMSE, the lowest chosen
    mean_weekly: float
    error_sd: float  # the chosen method's one-step RMSE, in units
    history: list[WeekUnits]
    forecast: list[WeekUnits]


class AccuracyFigures(BaseModel):
    group: str
    keys: int
    weeks: int
    wape: float | None
    bias: float | None
    mape: float | None
    zero_weeks: int


class AccuracyView(BaseModel):
    """Forecast accuracy from a rolling-origin holdout, per ABC class, per method and overall."""

    holdout_weeks: int
    by_class: list[AccuracyFigures]
    by_method: list[AccuracyFigures]
    overall: AccuracyFigures
    basis: str


class AnomalyOrder(BaseModel):
    number: str
    customer: str
    quantity: int


class AnomalyView(BaseModel):
    key: str
    sku: str
    warehouse: str
    week_start: date
    direction: str  # spike or drop
    actual: int
    expected: float
    score: float  # robust SDs from the usual figure
    robust_sd: float
    method: str
    severity: str
    title: str
    detail: str
    orders: list[AnomalyOrder]


class AnomaliesView(BaseModel):
    anomalies: list[AnomalyView]


@router.get("/forecast", response_model=ForecastView, responses=ERRORS)
def forecast(
    user: CurrentUser,
    svc: ServicesDep,
    sku: Annotated[str, Query(min_length=1, max_length=64)],
    warehouse: Annotated[str, Query(min_length=1, max_length=64)],
    weeks: Annotated[
        int | None, Query(ge=4, le=520, description="weeks of history (default the planning file's)")
    ] = None,
) -> ForecastView:
    """An item's weekly demand at a warehouse of your entities and the next 13 weeks' forecast, with the demand class
    and each candidate method's error. 403 for another entity's warehouse, 404 for an unknown SKU or warehouse."""
    made = svc.db.read(lambda s: item_forecast(s, user.actor, sku=sku, warehouse=warehouse, weeks=weeks))
    return forecast_view(made)


@router.get("/accuracy", response_model=AccuracyView, responses=ERRORS)
def accuracy(user: CurrentUser, svc: ServicesDep, entity: EntityCode = None) -> AccuracyView:
    """The demand forecasts' accuracy over a rolling-origin holdout in your entities (or the one named): WAPE and
    bias weighted by cost, MAPE over weeks with demand, per ABC class and per method."""
    return accuracy_view(svc.db.read(lambda s: accuracy_report(s, user.actor, entity=entity)))


@router.get("/anomalies", response_model=AnomaliesView, responses=ERRORS)
def anomalies(user: CurrentUser, svc: ServicesDep, entity: EntityCode = None) -> AnomaliesView:
    """Recent weeks whose demand was far from the forecast made before them, in your entities (or the one named),
    each with its robust score and the orders that made the week."""
    found = svc.db.read(lambda s: demand_anomalies(s, user.actor, entity=entity))
    return AnomaliesView(anomalies=[anomaly_view(f) for f in found])


def forecast_view(made: ItemForecast) -> ForecastView:
    e = made.estimate
    return ForecastView(
        sku=made.sku,
        warehouse=made.warehouse,
        as_of=made.as_of,
        demand_class=made.demand_class,
        adi=made.adi,
        cv2=made.cv2,
        method=made.method,
        rmse_by_method=made.rmse_by_method,
        mean_weekly=e.mean_weekly,
        error_sd=e.error_sd,
        history=[WeekUnits(week_start=d, units=u) for d, u in zip(made.week_starts, made.history, strict=True)],
        forecast=[WeekUnits(week_start=d, units=u) for d, u in zip(made.forecast_week_starts, e.forecast, strict=True)],
    )


def figures(a: Accuracy) -> AccuracyFigures:
    return AccuracyFigures(
        group=a.group, keys=a.keys, weeks=a.weeks, wape=a.wape, bias=a.bias, mape=a.mape, zero_weeks=a.zero_weeks
    )


def accuracy_view(report: AccuracyReport) -> AccuracyView:
    return AccuracyView(
        holdout_weeks=report.holdout_weeks,
        by_class=[figures(a) for a in report.by_class],
        by_method=[figures(a) for a in report.by_method],
        overall=figures(report.overall),
        basis=report.basis,
    )


def anomaly_view(finding: Finding) -> AnomalyView:
    e = finding.evidence
    return AnomalyView(
        key=finding.key,
        sku=e["sku"],
        warehouse=e["warehouse"],
        week_start=e["week_start"],
        direction=e["direction"],
        actual=e["actual"],
        expected=e["expected"],
        score=e["score"],
        robust_sd=e["robust_sd"],
        method=e["method"],
        severity=finding.severity.value,
        title=finding.title,
        detail=finding.detail,
        orders=[AnomalyOrder(**o) for o in e["orders"]],
    )
