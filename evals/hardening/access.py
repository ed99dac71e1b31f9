"""Who may do what: the access matrix, predicted from the definitions and observed as each user.

For every demo user with one role in NA or in UK (plus the admin and the group manager, who see every
entity), every action on the records of NA and of UK is

- *expected* from the definitions alone: which roles a command needs (`core.actor.ROLE_PERMISSIONS`),
  who may handle an exception case (its routed role, or a managing role), which roles the policy file
  asks to approve a draft (`core.policy`), and each user's roles, entities and approval limit
  (`core.demo.directory`); and
- *performed*, twice: through the tools as that user (`tools.default_registry().call`), and through
  the web API with that user's bearer token (the REST routes, and the chat, answered by a model that
  calls exactly the tool it is told to and answers with the tool's result).

A cell agrees when both ways say "allowed" (the record was shown, the draft was made, the decision
was recorded) exactly where the definitions allow it, and "denied" (403 `permission_denied` or
`out_of_scope`, 404 `not_found` for what is not theirs) everywhere else. Anything else (a different
answer, an error of another kind) is a finding.

    .venv/bin/python -m evals.hardening.access [--out evals/results]

builds the demo company in a temporary SQLite file, prints the matrix and writes
`hardening-access-latest.md`. `tests/test_hardening_access.py` runs the same on the test database.
"""

import argparse
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from core import clock
from core.actor import ROLE_PERMISSIONS, Permission, Role
from core.conversations import open_conversation
from core.db import Database
from core.demo.directory import USERS, WAREHOUSES, user_for
from core.drafts.models import DraftAction
from core.drafts.service import RequestContext, current_policy, draft_action
from core.exceptions import ExceptionCase, detect_exceptions
from core.exceptions.models import ACTIVE_STATUSES
from core.exceptions.service import MANAGING_ROLES
from core.identity import issue_token
from core.masterdata.models import Customer, Supplier
from core.masterdata.service import load_actor
from core.policy import evaluate
from core.policy.facts import Facts
from core.purchasing.models import PurchaseOrder
from core.sales.models import OrderStatus, SalesOrder
from evals.common.audit_check import AuditReport, audit_after_run, watermark
from evals.common.company import BUSINESS_DATE, entity_id_of, most_available_sku
from evals.common.results import RESULTS_DIR
from evals.common.sse import json_or_none, sse_events
from evals.common.web import chat_text, web_client
from tools import Registry, ToolContext, default_registry

TARGETS = ("NA", "UK")
SINGLE_ROLES = (Role.SALES, Role.WAREHOUSE, Role.BUYER, Role.FINANCE, Role.MANAGER)
GROUP_USERS = ("admin", "grace")  # every entity in scope
ALLOWED, NOT_APPLICABLE, REFUSED = "allowed", "n/a", "refused "  # REFUSED + the refusal's code
REFUSAL_CODES = frozenset({"permission_denied", "out_of_scope", "not_found"})  # 403 and 404
OUT_OF_BOUNDS = frozenset({"permission_denied", "out_of_scope"})  # how a record out of reach is refused
DISCOUNT_NEEDING_A_MANAGER = "20"  # percent: above the policy's 15% a salesperson may give
HOLD_REASON = "held for the access matrix"


# --- Who, and on what ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Subject:
    """A demo user as the directory defines them."""

    username: str
    roles: frozenset[Role]
    entities: frozenset[str]
    limit_usd: int

    @property
    def label(self) -> str:
        roles = "+".join(sorted(r.value for r in self.roles))
        return f"{self.username} ({roles}, {'/'.join(sorted(self.entities))})"


def subjects() -> list[Subject]:
    """One user per single role and entity of TARGETS, then the users who see the whole group."""
    names = [user_for(role, entity) for entity in TARGETS for role in SINGLE_ROLES] + list(GROUP_USERS)
    by_name = {u.username: u for u in USERS}
    return [
        Subject(u.username, frozenset(u.roles), frozenset(u.entities), u.approval_limit_usd)
        for u in (by_name[name] for name in names)
    ]


@dataclass(frozen=True)
class Pending:
    """A draft waiting for approval that one cell may decide (or read)."""

    number: str
    requester: str
    approver_roles: frozenset[str]  # what the policy file asks for, on the draft's facts
    amount_usd: Decimal


