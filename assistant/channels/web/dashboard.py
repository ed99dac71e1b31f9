"""The dashboard's figures: the core's KPI trends and findings, and two panels fed by providers, as `Chart`s.

The page (`dashboard_page.py`) and the API (`routes/dashboard.py`) both take their charts from `dashboard_charts`,
so a person and a program read the same figures. Supplier scorecards and forecast against actual come from
providers the planning analyses plug into (`PANELS`); a provider that returns None makes its panel say
"not available".
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Protocol

from sqlalchemy.orm import Session

from assistant.channels.web.charts import Chart, Series
from core.actor import Actor, Role
from core.planning.demand import item_forecast
from core.planning.risks import supplier_report
from core.reporting.trends import BAND_LABELS, GROUP, FindingsAge, KpiTrends, TrendPoint, findings_by_age, kpi_trends
from tools.chart_links import ANCHORS

# --- The two panels' inputs, and their providers -------------------------------------------------------


@dataclass(frozen=True)
class SupplierScore:
    """One supplier's record over the analysis window."""

    supplier: str
    on_time_pct: Decimal | None
    fill_rate_pct: Decimal | None
    lead_time_drift_days: Decimal | None  # late (+) or early (-) against the quoted lead time, on average
    price_variance_pct: Decimal | None  # paid against the agreed price, on average


@dataclass(frozen=True)
class ForecastWeek:
    week_start: date
    actual: Decimal | None  # units ordered; None for a week still to come
    forecast: Decimal | None


@dataclass(frozen=True)
class ItemForecast:
    sku: str
    warehouse: str | None
    weeks: Sequence[ForecastWeek]
    method: str = ""


class SupplierScoresProvider(Protocol):
    def __call__(self, session: Session, actor: Actor, *, entity: str | None) -> list[SupplierScore] | None: ...


class ForecastProvider(Protocol):
    def __call__(
        self, session: Session, actor: Actor, *, sku: str | None, entity: str | None
    ) -> ItemForecast | None: ...


def no_supplier_scores(session: Session, actor: Actor, *, entity: str | None) -> list[SupplierScore] | None:
    """Until supplier performance is connected: not available."""
    return None


def no_forecast(session: Session, actor: Actor, *, sku: str | None, entity: str | None) -> ItemForecast | None:
    """Until the demand forecast is connected: not available."""
    return None


@dataclass(frozen=True)
class Panels:
    supplier_scores: SupplierScoresProvider = no_supplier_scores
    forecast: ForecastProvider = no_forecast


def _pct(share: float | None) -> Decimal | None:
    return None if share is None else Decimal(str(round(share * 100, 1)))


def _days(value: float | None) -> Decimal | None:
    return None if value is None else Decimal(str(round(value, 1)))


def supplier_scores(session: Session, actor: Actor, *, entity: str | None) -> list[SupplierScore] | None:
    """The suppliers' scorecards of core/planning/suppliers.py, as the panel shows them."""
    return [
        SupplierScore(
            supplier=card.supplier,
            on_time_pct=_pct(card.on_time_rate),
            fill_rate_pct=_pct(card.fill_rate),
            lead_time_drift_days=_days(card.drift.drift),
            price_variance_pct=card.price_variance_pct,
        )
        for card in supplier_report(session, actor, entity=entity).scorecards
    ]


def item_forecast_panel(session: Session, actor: Actor, *, sku: str | None, entity: str | None) -> ItemForecast | None:
    """Weekly demand against the forecast made the week before, then the weeks to come (core/planning/demand.py), at
    the warehouse that sells the item most; None until an item is asked for."""
    if not sku:
        return None
    made = item_forecast(session, actor, sku=sku, entity=entity)
    past = [
        ForecastWeek(start, Decimal(actual), None if fit is None else Decimal(str(round(fit, 1))))
        for start, actual, fit in zip(made.week_starts, made.history, made.fitted, strict=True)
    ]
    ahead = [
        ForecastWeek(start, None, Decimal(str(round(units, 1))))
        for start, units in zip(made.forecast_week_starts, made.estimate.forecast, strict=False)
    ]
    return ItemForecast(made.sku, made.warehouse, past + ahead, made.method)


