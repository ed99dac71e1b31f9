"""The dashboard in a real browser: Debian's Chromium driven by Playwright against a live server on 127.0.0.1.

NA's manager opens the dashboard, is sent to sign in and comes back to it; every chart is drawn with its table,
and the figures are the core's for her entities; a chart's anchor lands on it. A UK salesperson sees UK's figures
and nothing of NA's. Screenshots (and the page's load time) go to `test-artifacts/`.
"""

import re
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from assistant.channels.web.app import create_app
from assistant.channels.web.dashboard import CHART_IDS
from assistant.llm.scripted import Script
from core.db import Database
from core.exceptions import detect_exceptions
from core.masterdata.service import load_actor
from core.reporting.trends import KpiTrends, findings_by_age, kpi_trends
from tests import web
from tests.test_browser import ARTIFACTS, browser  # noqa: F401 (browser is a fixture)

pytestmark = pytest.mark.browser
PANELS_NOT_CONNECTED = ("forecast",)  # until an item is named


@pytest.fixture
def dashboard_server(sqlite_demo: Database, tmp_path: Path) -> Iterator[str]:
    """The real app over the demo company, served by uvicorn on a free loopback port."""
    web.set_passwords(sqlite_demo, "maria", "uma")
    app = create_app(web.services(sqlite_demo, Script([]), tmp_path, secure_cookies="never"))
    with web.served(app) as url:
        yield url


def _page(browser: Browser, problems: list[str]) -> Page:  # noqa: F811
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    # A refused Content-Security-Policy shows as a console error; the sign-in page's "who am I?" answering 401
    # before signing in (and a refused view's 422) are expected, and show as failed loads.
    page.on(
        "console",
        lambda msg: (
            problems.append(msg.text)
            if msg.type == "error" and not msg.text.startswith("Failed to load resource")
            else None
        ),
    )
    return page


def _sign_in_via_dashboard(page: Page, base: str, username: str) -> float:
    """Open the dashboard signed out, sign in, come back; the seconds the dashboard itself took to load."""
    page.goto(f"{base}/dashboard")
    expect(page).to_have_url(re.compile(r"/signin\?next="))
    page.fill("#username", username)
    page.fill("#password", web.password_for(username))
    page.click("#signin-submit")
    expect(page).to_have_url(re.compile(r"/dashboard$"))
    expect(page.locator("#fill-rate svg")).to_be_visible()
    started = time.monotonic()
    page.reload(wait_until="load")
    return time.monotonic() - started


def _trends(db: Database, username: str) -> KpiTrends:
    actor = db.read(lambda s: load_actor(s, username=username))
    return db.read(lambda s: kpi_trends(s, actor))


def _shown(value: Decimal | None) -> str:
    return "\u2013" if value is None else f"{value:,f}"


def test_a_manager_sees_her_entitys_charts_with_the_cores_figures(
    dashboard_server: str,
    browser: Browser,  # noqa: F811
    sqlite_demo: Database,
) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    sqlite_demo.run(lambda s: detect_exceptions(s))  # today's shortages, holds and late deliveries become cases
    problems: list[str] = []
    page = _page(browser, problems)
    seconds = _sign_in_via_dashboard(page, dashboard_server, "maria")
    (ARTIFACTS / "dashboard-load.txt").write_text(f"/dashboard as maria (NA), demo company: {seconds:.2f} s\n")

    expect(page.locator("section.chart-card")).to_have_count(len(CHART_IDS))
    expect(page.locator("section.chart-card svg[role='img']")).to_have_count(len(CHART_IDS) - len(PANELS_NOT_CONNECTED))
    for panel in PANELS_NOT_CONNECTED:
        expect(page.locator(f"#{panel} .not-available")).to_contain_text("Not available")
    expect(page.locator("#user-name")).to_contain_text("NA")

    trends = _trends(sqlite_demo, "maria")
    (na,) = trends.entities
    rows = page.locator("table[data-chart='backlog'] tbody tr")
    expect(rows).to_have_count(len(trends.periods))
    for index, point in ((0, na.points[0]), (len(na.points) - 1, na.points[-1])):
        expect(rows.nth(index).locator("th")).to_have_text(trends.periods[index].label)
        expect(rows.nth(index).locator("td")).to_have_text(_shown(point.backlog_value))
    last_fill = page.locator("table[data-chart='fill-rate'] tbody tr").last.locator("td")
    expect(last_fill).to_have_text(_shown(na.points[-1].fill_rate_pct))
    expect(page.locator("table[data-chart='backlog'] thead th")).to_have_text(["Week", "NA"])
    maria = sqlite_demo.read(lambda s: load_actor(s, username="maria"))
    findings = sqlite_demo.read(lambda s: findings_by_age(s, maria))
    assert findings and {f.entity for f in findings} == {"NA"}
    found = page.locator("table[data-chart='findings'] tbody tr")
    expect(found.locator("th")).to_have_text([f.type.replace("_", " ") for f in findings])
    first = [str(n) for n in findings[0].by_band.values()]
    expect(found.first.locator("td")).to_have_text(first)
    expect(page.locator("#findings svg rect[data-value]").first).to_be_visible()
    page.screenshot(path=ARTIFACTS / "dashboard.png", full_page=True)

    page.goto(f"{dashboard_server}/dashboard#approval-cycle")
    expect(page.locator("#approval-cycle")).to_be_in_viewport()
    page.locator(".chart-index a[href='#margin']").click()
    expect(page).to_have_url(re.compile(r"/dashboard#margin$"))
    expect(page.locator("#margin")).to_be_in_viewport()
    page.screenshot(path=ARTIFACTS / "dashboard-margin.png")
    assert problems == []


def test_a_user_of_one_entity_does_not_see_anothers(
    dashboard_server: str,
    browser: Browser,  # noqa: F811
    sqlite_demo: Database,
) -> None:
    problems: list[str] = []
    page = _page(browser, problems)
    _sign_in_via_dashboard(page, dashboard_server, "uma")
    expect(page.locator("table[data-chart='margin'] thead th")).to_have_text(["Week", "UK"])
    (uk,) = _trends(sqlite_demo, "uma").entities
    expect(page.locator("table[data-chart='margin'] tbody tr").last.locator("td")).to_have_text(
        _shown(uk.points[-1].margin_pct)
    )
    expect(page.locator("#f-entity option")).to_have_text(["All my entities", "UK"])
    expect(page.locator("main")).not_to_contain_text("NA")
    page.goto(f"{dashboard_server}/dashboard?entity=NA")
    expect(page.locator("#page-error")).to_contain_text("entity NA")
    expect(page.locator("svg")).to_have_count(0)
    page.screenshot(path=ARTIFACTS / "dashboard-out-of-scope.png")
    assert problems == []
