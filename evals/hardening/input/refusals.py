"""Bad inputs and their refusals, through the tools and through the web API."""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient

from core.masterdata.service import load_actor
from evals.common.company import fingerprint
from evals.hardening.input.company import Company, open_conversation
from tools import ToolContext, ToolOutcome, default_registry

MESSAGE_WORDS, MESSAGE_CHARS = 8, 80  # how much of a refusal's message the report shows

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


def call_tool(company: Company, user: str, tool: str, arguments: dict[str, Any] | str) -> ToolOutcome:
    """One tool called as `user` on the web channel; its outcome."""
    actor = company.db.read(lambda s: load_actor(s, username=user))
    return default_registry().call(company.db, ToolContext(actor=actor, channel="web"), tool, arguments)


def refuse_tool_input(company: Company, case: ToolInput) -> Refusal:
    """One bad input through its tool: the refusal it got, and whether the company stayed as it was."""
    result, unchanged = _unchanged_while(
        company, lambda: call_tool(company, case.user, case.tool, case.resolved(company))
    )
    code, message = (result.error.code, result.error.message) if result.error is not None else (None, "")
    wrong = code != case.code or case.hint.lower() not in message.lower() or not unchanged
    problem = f"{case.what}: {result.data}{_state_note(unchanged)}" if wrong else None
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