# An app can set `app.state.dashboard_panels` instead (tests do).
PANELS = Panels(supplier_scores=supplier_scores, forecast=item_forecast_panel)


# --- What the dashboard is asked ---------------------------------------------------------------------------


@dataclass(frozen=True)
class DashboardQuery:
    since: date | None = None
    until: date | None = None
    granularity: str = "week"
    entity: str | None = None
    currency: str | None = None
    sku: str | None = None


TREND_CHARTS = ("fill-rate", "backlog", "inventory-turns", "margin", "exception-ageing", "approval-cycle")
CHART_IDS = (*TREND_CHARTS, "findings", "supplier-scorecards", "forecast")
# A role's charts first; the rest follow in the usual order. Reading needs only the entities in scope.
ROLE_FOCUS: dict[Role, tuple[str, ...]] = {
    Role.SALES: ("fill-rate", "backlog", "margin"),
    Role.BUYER: ("supplier-scorecards", "forecast", "inventory-turns"),
    Role.WAREHOUSE: ("fill-rate", "exception-ageing", "findings"),
    Role.FINANCE: ("margin", "approval-cycle", "backlog"),
    Role.MANAGER: ("approval-cycle", "findings", "fill-rate"),
}


def chart_order(roles: frozenset[Role]) -> list[str]:
    """The chart ids in the order a user with these roles sees them: their roles' charts first."""
    first = [chart for role in sorted(roles) for chart in ROLE_FOCUS.get(role, ())]
    return list(dict.fromkeys([*first, *CHART_IDS]))


@dataclass(frozen=True)
class Dashboard:
    trends: KpiTrends
    charts: list[Chart]  # in the user's order
    available: dict[str, bool] = field(default_factory=dict)  # a panel's provider answered


def dashboard_charts(
    session: Session, actor: Actor, query: DashboardQuery, panels: Panels = PANELS, only: str | None = None
) -> Dashboard:
    """Every chart of the dashboard (or `only` the one named) for the user's entities, from the same figures."""
    trends = kpi_trends(
        session,
        actor,
        since=query.since,
        until=query.until,
        granularity=query.granularity,
        entity=query.entity,
        currency=query.currency,
    )
    wanted = set(CHART_IDS if only is None else [only])
    charts: dict[str, Chart] = {c.id: c for c in trend_charts(trends) if c.id in wanted}
    available = {}
    if "findings" in wanted:
        charts["findings"] = findings_chart(findings_by_age(session, actor, entity=query.entity))
    if "supplier-scorecards" in wanted:
        scores = panels.supplier_scores(session, actor, entity=query.entity)
        available["supplier-scorecards"] = scores is not None
        charts["supplier-scorecards"] = supplier_chart(scores or [])
    if "forecast" in wanted:
        forecast = panels.forecast(session, actor, sku=query.sku, entity=query.entity)
        available["forecast"] = forecast is not None
        charts["forecast"] = forecast_chart(forecast)
    ordered = [charts[c] for c in chart_order(actor.roles) if c in charts]
    return Dashboard(trends, ordered, available)


# --- Figures into charts ----------------------------------------------------------------------------------


def _series(trends: KpiTrends, figure: str) -> list[Series]:
    """One series per entity, and the group's when there is more than one entity."""
    shown = [*trends.entities, trends.group] if len(trends.entities) > 1 else trends.entities
    return [Series("Group" if s.entity == GROUP else s.entity, [_figure(p, figure) for p in s.points]) for s in shown]


def _figure(point: TrendPoint, name: str) -> Decimal | None:
    value: Decimal | None = getattr(point, name)
    return value


