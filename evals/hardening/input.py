"""Hostile input: generated requests against the OpenAPI schema, and tables of bad inputs through the tools and
the web API.

Every bad input must get a clear refusal (a stable code and a message saying what to fix), a 4xx over HTTP (never
a 5xx), and leave the company exactly as it was: drafts and their statuses, stock, cases and their timelines,
documents, the audit log, conversations and credentials (`fingerprint`). Every generated request must get an answer
the schema documents (status code, content type, body, headers), never a 5xx, and invalid data must be refused.

    .venv/bin/python -m evals.hardening.input [--examples 300] [--backend sqlite|postgresql]

builds the demo company, runs schemathesis over every operation (positive and negative modes), then both tables,
and writes `hardening-input-latest.md` and `.json`. `tests/test_hardening_input.py` runs the same with few
examples on the test database.
"""

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from rich.console import Console
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.core.result import Ok
from schemathesis.generation.case import Case
from schemathesis.schemas import APIOperation, BaseSchema
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
from evals.common.tables import Grid, Machine, to_rich
from tools import ToolContext, default_registry
from evals.common.company import BUSINESS_DATE, demo_company, fingerprint
from evals.common.results import RESULTS_DIR, write_results
from evals.common.tables import machine
from evals.common.web import web_client
from evals.common.results import results_page

STEM = "hardening-input"
Operation = APIOperation[Any, Any, Any, Any]
DISCOUNTED = {"customer": "ACME", "lines": [{"sku": "V-200", "quantity": 1, "discount_pct": "20"}]}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    negative_data_rejection,
]
SERVER_ERROR = "ServerError"  # schemathesis' failure for a 5xx; every other failure is a schema violation
RAISED = "raised "  # the app raised instead of answering (a 5xx behind a real server)
# Invalid requests may also be refused as too large (a chat message over 4,000 characters) or too frequent.
REJECTIONS = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429"]
REPORTS_KEPT = 3  # failure reports kept per operation run: enough to see a bug, short enough to read
MESSAGE_WORDS, MESSAGE_CHARS = 8, 80  # how much of a refusal's message the report shows


# --- The company the inputs name -----------------------------------------------------------------------------


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
        """The bearer-token header that signs in as `username`."""
        return {"Authorization": f"Bearer {self.tokens[username]}"}


USERS = ("sam", "uma", "maria", "bea", "grace")


def _uk(session: Session) -> tuple[str, str]:
    uk = session.scalars(select(LegalEntity.id).where(LegalEntity.code == "UK")).one()
    order = session.scalars(select(SalesOrder).where(SalesOrder.entity_id == uk).order_by(SalesOrder.id)).first()
    customer = session.scalars(select(Customer.code).where(Customer.entity_id == uk).order_by(Customer.id)).first()
    assert order is not None and customer is not None, "the demo company has a UK order and a UK customer"
    return order.number, customer


def sams_discounted_draft(db: Database) -> str:
    """A sales order of sam's at a discount that waits for a manager's approval; its number."""
    sam = db.read(lambda s: load_actor(s, username="sam"))
    draft = db.run(lambda s: draft_action(s, RequestContext(sam, "web"), kind="sales_order", payload=DISCOUNTED))
    return draft.number


def build_company(db: Database) -> Company:
    """Cases raised, a token for each user the inputs sign in as, a draft of sam's, and the UK records named."""
    db.run(detect_exceptions)
    tokens = db.run(lambda s: {u: issue_token(s, load_actor(s, username=u), name="hostile input").token for u in USERS})
    draft = sams_discounted_draft(db)
    uk_order, uk_customer = db.read(_uk)
    cases = db.read(lambda s: [c.number for c in s.scalars(select(ExceptionCase).order_by(ExceptionCase.id).limit(2))])
    return Company(db, tokens, draft, uk_order, uk_customer, cases)


def open_conversation(client: TestClient, company: Company, username: str) -> str:
    """A new conversation of `username`'s, opened through the API; its id."""
    return str(client.post("/api/conversations", json={}, headers=company.headers(username)).json()["id"])


# --- Generated requests ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Budget:
    """How many requests schemathesis generates per operation and mode, and per real id of a path parameter."""

    examples: int
    known_examples: int
    few: dict[str, int]  # operations that are slow on purpose get fewer