@dataclass(frozen=True)
class Place:
    """The records of one legal entity the actions are tried on."""

    entity: str
    warehouse: str  # the entity's main warehouse
    second_warehouse: str
    sku: str  # the item most available at the main warehouse
    customer: str  # not on credit hold
    held_customer: str
    order: str  # a confirmed sales order
    purchase_order: str
    supplier: str
    case: str  # an active exception case
    case_role: str | None  # the role it is routed to
    manager: str
    conversations: dict[str, str]  # owner -> conversation id


@dataclass(frozen=True)
class Cell:
    """One user and one entity's records; `drafts` are this cell's own drafts to decide."""

    subject: Subject
    place: Place
    drafts: dict[str, Pending]

    @property
    def in_scope(self) -> bool:
        return self.place.entity in self.subject.entities

    @property
    def role_names(self) -> set[str]:
        return {r.value for r in self.subject.roles}


# --- The definitions' answer ---------------------------------------------------------------------


def in_scope(cell: Cell) -> bool:
    """Reading needs only the entity in scope."""
    return cell.in_scope


def may(permission: Permission) -> Callable[[Cell], bool]:
    """A command: the entity in scope and a role the permission lists."""
    return lambda cell: cell.in_scope and bool(cell.subject.roles & ROLE_PERMISSIONS[permission])


def may_handle_case(cell: Cell) -> bool:
    """Assigning or closing a case: a managing role, or the role the case is routed to."""
    routed = cell.place.case_role in cell.role_names
    return cell.in_scope and (bool(cell.subject.roles & MANAGING_ROLES) or routed)


def may_decide(verb: str) -> Callable[[Cell], bool]:
    """Approving or rejecting: not one's own draft, a role the policy asks for, the entity, the limit."""

    def rule(cell: Cell) -> bool:
        draft = cell.drafts[verb]
        return (
            cell.in_scope
            and draft.requester != cell.subject.username
            and bool(cell.role_names & draft.approver_roles)
            and cell.subject.limit_usd >= draft.amount_usd
        )

    return rule


def may_read_draft(cell: Cell) -> bool:
    """A draft is seen by its requester and by anyone with its entity in scope."""
    return cell.in_scope or cell.drafts["read"].requester == cell.subject.username


def nobody(_: Cell) -> bool:
    """Another user's conversation is theirs alone."""
    return False


# --- What the tools and the API say ------------------------------------------------------------


class Response(Protocol):
    """What is read of an HTTP answer (the test client's response)."""

    status_code: int

    @property
    def text(self) -> str: ...


def tool_outcome(result: dict[str, Any]) -> str:
    """`allowed`, `refused <code>`, or the unexpected error, from a tool's result."""
    code = result.get("error") if "message" in result else None
    if code is None:
        return ALLOWED
    return REFUSED + code if code in REFUSAL_CODES else f"error {code}: {result['message']}"


def http_outcome(response: Response) -> str:
    """`allowed`, `refused <code>` (a 403 or 404 with that code), or the unexpected answer."""
    if response.status_code < 300:
        return ALLOWED
    body = json_or_none(response.text)
    code = body.get("code") if isinstance(body, dict) else None
    if response.status_code in (403, 404) and code in REFUSAL_CODES:
        return REFUSED + str(code)
    return f"error {response.status_code} {code}: {response.text[:200]}"


def chat_outcomes(response: Response, calls: int) -> list[str]:
    """Each tool's verdict, as the chat's answer carries them."""
    if response.status_code != 200:
        return [http_outcome(response)] * calls
    answers = [data for name, data in sse_events(response.text) if name == "answer"]
    said = json_or_none(answers[0]["text"]) if answers else None
    results = [said] if calls == 1 else said
    if not isinstance(results, list) or len(results) != calls or not all(isinstance(r, dict) for r in results):
        return [f"error: no tool results in the answer: {response.text[-300:]}"] * calls
    return [tool_outcome(r) for r in results]


