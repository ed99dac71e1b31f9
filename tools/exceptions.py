"""The exception queue, for the model: open cases and one case with its suggestions."""

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from core.exceptions import get_case, page_cases
from core.masterdata.service import entity_codes
from tools.context import ToolContext
from tools.registry import Tool, ToolArgs


class ListExceptionsArgs(ToolArgs):
    type: Literal["shortage", "credit_hold", "price_deviation", "late_supplier", "approval_overdue"] | None = None
    entity: str | None = Field(None, description="legal entity code, e.g. NA")
    status: Literal["open", "assigned", "resolved", "dismissed"] | None = Field(
        None, description="omit for open and assigned cases"
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
    )


TOOLS = [
    Tool(
        "list_exceptions",
        "Open exception cases (shortages, credit holds, price deviations, late suppliers, overdue approvals) in "
        "the user's entities, filtered by type, entity or status.",
        ListExceptionsArgs,
        list_exceptions,
    ),
    Tool(
        "get_exception",
        "One exception case with its related records, the core's suggestions (for a shortage: other warehouses, "
        "a covering transfer, substitutes, the next purchase order), owner, due time and history.",
        CaseArgs,
        get_exception,
    ),
]