FAST = Budget(examples=8, known_examples=3, few={"POST /api/session": 3})  # each failed sign-in hashes a password


@dataclass
class OperationRun:
    """The requests one operation was sent in one mode (ids generated, or a path parameter fixed), and the
    answers: the status codes, and the checks that failed."""

    operation: str
    mode: str
    fixed: dict[str, str]
    requests: int = 0
    statuses: dict[int, int] = field(default_factory=dict)  # status code -> requests
    failed_requests: int = 0
    failures: dict[str, int] = field(default_factory=dict)  # schemathesis' failure kind -> requests
    reports: list[str] = field(default_factory=list)
    unsatisfiable: bool = False  # nothing about the operation can be made invalid
    seconds: float = 0.0

    @property
    def server_errors(self) -> int:
        """Requests answered with a 5xx (or that crashed the app)."""
        return sum(n for kind, n in self.failures.items() if kind == SERVER_ERROR or kind.startswith(RAISED))

    @property
    def violations(self) -> int:
        """Failed checks other than a 5xx: an undocumented status, content type, body or header, or invalid data
        accepted."""
        return sum(self.failures.values()) - self.server_errors

    def record(self, response: Any, failures: Sequence[Exception]) -> None:
        """Count one request, its status code (None when the app raised) and its failures."""
        self.requests += 1
        if response is not None:
            _count(self.statuses, response.status_code)
        if failures:
            self.failed_requests += 1
        for failure in failures:
            _count(self.failures, _kind(failure))

    def keep_report(self, report: str) -> None:
        """Keep the first few failure reports."""
        if len(self.reports) < REPORTS_KEPT:
            self.reports.append(f"{self.operation} ({self.mode}, {self.fixed or 'generated ids'}):\n{report}")


def _count(tally: dict[Any, int], key: Any, n: int = 1) -> None:
    tally[key] = tally.get(key, 0) + n


def _kind(failure: Exception) -> str:
    """schemathesis' failure class (`ServerError`, `JsonSchemaError`, ...), or `raised <type>` for an exception."""
    return type(failure).__name__ if isinstance(failure, Failure) else RAISED + type(failure).__name__


@dataclass
class SchemaRun:
    """Every operation's runs, and what schemathesis could not read of the schema."""

    runs: list[OperationRun]
    unreadable: list[str]

    @property
    def reports(self) -> list[str]:
        """Everything that went wrong, as readable reports; empty when every answer was as documented."""
        unreadable = [f"the schema has an operation schemathesis cannot read: {e}" for e in self.unreadable]
        return unreadable + [report for run in self.runs for report in run.reports]

    @property
    def failed_requests(self) -> int:
        """Requests with at least one failed check."""
        return sum(run.failed_requests for run in self.runs)


def _send_and_check(case: Case[Any], headers: dict[str, str], run: OperationRun) -> None:
    """One generated request and its checks; a failure is counted, not raised, so the run goes on."""
    response = None
    try:
        response = case.call(headers=headers)
        case.validate_response(response, checks=CHECKS, headers=headers, transport_kwargs={"headers": headers})
        run.record(response, [])
    except FailureGroup as group:
        run.record(response, list(group.exceptions))
        run.keep_report(group.message)
    except Exception as crash:  # the app raised instead of answering: as bad as a 5xx
        run.record(response, [crash])
        run.keep_report(f"{type(crash).__name__}: {crash}")


def run_operation(
    operation: Operation,
    mode: GenerationMode,
    examples: int,
    headers: dict[str, str],
    path_parameters: dict[str, str] | None = None,
) -> OperationRun:
    """Generated requests for one operation in one mode (path parameters fixed if given), each sent and checked."""
    run = OperationRun(operation.label, mode.value, dict(path_parameters or {}))

    @given(case=operation.as_strategy(generation_mode=mode, path_parameters=path_parameters))
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],
    )
    def generated(case: Case[Any]) -> None:
        _send_and_check(case, headers, run)

    started = time.perf_counter()
    try:
        generated()
    except Unsatisfiable:  # nothing about this operation can be made invalid (no body, no constrained query)
        run.unsatisfiable = True
    run.seconds = time.perf_counter() - started
    return run