@dataclass
class Web:
    """The API as each user reaches it: a bearer token each, a conversation each for the chat."""

    client: TestClient
    tokens: dict[str, str]
    threads: dict[str, str] = field(default_factory=dict)

    def headers(self, username: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[username]}"}

    def get(self, username: str, path: str) -> str:
        return http_outcome(self.client.get(path, headers=self.headers(username)))

    def post(self, username: str, path: str, body: dict[str, Any]) -> str:
        return http_outcome(self.client.post(path, json=body, headers=self.headers(username)))

    def chat(self, username: str, calls: list[tuple[str, dict[str, Any]]]) -> list[str]:
        """Ask for `calls` in one chat message (one turn, the tools called one after the other)."""
        if username not in self.threads:
            created = self.client.post("/api/conversations", json={}, headers=self.headers(username))
            self.threads[username] = str(created.json()["id"])
        path = f"/api/conversations/{self.threads[username]}/messages"
        text = "\n".join(chat_text(tool, arguments) for tool, arguments in calls)
        return chat_outcomes(self.client.post(path, json={"text": text}, headers=self.headers(username)), len(calls))


# --- The actions ---------------------------------------------------------------------------------

ToolCall = Callable[[Cell], tuple[str, dict[str, Any]]]
HttpCall = Callable[[Web, Cell], str]


@dataclass(frozen=True)
class Action:
    name: str
    expected: Callable[[Cell], bool]
    tool: ToolCall | None  # None: no tool does this (approving is a person's act)
    http: HttpCall | None  # None with `chat`: the same tool call, asked for in the web chat
    chat: bool = False
    refusals: frozenset[str] = OUT_OF_BOUNDS  # the codes a denial must come with


def _order_line(cell: Cell, **extra: Any) -> dict[str, Any]:
    return {"sku": cell.place.sku, "quantity": 1, **extra}


def _sales_order(cell: Cell) -> tuple[str, dict[str, Any]]:
    return "draft_sales_order", {"customer": cell.place.customer, "lines": [_order_line(cell)]}


def _transfer(cell: Cell) -> tuple[str, dict[str, Any]]:
    place = cell.place
    return "draft_transfer", {
        "from_warehouse": place.warehouse,
        "to_warehouse": place.second_warehouse,
        "lines": [_order_line(cell)],
    }


def _purchase_order(cell: Cell) -> tuple[str, dict[str, Any]]:
    place = cell.place
    return "draft_purchase_order", {
        "supplier": place.supplier,
        "warehouse": place.warehouse,
        "lines": [_order_line(cell)],
    }


def _order_change(cell: Cell) -> tuple[str, dict[str, Any]]:
    later = (clock.today() + timedelta(days=30)).isoformat()
    return "draft_order_change", {"order_number": cell.place.order, "line_no": 1, "requested_date": later}


def _credit_release(cell: Cell) -> tuple[str, dict[str, Any]]:
    return "request_credit_hold_release", {"customer": cell.place.held_customer, "reason": "payment received"}


def _assign(cell: Cell) -> tuple[str, dict[str, Any]]:
    place = cell.place
    return "draft_exception_action", {"case_number": place.case, "action": "assign", "assignee": place.manager}


def _comment(cell: Cell) -> tuple[str, dict[str, Any]]:
    return "draft_exception_action", {"case_number": cell.place.case, "action": "comment", "text": "looked at"}


def _stock(cell: Cell) -> tuple[str, dict[str, Any]]:
    return "check_availability", {"sku": cell.place.sku, "warehouse": cell.place.warehouse}


def _decide(verb: str) -> HttpCall:
    body = {"comment": "not now"} if verb == "reject" else {}
    return lambda web, cell: web.post(cell.subject.username, f"/api/drafts/{cell.drafts[verb].number}/{verb}", body)


def _others_conversation(web: Web, cell: Cell) -> str:
    thread = next(c for owner, c in cell.place.conversations.items() if owner != cell.subject.username)
    return web.get(cell.subject.username, f"/api/conversations/{thread}")


def _get(path: Callable[[Cell], str]) -> HttpCall:
    return lambda web, cell: web.get(cell.subject.username, path(cell))


def _post(path: Callable[[Cell], str], body: Callable[[Cell], dict[str, Any]]) -> HttpCall:
    return lambda web, cell: web.post(cell.subject.username, path(cell), body(cell))


