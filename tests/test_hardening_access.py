"""Access control, tried as the users themselves: the role x entity x action matrix, sessions, tokens, CSRF.

The matrix is `evals.hardening.access`: what the definitions allow, against what the tools, the
web API and MCP actually did for each demo user. The rest are the web service's own guarantees: a session
token is never chosen by the browser, a revoked token stops at once, and every state-changing route
a browser can reach with its cookie refuses a request without the session's CSRF token.
"""

import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.routing import BaseRoute

from assistant.channels.web.auth import SESSION_COOKIE
from core.actor import Actor
from core.db import Database
from core.drafts.service import RequestContext, draft_action
from core.exceptions import ExceptionCase, detect_exceptions
from core.identity import revoke_token
from core.masterdata.models import Item, ItemSubstitute, LegalEntity
from core.masterdata.service import load_actor
from core.receivables.service import list_payments
from core.returns.service import ReturnRequest, authorise_return
from core.sales.models import OrderStatus, SalesOrder, SalesOrderLine, Shipment
from core.stock.models import DemandSource, Reservation
from evals.common.company import fingerprint
from evals.common.sse import sse_events
from evals.common.web import chat_text, web_client
from evals.hardening.access.actions import ACTIONS
from evals.hardening.access.matrix import run_matrix
from evals.hardening.access.report import mark, report
from tests import web
from tests.planning_cases import SMALL_PO, raise_proposals
from tests.web import shipped_na_order
from tools import default_registry

UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# The one unsafe route a browser reaches without a CSRF token, on purpose: signing in has no session yet
# (and takes JSON only, which a cross-site form cannot send).
CSRF_EXEMPT = frozenset({("POST", "/api/session")})
NOT_COOKIE_ROUTES = frozenset({"/slack/events"})  # Slack signs its requests; no browser session reaches it
# Admin-only routes: the manager who sweeps the routes gets past the CSRF check to the core's refusal.
ADMIN_ONLY = frozenset({"/api/import", "/api/webhooks", "/api/webhooks/{webhook_id}", "/api/webhooks/dead/replay"})
COOKIE_DOMAIN = "testserver.local"  # where the test client keeps the cookies the service sets
DISCOUNTED = {"customer": "ACME", "lines": [{"sku": "V-200", "quantity": 1, "discount_pct": "20"}]}


@pytest.fixture
def demo(demo: Database) -> Database:
    """conftest's demo, with the demo's shortages and credit holds detected as cases."""
    demo.run(detect_exceptions)
    return demo


@pytest.fixture
def echo_client(demo: Database, tmp_path: Path) -> Iterator[TestClient]:
    """Not conftest's `client`: the web service as the access run drives it (a model echoing the user, no limit)."""
    with web_client(demo, tmp_path) as c:
        yield c


# --- the matrix ----------------------------------------------------------------------------------


def test_what_each_role_may_do_in_each_entity_is_what_the_definitions_allow(
    sqlite_demo: Database, tmp_path: Path
) -> None:
    matrix = run_matrix(sqlite_demo, tmp_path)
    print(report(matrix))
    assert matrix.mismatches == [], report(matrix)
    assert matrix.audit.ok and matrix.audit.executed > 0, matrix.audit.problems  # the drafts it made, checked
    for action in ACTIONS:  # every column is exercised both ways, not passed by never trying (MCP: see below)
        seen = {(r.expected, mark(r.via_tool) + mark(r.via_http)) for r in matrix.results if r.action is action}
        assert any(not expected for expected, _ in seen), action.name
        assert action.name == "others' chat" or any(expected for expected, _ in seen), action.name
    assert {mark(r.via_http) for r in matrix.results} == {"Y", "n"}
    assert {mark(r.via_mcp) for r in matrix.results} == {"Y", "n", "-"}
    over_mcp = {r.via_mcp for r in matrix.results if r.action.name in ("approve", "reject")}
    assert over_mcp == {"refused unknown_tool"}  # no approve tool, even for the approvers the API lets approve