def can_be_invalid(operation: Operation) -> bool:
    """A body, a query or a typed path parameter can be sent invalid; a free-text path parameter cannot."""
    typed = any(p.definition.get("schema", {}).get("type") != "string" for p in operation.path_parameters)
    return bool(operation.body) or bool(operation.query) or typed


def known_values(company: Company, client: TestClient) -> dict[str, list[str]]:
    """Real ids for the path parameter of the routes under each prefix: random strings only ever reach the
    not-found branch."""
    conversation = open_conversation(client, company, "maria")
    drafts = [sams_discounted_draft(company.db) for _ in range(2)]  # maria may approve or reject them
    return {
        "/api/drafts/": drafts,
        "/api/exceptions/": company.cases,
        "/api/conversations/": [conversation],
        "/api/records/": ["SO-1", company.uk_order, "PO-1", "TR-1", drafts[0], company.cases[0], "V-200", "ACME"],
    }


def app_schema(client: TestClient) -> BaseSchema:
    """The service's own OpenAPI schema, with the refusals invalid data may get."""
    config = schemathesis.Config.from_dict({"checks": {"negative_data_rejection": {"expected-statuses": REJECTIONS}}})
    return schemathesis.openapi.from_asgi("/openapi.json", client.app, config=config)


def _operation_runs(
    operation: Operation, company: Company, known: dict[str, list[str]], budget: Budget
) -> list[OperationRun]:
    """One operation in positive mode (and negative when it can be invalid), then once per real id."""
    # revoking a token by a guessed id must not revoke the token the run signs in with
    headers = company.headers("grace" if operation.path == "/api/tokens/{token_id}" else "maria")
    examples = budget.few.get(operation.label, budget.examples)
    modes = [GenerationMode.POSITIVE] + ([GenerationMode.NEGATIVE] if can_be_invalid(operation) else [])
    runs = [run_operation(operation, mode, examples, headers) for mode in modes]
    values = next((ids for prefix, ids in known.items() if operation.path.startswith(prefix)), [])
    for parameter in operation.path_parameters:
        for value in values:
            fixed = {parameter.name: value}
            runs.append(run_operation(operation, GenerationMode.POSITIVE, budget.known_examples, headers, fixed))
    return runs


def generated_requests(
    company: Company, client: TestClient, budget: Budget, progress: Callable[[list[OperationRun]], None] | None = None
) -> SchemaRun:
    """schemathesis against the app's own OpenAPI schema, signed in as maria with a bearer token.

    The chat's message route is included: its Server-Sent Events are checked event by event against the schema
    (each `data:` JSON), with a model that echoes what it is asked.
    """
    known = known_values(company, client)
    result = SchemaRun([], [])
    for found in app_schema(client).get_all_operations():
        if not isinstance(found, Ok):
            result.unreadable.append(str(found.err()))
            continue
        runs = _operation_runs(found.ok(), company, known, budget)
        result.runs += runs
        if progress is not None:
            progress(runs)
    return result


# --- Bad inputs and their refusals -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Refusal:
    """What one bad input got back, and why it is not the clear refusal expected (None when it is)."""

    what: str
    via: str
    expected: str
    status: int | None  # HTTP only
    code: str | None
    message: str
    unchanged: bool  # the company's fingerprint stayed the same
    problem: str | None

    @property
    def first_words(self) -> str:
        """The start of the message, for the report."""
        words = self.message.split()
        start = " ".join(words[:MESSAGE_WORDS])
        return start[:MESSAGE_CHARS] + (" ..." if len(words) > MESSAGE_WORDS or len(start) > MESSAGE_CHARS else "")


def _unchanged_while(company: Company, act: Callable[[], Any]) -> tuple[Any, bool]:
    """What `act` returned, and whether the company's fingerprint is the same afterwards."""
    before = company.db.read(fingerprint)
    answer = act()
    return answer, company.db.read(fingerprint) == before


def _state_note(unchanged: bool) -> str:
    return "" if unchanged else " (and the state changed)"


# --- ... through the tools ---