ACTIONS = (
    Action("stock", in_scope, _stock, None, chat=True),
    Action(
        "credit",
        in_scope,
        lambda c: ("get_customer_credit", {"customer": c.place.customer}),
        _get(lambda c: f"/api/records/{c.place.customer}"),
    ),
    Action(
        "order",
        in_scope,
        lambda c: ("get_order_status", {"order_number": c.place.order}),
        _get(lambda c: f"/api/records/{c.place.order}"),
    ),
    Action("po record", in_scope, None, _get(lambda c: f"/api/records/{c.place.purchase_order}")),
    Action(
        "cases",
        in_scope,
        lambda c: ("list_exceptions", {"entity": c.place.entity}),
        _get(lambda c: f"/api/exceptions?entity={c.place.entity}"),
    ),
    Action(
        "case",
        in_scope,
        lambda c: ("get_exception", {"case_number": c.place.case}),
        _get(lambda c: f"/api/exceptions/{c.place.case}"),
    ),
    Action(
        "assign case",
        may_handle_case,
        _assign,
        _post(lambda c: f"/api/exceptions/{c.place.case}/assign", lambda c: {"assignee": c.place.manager}),
    ),
    Action(
        "comment case",
        in_scope,
        _comment,
        _post(lambda c: f"/api/exceptions/{c.place.case}/comment", lambda c: {"text": "looked at"}),
    ),
    Action("draft SO", may(Permission.SELL), _sales_order, None, chat=True),
    Action("draft TR", may(Permission.TRANSFER), _transfer, None, chat=True),
    Action("draft PO", may(Permission.BUY), _purchase_order, None, chat=True),
    Action("change SO", may(Permission.SELL), _order_change, None, chat=True),
    Action("release hold", in_scope, _credit_release, None, chat=True),
    Action(
        "read draft",
        may_read_draft,
        lambda c: ("get_draft_status", {"draft_number": c.drafts["read"].number}),
        _get(lambda c: f"/api/drafts/{c.drafts['read'].number}"),
    ),
    Action("approve", may_decide("approve"), None, _decide("approve")),
    Action("reject", may_decide("reject"), None, _decide("reject")),
    Action("others' chat", nobody, None, _others_conversation, refusals=frozenset({"not_found"})),
)


# --- Setting the stage ---------------------------------------------------------------------------


def _main_warehouses(entity: str) -> list[str]:
    return [w.code for w in sorted(WAREHOUSES, key=lambda w: w.rank) if w.entity == entity]


def _customers(session: Session, entity_id: int) -> list[Customer]:
    return list(session.scalars(select(Customer).where(Customer.entity_id == entity_id).order_by(Customer.id)))


def _held_customer(session: Session, customers: list[Customer]) -> str:
    """A customer on credit hold; the entity's last customer is put on hold when none is."""
    held = next((c for c in customers if c.on_credit_hold), None)
    if held is None:
        held = customers[-1]
        held.on_credit_hold, held.credit_hold_reason = True, HOLD_REASON
        session.flush()
    return held.code


def _first_number(session: Session, query: Any) -> str:
    document = session.scalars(query.limit(1)).one()
    return str(document.number)


def _case(session: Session, entity_id: int) -> ExceptionCase:
    active = [s.value for s in ACTIVE_STATUSES]
    cases = select(ExceptionCase).where(ExceptionCase.entity_id == entity_id, ExceptionCase.status.in_(active))
    return session.scalars(cases.order_by(ExceptionCase.type != "shortage", ExceptionCase.id).limit(1)).one()


def _place(session: Session, entity: str) -> Place:
    entity_id = entity_id_of(session, entity)
    warehouses = _main_warehouses(entity)
    customers = _customers(session, entity_id)
    held = _held_customer(session, customers)
    case = _case(session, entity_id)
    owners = (user_for(Role.SALES, entity), user_for(Role.WAREHOUSE, entity))
    return Place(
        entity=entity,
        warehouse=warehouses[0],
        second_warehouse=warehouses[1],
        sku=most_available_sku(session, warehouses[0]),
        customer=next(c.code for c in customers if not c.on_credit_hold),
        held_customer=held,
        order=_first_number(
            session,
            select(SalesOrder)
            .where(SalesOrder.entity_id == entity_id, SalesOrder.status == OrderStatus.CONFIRMED.value)
            .order_by(SalesOrder.id),
        ),
        purchase_order=_first_number(
            session, select(PurchaseOrder).where(PurchaseOrder.entity_id == entity_id).order_by(PurchaseOrder.id)
        ),
        supplier=str(
            session.scalars(
                select(Supplier.code).where(Supplier.entity_id == entity_id).order_by(Supplier.code)
            ).first()
        ),
        case=case.number,
        case_role=case.owner_role,
        manager=user_for(Role.MANAGER, entity),
        conversations={owner: _conversation(session, owner) for owner in owners},
    )


