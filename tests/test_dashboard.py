"""The dashboard: SVG charts drawn to scale and well-formed, their tables, chart links for the assistant, and the
page and API over the demo company (signed in, scoped to the user's entities, panels not yet connected)."""

import re
import xml.etree.ElementTree as ET
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from assistant.channels.web.charts import Chart, Series, bar_chart, data_table, line_chart, nice_range
from assistant.channels.web.dashboard import (
    CHART_IDS,
    ForecastWeek,
    ItemForecast,
    Panels,
    SupplierScore,
    chart_order,
)
from core.actor import Actor, Role
from core.db import Database
from core.masterdata.service import load_actor
from core.planning.demand import item_forecast
from core.planning.risks import supplier_report
from core.reporting.trends import kpi_trends
from tests import web
from tools.chart_links import ANCHORS, chart_for

SVG = "{http://www.w3.org/2000/svg}"


def _parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # raises on anything that is not well-formed XML


# --- Charts --------------------------------------------------------------------------------------------------


def test_a_line_chart_puts_each_point_where_its_value_falls_on_the_axis() -> None:
    chart = Chart("fill-rate", "Fill rate", "Lines shipped whole.", ["a", "b", "c"], [Series("NA", [0, 50, 100])], "%")
    root = _parse(line_chart(chart))
    assert (root.get("role"), root.get("aria-label")) == ("img", "Fill rate: Lines shipped whole.")
    assert root.findtext(f"{SVG}title") == "Fill rate" and root.findtext(f"{SVG}desc") == "Lines shipped whole."
    # The plot is 560 x 200 from (64, 16); 0..100 maps to y 216..16; three categories at the middle of thirds.
    dots = [(c.get("cx"), c.get("cy"), c.get("data-value")) for c in root.iter(f"{SVG}circle")]
    assert dots == [("157.3", "216.0", "0"), ("344.0", "116.0", "50"), ("530.7", "16.0", "100")]
    assert root.find(f"{SVG}path").get("d") == "M157.3 216.0 L344.0 116.0 L530.7 16.0"  # type: ignore[union-attr]


def test_a_missing_value_breaks_the_line_instead_of_joining_across_it() -> None:
    chart = Chart("margin", "Margin", "Margin.", ["a", "b", "c"], [Series("NA", [10, None, Decimal("30.5")])])
    path = _parse(line_chart(chart)).find(f"{SVG}path")
    assert path is not None and path.get("d", "").count("M") == 2 and "L" not in path.get("d", "")


def test_stacked_bars_stack_and_grouped_bars_sit_side_by_side() -> None:
    chart = Chart("cases", "Cases", "Open cases.", ["x"], [Series("young", [2]), Series("old", [3])], kind="stacked")
    rects = [r for r in _parse(bar_chart(chart, stacked=True)).iter(f"{SVG}rect") if r.get("data-value")]
    # 0..6 on the axis (a round step of 2): 2 is 66.7 high from the bottom (216), 3 sits on top of it.
    assert [(r.get("y"), r.get("height")) for r in rects] == [("149.3", "66.7"), ("49.3", "100.0")]
    grouped = [r for r in _parse(bar_chart(chart)).iter(f"{SVG}rect") if r.get("data-value")]
    assert grouped[0].get("x") != grouped[1].get("x") and grouped[1].get("y") == "16.0"  # 0..3, 3 at the top


def test_a_chart_without_figures_says_no_data() -> None:
    for chart in (
        Chart("forecast", "Forecast", "Units.", [], [Series("Actual", [])]),
        Chart("backlog", "Backlog", "Value.", ["a"], [Series("NA", [None])]),
    ):
        root = _parse(line_chart(chart))
        assert [t.text for t in root.iter(f"{SVG}text")] == ["No data"]
        assert "No data" in (root.findtext(f"{SVG}desc") or "")
        assert not list(root.iter(f"{SVG}circle"))


def test_the_table_holds_the_same_figures_escaped_with_a_dash_where_there_is_none() -> None:
    chart = Chart(
        "s",
        "Suppliers <b>",
        "d",
        ["<ACME>"],
        [Series("On time %", [Decimal("97.5")])],
        "%",
        "Supplier",
        table_only=[Series("Drift", [None])],
    )
    table = data_table(chart)
    ET.fromstring(table)
    assert "<caption>Suppliers &lt;b&gt; (%)</caption>" in table
    assert '<th scope="row">&lt;ACME&gt;</th><td class="num">97.5</td><td class="num">\u2013</td>' in table