def trend_charts(trends: KpiTrends) -> list[Chart]:
    """Fill rate, backlog, turns, margin, open cases by age and approval cycle time over the buckets."""
    categories = [p.label for p in trends.periods]
    grain = trends.granularity.value.title()
    span = f"{trends.period_start} to {trends.period_end}, by {trends.granularity.value}"
    ccy = trends.currency

    def line(anchor: str, figure: str, unit: str, what: str) -> Chart:
        return Chart(
            id=anchor,
            title=ANCHORS[anchor].title,
            description=f"{what}, {span}, per entity and for the group.",
            categories=categories,
            series=_series(trends, figure),
            unit=unit,
            category_label=grain,
            notes=(trends.basis.get(figure, ""),),
        )

    group_cases = trends.group.points
    return [
        line("fill-rate", "fill_rate_pct", "%", "Share of order lines shipped whole in their first shipment"),
        line("backlog", "backlog_value", ccy, f"Value of ordered goods not yet shipped at each {grain.lower()}'s end"),
        line("inventory-turns", "inventory_turns", "turns", "Cost of goods sold, annualised, over ending inventory"),
        line("margin", "margin_pct", "%", "Gross margin on invoices less credit notes"),
        Chart(
            id="exception-ageing",
            title=ANCHORS["exception-ageing"].title,
            description=f"Open exception cases at each {grain.lower()}'s end by how old they were, {span}.",
            categories=categories,
            series=[Series(band, [p.open_cases[band] for p in group_cases]) for band in BAND_LABELS],
            unit="cases",
            category_label=grain,
            kind="stacked",
            notes=(trends.basis["open_cases"],),
        ),
        line("approval-cycle", "median_cycle_hours", "hours", "Median hours from draft to an approver's decision"),
    ]


def findings_chart(findings: list[FindingsAge]) -> Chart:
    """Open cases now, by type, stacked by age."""
    kinds = sorted({f.type for f in findings})
    count = {(f.type, band): 0 for f in findings for band in BAND_LABELS}
    for f in findings:
        for band, n in f.by_band.items():
            count[(f.type, band)] += n
    return Chart(
        id="findings",
        title=ANCHORS["findings"].title,
        description="Open exception cases and findings now, by type, stacked by age.",
        categories=[kind.replace("_", " ") for kind in kinds],
        series=[Series(band, [count[(kind, band)] for kind in kinds]) for band in BAND_LABELS],
        unit="cases",
        category_label="Type",
        kind="bars" if not kinds else "stacked",
    )


def supplier_chart(scores: list[SupplierScore]) -> Chart:
    """On-time and fill rate per supplier as bars; drift and price variance in the table alongside."""
    return Chart(
        id="supplier-scorecards",
        title=ANCHORS["supplier-scorecards"].title,
        description="On-time delivery and fill rate of receipts per supplier; lead-time drift and price variance "
        "in the table.",
        categories=[s.supplier for s in scores],
        series=[
            Series("On time %", [s.on_time_pct for s in scores]),
            Series("Fill rate %", [s.fill_rate_pct for s in scores]),
        ],
        table_only=[
            Series("Lead-time drift (days)", [s.lead_time_drift_days for s in scores]),
            Series("Price variance %", [s.price_variance_pct for s in scores]),
        ],
        unit="%",
        category_label="Supplier",
        kind="bars",
    )


def forecast_chart(forecast: ItemForecast | None) -> Chart:
    """Units ordered each week against the forecast for the item."""
    weeks = list(forecast.weeks) if forecast else []
    where = f" at {forecast.warehouse}" if forecast and forecast.warehouse else ""
    item = f"{forecast.sku}{where}" if forecast else "the item"
    return Chart(
        id="forecast",
        title=f"{ANCHORS['forecast'].title}: {item}" if forecast else ANCHORS["forecast"].title,
        description=f"Units ordered each week against the forecast for {item}"
        + (f" ({forecast.method})." if forecast and forecast.method else "."),
        categories=[f"{w.week_start}" for w in weeks],
        series=[Series("Actual", [w.actual for w in weeks]), Series("Forecast", [w.forecast for w in weeks])],
        unit="units",
        category_label="Week",
    )