def _conversation(session: Session, owner: str) -> str:
    actor = load_actor(session, username=owner)
    return open_conversation(session, actor, channel="web", title=f"{owner}'s own thread").id


def _pending(db: Database, place: Place) -> Pending:
    """A sales order drafted by the entity's salesperson at a discount that needs a manager's approval."""
    requester = user_for(Role.SALES, place.entity)
    payload = {
        "customer": place.customer,
        "lines": [{"sku": place.sku, "quantity": 1, "discount_pct": DISCOUNT_NEEDING_A_MANAGER}],
    }

    def command(session: Session) -> Pending:
        actor = load_actor(session, username=requester)
        draft = draft_action(session, RequestContext(actor, "web"), kind="sales_order", payload=payload)
        return _as_pending(draft, requester)

    return db.run(command)


def _as_pending(draft: DraftAction, requester: str) -> Pending:
    decision = evaluate(Facts.model_validate(draft.facts), current_policy())
    return Pending(
        number=draft.number,
        requester=requester,
        approver_roles=frozenset(r.role for r in decision.requirements),
        amount_usd=Decimal(draft.amount_usd),
    )


@dataclass(frozen=True)
class Stage:
    places: dict[str, Place]
    cells: list[Cell]
    tokens: dict[str, str]


def prepare(db: Database) -> Stage:
    """Cases raised, a customer on hold in each entity, conversations, tokens, and every cell's drafts."""
    db.run(lambda s: detect_exceptions(s))
    places = db.run(lambda s: {entity: _place(s, entity) for entity in TARGETS})
    people = subjects()
    tokens = db.run(lambda s: {p.username: _token(s, p.username) for p in people})
    shown = {entity: _pending(db, place) for entity, place in places.items()}  # read, never decided
    cells = [
        Cell(
            person,
            places[entity],
            {"approve": _pending(db, places[entity]), "reject": _pending(db, places[entity]), "read": shown[entity]},
        )
        for person in people
        for entity in TARGETS
    ]
    return Stage(places, cells, tokens)


def _token(session: Session, username: str) -> str:
    return issue_token(session, load_actor(session, username=username), name="access matrix", days=1).token


# --- Running it ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    cell: Cell
    action: Action
    expected: bool
    via_tool: str
    via_http: str

    @property
    def agrees(self) -> bool:
        wanted = {ALLOWED} if self.expected else {REFUSED + code for code in self.action.refusals}
        return all(seen in wanted | {NOT_APPLICABLE} for seen in (self.via_tool, self.via_http))


@dataclass(frozen=True)
class Matrix:
    results: list[Result]
    audit: AuditReport  # the chain, and every draft the run made against its documents and audit trail

    @property
    def mismatches(self) -> list[Result]:
        return [r for r in self.results if not r.agrees]


def _by_tool(db: Database, registry: Registry, cell: Cell, action: Action) -> str:
    if action.tool is None:
        return NOT_APPLICABLE
    actor = db.read(lambda s: load_actor(s, username=cell.subject.username))
    name, arguments = action.tool(cell)
    return tool_outcome(registry.call(db, ToolContext(actor=actor, channel="web"), name, arguments))


def run_matrix(db: Database, workdir: Path) -> Matrix:
    """Every action in every cell, expected and performed both ways; then the audit check over what it made."""
    before = db.read(watermark)
    stage = prepare(db)
    results, registry = [], default_registry()
    with web_client(db, workdir) as client:
        web = Web(client, stage.tokens)
        for cell in stage.cells:
            asked = _chat_outcomes(web, cell)
            for action in ACTIONS:
                via_http = asked[action.name] if action.chat else _by_http(web, cell, action)
                via_tool = _by_tool(db, registry, cell, action)
                results.append(Result(cell, action, action.expected(cell), via_tool, via_http))
    return Matrix(results, db.read(lambda s: audit_after_run(s, before)))


def _chat_outcomes(web: Web, cell: Cell) -> dict[str, str]:
    """The cell's chat actions, asked for in one message."""
    chats = [a for a in ACTIONS if a.chat and a.tool is not None]
    said = web.chat(cell.subject.username, [a.tool(cell) for a in chats if a.tool is not None])
    return {action.name: outcome for action, outcome in zip(chats, said, strict=True)}


