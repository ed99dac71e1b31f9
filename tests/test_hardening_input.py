"""Hostile input: generated requests against the OpenAPI schema, and a table of bad inputs through the
tools and the web API.

Every bad input must get a clear refusal (a stable code and a message saying what to fix), a 4xx over
HTTP (never a 5xx), and leave the company exactly as it was: drafts and their statuses, stock, cases
and their timelines, documents, the audit log, conversations and credentials (`fingerprint`).
"""

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db import Database
from core.drafts.service import RequestContext, draft_action
from core.exceptions import ExceptionCase, detect_exceptions
from core.identity import issue_token
from core.masterdata.models import Customer, LegalEntity
from core.masterdata.service import load_actor
from core.sales.models import SalesOrder
from evals.hardening.access import chat_text, fingerprint, sse_events, web_client
from tools import ToolContext, default_registry

DISCOUNTED = {"customer": "ACME", "lines": [{"sku": "V-200", "quantity": 1, "discount_pct": "20"}]}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    negative_data_rejection,
]
# Invalid requests may also be refused as too large (a chat message over 4,000 characters) or too frequent.
REJECTIONS = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429"]
EXAMPLES = 8  # generated requests per operation and mode: enough to find a crash, bounded in time
FEW = {"POST /api/session": 3}  # each failed sign-in hashes a password on purpose
KNOWN_EXAMPLES = 3


@dataclass(frozen=True)
class Company:
    """The demo company with what the inputs name: users' tokens, a draft of sam's, a UK order and customer."""

    db: Database
    tokens: dict[str, str]
    sams_draft: str
    uk_order: str
    uk_customer: str
    cases: list[str]

    def headers(self, username: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[username]}"}


def _uk(session: Session) -> tuple[str, str]:
    uk = session.scalars(select(LegalEntity.id).where(LegalEntity.code == "UK")).one()
    order = session.scalars(select(SalesOrder).where(SalesOrder.entity_id == uk).order_by(SalesOrder.id)).first()
    customer = session.scalars(select(Customer.code).where(Customer.entity_id == uk).order_by(Customer.id)).first()
    assert order is not None and customer is not None
    return order.number, customer


@pytest.fixture
def company(sqlite_demo: Database) -> Company:
    db = sqlite_demo
    db.run(detect_exceptions)
    users = ("sam", "uma", "maria", "bea", "grace")
    tokens = db.run(lambda s: {u: issue_token(s, load_actor(s, username=u), name="hostile input").token for u in users})
    sam = db.read(lambda s: load_actor(s, username="sam"))
    draft = db.run(lambda s: draft_action(s, RequestContext(sam, "web"), kind="sales_order", payload=DISCOUNTED))
    uk_order, uk_customer = db.read(_uk)
    cases = db.read(lambda s: [c.number for c in s.scalars(select(ExceptionCase).order_by(ExceptionCase.id).limit(2))])
    return Company(db, tokens, draft.number, uk_order, uk_customer, cases)


@pytest.fixture
def client(company: Company, tmp_path: Path) -> Iterator[TestClient]:
    with web_client(company.db, tmp_path) as c:
        yield c


# --- generated requests --------------------------------------------------------------------------


def _known_values(company: Company, client: TestClient) -> dict[str, list[str]]:
    """Real ids for the path parameter of the routes under each prefix: random strings only ever reach
    the not-found branch."""
    conversation = client.post("/api/conversations", json={}, headers=company.headers("maria")).json()["id"]
    sam = company.db.read(lambda s: load_actor(s, username="sam"))
    drafts = [  # sam's, waiting for a manager: maria may approve or reject them
        company.db.run(
            lambda s: draft_action(s, RequestContext(sam, "web"), kind="sales_order", payload=DISCOUNTED)
        ).number
        for _ in range(2)
    ]
    return {
        "/api/drafts/": drafts,
        "/api/exceptions/": company.cases,
        "/api/conversations/": [conversation],
        "/api/records/": ["SO-1", company.uk_order, "PO-1", "TR-1", drafts[0], company.cases[0], "V-200", "ACME"],
    }


