"""Confirm before write over the web API: a draft is a preview until its requester confirms it (the widget's
Confirm button, or a program with their token); cancel; and POST /api/drafts, where integrations say `confirm`."""

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from assistant.llm.scripted import Call, Reply, Script
from core.db import Database
from core.drafts.service import RequestContext, draft_action
from core.masterdata.service import load_actor
from core.stock.service import available_to_promise
from tests import web
from tests.fake_clock import FakeClock
from tests.web import TRANSFER_OVER_LIMIT

SMALL_ORDER = {"customer": "ACME", "lines": [{"sku": "V-200", "quantity": 5}]}  # within what sam may do alone


def _preview(db: Database, username: str, kind: str, payload: dict[str, Any]) -> str:
    """A draft as a draft tool leaves it: unconfirmed, in a conversation."""
    actor = db.read(lambda s: load_actor(s, username=username))
    ctx = RequestContext(actor, "web", conversation_id="conv-web", tool_call_id="call-1")
    return db.run(lambda s: draft_action(s, ctx, confirmed=False, kind=kind, payload=payload)).number


def _as(c: TestClient, username: str) -> dict[str, str]:
    c.cookies.clear()
    return web.sign_in(c, username)


def _available(db: Database, sku: str, warehouse: str) -> int:
    def query(s: Any) -> int:
        actor = load_actor(s, username="sam")
        report = available_to_promise(s, actor, sku=sku, warehouse=warehouse)
        return next(w.available_now for w in report.warehouses if w.warehouse == warehouse)

    return db.read(query)


def test_an_unconfirmed_draft_changed_nothing_and_its_requester_confirms_it(client: TestClient, demo: Database) -> None:
    before = _available(demo, "V-200", "DAL")
    number = _preview(demo, "sam", "sales_order", SMALL_ORDER)
    sam = _as(client, "sam")
    card = client.get(f"/api/drafts/{number}").json()
    assert (card["status"], card["can_confirm"], card["can_cancel"], card["result_ref"]) == (
        "unconfirmed",
        True,
        True,
        None,
    )
    assert card["note"].startswith("Nothing has changed yet: this is a preview until you confirm it.")
    assert "If confirmed: Can go ahead" in card["note"]
    assert _available(demo, "V-200", "DAL") == before  # the preview reserved nothing
    confirmed = client.post(f"/api/drafts/{number}/confirm", headers=sam)
    assert confirmed.status_code == 200, confirmed.text
    body = confirmed.json()
    assert body["status"] == "executed" and body["result_ref"].startswith("SO-")
    assert (body["note"], body["can_confirm"], body["can_cancel"]) == (None, False, False)
    assert _available(demo, "V-200", "DAL") == before - 5
    twice = client.post(f"/api/drafts/{number}/confirm", headers=sam)
    assert twice.status_code == 409 and twice.json()["code"] == "invalid_state"


def test_a_confirmed_draft_over_the_limit_waits_in_the_managers_inbox(client: TestClient, demo: Database) -> None:
    number = _preview(demo, "sam", "transfer", TRANSFER_OVER_LIMIT)
    _as(client, "maria")
    assert client.get("/api/approvals").json()["total"] == 0  # the inbox never lists an unconfirmed draft
    assert client.get("/api/approvals/count").json() == {"count": 0}
    sam = _as(client, "sam")
    body = client.post(f"/api/drafts/{number}/confirm", headers=sam).json()
    assert (body["status"], body["waiting_for"]) == ("pending_approval", ["manager of NA"])
    assert (body["can_confirm"], body["can_cancel"]) == (False, True)
    _as(client, "maria")
    inbox = client.get("/api/approvals").json()
    assert [d["number"] for d in inbox["drafts"]] == [number]
    assert inbox["drafts"][0]["can_cancel"] is False  # the card is sam's to withdraw, not maria's


