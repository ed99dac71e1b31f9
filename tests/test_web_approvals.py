"""The approvals inbox, the exceptions board and record look-ups over the web API, with the core's rules."""

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from assistant.llm.scripted import Call, Reply, Script
from core.db import Database
from core.drafts.service import RequestContext, draft_action
from core.exceptions import detect_exceptions
from core.masterdata.service import load_actor
from tests import web
from tests.web import TRANSFER_OVER_LIMIT

DISCOUNTED_ORDER = {"customer": "ACME", "lines": [{"sku": "V-200", "quantity": 5, "discount_pct": "20"}]}


@pytest.fixture
def demo(demo: Database) -> Database:
    """conftest's demo, where wes (warehouse, NA) signs in too and the demo's shortages and credit holds are cases."""
    web.set_passwords(demo, "wes")
    demo.run(detect_exceptions)
    return demo


def _draft(db: Database, username: str, kind: str, payload: dict[str, Any]) -> str:
    actor = db.read(lambda s: load_actor(s, username=username))
    return db.run(
        lambda s: draft_action(s, RequestContext(actor, "web"), confirmed=True, kind=kind, payload=payload)
    ).number


def _as(c: TestClient, username: str) -> dict[str, str]:
    c.cookies.clear()
    return web.sign_in(c, username)


def test_the_manager_sees_the_draft_with_its_diff_reasons_and_todays_stock(client: TestClient, demo: Database) -> None:
    number = _draft(demo, "sam", "transfer", TRANSFER_OVER_LIMIT)
    _as(client, "maria")
    inbox = client.get("/api/approvals").json()
    assert inbox["total"] == 1 and client.get("/api/approvals/count").json() == {"count": 1}
    card = inbox["drafts"][0]
    assert (card["number"], card["status"], card["low_risk"]) == (number, "pending_approval", False)
    assert any("P-200 @ DAL" in line for line in card["diff"]) and card["reasons"][0]["rule"] == "transfer.value"
    detail = client.get(f"/api/drafts/{number}").json()
    assert detail["can_decide"] is True and detail["approvals"] == []
    assert {f["label"] for f in detail["current"]} >= {"P-200 @ DAL", "P-200 @ ATL", "P-180 @ DAL"}


def test_filters_narrow_the_inbox(client: TestClient, demo: Database) -> None:
    _draft(demo, "sam", "transfer", TRANSFER_OVER_LIMIT)
    _draft(demo, "sam", "sales_order", DISCOUNTED_ORDER)
    _as(client, "maria")
    assert client.get("/api/approvals").json()["total"] == 2
    assert [d["kind"] for d in client.get("/api/approvals?kind=sales_order").json()["drafts"]] == ["sales_order"]
    assert [d["kind"] for d in client.get("/api/approvals?min_value=1000").json()["drafts"]] == ["transfer"]
    assert client.get("/api/approvals?max_value=100").json()["drafts"][0]["low_risk"] is True
    assert client.get("/api/approvals?min_age_hours=1").json()["total"] == 0
    assert client.get("/api/approvals?min_value=-5").status_code == 422


def test_approving_executes_the_transfer_and_a_second_decision_is_refused(client: TestClient, demo: Database) -> None:
    number = _draft(demo, "sam", "transfer", TRANSFER_OVER_LIMIT)
    headers = _as(client, "maria")
    approved = client.post(f"/api/drafts/{number}/approve", json={"comment": "ok for the promo"}, headers=headers)
    assert approved.status_code == 200
    body = approved.json()
    assert body["status"] == "executed" and body["result_ref"].startswith("TR-")
    assert body["approvals"][0]["approver"] == "Maria Lopez" and body["can_decide"] is False
    again = client.post(f"/api/drafts/{number}/approve", json={}, headers=headers)
    assert again.status_code == 409 and again.json()["code"] == "invalid_state"
    assert client.get("/api/approvals/history").json()["drafts"][0]["number"] == number
    _as(client, "sam")  # the requester sees it executed
    assert client.get(f"/api/drafts/{number}").json()["status"] == "executed"


def test_the_requester_cannot_approve_their_own_draft(client: TestClient, demo: Database) -> None:
    number = _draft(demo, "maria", "sales_order", DISCOUNTED_ORDER)
    headers = _as(client, "maria")
    own = client.post(f"/api/drafts/{number}/approve", json={}, headers=headers)
    assert own.status_code == 403 and own.json()["code"] == "permission_denied"
    assert client.get("/api/approvals").json()["total"] == 0
    assert client.get(f"/api/drafts/{number}").json()["can_decide"] is False