def test_no_tool_can_approve_or_reject() -> None:
    assert not [name for name in default_registry().tools if "approve" in name or "reject" in name]


# --- sessions and tokens ---------------------------------------------------------------------------


def _browser(c: TestClient, session: str | None = None) -> TestClient:
    """Another browser on the same service, holding `session` as its cookie (where the service sets it)."""
    other = TestClient(c.app)
    if session is not None:
        other.cookies.set(SESSION_COOKIE, session, domain=COOKIE_DOMAIN, path="/")
    return other


def test_signing_in_never_adopts_a_session_token_the_browser_already_had(echo_client: TestClient) -> None:
    planted = _browser(echo_client, "chosen-by-an-attacker")
    web.sign_in(planted, "sam")
    issued = planted.cookies.get(SESSION_COOKIE)
    assert issued and issued != "chosen-by-an-attacker"
    assert _browser(echo_client, "chosen-by-an-attacker").get("/api/me").status_code == 401

    # a valid session of another user, planted before maria signs in, is replaced, not upgraded, and ends:
    # whoever planted it (and so holds its cookie) cannot ride on maria's sign-in
    web.sign_in(planted, "maria")
    marias = planted.cookies.get(SESSION_COOKIE)
    assert marias and marias != issued
    assert planted.get("/api/me").json()["username"] == "maria"
    assert _browser(echo_client, issued).get("/api/me").status_code == 401


def test_each_sign_in_issues_a_new_session_and_csrf_token(echo_client: TestClient) -> None:
    first = web.sign_in(echo_client, "sam")
    first_cookie = echo_client.cookies.get(SESSION_COOKIE)
    second = web.sign_in(echo_client, "sam")
    assert echo_client.cookies.get(SESSION_COOKIE) != first_cookie and second != first


def test_a_revoked_token_is_refused_on_its_very_next_request(echo_client: TestClient, demo: Database) -> None:
    headers = web.sign_in(echo_client, "sam")
    made = [echo_client.post("/api/tokens", json={"name": f"script {i}"}, headers=headers).json() for i in range(2)]
    echo_client.cookies.clear()
    by_api, by_core = ({"Authorization": f"Bearer {m['token']}"} for m in made)
    assert echo_client.get("/api/me", headers=by_api).status_code == 200
    assert echo_client.get("/api/me", headers=by_core).status_code == 200
    assert echo_client.delete(f"/api/tokens/{made[0]['id']}", headers=by_api).status_code == 200
    sam = demo.read(lambda s: load_actor(s, username="sam"))
    demo.run(lambda s: revoke_token(s, sam, token_id=made[1]["id"]))
    for revoked in (by_api, by_core):
        for method, path in (("GET", "/api/me"), ("GET", "/api/approvals"), ("POST", "/api/conversations")):
            response = echo_client.request(method, path, headers=revoked, json={} if method == "POST" else None)
            assert response.status_code == 401 and response.json()["code"] == "not_signed_in", (method, path)


# --- CSRF ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ids:
    """Real records for every path parameter, so a refused request is refused for CSRF and nothing else."""

    drafts: dict[str, str]
    case: str
    conversation: str
    token: int
    shipping: tuple[str, int]  # an NA order with stock reserved on a line: (order, line number)
    shipment: str
    moves: dict[str, str]  # an open purchase order to receive, an open transfer to ship, one in transit to receive
    substitute: tuple[str, int, str]  # an NA order line with an approved substitute: (order, line number, its SKU)
    returns: tuple[str, str]  # an NA order shipped today, and an authorised return of one of its units
    payment: str  # an NA payment with cash on account
    proposal: str  # an NA case with a proposed purchase order
    wms_order: str  # an NA order with stock reserved, for a WMS's shipment confirmation