def test_only_the_requester_can_confirm_or_cancel(client: TestClient, demo: Database) -> None:
    number = _preview(demo, "sam", "transfer", TRANSFER_OVER_LIMIT)
    maria = _as(client, "maria")  # manages NA: she sees the draft and could approve it later, not confirm it
    seen = client.get(f"/api/drafts/{number}").json()
    assert (seen["status"], seen["can_confirm"], seen["can_cancel"], seen["can_decide"]) == (
        "unconfirmed",
        False,
        False,
        False,
    )
    refused = client.post(f"/api/drafts/{number}/confirm", headers=maria)
    assert refused.status_code == 403 and refused.json()["code"] == "permission_denied"
    assert client.post(f"/api/drafts/{number}/cancel", headers=maria).status_code == 403
    early = client.post(f"/api/drafts/{number}/approve", json={}, headers=maria)
    assert early.status_code == 409 and early.json()["code"] == "invalid_state"  # not waiting for anyone yet
    uma = _as(client, "uma")  # UK only: the NA draft is not hers to see
    foreign = client.post(f"/api/drafts/{number}/confirm", headers=uma)
    assert foreign.status_code == 403 and foreign.json()["code"] == "out_of_scope"
    _as(client, "sam")
    assert client.get(f"/api/drafts/{number}").json()["status"] == "unconfirmed"


def test_unknown_drafts_are_not_found_and_a_cookie_session_needs_its_csrf_token(
    client: TestClient, demo: Database
) -> None:
    number = _preview(demo, "sam", "sales_order", SMALL_ORDER)
    sam = _as(client, "sam")
    for path in ("/api/drafts/DR-999999/confirm", "/api/drafts/DR-999999/cancel"):
        missing = client.post(path, headers=sam)
        assert missing.status_code == 404 and missing.json()["code"] == "not_found", path
    forged = client.post(f"/api/drafts/{number}/confirm")  # another site has the cookie, not the CSRF token
    assert forged.status_code == 403 and forged.json()["code"] == "csrf_failed"
    assert client.post(f"/api/drafts/{number}/confirm", headers={"X-CSRF-Token": "guessed"}).status_code == 403
    assert client.get(f"/api/drafts/{number}").json()["status"] == "unconfirmed"
    client.cookies.clear()
    assert client.post(f"/api/drafts/{number}/confirm").status_code == 401


def test_a_program_confirms_with_the_requesters_api_token_but_not_with_a_read_only_one(
    client: TestClient, demo: Database
) -> None:
    before = _available(demo, "V-200", "DAL")
    number = _preview(demo, "sam", "sales_order", SMALL_ORDER)
    sam = _as(client, "sam")
    reader = client.post("/api/tokens", json={"name": "report", "read_only": True}, headers=sam).json()
    token = client.post("/api/tokens", json={"name": "order bot"}, headers=sam).json()["token"]
    client.cookies.clear()
    watcher = {"Authorization": f"Bearer {reader['token']}"}
    assert client.get(f"/api/drafts/{number}", headers=watcher).json()["status"] == "unconfirmed"
    listed = client.get("/api/tokens", headers=watcher).json()["tokens"]
    assert [(t["name"], t["read_only"]) for t in listed] == [("order bot", False), ("report", True)]
    for refused in (
        client.post(f"/api/drafts/{number}/confirm", headers=watcher),
        client.delete(f"/api/tokens/{reader['id']}", headers=watcher),
    ):
        assert (refused.status_code, refused.json()["code"]) == (403, "read_only_token")
        assert "make a read-write token" in refused.json()["message"]
    assert client.get(f"/api/drafts/{number}", headers=watcher).json()["status"] == "unconfirmed"
    assert _available(demo, "V-200", "DAL") == before
    program = {"Authorization": f"Bearer {token}"}
    confirmed = client.post(f"/api/drafts/{number}/confirm", headers=program)  # no CSRF token: not a browser
    assert confirmed.status_code == 200 and confirmed.json()["status"] == "executed"
    assert _available(demo, "V-200", "DAL") == before - 5