def _run_operation(
    operation: Any, mode: GenerationMode, examples: int, headers: dict[str, str], **fixed: Any
) -> str | None:
    """Generated requests for one operation; the failure report, or None."""

    @given(case=operation.as_strategy(generation_mode=mode, **fixed))
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],
    )
    def run(case: Any) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS)

    try:
        run()
    except Unsatisfiable:  # nothing about this operation can be made invalid (no body, no constrained query)
        return None
    except Exception as failure:  # schemathesis' FailureGroup is an ExceptionGroup
        return f"{operation.label} ({mode.value}, {fixed or 'generated ids'}):\n{getattr(failure, 'message', failure)}"
    return None


def _can_be_invalid(operation: Any) -> bool:
    """A body, a query or a typed path parameter can be sent invalid; a free-text path parameter cannot."""
    typed = any(p.definition.get("schema", {}).get("type") != "string" for p in operation.path_parameters)
    return bool(operation.body) or bool(operation.query) or typed


def test_generated_requests_get_documented_answers_and_never_a_5xx(company: Company, client: TestClient) -> None:
    """schemathesis against the app's own OpenAPI schema, signed in as maria with a bearer token.

    The chat's message route is included: its Server-Sent Events are checked event by event against the
    schema (each `data:` JSON), with a model that echoes what it is asked.
    """
    config = schemathesis.Config.from_dict({"checks": {"negative_data_rejection": {"expected-statuses": REJECTIONS}}})
    schema = schemathesis.openapi.from_asgi("/openapi.json", client.app, config=config)
    known = _known_values(company, client)
    failures: list[str | None] = []
    for result in schema.get_all_operations():
        if not isinstance(result, Ok):
            failures.append(f"the schema has an operation schemathesis cannot read: {result.err()}")
            continue
        operation = result.ok()
        # revoking a token by a guessed id must not revoke the token the run signs in with
        headers = company.headers("grace" if operation.path == "/api/tokens/{token_id}" else "maria")
        examples = FEW.get(operation.label, EXAMPLES)
        modes = [GenerationMode.POSITIVE] + ([GenerationMode.NEGATIVE] if _can_be_invalid(operation) else [])
        failures += [_run_operation(operation, mode, examples, headers) for mode in modes]
        for parameter in operation.path_parameters:
            values = next((ids for prefix, ids in known.items() if operation.path.startswith(prefix)), [])
            for value in values:
                fixed = {"path_parameters": {parameter.name: value}}
                failures.append(_run_operation(operation, GenerationMode.POSITIVE, KNOWN_EXAMPLES, headers, **fixed))
    found = [f for f in failures if f is not None]
    assert found == [], "\n\n".join(found)


# --- bad inputs through the tools ----------------------------------------------------------------


def _order(
    sku: str = "V-200", quantity: Any = 1, customer: str = "ACME", discount_pct: Any = 0, **extra: Any
) -> dict[str, Any]:
    return {"customer": customer, "lines": [{"sku": sku, "quantity": quantity, "discount_pct": discount_pct}], **extra}


def _transfer(quantity: Any, source: str = "DAL", target: str = "ATL") -> dict[str, Any]:
    return {"from_warehouse": source, "to_warehouse": target, "lines": [{"sku": "V-200", "quantity": quantity}]}


Arguments = dict[str, Any] | str | Callable[["Company"], dict[str, Any]]


@dataclass(frozen=True)
class ToolInput:
    what: str
    tool: str
    arguments: Arguments  # a callable is given the company (for ids known only at run time)
    code: str
    hint: str  # the message says what to fix
    user: str = "sam"  # NA sales

    def resolved(self, company: Company) -> dict[str, Any] | str:
        return self.arguments(company) if callable(self.arguments) else self.arguments


