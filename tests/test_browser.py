"""The product in a real browser: Debian's Chromium driven by Playwright against a live server on 127.0.0.1.

A staff user asks a stock question in the widget on the demo intranet page and opens the record link,
asks for a transfer, sees its preview (nothing changed yet) and confirms it on the card; it needs approval;
a manager signs in to the inbox and approves it; the staff user's widget then shows it executed, with
today's stock. Screenshots go to `test-artifacts/`.
"""

import json
import os
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from assistant.channels.web.app import create_app
from assistant.llm.scripted import Call, Reply, Script
from core.db import Database
from core.drafts.service import RequestContext, cancel
from core.exceptions.models import ExceptionType
from core.masterdata.service import load_actor
from evals.common.chromium import CHROMIUM, CHROMIUM_FLAGS
from evals.common.plant import PlantedFinding, PlantedProposal, plant_findings
from tests import web
from tests.web import TRANSFER_OVER_LIMIT

pytestmark = pytest.mark.browser
ARTIFACTS = Path(os.environ.get("ERP_TEST_ARTIFACTS", Path(__file__).resolve().parents[1] / "test-artifacts"))
Messages = list[dict[str, Any]]


class Colleague(Script):
    """A scripted model that answers like a good one would, from the question and the tool results."""

    def __init__(self) -> None:
        super().__init__([])

    def next(self, messages: Messages, tool_choice: str | None = None) -> Reply:
        self.seen.append(messages)
        last = messages[-1]
        if last["role"] == "tool":
            return self._answer(json.loads(last["content"]))
        question = str(last["content"]).lower()
        if "transfer" in question:
            return Reply(calls=(Call("draft_transfer", TRANSFER_OVER_LIMIT),))
        if "fill rate" in question:
            return Reply(calls=(Call("get_kpis", {}),))
        return Reply(calls=(Call("check_availability", {"sku": "V-200", "warehouse": "ATL"}),))

    @staticmethod
    def _answer(result: dict[str, Any]) -> Reply:
        if "entities" in result:
            na = result["entities"][0]
            return Reply(text=f"Fill rate in {na['entity']}: {na['fill_rate_pct']}%.")
        if "draft" in result:
            return Reply(
                text=f"I drafted {result['draft']}: {result['summary']}. Nothing has changed yet. "
                f"{result['decision']} Confirm it on the card to submit it."
            )
        rows = "\n".join(f"| {w['warehouse']} | {w['available_now']} |" for w in result["warehouses"])
        atl = next(w for w in result["warehouses"] if w["warehouse"] == "ATL")
        return Reply(
            text=f"**{result['sku']}**: {atl['available_now']} can be promised from ATL today.\n\n"
            f"| Warehouse | Available |\n|---|---:|\n{rows}"
        )


@pytest.fixture
def live_server(sqlite_demo: Database, tmp_path: Path) -> Iterator[str]:
    """The real app (demo company, scripted model) served by uvicorn on a free loopback port."""
    web.set_passwords(sqlite_demo, "sam", "maria")
    app = create_app(web.services(sqlite_demo, Colleague(), tmp_path, secure_cookies="never"))
    with web.served(app) as url:
        yield url


@pytest.fixture
def browser() -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), "Debian's chromium is missing: run scripts/ensure-chromium (make setup does)"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


def _page(browser: Browser, problems: list[str]) -> Page:
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    return page