def test_a_user_without_the_role_or_the_entity_is_refused(client: TestClient, demo: Database) -> None:
    number = _draft(demo, "sam", "sales_order", DISCOUNTED_ORDER)
    wes = _as(client, "wes")  # warehouse role in NA: can see the draft, cannot approve it
    refused = client.post(f"/api/drafts/{number}/approve", json={}, headers=wes)
    assert refused.status_code == 403 and "manager" in refused.json()["message"]
    uma = _as(client, "uma")  # UK only: the NA draft is not hers to see
    assert client.get(f"/api/drafts/{number}").status_code == 403
    foreign = client.post(f"/api/drafts/{number}/approve", json={}, headers=uma)
    assert foreign.status_code == 403 and foreign.json()["code"] == "out_of_scope"
    assert client.get("/api/approvals").json()["total"] == 0


def test_unknown_and_malformed_draft_numbers_are_not_found(client: TestClient) -> None:
    headers = _as(client, "maria")
    for number in ("DR-999999", "DR-abc", "SO-1"):
        response = client.post(f"/api/drafts/{number}/approve", json={}, headers=headers)
        assert response.status_code in (404, 422) and response.json()["code"] in ("not_found", "invalid_input"), number
    assert client.get("/api/drafts/DR-999999").status_code == 404


def test_a_rejection_needs_a_comment_and_is_final(client: TestClient, demo: Database) -> None:
    number = _draft(demo, "sam", "sales_order", DISCOUNTED_ORDER)
    headers = _as(client, "maria")
    assert client.post(f"/api/drafts/{number}/reject", json={"comment": ""}, headers=headers).status_code == 422
    rejected = client.post(f"/api/drafts/{number}/reject", json={"comment": "20% is too much"}, headers=headers)
    assert rejected.json()["status"] == "rejected" and rejected.json()["approvals"][0]["comment"] == "20% is too much"
    late = client.post(f"/api/drafts/{number}/approve", json={}, headers=headers)
    assert late.status_code == 409


def test_bulk_decisions_report_each_draft_on_its_own(client: TestClient, demo: Database) -> None:
    first = _draft(demo, "sam", "sales_order", DISCOUNTED_ORDER)
    second = _draft(demo, "sam", "sales_order", DISCOUNTED_ORDER)
    headers = _as(client, "maria")
    response = client.post(
        "/api/approvals/bulk", json={"action": "approve", "numbers": [first, second, "DR-424242"]}, headers=headers
    )
    results = {r["number"]: r for r in response.json()["results"]}
    assert results[first]["ok"] and results[first]["status"] == "executed" and results[second]["ok"]
    assert results[first]["result_ref"].startswith("SO-")
    assert results["DR-424242"]["ok"] is False and results["DR-424242"]["error"]["code"] == "not_found"
    assert client.get("/api/approvals/count").json() == {"count": 0}
    no_reason = client.post("/api/approvals/bulk", json={"action": "reject", "numbers": [first]}, headers=headers)
    assert no_reason.status_code == 422


def test_the_approver_sees_the_conversation_that_produced_the_draft(demo: Database, tmp_path: Path) -> None:
    script = Script([Reply(calls=(Call("draft_transfer", TRANSFER_OVER_LIMIT),))])  # code answers the preview
    with web.app(demo, tmp_path, script) as c:
        sam = _as(c, "sam")
        conversation = c.post("/api/conversations", json={}, headers=sam).json()["id"]
        body = c.post(
            f"/api/conversations/{conversation}/messages",
            json={"text": "send ATL 3 P-200 and 5 P-180 from DAL"},
            headers=sam,
        ).text
        number = dict(web.events(body))["draft"]["number"]
        assert c.post(f"/api/drafts/{number}/confirm", headers=sam).json()["status"] == "pending_approval"
        _as(c, "maria")
        assert [d["number"] for d in c.get("/api/approvals").json()["drafts"]] == [number]
        excerpt = c.get(f"/api/drafts/{number}").json()["conversation_excerpt"]
        (asked, answered) = excerpt
        assert asked == {"role": "user", "content": "send ATL 3 P-200 and 5 P-180 from DAL"}
        assert answered["role"] == "assistant" and answered["content"].startswith(f"{number} is a preview: ")
        assert c.get(f"/api/conversations/{conversation}").status_code == 404  # but not the whole thread


# --- exceptions ----------------------------------------------------------------------------------