SO, TR, PO, ATP = "draft_sales_order", "draft_transfer", "draft_purchase_order", "check_availability"
CREDIT, ORDER, DRAFT = "get_customer_credit", "get_order_status", "get_draft_status"
RELEASE, CASE_ACTION = "request_credit_hold_release", "draft_exception_action"
INVALID, MISSING, SCOPE, OUTSIDE = "invalid_arguments", "not_found", "out_of_scope", "outside your scope"
POSITIVE, AT_MOST_A_MILLION, WHOLE = "greater than 0", "less than or equal to 1000000", "fractional part"
NEGATIVE_COST = {
    "supplier": "KEYSTONE",
    "warehouse": "DAL",
    "lines": [{"sku": "V-200", "quantity": 1, "unit_cost": -1}],
}
TOOL_INPUTS = [
    ToolInput("negative quantity", SO, _order(quantity=-1), INVALID, POSITIVE),
    ToolInput("zero quantity", SO, _order(quantity=0), INVALID, POSITIVE),
    ToolInput("huge quantity", SO, _order(quantity=1_000_001), INVALID, AT_MOST_A_MILLION),
    ToolInput("fractional quantity", SO, _order(quantity=1.5), INVALID, WHOLE),
    ToolInput("fractional quantity as text", SO, _order(quantity="2.5"), INVALID, "quantity"),
    ToolInput("negative transfer", TR, _transfer(-5), INVALID, POSITIVE),
    ToolInput("zero transfer", TR, _transfer(0), INVALID, POSITIVE),
    ToolInput("huge transfer", TR, _transfer(10**12), INVALID, AT_MOST_A_MILLION),
    ToolInput("fractional transfer", TR, _transfer(0.25), INVALID, WHOLE),
    ToolInput("negative ATP quantity", ATP, {"sku": "V-200", "quantity": -3}, INVALID, "greater than or equal to 1"),
    ToolInput("huge ATP quantity", ATP, {"sku": "V-200", "quantity": 10**7}, INVALID, AT_MOST_A_MILLION),
    ToolInput("negative unit cost", PO, NEGATIVE_COST, INVALID, "greater than or equal to 0", user="bea"),
    ToolInput("discount over 100%", SO, _order(discount_pct=150), INVALID, "less than or equal to 100"),
    ToolInput("line 0 of an order", "draft_order_change", {"order_number": "SO-1", "line_no": 0}, INVALID, "line_no"),
    ToolInput("look-alike SKU V-2OO (letter O)", SO, _order(sku="V-2OO"), MISSING, "did you mean V-200"),
    ToolInput("look-alike SKU in ATP", ATP, {"sku": "V-2OO"}, MISSING, "did you mean V-200"),
    ToolInput("unknown SKU", SO, _order(sku="Z-999"), MISSING, "unknown SKU 'Z-999'"),
    ToolInput("SQL in a customer", CREDIT, {"customer": "ACME'; DROP TABLE customers;--"}, MISSING, "unknown customer"),
    ToolInput("SQL in a SKU", SO, _order(sku="V-200' OR '1'='1"), MISSING, "unknown SKU"),
    ToolInput("SQL in a search", "find_items", {"query": "'; DROP TABLE items;--"}, MISSING, "unknown item"),
    ToolInput("markup in a SKU", ATP, {"sku": "<script>alert(1)</script>"}, MISSING, "unknown SKU"),
    ToolInput("markup in a customer", SO, _order(customer="<img src=x onerror=alert(1)>"), MISSING, "unknown customer"),
    ToolInput("very long customer", SO, _order(customer="A" * 10_000), INVALID, "at most 160 characters"),
    ToolInput("very long reference", SO, _order(customer_reference="x" * 5_000), INVALID, "at most 64 characters"),
    ToolInput("very long search", "find_items", {"query": "valve " * 2_000}, INVALID, "at most 200 characters"),
    ToolInput("unpaired surrogate (not UTF-8)", ATP, '{"sku": "V-\\udc80"}', INVALID, "unicode"),
    ToolInput("arguments that are not JSON", ATP, '{"sku": "V-200"', INVALID, "not valid JSON"),
    ToolInput("a NUL character (PostgreSQL cannot store it)", ATP, {"sku": "V-2\x0000"}, INVALID, "NUL character"),
    ToolInput("a NUL character in a line", SO, _order(sku="V-200\x00"), INVALID, "NUL character"),
    ToolInput("unknown case action", CASE_ACTION, {"case_number": "EX-1", "action": "delete"}, INVALID, "action"),
    ToolInput("UK user naming DAL", ATP, {"sku": "V-200", "warehouse": "DAL"}, SCOPE, OUTSIDE, user="uma"),
    ToolInput("UK user moving DAL stock", TR, _transfer(1), SCOPE, OUTSIDE, user="uma"),
    ToolInput("UK user shipping into DAL", TR, _transfer(1, source="BHM", target="DAL"), SCOPE, OUTSIDE, user="uma"),
    ToolInput("UK user selling to an NA customer", SO, _order(), SCOPE, OUTSIDE, user="uma"),
    ToolInput("UK user reading NA credit", CREDIT, {"customer": "ACME"}, SCOPE, OUTSIDE, user="uma"),
    ToolInput("UK user reading an NA order", ORDER, {"order_number": "SO-1"}, SCOPE, OUTSIDE, user="uma"),
    ToolInput("NA user reading a UK order", ORDER, lambda c: {"order_number": c.uk_order}, SCOPE, OUTSIDE),
    ToolInput(
        "NA user releasing a UK hold", RELEASE, lambda c: {"customer": c.uk_customer, "reason": "paid"}, SCOPE, OUTSIDE
    ),
    ToolInput("forged draft DR-999999", DRAFT, {"draft_number": "DR-999999"}, MISSING, "unknown draft"),
    ToolInput("forged draft with SQL", DRAFT, {"draft_number": "DR-1; DROP TABLE"}, MISSING, "DR-<number>"),
    ToolInput("another entity's draft", DRAFT, lambda c: {"draft_number": c.sams_draft}, SCOPE, OUTSIDE, user="uma"),
    ToolInput("forged case with SQL", "get_exception", {"case_number": "EX-1 OR 1=1"}, MISSING, "EX-<number>"),
]