def test_the_requester_cancels_an_unconfirmed_or_waiting_draft(client: TestClient, demo: Database) -> None:
    preview = _preview(demo, "sam", "sales_order", SMALL_ORDER)
    waiting = _preview(demo, "sam", "transfer", TRANSFER_OVER_LIMIT)
    sam = _as(client, "sam")
    cancelled = client.post(f"/api/drafts/{preview}/cancel", headers=sam).json()
    assert (cancelled["status"], cancelled["can_confirm"], cancelled["can_cancel"]) == ("cancelled", False, False)
    late = client.post(f"/api/drafts/{preview}/confirm", headers=sam)
    assert late.status_code == 409 and "cancelled" in late.json()["message"]
    assert client.post(f"/api/drafts/{waiting}/confirm", headers=sam).json()["status"] == "pending_approval"
    assert client.post(f"/api/drafts/{waiting}/cancel", headers=sam).json()["status"] == "cancelled"
    _as(client, "maria")
    assert client.get("/api/approvals").json()["total"] == 0


def test_an_expired_preview_cannot_be_confirmed(client: TestClient, demo: Database, fake_clock: FakeClock) -> None:
    number = _preview(demo, "sam", "sales_order", SMALL_ORDER)
    fake_clock.advance(minutes=31)  # ERP_PREVIEW_TTL_MINUTES is 30
    sam = _as(client, "sam")
    card = client.get(f"/api/drafts/{number}").json()
    assert card["status"] == "unconfirmed" and card["can_confirm"] is False and "expired" in card["note"]
    refused = client.post(f"/api/drafts/{number}/confirm", headers=sam)
    assert refused.status_code == 409 and "expired" in refused.json()["message"]


def test_a_preview_is_still_confirmed_when_other_drafts_moved_the_same_stock(
    client: TestClient, demo: Database
) -> None:
    number = _preview(demo, "sam", "transfer", TRANSFER_OVER_LIMIT)
    sam = _as(client, "sam")
    shown = client.get(f"/api/drafts/{number}").json()["diff"]
    moved = {"from_warehouse": "RNO", "to_warehouse": "ATL", "lines": [{"sku": "P-180", "quantity": 1}]}
    other = client.post("/api/drafts", json={"kind": "transfer", "payload": moved, "confirm": True}, headers=sam)
    assert other.json()["status"] == "executed"  # ATL's incoming P-180 moved, but not what sam's transfer does
    confirmed = client.post(f"/api/drafts/{number}/confirm", headers=sam)
    assert confirmed.status_code == 200 and confirmed.json()["status"] == "pending_approval", confirmed.text
    assert confirmed.json()["diff"] != shown  # approvers see the same change on today's figures


# --- POST /api/drafts: integrations say whether they confirm ------------------------------------------


def test_an_integration_drafts_with_confirm_false_then_confirms(client: TestClient, demo: Database) -> None:
    before = _available(demo, "V-200", "DAL")
    sam = _as(client, "sam")
    made = client.post(
        "/api/drafts", json={"kind": "sales_order", "payload": SMALL_ORDER, "confirm": False}, headers=sam
    )
    assert made.status_code == 201, made.text
    card = made.json()
    assert (card["status"], card["can_confirm"], card["result_ref"]) == ("unconfirmed", True, None)
    assert "Nothing has changed yet" in card["note"] and _available(demo, "V-200", "DAL") == before
    number = card["number"]
    assert client.post(f"/api/drafts/{number}/confirm", headers=sam).json()["status"] == "executed"
    assert _available(demo, "V-200", "DAL") == before - 5