def _by_http(web: Web, cell: Cell, action: Action) -> str:
    return action.http(web, cell) if action.http is not None else NOT_APPLICABLE


# --- What a refused request must leave alone ----------------------------------------------------


# --- Showing it ----------------------------------------------------------------------------------


def mark(seen: str) -> str:
    """Y allowed, n refused, - no such path, ? anything else."""
    if seen.startswith(REFUSED):
        return "n"
    return {ALLOWED: "Y", NOT_APPLICABLE: "-"}.get(seen, "?")


def _mark(result: Result) -> str:
    marks = "/".join(mark(seen) for seen in (result.via_tool, result.via_http))
    return marks if result.agrees else f"**{marks}!** (expected {'Y' if result.expected else 'n'})"


def to_markdown(matrix: Matrix) -> str:
    """The matrix: a row per user and entity, a column per action; each cell says tool/API."""
    names = [a.name for a in ACTIONS]
    rows: dict[tuple[str, str], dict[str, str]] = {}
    for result in matrix.results:
        rows.setdefault((result.cell.subject.label, result.cell.place.entity), {})[result.action.name] = _mark(result)
    lines = [
        "| user | records of | " + " | ".join(names) + " |",
        "|---|---|" + "---|" * len(names),
        *(
            f"| {who} | {entity} | " + " | ".join(marks[n] for n in names) + " |"
            for (who, entity), marks in rows.items()
        ),
    ]
    return "\n".join([*lines, "", *_summary(matrix)])


def _summary(matrix: Matrix) -> list[str]:
    allowed = sum(r.expected for r in matrix.results)
    lines = [
        f"{len(matrix.results)} cells ({len(subjects())} users x {len(TARGETS)} entities x {len(ACTIONS)} actions): "
        f"{allowed} allowed, {len(matrix.results) - allowed} denied by the definitions; "
        f"{len(matrix.mismatches)} disagree with what the tools or the API did.",
    ]
    for result in matrix.mismatches:
        lines.append(
            f"- {result.cell.subject.label} on {result.cell.place.entity}, {result.action.name}: expected "
            f"{'allowed' if result.expected else 'denied'}; tool: {result.via_tool}; API: {result.via_http}"
        )
    return lines


LEGEND = (
    "Each cell is *tool/API*: Y allowed, n refused (`permission_denied` or `out_of_scope`, 403; another user's "
    "conversation: `not_found`, 404), - no such path (no tool approves, rejects, opens a purchase order or a "
    "conversation). A cell in bold "
    "disagrees with what the definitions (roles' permissions, case routing, the policy's approver roles, the "
    "directory's entities and limits) allow."
)


def report(matrix: Matrix) -> str:
    when = f"Run {datetime.now():%Y-%m-%d %H:%M} on the demo company, business date {clock.today()}."
    audit = matrix.audit
    verdict = "verifies" if audit.chain.ok else f"BROKEN at seq {audit.chain.first_broken_seq}"
    checked = (
        f"Audit after the run: the chain of {audit.chain.events} events {verdict}; {audit.drafts} drafts made, "
        f"{audit.executed} executed, checked against their documents, stock and audit trail: "
        f"{len(audit.problems)} problems{''.join(f'; {p}' for p in audit.problems[:5])}."
    )
    return "\n".join(["# Access matrix", "", when, "", LEGEND, "", to_markdown(matrix), "", checked, ""])


def _build_demo(path: Path) -> Database:
    from core import schema
    from core.demo import DemoConfig, load_demo

    db = Database.from_url(f"sqlite:///{path}")
    schema.upgrade(db.engine)
    load_demo(db, DemoConfig())
    return db


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    os.environ.setdefault("ERP_TODAY", BUSINESS_DATE)
    with tempfile.TemporaryDirectory(prefix="erp-access-") as folder:
        db = _build_demo(Path(folder) / "erp.db")
        try:
            matrix = run_matrix(db, Path(folder))
        finally:
            db.dispose()
    text = report(matrix)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "hardening-access-latest.md").write_text(text)
    return 1 if matrix.mismatches or not matrix.audit.ok else 0


if __name__ == "__main__":
    raise SystemExit(main())