def _call(company: Company, user: str, tool: str, arguments: dict[str, Any] | str) -> dict[str, Any]:
    actor = company.db.read(lambda s: load_actor(s, username=user))
    return default_registry().call(company.db, ToolContext(actor=actor, channel="web"), tool, arguments)


def _tool_problem(company: Company, case: ToolInput) -> str | None:
    before = company.db.read(fingerprint)
    result = _call(company, case.user, case.tool, case.resolved(company))
    changed = company.db.read(fingerprint) != before
    message = str(result.get("message", ""))
    if result.get("error") != case.code or case.hint.lower() not in message.lower() or changed:
        return f"{case.what}: {result} {'(and the state changed)' if changed else ''}"
    return None


def test_bad_inputs_to_the_tools_are_refused_clearly_and_change_nothing(company: Company) -> None:
    print("\n".join(f"{c.what:36} {c.user:6} {c.tool:28} -> {c.code}" for c in TOOL_INPUTS))
    problems = [p for p in (_tool_problem(company, case) for case in TOOL_INPUTS) if p]
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize("spelling", ["v200", " V-200 ", "v-200", "V 200"])
def test_a_sku_written_loosely_resolves_to_that_sku_and_never_another(company: Company, spelling: str) -> None:
    result = _call(company, "sam", "check_availability", {"sku": spelling})
    assert result["sku"] == "V-200", result


# --- bad inputs through the web API --------------------------------------------------------------


@dataclass(frozen=True)
class ApiInput:
    what: str
    method: str
    path: str | Callable[[Company, str], str]  # a callable is given the company and maria's conversation id
    body: bytes | dict[str, Any] | None
    status: int
    code: str
    hint: str
    user: str = "maria"  # NA manager

    def resolved(self, company: Company, conversation: str) -> str:
        return self.path(company, conversation) if callable(self.path) else self.path


def _chat(_: Company, conversation: str) -> str:
    return f"/api/conversations/{conversation}/messages"


def _comment(company: Company, _: str) -> str:
    return f"/api/exceptions/{company.cases[0]}/comment"


LONG = "x" * 4_001
BAD, GONE, SCOPED, OUTSIDE_SCOPE = "invalid_input", "not_found", "out_of_scope", "outside your scope"


def _sams_draft(suffix: str = "") -> Callable[[Company, str], str]:
    return lambda company, _: f"/api/drafts/{company.sams_draft}{suffix}"


def _uk_record(attribute: str) -> Callable[[Company, str], str]:
    return lambda company, _: f"/api/records/{getattr(company, attribute)}"