def sales_order_args(
    sku: str = "V-200", quantity: Any = 1, customer: str = "ACME", discount_pct: Any = 0, **extra: Any
) -> dict[str, Any]:
    """`draft_sales_order` arguments for one line, any field replaceable by a bad value."""
    return {"customer": customer, "lines": [{"sku": sku, "quantity": quantity, "discount_pct": discount_pct}], **extra}


def transfer_args(quantity: Any, source: str = "DAL", target: str = "ATL") -> dict[str, Any]:
    """`draft_transfer` arguments for one line of V-200."""
    return {"from_warehouse": source, "to_warehouse": target, "lines": [{"sku": "V-200", "quantity": quantity}]}


Arguments = dict[str, Any] | str | Callable[[Company], dict[str, Any]]


@dataclass(frozen=True)
class ToolInput:
    """A bad input to one tool, and the refusal it must get."""

    what: str
    tool: str
    arguments: Arguments  # a callable is given the company (for ids known only at run time)
    code: str
    hint: str  # the message says what to fix
    user: str = "sam"  # NA sales

    def resolved(self, company: Company) -> dict[str, Any] | str:
        """The arguments, with the company's ids filled in."""
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
    ToolInput("negative quantity", SO, sales_order_args(quantity=-1), INVALID, POSITIVE),
    ToolInput("zero quantity", SO, sales_order_args(quantity=0), INVALID, POSITIVE),
    ToolInput("huge quantity", SO, sales_order_args(quantity=1_000_001), INVALID, AT_MOST_A_MILLION),
    ToolInput("fractional quantity", SO, sales_order_args(quantity=1.5), INVALID, WHOLE),
    ToolInput("fractional quantity as text", SO, sales_order_args(quantity="2.5"), INVALID, "quantity"),
    ToolInput("negative transfer", TR, transfer_args(-5), INVALID, POSITIVE),
    ToolInput("zero transfer", TR, transfer_args(0), INVALID, POSITIVE),
    ToolInput("huge transfer", TR, transfer_args(10**12), INVALID, AT_MOST_A_MILLION),
    ToolInput("fractional transfer", TR, transfer_args(0.25), INVALID, WHOLE),
    ToolInput("negative ATP quantity", ATP, {"sku": "V-200", "quantity": -3}, INVALID, "greater than or equal to 1"),
    ToolInput("huge ATP quantity", ATP, {"sku": "V-200", "quantity": 10**7}, INVALID, AT_MOST_A_MILLION),
    ToolInput("negative unit cost", PO, NEGATIVE_COST, INVALID, "greater than or equal to 0", user="bea"),
    ToolInput("discount over 100%", SO, sales_order_args(discount_pct=150), INVALID, "less than or equal to 100"),
    ToolInput("line 0 of an order", "draft_order_change", {"order_number": "SO-1", "line_no": 0}, INVALID, "line_no"),
    ToolInput("look-alike SKU V-2OO (letter O)", SO, sales_order_args(sku="V-2OO"), MISSING, "did you mean V-200"),
    ToolInput("look-alike SKU in ATP", ATP, {"sku": "V-2OO"}, MISSING, "did you mean V-200"),
    ToolInput("unknown SKU", SO, sales_order_args(sku="Z-999"), MISSING, "unknown SKU 'Z-999'"),
    ToolInput("SQL in a customer", CREDIT, {"customer": "ACME'; DROP TABLE customers;--"}, MISSING, "unknown customer"),
    ToolInput("SQL in a SKU", SO, sales_order_args(sku="V-200' OR '1'='1"), MISSING, "unknown SKU"),
    ToolInput("SQL in a search", "find_items", {"query": "'; DROP TABLE items;--"}, MISSING, "unknown item"),
    ToolInput("markup in a SKU", ATP, {"sku": "<script>alert(1)</script>"}, MISSING, "unknown SKU"),
    ToolInput(
        "markup in a customer",
        SO,
        sales_order_args(customer="<img src=x onerror=alert(1)>"),
        MISSING,
        "unknown customer",
    ),
    ToolInput("very long customer", SO, sales_order_args(customer="A" * 10_000), INVALID, "at most 160 characters"),
    ToolInput(
        "very long reference", SO, sales_order_args(customer_reference="x" * 5_000), INVALID, "at most 64 characters"
    ),
    ToolInput("very long search", "find_items", {"query": "valve " * 2_000}, INVALID, "at most 200 characters"),
    ToolInput("unpaired surrogate (not UTF-8)", ATP, '{"sku": "V-\\udc80"}', INVALID, "unicode"),
    ToolInput("arguments that are not JSON", ATP, '{"sku": "V-200"', INVALID, "not valid JSON"),
    ToolInput("a NUL character (PostgreSQL cannot store it)", ATP, {"sku": "V-2\x0000"}, INVALID, "NUL character"),
    ToolInput("a NUL character in a line", SO, sales_order_args(sku="V-200\x00"), INVALID, "NUL character"),
    ToolInput("unknown case action", CASE_ACTION, {"case_number": "EX-1", "action": "delete"}, INVALID, "action"),
    ToolInput("UK user naming DAL", ATP, {"sku": "V-200", "warehouse": "DAL"}, SCOPE, OUTSIDE, user="uma"),
    ToolInput("UK user moving DAL stock", TR, transfer_args(1), SCOPE, OUTSIDE, user="uma"),
    ToolInput(
        "UK user shipping into DAL", TR, transfer_args(1, source="BHM", target="DAL"), SCOPE, OUTSIDE, user="uma"
    ),
    ToolInput("UK user selling to an NA customer", SO, sales_order_args(), SCOPE, OUTSIDE, user="uma"),
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