def test_axis_ranges_are_round_and_include_zero_and_negatives() -> None:
    assert nice_range([0, 100]) == (0, 100, 25)
    assert nice_range([3.2]) == (0, 4, 1)
    assert nice_range([-12, 40]) == (-20, 40, 20)
    zeros = Chart("cases", "Cases", "None open.", ["a"], [Series("young", [0])], kind="stacked")
    ticks = [t.text for t in _parse(bar_chart(zeros, stacked=True)).iter(f"{SVG}text")][:5]
    assert ticks == ["0", "0.25", "0.5", "0.75", "1"]  # zero cases is a figure, not "no data"


# --- Links for the assistant -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "anchor"),
    [
        ("what was our fill rate last month?", "fill-rate"),
        ("How late is Valve Co against its lead time?", "supplier-scorecards"),
        ("how long do approvals take", "approval-cycle"),
        ("which cases are past their SLA", "exception-ageing"),
        ("show the backlog in the UK", "backlog"),
        ("are margins slipping", "margin"),
        ("forecast for V-200", "forecast"),
    ],
)
def test_a_question_links_to_the_chart_that_answers_it(question: str, anchor: str) -> None:
    found = chart_for(question)
    assert found is not None and found.url == f"/dashboard#{anchor}"


def test_no_chart_for_an_unrelated_question_and_every_link_lands_on_a_chart() -> None:
    assert chart_for("what is the weather in Dallas") is None
    assert chart_for("a showcase of our products") is None  # "case" only at the start of a word
    assert set(ANCHORS) == set(CHART_IDS)


def test_a_role_sees_its_charts_first() -> None:
    assert chart_order(frozenset({Role.BUYER}))[:2] == ["supplier-scorecards", "forecast"]
    assert chart_order(frozenset({Role.ADMIN})) == list(CHART_IDS)
    assert sorted(chart_order(frozenset({Role.SALES, Role.FINANCE}))) == sorted(CHART_IDS)


# --- The page and the API on the demo company --------------------------------------------------------------


def _actor(db: Database, username: str) -> Actor:
    return db.read(lambda s: load_actor(s, username=username))