API_INPUTS = [
    ApiInput("bytes that are not UTF-8", "POST", "/api/conversations", b'\xff\xfe{"title": "x"}', 422, BAD, "UTF-8"),
    ApiInput("latin-1 inside JSON", "POST", _chat, b'{"text": "caf\xe9"}', 422, BAD, "UTF-8"),
    ApiInput("unpaired surrogate", "POST", "/api/conversations", b'{"title": "\\udc80"}', 422, BAD, "unicode"),
    ApiInput("JSON cut short", "POST", "/api/conversations", b'{"title": ', 422, BAD, "not valid JSON"),
    ApiInput("a NUL character in a body", "POST", "/api/conversations", {"title": "a\x00b"}, 422, BAD, "NUL character"),
    ApiInput(
        "a NUL character in a list",
        "POST",
        "/api/approvals/bulk",
        {"action": "approve", "numbers": ["DR-1\x00"]},
        422,
        BAD,
        "NUL character",
    ),
    ApiInput("a NUL character in a path", "GET", "/api/records/AC%00ME", None, 422, BAD, "NUL character"),
    ApiInput("a NUL character in a query", "GET", "/api/exceptions?entity=N%00A", None, 422, BAD, "NUL character"),
    ApiInput(
        "a NUL character signing in",
        "POST",
        "/api/session",
        {"username": "s\x00m", "password": "x"},
        422,
        BAD,
        "NUL character",
    ),
    ApiInput("an unknown field", "POST", "/api/tokens", {"name": "x", "admin": True}, 422, BAD, "admin"),
    ApiInput("negative token days", "POST", "/api/tokens", {"name": "x", "days": -1}, 422, BAD, "days"),
    ApiInput("zero token days", "POST", "/api/tokens", {"name": "x", "days": 0}, 422, BAD, "days"),
    ApiInput("huge token days", "POST", "/api/tokens", {"name": "x", "days": 10**9}, 422, BAD, "days"),
    ApiInput("fractional token days", "POST", "/api/tokens", {"name": "x", "days": 1.5}, 422, BAD, "days"),
    ApiInput("huge token id", "DELETE", "/api/tokens/99999999999999999999", None, 422, BAD, "token_id"),
    ApiInput("negative token id", "DELETE", "/api/tokens/-1", None, 422, BAD, "token_id"),
    ApiInput("zero history limit", "GET", "/api/approvals/history?limit=0", None, 422, BAD, "limit"),
    ApiInput("huge history limit", "GET", "/api/approvals/history?limit=10000000", None, 422, BAD, "limit"),
    ApiInput("fractional history limit", "GET", "/api/approvals/history?limit=1.5", None, 422, BAD, "limit"),
    ApiInput("negative value filter", "GET", "/api/approvals?min_value=-5", None, 422, BAD, "min_value"),
    ApiInput("NaN value filter", "GET", "/api/approvals?min_value=NaN", None, 422, BAD, "finite"),
    ApiInput("look-alike SKU V-2OO", "GET", "/api/records/V-2OO", None, 404, GONE, "did you mean V-200"),
    ApiInput("markup as a record", "GET", "/api/records/%3Cimg%20src%3Dx%20onerror%3D1%3E", None, 404, GONE, "unknown"),
    ApiInput("SQL as a record", "GET", "/api/records/ACME'%20OR%20'1'='1", None, 404, GONE, "unknown"),
    ApiInput("very long record", "GET", "/api/records/" + "A" * 5_000, None, 404, GONE, "unknown"),
    ApiInput("SQL as an owner", "GET", "/api/exceptions?owner=x'%20OR%20'1'='1", None, 404, GONE, "unknown user"),
    ApiInput("unknown status filter", "GET", "/api/exceptions?status=all;DROP", None, 422, BAD, "status"),
    ApiInput("NA user opening a UK order", "GET", _uk_record("uk_order"), None, 403, SCOPED, OUTSIDE_SCOPE, "sam"),
    ApiInput(
        "NA user opening a UK customer", "GET", _uk_record("uk_customer"), None, 403, SCOPED, OUTSIDE_SCOPE, "sam"
    ),
    ApiInput("NA user listing UK cases", "GET", "/api/exceptions?entity=UK", None, 403, SCOPED, OUTSIDE_SCOPE, "sam"),
    ApiInput("UK user opening an NA draft", "GET", _sams_draft(), None, 403, SCOPED, OUTSIDE_SCOPE, "uma"),
    ApiInput("UK user approving an NA draft", "POST", _sams_draft("/approve"), {}, 403, SCOPED, OUTSIDE_SCOPE, "uma"),
    ApiInput("forged draft DR-999999", "POST", "/api/drafts/DR-999999/approve", {}, 404, GONE, "unknown draft"),
    ApiInput("forged draft with SQL", "POST", "/api/drafts/DR-1;%20DROP%20TABLE/approve", {}, 404, GONE, "DR-<number>"),
    ApiInput("approving one's own draft", "POST", _sams_draft("/approve"), {}, 403, "permission_denied", "else", "sam"),
    ApiInput("rejecting without a reason", "POST", _sams_draft("/reject"), {"comment": ""}, 422, BAD, "comment"),
    ApiInput("a message over 4,000 characters", "POST", _chat, {"text": LONG}, 413, "too_large", "4,000"),
    ApiInput("a comment over 2,000 characters", "POST", _comment, {"text": LONG}, 422, BAD, "2000 characters"),
    ApiInput("another user's conversation", "POST", _chat, {"text": "hi"}, 404, GONE, "unknown conversation", "sam"),
]