def call_tool(company: Company, user: str, tool: str, arguments: dict[str, Any] | str) -> dict[str, Any]:
    """One tool called as `user` on the web channel; its result."""
    actor = company.db.read(lambda s: load_actor(s, username=user))
    return default_registry().call(company.db, ToolContext(actor=actor, channel="web"), tool, arguments)


def refuse_tool_input(company: Company, case: ToolInput) -> Refusal:
    """One bad input through its tool: the refusal it got, and whether the company stayed as it was."""
    result, unchanged = _unchanged_while(
        company, lambda: call_tool(company, case.user, case.tool, case.resolved(company))
    )
    code, message = result.get("error"), str(result.get("message", ""))
    wrong = code != case.code or case.hint.lower() not in message.lower() or not unchanged
    problem = f"{case.what}: {result}{_state_note(unchanged)}" if wrong else None
    via = f"{case.tool} as {case.user}"
    return Refusal(case.what, via, case.code, None, code, message, unchanged, problem)


def tool_refusals(company: Company) -> list[Refusal]:
    """Every bad input of TOOL_INPUTS through its tool."""
    return [refuse_tool_input(company, case) for case in TOOL_INPUTS]


# --- ... through the web API ---


@dataclass(frozen=True)
class ApiInput:
    """A bad request to the web API, and the refusal it must get."""

    what: str
    method: str
    path: str | Callable[[Company, str], str]  # a callable is given the company and maria's conversation id
    body: bytes | dict[str, Any] | None
    status: int
    code: str
    hint: str
    user: str = "maria"  # NA manager

    def resolved(self, company: Company, conversation: str) -> str:
        """The path, with the company's ids filled in."""
        return self.path(company, conversation) if callable(self.path) else self.path


def _chat(_: Company, conversation: str) -> str:
    return f"/api/conversations/{conversation}/messages"


def _case(action: str) -> Callable[[Company, str], str]:
    return lambda company, _: f"/api/exceptions/{company.cases[0]}/{action}"


LONG = "x" * 4_001
DISMISS_AS_NUMBER = {"resolution": "paid in full", "dismiss": 1}  # JSON types are not coerced (`true` is not 1)
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
    ApiInput("true as token days (not a number)", "POST", "/api/tokens", {"name": "x", "days": True}, 422, BAD, "days"),
    ApiInput("token days as text", "POST", "/api/tokens", {"name": "x", "days": "30"}, 422, BAD, "days"),
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
    ApiInput("a comment over 2,000 characters", "POST", _case("comment"), {"text": LONG}, 422, BAD, "2000 characters"),
    ApiInput("a number as dismiss (not a boolean)", "POST", _case("resolve"), DISMISS_AS_NUMBER, 422, BAD, "dismiss"),
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