def _ids(c: TestClient, demo: Database, headers: dict[str, str]) -> Ids:
    sam = demo.read(lambda s: load_actor(s, username="sam"))

    def drafted(_: str) -> str:
        return demo.run(
            lambda s: draft_action(
                s, RequestContext(sam, "web"), confirmed=True, kind="sales_order", payload=DISCOUNTED
            )
        ).number

    def own_preview(_: str) -> str:  # maria's own unconfirmed draft: only she may confirm or cancel it
        return demo.run(
            lambda s: draft_action(
                s, RequestContext(maria, "web"), confirmed=False, kind="sales_order", payload=DISCOUNTED
            )
        ).number

    maria = demo.read(lambda s: load_actor(s, username="maria"))
    case = demo.read(lambda s: s.scalars(select(ExceptionCase).where(ExceptionCase.type == "shortage")).first())
    assert case is not None
    conversation = c.post("/api/conversations", json={}, headers=headers).json()["id"]
    token = c.post("/api/tokens", json={"name": "to revoke"}, headers=headers).json()["id"]
    drafts = {verb: drafted(verb) for verb in ("approve", "reject", "bulk")}
    drafts |= {verb: own_preview(verb) for verb in ("confirm", "cancel")}
    reserved = demo.read(_reserved_line)
    moves = _moves(demo) | {"waiting": demo.run(lambda s: web.waiting_order(s, *reserved))}
    return Ids(
        drafts,
        case.number,
        conversation,
        token,
        reserved,
        demo.read(_na_shipment),
        moves,
        demo.read(_substitutable_line),
        _returnable(demo),
        demo.read(lambda s: list_payments(s, maria, unapplied_only=True)[0].number),
        raise_proposals(demo, {"repl:csrf": SMALL_PO})["repl:csrf"],
        _placed(demo, sam),
    )


def _placed(demo: Database, sam: Actor) -> str:
    """A new NA order, executed: what a WMS then confirms shipping."""
    order = {"customer": "ACME", "lines": [{"sku": "V-200", "quantity": 2, "warehouse": "DAL"}]}
    draft = demo.run(
        lambda s: draft_action(s, RequestContext(sam, "web"), confirmed=True, kind="sales_order", payload=order)
    )
    assert draft.result_ref, (draft.status, draft.explanation)
    return draft.result_ref


def _returnable(demo: Database) -> tuple[str, str]:
    """An order shipped today, with a return of one unit authorised, for the returns routes."""
    order = shipped_na_order(demo)
    sam = demo.read(lambda s: load_actor(s, username="sam"))
    one = [ReturnRequest(1, line_no=1)]
    rma = demo.run(lambda s: authorise_return(s, sam, order_number=order, lines=one, reason="damaged").number)
    return order, rma


def _moves(demo: Database) -> dict[str, str]:
    """Documents for the receiving routes, made through the gate by NA's buyer and warehouse clerk."""

    def made(kind: str, payload: dict[str, Any]) -> str:
        who = demo.read(lambda s: load_actor(s, username="bea" if kind == "purchase_order" else "wes"))
        draft = demo.run(
            lambda s: draft_action(s, RequestContext(who, "web"), confirmed=True, kind=kind, payload=payload)
        )
        assert draft.result_ref, (kind, draft.status, draft.explanation)
        return draft.result_ref

    lines = [{"sku": "V-200", "quantity": 2}]
    po = made("purchase_order", {"supplier": "KEYSTONE", "warehouse": "DAL", "lines": lines})
    route = {"from_warehouse": "DAL", "to_warehouse": "ATL", "lines": lines}
    to_ship, to_receive = made("transfer", route), made("transfer", route)
    made("transfer_move", {"transfer_number": to_receive, "action": "ship"})
    return {"po": po, "ship": to_ship, "receive": to_receive}