def test_the_page_sends_someone_not_signed_in_to_sign_in_and_back(client: TestClient) -> None:
    response = client.get("/dashboard?grain=month", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/signin?next=%2Fdashboard%3Fgrain%3Dmonth"
    assert client.get("/api/dashboard").status_code == 401


def test_the_page_draws_every_chart_with_its_table_for_the_users_entities(client: TestClient, demo: Database) -> None:
    web.sign_in(client, "maria")  # NA's manager
    response = client.get("/dashboard")
    assert response.status_code == 200 and response.headers["content-security-policy"]
    html = response.text
    sections = re.findall(r'<section class="chart-card" id="([a-z-]+)"', html)
    assert sections[:2] == ["approval-cycle", "findings"]  # a manager's charts first
    assert sorted(sections) == sorted(CHART_IDS)
    assert html.count('role="img"') == 8  # the forecast waits for an item: no chart, a sentence
    assert html.count('data-state="not-available"') == 1 and "until you name an item" in html
    for svg in re.findall(r"<svg.*?</svg>", html, flags=re.S):
        _parse(svg)
    fill = re.search(r'<table class="chart-data" data-chart="fill-rate">.*?</table>', html, flags=re.S)
    assert fill is not None and '<th scope="col" class="num">NA</th>' in fill.group(0)
    assert ">UK<" not in html and ">SEA<" not in html and ">Group<" not in html
    trends = demo.read(lambda s: kpi_trends(s, _actor(demo, "maria")))
    last = trends.entities[0].points[-1]
    shown = "\u2013" if last.fill_rate_pct is None else f"{last.fill_rate_pct}"
    row = f'<tr><th scope="row">{trends.periods[-1].label}</th><td class="num">{shown}</td>'
    assert row in fill.group(0)


def test_the_api_gives_each_charts_figures_as_the_core_computes_them(client: TestClient, demo: Database) -> None:
    web.sign_in(client, "grace")
    refused = client.get("/api/dashboard/backlog", params={"grain": "month", "currency": "EUR"})
    assert refused.status_code == 422 and "EUR" in refused.json()["message"]  # the demo keeps no euro rate
    body = client.get("/api/dashboard/backlog", params={"grain": "month", "currency": "GBP"})
    data = body.json()
    grace = _actor(demo, "grace")
    trends = demo.read(lambda s: kpi_trends(s, grace, granularity="month", currency="GBP"))
    expected = [*trends.entities, trends.group] if len(trends.entities) > 1 else trends.entities
    assert data["id"] == "backlog" and data["url"] == "/dashboard#backlog" and data["unit"] == trends.currency
    assert [s["name"] for s in data["series"]] == [s.entity if s.entity != "group" else "Group" for s in expected]
    for got, series in zip(data["series"], expected, strict=True):
        assert [Decimal(v) for v in got["values"]] == [p.backlog_value for p in series.points]
    assert data["categories"] == [p.label for p in trends.periods]
    whole = client.get("/api/dashboard").json()
    assert {c["id"] for c in whole["charts"]} == set(CHART_IDS)
    assert next(c for c in whole["charts"] if c["id"] == "forecast")["available"] is False


def test_another_entity_is_refused_on_the_api_and_said_on_the_page(client: TestClient) -> None:
    web.sign_in(client, "sam")  # NA only
    assert client.get("/api/dashboard/margin", params={"entity": "UK"}).status_code == 403
    page = client.get("/dashboard", params={"entity": "UK"})
    assert page.status_code == 422 and "entity UK" in page.text and "<svg" not in page.text
    assert client.get("/api/dashboard/nonsense").status_code == 422


def _scores(session: Session, actor: Actor, *, entity: str | None) -> list[SupplierScore]:
    return [SupplierScore("VALVECO", Decimal("92.5"), Decimal("98.0"), Decimal("1.5"), Decimal("-0.4"))]


def _forecast(session: Session, actor: Actor, *, sku: str | None, entity: str | None) -> ItemForecast:
    weeks = [
        ForecastWeek(date(2026, 11, 2), Decimal(40), Decimal(35)),
        ForecastWeek(date(2026, 11, 9), None, Decimal(36)),
    ]
    return ItemForecast(sku or "V-200", "DAL", weeks, "level")


def test_connected_panels_show_their_rows_and_series(client: TestClient) -> None:
    client.app.state.dashboard_panels = Panels(supplier_scores=_scores, forecast=_forecast)  # type: ignore[attr-defined]
    web.sign_in(client, "sam")
    html = client.get("/dashboard", params={"sku": "P-200"}).text
    assert 'data-state="not-available"' not in html
    assert '<th scope="row">VALVECO</th><td class="num">92.5</td><td class="num">98.0</td>' in html
    assert "Forecast against actual: P-200 at DAL" in html
    forecast: dict[str, Any] = client.get("/api/dashboard/forecast", params={"sku": "P-200"}).json()
    assert [s["values"] for s in forecast["series"]] == [["40", None], ["35", "36"]]
    scores = client.get("/api/dashboard/supplier-scorecards").json()
    assert [(s["name"], s["plotted"]) for s in scores["series"]] == [
        ("On time %", True),
        ("Fill rate %", True),
        ("Lead-time drift (days)", False),
        ("Price variance %", False),
    ]


def test_the_shipped_panels_chart_the_supplier_scorecards_and_an_items_forecast_from_the_planning_analyses(
    client: TestClient, demo: Database
) -> None:
    web.sign_in(client, "maria")
    maria = _actor(demo, "maria")
    cards = demo.read(lambda s: supplier_report(s, maria).scorecards)
    scores = client.get("/api/dashboard/supplier-scorecards").json()
    assert scores["categories"] == [card.supplier for card in cards] and cards
    on_time = next(s for s in scores["series"] if s["name"] == "On time %")["values"]
    assert on_time == [None if c.on_time_rate is None else str(round(c.on_time_rate * 100, 1)) for c in cards]
    made = demo.read(lambda s: item_forecast(s, maria, sku="V-200"))
    chart = client.get("/api/dashboard/forecast", params={"sku": "V-200"}).json()
    assert chart["available"] is not False and f"V-200 at {made.warehouse}" in chart["title"]
    actual = next(s for s in chart["series"] if s["name"].lower().startswith("actual"))["values"]
    assert [int(v) for v in actual if v is not None] == made.history  # the weeks ordered, then the weeks to come
    assert len(actual) == len(made.history) + len(made.forecast_week_starts)


def test_the_other_pages_link_to_the_dashboard(client: TestClient) -> None:
    for path in ("/inbox", "/exceptions", "/demo"):
        assert 'href="/dashboard"' in client.get(path).text


def test_the_tools_name_the_charts_that_draw_their_figures() -> None:
    from tools.chart_links import case_charts, title_of, view_charts

    assert view_charts("kpis") == [
        "/dashboard#fill-rate",
        "/dashboard#backlog",
        "/dashboard#inventory-turns",
        "/dashboard#margin",
    ]
    assert view_charts("intercompany") == [] and title_of("/dashboard#margin") == "Margin"
    assert case_charts("supplier_risk", {}) == ["/dashboard#supplier-scorecards"]
    assert case_charts("demand_anomaly", {"sku": "V-200"}) == ["/dashboard?sku=V-200#forecast"]
    assert case_charts("demand_anomaly", {"sku": "V 200<script>"}) == []  # only a plain SKU goes into a link
    assert case_charts("replenishment", {"sku": "V-200"}) == []
