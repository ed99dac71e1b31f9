"""The exception queue, for the model: open cases and one case with its suggestions."""

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from core.drafts.base import said_as
from core.exceptions import get_case, page_cases
from core.masterdata.service import entity_codes
from tools import facts as fact
from tools.context import ToolContext
from tools.registry import Tool, ToolArgs


class ListExceptionsArgs(ToolArgs):
    type: Literal["shortage", "credit_hold", "price_deviation", "late_supplier", "approval_overdue"] | None = None
    entity: str | None = Field(None, description="legal entity code, e.g. NA")
    status: Literal["open", "assigned", "resolved", "dismissed"] | None = Field(
        None,
        description="omit for open and assigned cases",
        # Left out, the list is the active cases, not every case: "closed cases" must keep the status it asks for.
        json_schema_extra=said_as({"resolved": ["closed", "fixed"], "dismissed": ["closed"]}),
    )
    limit: int = Field(10, ge=1, le=50)


class CaseLine(BaseModel):
    case: str
    entity: str
    type: str
    severity: str
    status: str
    title: str
    owner: str | None
    due: datetime


class ListExceptionsResult(BaseModel):
    cases: list[CaseLine]
    total: int
    more: int = 0
    facts: list[str] = []


def _list_facts(args: ListExceptionsArgs, total: int, cases: list[Any]) -> list[str]:
    """How many cases match the filter (the filter named, so "no shortages" can be told apart from "not
    looked"), each shortage's missing quantity, and what each other case is about (its title: the customer on
    hold, the supplier whose invoice does not match)."""
    kind = f"{args.type.replace('_', ' ')} cases" if args.type else "exception cases"
    status = args.status or "open"
    where = f" in {args.entity}" if args.entity else ""
    counted = fact.count(f"{status} {kind}{where}", total)
    listed = [_listed_fact(f"{status} {kind}{where}", cases)] if cases else []
    each = [_shortage_fact(c.number, c.related) if c.type == "shortage" else _case_fact(c) for c in cases]
    return [counted, *listed, *each]


def _case_fact(case: Any) -> str:
    """What a case other than a shortage is about, in its title's words."""
    return fact.figure(case.number, case.type.replace("_", " "), case.title.rstrip("."))


def _listed_fact(label: str, cases: list[Any]) -> str:
    """Which cases they are, soonest due first: the numbers a person opens next (no count: the fact before has it,
    and a figure here would make the answer's recap look for it instead of the cases)."""
    return f"{label[:1].upper()}{label[1:]}, soonest due first: {', '.join(c.number for c in cases)}."


def _shortage_fact(case: str, related: dict[str, Any]) -> str:
    """A shortage case's figure: how many units are short, of what, where, for which order line."""
    short = related.get("short")
    line = f"{related.get('sales_order')} line {related.get('line_no')}"
    what = f"{related.get('sku')} at {related.get('warehouse')} for {line}"
    value = fact.units(int(short)) if isinstance(short, int) else "unknown"
    return fact.figure(case, fact.SHORTAGE, f"{value} of {what}")


def list_exceptions(session: Session, ctx: ToolContext, args: ListExceptionsArgs) -> ListExceptionsResult:
    """Cases in the user's entities, the soonest due first; open and assigned ones unless a status is given."""
    page = page_cases(
        session,
        ctx.actor,
        type=args.type,
        entity=args.entity,
        status=args.status,
        active_only=args.status is None,
        limit=args.limit,
    )
    codes = entity_codes(session, {c.entity_id for c in page.cases})
    return ListExceptionsResult(
        facts=_list_facts(args, page.total, page.cases),
        total=page.total,
        more=page.total - len(page.cases),
        cases=[
            CaseLine(
                case=c.number,
                entity=codes[c.entity_id],
                type=c.type,
                severity=c.severity,
                status=c.status,
                title=c.title,
                owner=c.owner_role,
                due=c.sla_due_at,
            )
            for c in page.cases
        ],
    )


class CaseArgs(ToolArgs):
    case_number: str = Field(min_length=1, max_length=24, description="e.g. EX-12")


class CaseDetail(BaseModel):
    case: str
    type: str
    severity: str
    status: str
    title: str
    detail: str
    related: dict[str, Any]
    suggestions: list[dict[str, Any]]
    owner: str | None
    due: datetime
    routing_reason: str | None
    history: list[str]
    facts: list[str] = []


MAX_SUGGESTION_FACTS = 3


def _case_facts(c: Any) -> list[str]:
    """The case's status with its type, severity, owner and due time, a shortage's missing quantity, and what the
    core suggests (those that cover the case first)."""
    owner = f", owner {c.owner_role}" if c.owner_role else ""
    kind = c.type.replace("_", " ")
    said = f"{fact.status_words(c.status)} ({kind}, {c.severity} severity{owner}, due {c.sla_due_at:%Y-%m-%d %H:%M})"
    out = [fact.figure(c.number, fact.STATUS, said)]
    out += [_shortage_fact(c.number, c.related)] if c.type == "shortage" else []
    covering_first = sorted((s for s in c.suggestions if s.get("text")), key=lambda s: not s.get("covers"))
    return out + [f"{c.number} suggestion: {s['text']}." for s in covering_first[:MAX_SUGGESTION_FACTS]]


def get_exception(session: Session, ctx: ToolContext, args: CaseArgs) -> CaseDetail:
    """One case: what, related records, what the core suggests, who owns it, its history."""
    c = get_case(session, ctx.actor, case_number=args.case_number)
    history = [f"{e.at:%Y-%m-%d %H:%M} {e.kind}: {e.text}" for e in c.events[-10:]]
    return CaseDetail(
        case=c.number,
        type=c.type,
        severity=c.severity,
        status=c.status,
        title=c.title,
        detail=c.detail,
        related=c.related,
        suggestions=c.suggestions[:5],
        owner=c.owner_role,
        due=c.sla_due_at,
        routing_reason=c.routing_reason,
        history=history,
        facts=_case_facts(c),
    )


TOOLS = [
    Tool(
        "list_exceptions",
        "Open exception cases (shortages, credit holds, price deviations, late suppliers, overdue approvals) in "
        "the user's entities, filtered by type, entity or status.",
        ListExceptionsArgs,
        list_exceptions,
        brief={"cases": ("entity", "status", "due", "title")},  # the facts say each case, soonest due first
    ),
    Tool(
        "get_exception",
        "One exception case with its related records, the core's suggestions (for a shortage: other warehouses, "
        "a covering transfer, substitutes, the next purchase order), owner, due time and history.",
        CaseArgs,
        get_exception,
        brief={"history": (), "routing_reason": ()},  # the status fact names the owner and the due time
    ),
]