def refuse_api_input(client: TestClient, company: Company, case: ApiInput, conversation: str) -> Refusal:
    """One bad request: the refusal it got (status, code, message, the API's headers kept), and whether the
    company stayed as it was."""
    response, unchanged = _unchanged_while(company, lambda: _send(client, company, case, conversation))
    body = response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
    code, message = body.get("code"), str(body.get("message", ""))
    wrong = (response.status_code, code) != (case.status, case.code)
    wrong = wrong or response.headers.get("x-content-type-options") != "nosniff"  # refusals keep the API headers
    wrong = wrong or case.hint.lower() not in message.lower() or not unchanged
    problem = f"{case.what}: {response.status_code} {response.text[:300]}{_state_note(unchanged)}" if wrong else None
    via = f"{case.method} {case.resolved(company, conversation)[:60]} as {case.user}"
    return Refusal(
        case.what, via, f"{case.status} {case.code}", response.status_code, code, message, unchanged, problem
    )


def api_refusals(client: TestClient, company: Company) -> list[Refusal]:
    """Every bad request of API_INPUTS, maria's chat ones into a conversation of hers."""
    conversation = open_conversation(client, company, "maria")
    return [refuse_api_input(client, company, case, conversation) for case in API_INPUTS]


def problems(refusals: Iterable[Refusal]) -> list[str]:
    """Why each refusal that is not the one expected is wrong."""
    return [r.problem for r in refusals if r.problem is not None]


# --- The hardening run -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InputRun:
    """Everything one run sent and saw, with the machine it ran on."""

    machine: Machine
    command: str
    backend: str
    budget: Budget
    schema: SchemaRun
    tools: list[Refusal]
    api: list[Refusal]
    company_seconds: float
    schema_seconds: float
    tables_seconds: float

    @property
    def failures(self) -> int:
        """Failed generated requests, unreadable operations and bad inputs not refused as expected."""
        refused_wrongly = len(problems(self.tools)) + len(problems(self.api))
        return self.schema.failed_requests + len(self.schema.unreadable) + refused_wrongly

    @property
    def reports(self) -> list[str]:
        """Every failure, as a readable report."""
        return self.schema.reports + problems(self.tools) + problems(self.api)

    @property
    def seconds(self) -> float:
        """The whole run."""
        return self.company_seconds + self.schema_seconds + self.tables_seconds


def measure(backend: str, budget: Budget, console: Console, command: str) -> InputRun:
    """A fresh demo company on `backend`; the generated requests, then both tables of bad inputs."""
    os.environ.setdefault("ERP_TODAY", BUSINESS_DATE)
    began = time.perf_counter()
    demo = demo_company(backend, items=500, months=12, seed=7, keep=False, pool_size=5)  # DemoConfig()'s company
    with tempfile.TemporaryDirectory(prefix="erp-input-") as folder, demo as db:
        company = build_company(db)
        loaded = time.perf_counter()
        console.log(f"demo company on {backend} in {loaded - began:.0f} s; generating requests")
        with web_client(db, Path(folder)) as client:
            schema_run = generated_requests(company, client, budget, progress=lambda runs: _progress(console, runs))
            generated = time.perf_counter()
            tools, api = tool_refusals(company), api_refusals(client, company)
    return InputRun(
        machine(),
        command,
        backend,
        budget,
        schema_run,
        tools,
        api,
        loaded - began,
        generated - loaded,
        time.perf_counter() - generated,
    )


def _progress(console: Console, runs: list[OperationRun]) -> None:
    merged = merge(runs)
    failed = f", [bold red]{merged.failed_requests} failed[/]" if merged.failed_requests else ""
    console.log(f"{merged.operation}: {merged.requests} requests, {_statuses(merged.statuses)}{failed}")


def merge(runs: Sequence[OperationRun]) -> OperationRun:
    """One operation's runs added up (all modes and fixed ids)."""
    total = OperationRun(runs[0].operation, "all", {})
    for run in runs:
        total.requests += run.requests
        total.failed_requests += run.failed_requests
        total.seconds += run.seconds
        total.reports += run.reports
        for status, n in run.statuses.items():
            _count(total.statuses, status, n)
        for kind, n in run.failures.items():
            _count(total.failures, kind, n)
    return total


