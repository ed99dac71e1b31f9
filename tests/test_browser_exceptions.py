"""The exceptions board in Chromium: a finding's proposal opened as the exact preview and confirmed; several
accepted together, each judged by the policy on its own. Screenshots go to `test-artifacts/`."""

import pytest
from playwright.sync_api import Browser, Page, expect

from core.db import Database
from tests import web
from tests.planning_cases import LARGE_PO, SMALL_PO, raise_proposals
from tests.test_browser import ARTIFACTS, _page, browser, live_server  # noqa: F401 (fixtures)

pytestmark = pytest.mark.browser


def _sign_in(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/signin?next=/exceptions")
    page.fill("#username", username)
    page.fill("#password", web.password_for(username))
    page.click("#signin-submit")
    expect(page.locator("#cases")).to_be_visible()
    page.wait_for_url(f"{base}/exceptions")


def test_a_proposal_is_opened_as_its_preview_and_confirmed_on_the_board(
    live_server: str,  # noqa: F811
    browser: Browser,  # noqa: F811
    sqlite_demo: Database,
) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    cases = raise_proposals(sqlite_demo, {"repl:small": SMALL_PO})
    web.set_passwords(sqlite_demo, "bea")
    problems: list[str] = []
    page = _page(browser, problems)
    _sign_in(page, live_server, "bea")
    page.goto(f"{live_server}/exceptions?case={cases['repl:small']}")
    proposal = page.locator("#case-proposal")
    expect(proposal.locator(".proposal-summary")).to_have_text(SMALL_PO.summary)
    expect(proposal.locator("table.proposal-lines")).to_contain_text("V-200")
    expect(page.locator("#case-evidence")).to_contain_text("safety stock")
    page.click("#proposal-open")
    preview = page.locator("#proposal-preview .draft-preview")
    expect(preview).to_have_attribute("data-status", "unconfirmed")
    expect(preview.locator(".decision")).to_contain_text("If confirmed:")
    page.screenshot(path=str(ARTIFACTS / "exceptions-proposal-preview.png"), full_page=True)
    preview.locator("button.proposal-confirm").click()
    expect(page.locator("#proposal-preview .draft-preview")).to_have_attribute("data-status", "executed")
    assert problems == []


def test_selected_proposals_are_previewed_then_confirmed_one_by_one(
    live_server: str,  # noqa: F811
    browser: Browser,  # noqa: F811
    sqlite_demo: Database,
) -> None:
    cases = raise_proposals(sqlite_demo, {"repl:small": SMALL_PO, "repl:large": LARGE_PO})
    web.set_passwords(sqlite_demo, "bea")
    problems: list[str] = []
    page = _page(browser, problems)
    _sign_in(page, live_server, "bea")
    for number in cases.values():
        page.locator(f"input.proposal-select[data-case='{number}']").check()
    expect(page.locator("#bulk-accept")).to_have_text("Accept 2 selected proposals")
    expect(page.locator("#case-detail")).to_be_hidden()  # ticking a row selects it; it does not open the case
    page.click("#bulk-accept")
    expect(page.locator(".bulk-previews .draft-preview[data-status='unconfirmed']")).to_have_count(2)
    page.click("#bulk-confirm")
    results = page.locator("#bulk-results li")
    expect(results).to_have_count(2)
    statuses = sorted(results.nth(i).get_attribute("data-status") or "" for i in range(2))
    assert statuses == ["executed", "pending_approval"]
    page.screenshot(path=str(ARTIFACTS / "exceptions-bulk-proposals.png"), full_page=True)
    assert problems == []