def _reserved_line(s: Session) -> tuple[str, int]:
    row = s.execute(
        select(SalesOrder.id, SalesOrderLine.line_no)
        .join(SalesOrderLine, SalesOrderLine.order_id == SalesOrder.id)
        .join(Reservation, Reservation.source_id == SalesOrderLine.id)
        .where(
            SalesOrder.entity_id == _na(s),
            SalesOrder.status == OrderStatus.CONFIRMED.value,
            Reservation.source_type == DemandSource.SALES_ORDER_LINE.value,
            Reservation.quantity > 0,
        )
        .order_by(SalesOrder.id, SalesOrderLine.line_no)
        .limit(1)
    ).one()
    return f"SO-{row[0]}", row[1]


def _substitutable_line(s: Session) -> tuple[str, int, str]:
    row = s.execute(
        select(SalesOrder.id, SalesOrderLine.line_no, Item.sku)
        .join(SalesOrderLine, SalesOrderLine.order_id == SalesOrder.id)
        .join(ItemSubstitute, ItemSubstitute.item_id == SalesOrderLine.item_id)
        .join(Item, Item.id == ItemSubstitute.substitute_id)
        .where(
            SalesOrder.entity_id == _na(s),
            SalesOrder.status == OrderStatus.CONFIRMED.value,
            SalesOrderLine.qty_shipped == 0,
            Item.active.is_(True),
        )
        .order_by(SalesOrder.id, SalesOrderLine.line_no)
        .limit(1)
    ).one()
    return f"SO-{row[0]}", row[1], row[2]


def _na_shipment(s: Session) -> str:
    query = select(Shipment.id).join(SalesOrder, SalesOrder.id == Shipment.order_id)
    return f"SH-{s.scalars(query.where(SalesOrder.entity_id == _na(s)).order_by(Shipment.id)).first()}"


def _na(s: Session) -> int | None:
    return s.scalar(select(LegalEntity.id).where(LegalEntity.code == "NA"))