def _sign_in_to_widget(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/demo")
    page.locator("#erp-bubble").focus()
    page.keyboard.press("Enter")  # keyboard-operable: the bubble opens the panel
    expect(page.locator("#erp-panel")).to_be_visible()
    page.fill("#erp-username", username)
    page.fill("#erp-password", web.password_for(username))
    page.keyboard.press("Enter")
    expect(page.locator("#erp-input")).to_be_focused()


def _ask(page: Page, text: str) -> None:
    page.fill("#erp-input", text)
    page.keyboard.press("Enter")
    expect(page.locator("#erp-send")).to_be_enabled(timeout=20_000)


def _available_after(diff: str, place: str) -> int:
    found = re.search(rf"{re.escape(place)}: .*available \d[\d,]* → (\d[\d,]*)", diff)
    assert found, diff
    return int(found.group(1).replace(",", ""))


def test_a_stock_question_then_a_transfer_approved_in_the_inbox(live_server: str, browser: Browser) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    staff = _page(browser, problems)
    _sign_in_to_widget(staff, live_server, "sam")
    expect(staff.locator("#erp-who")).to_contain_text("Sam Carter")

    _ask(staff, "how many V-200 can we promise in Atlanta?")
    answer = staff.locator(".msg.assistant").last
    expect(answer).to_contain_text("12 can be promised from ATL today")
    expect(answer.locator("table tr")).to_have_count(2)  # the header and ATL
    expect(staff.locator(".tool-chip").first).to_contain_text("check_availability")
    staff.screenshot(path=ARTIFACTS / "widget-answer.png")
    answer.locator(".record-link[data-ref='V-200']").first.click()
    expect(staff.locator("#erp-record")).to_contain_text("Brass ball valve")
    staff.keyboard.press("Escape")
    expect(staff.locator("#erp-messages")).to_be_visible()

    _ask(staff, "draft a transfer of 3 P-200 and 5 P-180 from DAL to ATL")
    card = staff.locator(".draft-card").last
    expect(card).to_have_attribute("data-status", "unconfirmed")
    expect(card.locator(".preview-note")).to_contain_text("Nothing has changed yet")
    expect(card.locator(".preview-note")).to_contain_text("If confirmed: Needs approval by a manager (NA)")
    expect(card.locator("button.confirm")).to_be_visible()
    expect(card.locator("button.cancel")).to_have_text("Cancel")
    number = card.get_attribute("data-draft")
    assert number and number.startswith("DR-")
    dal_after = _available_after(card.inner_text(), "P-200 @ DAL")
    staff.screenshot(path=ARTIFACTS / "widget-draft-preview.png")
    card.locator("button.confirm").click()  # sam confirms the preview: only now does the policy decide
    expect(card).to_have_attribute("data-status", "pending_approval")
    expect(card).to_contain_text("Waiting for approval by manager of NA")
    expect(card.locator("button.confirm")).to_have_count(0)
    expect(card.locator("button.cancel")).to_have_text("Withdraw")
    staff.screenshot(path=ARTIFACTS / "widget-draft-waiting.png")

    staff.reload()  # the conversation survives a reload, card included
    expect(staff.locator(".msg.user")).to_have_count(2)
    expect(staff.locator(f".draft-card[data-draft='{number}']")).to_have_attribute("data-status", "pending_approval")

    manager = _page(browser, problems)
    manager.goto(f"{live_server}/inbox")
    expect(manager).to_have_url(re.compile(r"/signin\?next="))
    manager.fill("#username", "maria")
    manager.fill("#password", web.password_for("maria"))
    manager.click("#signin-submit")
    expect(manager).to_have_url(re.compile(r"/inbox$"))
    waiting = manager.locator(f"article.approval-card[data-draft='{number}']")
    expect(waiting).to_contain_text("transfer.value")
    expect(manager.locator("#inbox-count")).to_have_text("1")
    manager.screenshot(path=ARTIFACTS / "inbox.png", full_page=True)
    waiting.locator(".comment").fill("fine, ATL runs low before the promo")
    waiting.locator(".approve").click()
    expect(waiting.locator(".outcome")).to_contain_text("executed")
    expect(manager.locator("#inbox-count")).to_have_text("0")

    executed = staff.locator(f".draft-card[data-draft='{number}']")
    expect(executed).to_have_attribute("data-status", "executed", timeout=15_000)
    expect(executed).to_contain_text("Executed as TR-")
    expect(executed.locator(".current")).to_contain_text("P-200 @ DAL")
    expect(executed.locator(".current")).to_contain_text(f"available now {dal_after:,}")
    staff.screenshot(path=ARTIFACTS / "widget-draft-executed.png")
    assert problems == []


def test_an_answer_links_the_dashboard_chart_that_draws_its_figures(live_server: str, browser: Browser) -> None:
    problems: list[str] = []
    page = _page(browser, problems)
    _sign_in_to_widget(page, live_server, "maria")
    _ask(page, "how is our fill rate this quarter?")
    answer = page.locator(".msg.assistant").last
    expect(answer).to_contain_text("Fill rate in NA")
    link = answer.locator("a.chart-link", has_text="Fill rate")
    expect(link).to_have_attribute("href", "/dashboard#fill-rate")
    expect(answer.locator("a.chart-link")).to_have_count(4)  # fill rate, backlog, turns, margin: what get_kpis drew
    with page.context.expect_page() as opened:
        link.click()
    chart = opened.value
    expect(chart.locator("section#fill-rate svg[role='img']")).to_be_visible()
    assert problems == []


def test_a_refused_confirmation_shows_why_on_the_card(
    live_server: str, browser: Browser, sqlite_demo: Database
) -> None:
    problems: list[str] = []
    staff = _page(browser, problems)
    _sign_in_to_widget(staff, live_server, "sam")
    _ask(staff, "draft a transfer of 3 P-200 and 5 P-180 from DAL to ATL")
    card = staff.locator(".draft-card").last
    expect(card.locator("button.confirm")).to_be_visible()
    number = card.get_attribute("data-draft") or ""
    sam = sqlite_demo.read(lambda s: load_actor(s, username="sam"))
    sqlite_demo.run(lambda s: cancel(s, RequestContext(sam, "web"), draft_number=number))  # say, in another tab
    card.locator("button.confirm").click()
    expect(card.locator(".card-error")).to_contain_text("only an unconfirmed draft can be confirmed")
    expect(card).to_have_attribute("data-status", "cancelled")
    expect(card.locator("button.confirm")).to_have_count(0)
    assert problems == []


def test_the_widget_opens_on_the_users_briefing(live_server: str, browser: Browser, sqlite_demo: Database) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    stock_out = PlantedFinding(
        type=ExceptionType.REPLENISHMENT,
        entity="NA",
        key="replenishment:V-200:ATL",
        title="V-200 will stock out at ATL on 2026-11-24",
        detail="Move 60 from DAL.",
        evidence={"sku": "V-200", "warehouse": "ATL"},
        impact=Decimal("1320.00"),
        proposal=PlantedProposal(
            kind="transfer",
            payload={"from_warehouse": "DAL", "to_warehouse": "ATL", "lines": [{"sku": "V-200", "quantity": 60}]},
            summary="Transfer 60 V-200 from DAL to ATL",
        ),
    )
    case = sqlite_demo.run(lambda s: plant_findings(s, [stock_out])[0].number)
    problems: list[str] = []
    manager = _page(browser, problems)
    _sign_in_to_widget(manager, live_server, "maria")
    card = manager.locator("#erp-briefing")
    expect(card).to_be_visible()
    expect(card).to_contain_text("1 reorder proposal (1 proposed draft ready)")
    link = card.locator(f"a:text-is('{case}')")
    expect(link).to_have_attribute("href", f"{live_server}/exceptions?case={case}")
    manager.screenshot(path=ARTIFACTS / "widget-briefing.png")
    card.get_by_role("button", name="Hide the briefing").click()
    expect(card).to_be_hidden()
    expect(manager.locator("#erp-input")).to_be_visible()
    assert problems == []