def by_operation(schema_run: SchemaRun) -> dict[str, list[OperationRun]]:
    """The runs grouped by operation, in the schema's order."""
    grouped: dict[str, list[OperationRun]] = {}
    for run in schema_run.runs:
        grouped.setdefault(run.operation, []).append(run)
    return grouped


def _statuses(statuses: dict[int, int]) -> str:
    return " ".join(f"{status}x{n}" for status, n in sorted(statuses.items()))


def _requests_in(runs: Sequence[OperationRun], mode: str, *, fixed: bool) -> int:
    return sum(r.requests for r in runs if r.mode == mode and bool(r.fixed) == fixed)


def _negative_cell(runs: Sequence[OperationRun]) -> str:
    negative = [r for r in runs if r.mode == GenerationMode.NEGATIVE.value]
    sent = sum(r.requests for r in negative)
    if not negative:
        return "-"
    return "cannot be invalid" if sent == 0 and any(r.unsatisfiable for r in negative) else str(sent)


def _operation_row(label: str, runs: list[OperationRun]) -> tuple[str, ...]:
    total = merge(runs)
    return (
        label,
        str(_requests_in(runs, GenerationMode.POSITIVE.value, fixed=False)),
        _negative_cell(runs),
        str(_requests_in(runs, GenerationMode.POSITIVE.value, fixed=True)),
        _statuses(total.statuses),
        str(total.server_errors),
        str(total.violations),
        f"{total.seconds:.1f}",
    )


def operations_grid(run: InputRun) -> Grid:
    """Per operation: the requests sent in each mode, the status codes seen, and the failures."""
    headers = ("operation", "positive", "negative", "real ids", "status codes seen", "5xx", "violations", "s")
    rows = tuple(_operation_row(label, runs) for label, runs in by_operation(run.schema).items())
    return Grid("Generated requests, per operation", headers, rows)


def _verdict(refusal: Refusal) -> str:
    return "PASS" if refusal.problem is None else "FAIL"


def _quoted(text: str) -> str:
    """Text from the service as a code span: markup in it stays text."""
    return "`" + text.replace("`", "'").replace("\n", " ") + "`" if text else ""


def refusals_grid(title: str, refusals: list[Refusal]) -> Grid:
    """Per bad input: the refusal expected and the one it got, the message's first words, the fingerprint."""
    headers = ("bad input", "sent as", "expected", "got", "message", "state unchanged", "result")
    rows = tuple(
        (
            r.what,
            _quoted(r.via),
            r.expected,
            " ".join(str(part) for part in (r.status, r.code) if part is not None),
            _quoted(r.first_words),
            "yes" if r.unchanged else "NO",
            _verdict(r),
        )
        for r in refusals
    )
    return Grid(title, headers, rows)


def totals(run: InputRun) -> dict[str, Any]:
    """The run's totals, as the summary table and the JSON file give them."""
    merged = merge(run.schema.runs) if run.schema.runs else OperationRun("none", "all", {})
    refusals = run.tools + run.api
    return {
        "operations": len(by_operation(run.schema)),
        "requests": merged.requests,
        "status codes": dict(sorted(merged.statuses.items())),
        "failed requests": merged.failed_requests,
        "5xx": merged.server_errors,
        "schema violations": merged.violations,
        "failure kinds": merged.failures,
        "unreadable operations": len(run.schema.unreadable),
        "tool inputs refused as expected": f"{len(run.tools) - len(problems(run.tools))}/{len(run.tools)}",
        "API inputs refused as expected": f"{len(run.api) - len(problems(run.api))}/{len(run.api)}",
        "fingerprint unchanged": f"{sum(r.unchanged for r in refusals)}/{len(refusals)}",
        "failures": run.failures,
        "seconds": {
            "demo company": round(run.company_seconds, 1),
            "generated requests": round(run.schema_seconds, 1),
            "bad-input tables": round(run.tables_seconds, 1),
            "total": round(run.seconds, 1),
        },
    }


def summary_grid(run: InputRun) -> Grid:
    """The totals, one per row."""
    figures = totals(run)
    budget = run.budget
    rows = (
        ("backend", run.backend),
        (
            "examples per operation and mode",
            f"{budget.examples} (per real id {budget.known_examples}; {_figure(budget.few)})",
        ),
        *((name, _figure(value)) for name, value in figures.items()),
    )
    return Grid("Summary", ("", "value"), rows)