def _request(route: str, ids: Ids) -> tuple[str, dict[str, Any] | None]:
    """The concrete path and a valid body for an unsafe route."""
    requests: dict[str, tuple[str, dict[str, Any] | None]] = {
        "/api/tokens": ("/api/tokens", {"name": "new"}),
        "/api/tokens/{token_id}": (f"/api/tokens/{ids.token}", None),
        "/api/conversations": ("/api/conversations", {}),
        "/api/conversations/{conversation_id}/messages": (
            f"/api/conversations/{ids.conversation}/messages",
            {"text": chat_text("find_items", {"query": "valve"})},
        ),
        "/api/drafts": ("/api/drafts", {"kind": "sales_order", "payload": DISCOUNTED, "confirm": False}),
        "/api/integrations/sales-orders": (
            "/api/integrations/sales-orders",
            {"customer": "ACME", "lines": [{"sku": "V-200", "quantity": 1}]},
        ),
        "/api/integrations/shipments": ("/api/integrations/shipments", {"order": ids.wms_order, "warehouse": "DAL"}),
        "/api/integrations/receipts": (
            "/api/integrations/receipts",
            {"purchase_order": ids.moves["po"], "lines": [{"sku": "V-200", "quantity": 1}]},
        ),
        "/api/stock/adjustments": (
            "/api/stock/adjustments",
            {"adjustment": {"sku": "V-200", "warehouse": "DAL", "counted": 1}, "confirm": False},
        ),
        "/api/drafts/{number}/confirm": (f"/api/drafts/{ids.drafts['confirm']}/confirm", None),
        "/api/drafts/{number}/cancel": (f"/api/drafts/{ids.drafts['cancel']}/cancel", None),
        "/api/drafts/{number}/approve": (f"/api/drafts/{ids.drafts['approve']}/approve", {}),
        "/api/drafts/{number}/reject": (f"/api/drafts/{ids.drafts['reject']}/reject", {"comment": "no"}),
        "/api/approvals/bulk": ("/api/approvals/bulk", {"action": "approve", "numbers": [ids.drafts["bulk"]]}),
        "/api/exceptions/{number}/assign": (f"/api/exceptions/{ids.case}/assign", {"assignee": "maria"}),
        "/api/exceptions/{number}/comment": (f"/api/exceptions/{ids.case}/comment", {"text": "seen"}),
        "/api/exceptions/{number}/resolve": (f"/api/exceptions/{ids.case}/resolve", {"resolution": "done"}),
        "/api/exceptions/{number}/proposal": (f"/api/exceptions/{ids.proposal}/proposal", None),
        "/api/proposals": ("/api/proposals", {"cases": [ids.proposal]}),
        "/api/planning/run": ("/api/planning/run", {"only": ["detection"]}),
        "/api/webhooks": ("/api/webhooks", {"url": "http://127.0.0.1:9/hook"}),
        "/api/webhooks/{webhook_id}": ("/api/webhooks/1", None),
        "/api/webhooks/dead/replay": ("/api/webhooks/dead/replay", {}),
        "/api/session": ("/api/session", None),
        "/api/supplier-invoices": (  # the demo's PO-1395 (KEYSTONE, NA) received 348 V-200
            "/api/supplier-invoices",
            {
                "po_number": "PO-1395",
                "supplier_ref": "SWEEP",
                "lines": [{"sku": "V-200", "quantity": 1, "unit_price": "11.67"}],
                "confirm": False,
            },
        ),
        "/api/supplier-invoices/{number}/release": (  # held, booked by fiona
            "/api/supplier-invoices/SINV-2/release",
            {"reason": "sweep", "confirm": False},
        ),
        "/api/supplier-invoices/{number}/match": ("/api/supplier-invoices/SINV-3/match", None),  # held
        "/api/orders/{number}/cancel": (
            f"/api/orders/{ids.shipping[0]}/cancel",
            {"line_no": ids.shipping[1], "reason": "sweep", "confirm": False},
        ),
        "/api/orders/{number}/reallocate": (
            f"/api/orders/{ids.shipping[0]}/reallocate",
            {"line_no": ids.shipping[1], "to_order": ids.moves["waiting"], "quantity": 1, "confirm": False},
        ),
        "/api/orders/{number}/shipments": (
            f"/api/orders/{ids.shipping[0]}/shipments",
            {"lines": [{"line_no": ids.shipping[1], "quantity": 1}], "confirm": False},
        ),
        "/api/shipments/{number}/milestones": (f"/api/shipments/{ids.shipment}/milestones", {"milestone": "delivered"}),
        "/api/orders/{number}/lines/{line_no}/substitute": (
            f"/api/orders/{ids.substitute[0]}/lines/{ids.substitute[1]}/substitute",
            {"sku": ids.substitute[2], "allow_backorder": True, "confirm": False},
        ),
        "/api/orders/{number}/charges": (
            f"/api/orders/{ids.shipping[0]}/charges",
            {"amount": "10", "carrier": "UPS", "reason": "rush", "confirm": False},
        ),
        "/api/purchase-orders/{po_number}/receipts": (
            f"/api/purchase-orders/{ids.moves['po']}/receipts",
            {"lines": [{"sku": "V-200", "quantity": 1}], "confirm": False},
        ),
        "/api/transfers/{transfer_number}/ship": (f"/api/transfers/{ids.moves['ship']}/ship", {"confirm": False}),
        "/api/returns": (
            "/api/returns",
            {
                "order_number": ids.returns[0],
                "lines": [{"line_no": 1, "quantity": 1}],
                "reason": "damaged",
                "confirm": False,
            },
        ),
        "/api/returns/{rma_number}/receipt": (f"/api/returns/{ids.returns[1]}/receipt", {"confirm": False}),
        "/api/payments": (
            "/api/payments",
            {"customer": "CASCADEW", "amount": "1.00", "bank_reference": "SWEEP", "confirm": False},
        ),
        "/api/payments/{number}/apply": (f"/api/payments/{ids.payment}/apply", {"confirm": False}),
        "/api/payments/{number}/reversal": (
            f"/api/payments/{ids.payment}/reversal",
            {"reason": "sweep", "confirm": False},
        ),
        "/api/transfers/{transfer_number}/receive": (
            f"/api/transfers/{ids.moves['receive']}/receive",
            {"confirm": False},
        ),
        "/api/masterdata/changes": (
            "/api/masterdata/changes",
            {"change": {"record": "item", "code": "V-200", "cost": "12.00"}, "confirm": False},
        ),
        "/api/customers/{code}/credit-limit": (
            "/api/customers/ACME/credit-limit",
            {"credit_limit": "1", "confirm": False},
        ),
        "/api/customers/{code}/credit-hold": ("/api/customers/ACME/credit-hold", {"reason": "sweep", "confirm": False}),
        "/api/import": ("/api/import", None),  # multipart files, for an admin: refused by role (ADMIN_ONLY)
    }
    return requests[route]


