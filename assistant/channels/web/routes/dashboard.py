"""The dashboard: the page (/dashboard) and the figures behind each of its charts (/api/dashboard/...).

The page and the API build their charts with the same function, so a program reads what a person sees.
"""

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel

from assistant.channels.web import schemas
from assistant.channels.web.auth import CurrentUser, ServicesDep, signed_in
from assistant.channels.web.charts import Chart, Number
from assistant.channels.web.dashboard import PANELS, Dashboard, DashboardQuery, Panels, dashboard_charts
from assistant.channels.web.dashboard_page import page, sign_in_path
from assistant.channels.web.errors import HttpError, documented
from core.errors import ErpError
from core.identity import NotSignedIn, SignedIn
from core.reporting.service import entities_in_scope
from tools.chart_links import DASHBOARD_PATH

router = APIRouter(tags=["dashboard"])
ERRORS = documented(401, 403, 404, 422)
Grain = Literal["week", "month"]
ChartId = Literal[
    "fill-rate",
    "backlog",
    "inventory-turns",
    "margin",
    "exception-ageing",
    "approval-cycle",
    "findings",
    "supplier-scorecards",
    "forecast",
]
EntityCode = Annotated[str | None, Query(max_length=16)]
Currency = Annotated[str | None, Query(min_length=3, max_length=3, description="reporting currency (default USD)")]
Sku = Annotated[str | None, Query(max_length=40, description="the item of the forecast panel")]


class SeriesData(BaseModel):
    name: str
    values: list[Decimal | None]
    plotted: bool  # drawn on the chart; false: a column of its table only


class ChartData(BaseModel):
    id: ChartId
    url: str  # the chart on the page
    title: str
    description: str
    kind: Literal["line", "bars", "stacked"]
    unit: str
    category_label: str
    categories: list[str]
    series: list[SeriesData]
    available: bool  # false: the analysis behind the panel is not connected
    notes: list[str]


class DashboardData(BaseModel):
    currency: str
    granularity: Grain
    period_start: date
    period_end: date
    entities: list[str]
    charts: list[ChartData]
    basis: dict[str, str]


def _panels(request: Request) -> Panels:
    found: Panels = getattr(request.app.state, "dashboard_panels", PANELS)
    return found


def _chart_data(dashboard: Dashboard, chart: Chart) -> ChartData:
    return ChartData.model_validate(
        {
            "id": chart.id,
            "url": f"{DASHBOARD_PATH}#{chart.id}",
            "title": chart.title,
            "description": chart.description,
            "kind": chart.kind,
            "unit": chart.unit,
            "category_label": chart.category_label,
            "categories": list(chart.categories),
            "series": [
                *(SeriesData(name=s.name, values=_decimals(s.values), plotted=True) for s in chart.series),
                *(SeriesData(name=s.name, values=_decimals(s.values), plotted=False) for s in chart.table_only),
            ],
            "available": dashboard.available.get(chart.id, True),
            "notes": [n for n in chart.notes if n],
        }
    )


def _decimals(values: Sequence[Number | None]) -> list[Decimal | None]:
    return [None if v is None else Decimal(str(v)) for v in values]


def _query(
    since: date | None, until: date | None, grain: str, entity: str | None, currency: str | None, sku: str | None
) -> DashboardQuery:
    return DashboardQuery(since, until, grain, entity or None, currency or None, sku or None)


def api_query(
    since: schemas.QueryDay = None,
    until: schemas.QueryDay = None,
    grain: Grain = "week",
    entity: EntityCode = None,
    currency: Currency = None,
    sku: Sku = None,
) -> DashboardQuery:
    """The view the API is asked for: its period, buckets, entity, currency and the item whose forecast to draw."""
    return _query(since, until, grain, entity, currency, sku)


ApiQuery = Annotated[DashboardQuery, Depends(api_query)]


@router.get("/api/dashboard", response_model=DashboardData, responses=ERRORS)
def dashboard_data(request: Request, user: CurrentUser, svc: ServicesDep, query: ApiQuery) -> DashboardData:
    """Every chart of the dashboard, for your entities: KPI trends per entity and for the group (money in one
    currency), findings by type and age, supplier scorecards and forecast against actual (when connected)."""
    panels = _panels(request)
    board = svc.db.read(lambda s: dashboard_charts(s, user.actor, query, panels))
    trends = board.trends
    return DashboardData(
        currency=trends.currency,
        granularity=trends.granularity.value,
        period_start=trends.period_start,
        period_end=trends.period_end,
        entities=[s.entity for s in trends.entities],
        charts=[_chart_data(board, c) for c in board.charts],
        basis=trends.basis,
    )


@router.get("/api/dashboard/{chart}", response_model=ChartData, responses=ERRORS)
def chart_data(request: Request, chart: ChartId, user: CurrentUser, svc: ServicesDep, query: ApiQuery) -> ChartData:
    """The figures behind one chart of the dashboard (the same the page draws), by its anchor."""
    panels = _panels(request)
    board = svc.db.read(lambda s: dashboard_charts(s, user.actor, query, panels, only=chart))
    return _chart_data(board, board.charts[0])


@router.get(DASHBOARD_PATH, include_in_schema=False, response_model=None)
def dashboard_page(
    request: Request,
    svc: ServicesDep,
    since: schemas.QueryDay = None,
    until: schemas.QueryDay = None,
    grain: Grain = "week",
    entity: EntityCode = None,
    currency: Annotated[str | None, Query(max_length=3)] = None,
    sku: Sku = None,
) -> Response:
    """The dashboard page, drawn on the server; not signed in: the sign-in page, coming back here."""
    try:
        user = signed_in(request, svc)
    except (NotSignedIn, HttpError):
        return RedirectResponse(sign_in_path(request.url.path, dict(request.query_params)), status_code=303)
    query = _query(since, until, grain, entity, currency, sku)
    panels = _panels(request)
    codes = svc.db.read(lambda s: [e.code for e in entities_in_scope(s, user.actor, None)])
    try:
        board = svc.db.read(lambda s: dashboard_charts(s, user.actor, query, panels))
    except ErpError as refused:
        html = page(display_name=user.display_name, entities=codes, query=query, dashboard=None, error=str(refused))
        return HTMLResponse(html, status_code=422, headers={"Cache-Control": "no-store"})
    html = _page(user, codes, query, board)
    return HTMLResponse(html, headers={"Cache-Control": "no-store"})


def _page(user: SignedIn, codes: list[str], query: DashboardQuery, board: Dashboard) -> str:
    return page(display_name=user.display_name, entities=codes, query=query, dashboard=board)