def _figure(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}: {v}" for k, v in value.items()) or "none"
    return str(value)


def grids(run: InputRun) -> list[Grid]:
    """Every table of the report, in order."""
    return [
        summary_grid(run),
        operations_grid(run),
        refusals_grid("Bad inputs through the tools", run.tools),
        refusals_grid("Bad inputs through the web API", run.api),
    ]


METHOD = (
    "schemathesis generates requests from the service's own OpenAPI schema (`/openapi.json`) and sends them in"
    " process, signed in as maria (an NA manager) with a bearer token (grace for revoking tokens by id). *Positive*"
    " requests are valid by the schema and must get a documented answer: status code, content type, body and"
    " headers as documented, never a 5xx. *Negative* requests break the schema and must also be refused (a 4xx)."
    " Routes with an id in the path are also sent real ids (drafts, cases, a conversation, records), since random"
    " ids only reach the not-found branch. The chat route answers with a model that echoes what it is asked; its"
    " Server-Sent Events are checked event by event. Then each bad input of the two tables is sent once (through"
    " the tools as the named user, and through the web API), and must get the expected code, a message that says"
    " what to fix, and leave the company's fingerprint (drafts and statuses, stock, cases and timelines, documents,"
    " the audit log, conversations, credentials) unchanged."
)


def markdown_page(run: InputRun) -> str:
    """The report: how, the tables, and any failure reports."""
    heading = f"# Hardening: hostile input, {run.machine.date}"
    how = f"Command: `{run.command}`\n\n{METHOD}"
    found = ["### Failures", "", *(f"```\n{report.strip()}\n```" for report in run.reports)] if run.reports else []
    return results_page(heading, how, grids(run)) + "".join(f"\n{part}\n" for part in found)


def _operation_figures(runs: list[OperationRun]) -> dict[str, Any]:
    total = merge(runs)
    counted = {"server_errors": total.server_errors, "violations": total.violations}
    return {**asdict(total), **counted, "runs": [asdict(r) for r in runs]}


def figures(run: InputRun) -> dict[str, Any]:
    """Every figure of the run, for the JSON file."""
    operations = [_operation_figures(runs) for runs in by_operation(run.schema).values()]
    return {
        "machine": asdict(run.machine),
        "command": run.command,
        "backend": run.backend,
        "budget": asdict(run.budget),
        "totals": totals(run),
        "operations": operations,
        "unreadable": run.schema.unreadable,
        "tool_inputs": [asdict(r) for r in run.tools],
        "api_inputs": [asdict(r) for r in run.api],
        "passed": run.failures == 0,
    }


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """The command line: examples per operation, the backend, where the results go."""
    parser = argparse.ArgumentParser(prog="python -m evals.hardening.input", description=__doc__.splitlines()[0])
    # 100 a mode missed `{"days": true}` taken as 1 day, which 400 found; 300 takes about 7 minutes on 2 cores.
    parser.add_argument("--examples", type=int, default=300, help="requests per operation and mode (default 300)")
    parser.add_argument("--known-examples", type=int, default=20, help="requests per real id (default 20)")
    parser.add_argument("--sign-in-examples", type=int, default=25, help="for POST /api/session (hashes a password)")
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite", help="default sqlite")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="where the results go")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the hostile-input part of `make hardening`; non-zero when anything was not refused as it must be."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(arguments)
    budget = Budget(args.examples, args.known_examples, {"POST /api/session": args.sign_in_examples})
    console = Console(width=None if sys.stdout.isatty() else 160)
    command = " ".join(["python -m evals.hardening.input", *arguments])
    run = measure(args.backend, budget, console, command)
    for grid in grids(run)[:2]:  # the tables of bad inputs are long: they are in the markdown page
        console.print(to_rich(grid))
    for problem in run.reports:
        console.print(problem, markup=False)
    paths = write_results(args.out, STEM, figures(run), markdown_page(run))
    console.log(f"{run.failures} failures in {run.seconds:.0f} s; wrote {', '.join(str(p) for p in paths)}")
    return 0 if run.failures == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