def _api_routes(routes: Iterable[BaseRoute]) -> Iterator[APIRoute]:
    """The app's API routes, also inside included routers (FastAPI >= 0.16x keeps those nested)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from _api_routes(included.routes)


def _unsafe_routes(c: TestClient) -> list[tuple[str, str]]:
    """Every (method, path) of the app that changes state, from its routes, checked against its OpenAPI schema."""
    app: FastAPI = c.app  # type: ignore[assignment]
    found = {(method, route.path) for route in _api_routes(app.routes) for method in (route.methods or set()) & UNSAFE}
    documented = {
        (method.upper(), path)
        for path, operations in c.get("/openapi.json").json()["paths"].items()
        for method in operations
        if method.upper() in UNSAFE
    }
    cookie_routes = {r for r in found if r[1] not in NOT_COOKIE_ROUTES}
    assert documented == cookie_routes
    # resolve after assigning and commenting on the same case; then revoke the token; sign out last
    last = ("/api/exceptions/{number}/resolve", "/api/tokens/{token_id}", "/api/session")
    return sorted(cookie_routes - CSRF_EXEMPT, key=lambda r: (last.index(r[1]) if r[1] in last else -1, r))


def test_every_state_changing_route_refuses_a_cookie_session_without_its_csrf_token(
    echo_client: TestClient, demo: Database
) -> None:
    headers = web.sign_in(echo_client, "maria")
    ids = _ids(echo_client, demo, headers)
    routes = _unsafe_routes(echo_client)
    assert len(routes) == 45 and routes[-1] == ("DELETE", "/api/session"), routes
    stolen = web.sign_in(_browser(echo_client), "sam")  # a valid CSRF token, but of another session
    for method, route in routes:
        path, body = _request(route, ids)
        keyed = {"Idempotency-Key": uuid.uuid4().hex}  # what the integration routes require (the others ignore it)
        before = demo.read(fingerprint)
        for wrong in ({}, {"X-CSRF-Token": ""}, {"X-CSRF-Token": "guessed"}, stolen):
            refused = echo_client.request(method, path, json=body, headers={**wrong, **keyed})
            assert (refused.status_code, refused.json()["code"]) == (403, "csrf_failed"), (method, path, wrong)
        assert demo.read(fingerprint) == before, (method, path)
        accepted = echo_client.request(method, path, json=body, headers={**headers, **keyed})  # now with the token
        if route in ADMIN_ONLY:
            assert (accepted.status_code, accepted.json()["code"]) == (403, "permission_denied"), (method, path)
            continue
        assert accepted.status_code in (200, 201, 204), (method, path, accepted.text)
        if route.endswith("/messages"):
            assert "answer" in dict(sse_events(accepted.text)), accepted.text


def test_the_exempt_routes_cannot_be_driven_by_a_cross_site_form(echo_client: TestClient) -> None:
    form = echo_client.post(
        "/api/session",
        content=b'{"username": "sam", "password": "' + web.password_for("sam").encode() + b'"}',
        headers={"Content-Type": "text/plain"},
    )
    assert form.status_code == 422 and SESSION_COOKIE not in form.headers.get("set-cookie", "")
    preflight = echo_client.options(
        "/api/session", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "DELETE"}
    )
    assert "access-control-allow-origin" not in preflight.headers