def _send(client: TestClient, company: Company, case: ApiInput, conversation: str) -> Any:
    headers = company.headers(case.user)
    path = case.resolved(company, conversation)
    if isinstance(case.body, bytes):
        return client.request(
            case.method, path, content=case.body, headers={**headers, "Content-Type": "application/json"}
        )
    return client.request(case.method, path, json=case.body, headers=headers)


def _api_problem(client: TestClient, company: Company, case: ApiInput, conversation: str) -> str | None:
    before = company.db.read(fingerprint)
    response = _send(client, company, case, conversation)
    changed = company.db.read(fingerprint) != before
    body = response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
    wrong = (response.status_code, body.get("code")) != (case.status, case.code)
    wrong = wrong or response.headers.get("x-content-type-options") != "nosniff"  # refusals keep the API headers
    if wrong or case.hint.lower() not in str(body.get("message", "")).lower() or changed:
        return (
            f"{case.what}: {response.status_code} {response.text[:300]} {'(and the state changed)' if changed else ''}"
        )
    return None


def test_bad_inputs_to_the_api_get_a_4xx_that_says_what_to_fix_and_change_nothing(
    client: TestClient, company: Company
) -> None:
    conversation = client.post("/api/conversations", json={}, headers=company.headers("maria")).json()["id"]
    print("\n".join(f"{c.what:36} {c.user:6} {c.method:6} -> {c.status} {c.code}" for c in API_INPUTS))
    problems = [p for p in (_api_problem(client, company, case, conversation) for case in API_INPUTS) if p]
    assert problems == [], "\n".join(problems)


def test_bulk_decisions_on_forged_numbers_refuse_each_and_change_nothing(client: TestClient, company: Company) -> None:
    forged = ["DR-999999", "DR-1; DROP TABLE", "DR-0", "' OR 1=1 --", company.sams_draft]
    before = company.db.read(fingerprint)
    response = client.post(
        "/api/approvals/bulk", json={"action": "approve", "numbers": forged}, headers=company.headers("sam")
    )
    assert response.status_code == 200
    results = {r["number"]: r for r in response.json()["results"]}
    assert all(not r["ok"] and r["error"]["message"] for r in results.values()), results
    assert results[company.sams_draft]["error"]["code"] == "permission_denied"  # his own
    assert {results[n]["error"]["code"] for n in forged[:4]} == {"not_found"}
    assert company.db.read(fingerprint) == before


def test_bad_tool_input_through_the_chat_is_answered_as_an_error_and_changes_nothing(
    client: TestClient, company: Company
) -> None:
    headers = company.headers("uma")
    conversation = client.post("/api/conversations", json={}, headers=headers).json()["id"]
    asks = [
        ("draft_sales_order", _order(quantity=-1), "invalid_arguments"),
        ("draft_transfer", _transfer(3), "out_of_scope"),  # a UK user naming DAL
        ("check_availability", {"sku": "V-2OO", "warehouse": "BHM"}, "not_found"),
    ]
    for tool, arguments, code in asks:
        before = company.db.read(fingerprint)
        path = f"/api/conversations/{conversation}/messages"
        response = client.post(path, json={"text": chat_text(tool, arguments)}, headers=headers)
        after = company.db.read(fingerprint)
        events = dict(sse_events(response.text))
        assert response.status_code == 200 and json.loads(events["answer"]["text"])["error"] == code, response.text
        assert events["tool_result"]["ok"] is False and events["tool_result"]["error"]
        assert "draft" not in events
        assert after.pop("turns") == before.pop("turns") + 1  # the turn itself is recorded, nothing else
        assert after == before


def test_markup_in_a_comment_is_kept_as_text_and_served_as_json(client: TestClient, company: Company) -> None:
    markup = "<script>alert(document.cookie)</script><img src=x onerror=alert(1)>"
    response = client.post(
        f"/api/exceptions/{company.cases[0]}/comment", json={"text": markup}, headers=company.headers("maria")
    )
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.json()["events"][-1]["text"] == markup