def test_the_board_lists_open_cases_and_a_case_can_be_assigned_commented_and_resolved(client: TestClient) -> None:
    headers = _as(client, "grace")
    board = client.get("/api/exceptions").json()
    total = board["total"]
    assert total == len(board["cases"]) and {"shortage", "credit_hold"} <= {c["type"] for c in board["cases"]}
    assert {c["entity"] for c in board["cases"]} >= {"NA"}
    number = next(c["number"] for c in board["cases"] if c["type"] == "shortage")
    detail = client.get(f"/api/exceptions/{number}").json()
    assert detail["can_handle"] and detail["suggestions"] and detail["events"][0]["kind"] == "raised"
    assert "maria" in detail["assignees"]
    assigned = client.post(f"/api/exceptions/{number}/assign", json={"assignee": "maria"}, headers=headers).json()
    assert (assigned["owner"], assigned["status"]) == ("maria", "assigned")
    client.post(f"/api/exceptions/{number}/comment", json={"text": "PO is on its way"}, headers=headers)
    resolved = client.post(f"/api/exceptions/{number}/resolve", json={"resolution": "stock arrived"}, headers=headers)
    assert resolved.json()["status"] == "resolved"
    assert [e["kind"] for e in resolved.json()["events"]][-3:] == ["assigned", "commented", "resolved"]
    assert client.get("/api/exceptions").json()["total"] == total - 1
    assert client.get("/api/exceptions?status=resolved").json()["cases"][0]["number"] == number
    assert client.get("/api/exceptions?owner=me").json()["total"] == 0


def test_cases_of_other_entities_and_roles_are_refused(client: TestClient) -> None:
    sam = _as(client, "sam")  # sales in NA may read a shortage routed to the warehouse, not close it
    cases = client.get("/api/exceptions?type=shortage").json()["cases"]
    assert cases and {c["entity"] for c in cases} == {"NA"}
    number = cases[0]["number"]
    assert client.get(f"/api/exceptions/{number}").json()["can_handle"] is False
    refused = client.post(f"/api/exceptions/{number}/resolve", json={"resolution": "not mine"}, headers=sam)
    assert refused.status_code == 403
    _as(client, "uma")
    assert all(c["entity"] == "UK" for c in client.get("/api/exceptions").json()["cases"])
    assert client.get(f"/api/exceptions/{number}").status_code == 403
    bad = client.get("/api/exceptions?status=sideways")
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_input"


# --- records ---------------------------------------------------------------------------------------


def test_records_named_in_answers_open_as_the_user_may_see_them(client: TestClient, demo: Database) -> None:
    number = _draft(demo, "sam", "transfer", TRANSFER_OVER_LIMIT)
    _as(client, "sam")
    item = client.get("/api/records/V-200").json()
    assert item["kind"] == "item" and item["table"]["columns"][0] == "warehouse"
    assert {row[0] for row in item["table"]["rows"]} == {"DAL", "ATL", "RNO"}  # NA only
    assert client.get("/api/records/SO-1").json()["kind"] == "sales_order"
    draft = client.get(f"/api/records/{number.lower()}").json()
    assert draft["kind"] == "draft" and draft["fields"][0] == {"label": "status", "value": "pending approval"}
    assert client.get("/api/records/ACME").json()["kind"] == "customer"
    case = client.get("/api/exceptions").json()["cases"][0]["number"]
    assert client.get(f"/api/records/{case}").json()["kind"] == "exception"
    unknown = client.get("/api/records/V-2000")
    assert unknown.status_code == 404 and "V-200" in unknown.json()["suggestions"]
    assert client.get("/api/records/SO-4").status_code == 403  # a UK order
    assert json.loads(client.get("/api/records/TR-999999").text)["code"] == "not_found"


def test_a_draft_approved_over_the_api_executes_once_on_both_databases(demo_db: Database, tmp_path: Path) -> None:
    web.set_passwords(demo_db, "maria", "grace")
    number = _draft(demo_db, "sam", "transfer", TRANSFER_OVER_LIMIT)
    with web.app(demo_db, tmp_path) as c:
        maria = _as(c, "maria")
        assert c.post(f"/api/drafts/{number}/approve", json={}, headers=maria).json()["status"] == "executed"
        grace = _as(c, "grace")
        late = c.post(f"/api/drafts/{number}/approve", json={}, headers=grace)
        assert late.status_code == 409 and "executed" in late.json()["message"]
        assert c.get(f"/api/drafts/{number}").json()["approvals"][0]["approver"] == "Maria Lopez"