def test_an_integration_drafts_with_confirm_true_and_the_policy_decides_at_once(
    client: TestClient, demo: Database
) -> None:
    sam = _as(client, "sam")
    done = client.post(
        "/api/drafts", json={"kind": "sales_order", "payload": SMALL_ORDER, "confirm": True}, headers=sam
    )
    assert done.status_code == 201 and done.json()["status"] == "executed" and done.json()["note"] is None
    key = {"idempotency_key": "erp-import-42"}
    body = {"kind": "transfer", "payload": TRANSFER_OVER_LIMIT, "confirm": True, **key}
    waiting = client.post("/api/drafts", json=body, headers=sam).json()
    assert (waiting["status"], waiting["waiting_for"]) == ("pending_approval", ["manager of NA"])
    again = client.post("/api/drafts", json=body, headers=sam).json()  # a retry: the same draft, not a second
    assert again["number"] == waiting["number"]
    changed = client.post(
        "/api/drafts", json={**body, "payload": {**TRANSFER_OVER_LIMIT, "to_warehouse": "RNO"}}, headers=sam
    )
    assert changed.status_code == 422 and "idempotency key" in changed.json()["message"]
    maria = _as(client, "maria")
    assert [d["number"] for d in client.get("/api/approvals").json()["drafts"]] == [waiting["number"]]
    mine = client.post("/api/drafts", json=body, headers=maria).json()  # keys are per user: maria's is her own
    assert mine["number"] != waiting["number"]


def test_a_bad_draft_request_is_refused_with_422(client: TestClient) -> None:
    sam = _as(client, "sam")
    for body in (
        {"kind": "sales_order", "payload": SMALL_ORDER},  # confirm has no default: say it
        {"kind": "sales_order", "payload": SMALL_ORDER, "confirm": "yes"},
        {"kind": "teleport", "payload": SMALL_ORDER, "confirm": False},
        {"kind": "sales_order", "payload": {"customer": "ACME"}, "confirm": False},
        {"kind": "sales_order", "payload": SMALL_ORDER, "confirm": False, "approve": True},
    ):
        refused = client.post("/api/drafts", json=body, headers=sam)
        assert refused.status_code == 422 and refused.json()["code"] == "invalid_input", body
    assert (
        "confirm" in client.post("/api/drafts", json={"kind": "transfer", "payload": {}}, headers=sam).json()["message"]
    )
    assert (
        client.post("/api/drafts", json={"kind": "sales_order", "payload": SMALL_ORDER, "confirm": True}).status_code
        == 403
    )


def test_the_routes_are_in_the_openapi_schema(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/api/drafts", "/api/drafts/{number}/confirm", "/api/drafts/{number}/cancel"):
        responses = paths[path]["post"]["responses"]
        assert {"401", "403", "404", "409", "422"} <= set(responses), path
    request = paths["/api/drafts"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert request == {"$ref": "#/components/schemas/NewDraftRequest"}
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    assert "confirm" in schemas["NewDraftRequest"]["required"]
    assert "transfer" in schemas["NewDraftRequest"]["properties"]["kind"]["enum"]
    assert {"can_confirm", "can_cancel", "note"} <= set(schemas["DraftCard"]["properties"])


# --- the chat's draft card -----------------------------------------------------------------------------


def test_the_chat_card_of_a_draft_offers_confirm_to_its_requester_only(demo: Database, tmp_path: Path) -> None:
    script = Script(
        [Reply(calls=(Call("draft_transfer", TRANSFER_OVER_LIMIT),)), Reply(text="Here is the preview; confirm it.")]
    )
    with web.app(demo, tmp_path, script) as c:
        sam = _as(c, "sam")
        conversation = c.post("/api/conversations", json={}, headers=sam).json()["id"]
        body = c.post(
            f"/api/conversations/{conversation}/messages",
            json={"text": "move 3 P-200 and 5 P-180 from DAL to ATL"},
            headers=sam,
        ).text
        card = dict(web.events(body))["draft"]
        assert (card["status"], card["can_confirm"], card["can_cancel"]) == ("unconfirmed", True, True)
        assert card["note"].startswith("Nothing has changed yet") and "manager" in card["note"]
        assert card["waiting_for"] == []  # it waits for sam, not for an approver
        resumed = c.get(f"/api/conversations/{conversation}").json()["drafts"]
        assert [(d["number"], d["can_confirm"]) for d in resumed] == [(card["number"], True)]
        _as(c, "maria")
        theirs = c.get(f"/api/drafts/{card['number']}").json()
        assert (theirs["can_confirm"], theirs["can_cancel"]) == (False, False)
        assert "until Sam Carter confirms it" in theirs["note"]
