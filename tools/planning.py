"""Operations intelligence for the model: the user's briefing, a finding explained from its figures, and a finding's
proposed draft opened as the user's preview (never an approval)."""

from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from core.exceptions import get_case
from core.exceptions.models import ExceptionCase
from core.masterdata.models import LegalEntity
from core.money import format_money
from core.planning.briefing import briefing
from core.planning.priorities import case_value, rank_cases
from core.planning.proposals import draft_from_case
from tools import facts as fact
from tools.chart_links import case_charts
from tools.context import ToolContext
from tools.drafts import DRAFT_NOTE, draft_result
from tools.outcome import DraftResult
from tools.registry import Tool, ToolArgs


class BriefingArgs(ToolArgs):
    pass


class BriefingItemOut(BaseModel):
    ref: str
    text: str
    link: str


class BriefingLineOut(BaseModel):
    topic: str
    count: int
    text: str
    items: list[BriefingItemOut]


class BriefingResult(BaseModel):
    day: str
    lines: list[BriefingLineOut]
    facts: list[str] = []


def get_briefing(session: Session, ctx: ToolContext, args: BriefingArgs) -> BriefingResult:
    """What needs the user's attention: approvals waiting, their cases by type, customers to chase."""
    found = briefing(session, ctx.actor)
    lines = [
        BriefingLineOut(
            topic=line.topic,
            count=line.count,
            text=line.text,
            items=[BriefingItemOut(ref=i.ref, text=i.text, link=i.link) for i in line.items],
        )
        for line in found.lines
    ]
    said = [
        sentence
        for line in found.lines
        for sentence in [
            _line_sentence(line.text, [i.ref for i in line.items]),
            *(f"{i.ref}: {i.text}." for i in line.items[:2]),
        ]
    ]
    return BriefingResult(day=found.day.isoformat(), lines=lines, facts=said or [found.headline])


def _line_sentence(text: str, refs: list[str]) -> str:
    """ "2 reorder proposals (2 proposed drafts ready): EX-16, EX-15." — the line with the records it names first."""
    return f"{text[:1].upper()}{text[1:]}" + (f": {', '.join(refs)}." if refs else ".")


class FindingArgs(ToolArgs):
    case_number: str = Field(min_length=1, max_length=24, description="e.g. EX-12")


class ProposalOut(BaseModel):
    kind: str
    summary: str
    payload: dict[str, Any]


class FindingResult(BaseModel):
    case: str
    type: str
    status: str
    title: str
    detail: str
    evidence: dict[str, Any]
    impact: str | None = None
    priority: str
    proposal: ProposalOut | None = None
    facts: list[str] = []
    charts: list[str] = []  # the dashboard chart that shows its history (links)


def _label(name: str) -> str:
    return name.replace("_", " ")


def _finding_facts(case: ExceptionCase, evidence: dict[str, Any], impact: str | None, priority: str) -> list[str]:
    """Why, in the case's own words with their figures; then its figures one sentence each, its value at risk, its
    priority and its proposal."""
    out = [f"{case.number}: {case.detail.strip()}"] if case.detail.strip() else []
    out += [fact.figure(case.number, _label(k), str(v)) for k, v in evidence.items() if not isinstance(v, dict | list)]
    out += [fact.figure(case.number, "value at risk", impact)] if impact else []
    out.append(fact.figure(case.number, "priority", priority))
    proposal = (case.related or {}).get("proposal")
    if isinstance(proposal, dict):
        out.append(fact.figure(case.number, "proposed draft", str(proposal.get("summary"))))
    else:
        out.append(fact.state(case.number, "proposes no draft"))
    return out


def explain_finding(session: Session, ctx: ToolContext, args: FindingArgs) -> FindingResult:
    """A case's evidence, value at risk, priority factors and proposed draft: why it is proposed, in figures."""
    case = get_case(session, ctx.actor, case_number=args.case_number)
    related = case.related or {}
    evidence = related.get("evidence") if isinstance(related.get("evidence"), dict) else related
    value = case_value(case)
    impact = format_money(value, _currency(session, case)) if value is not None else None
    priority = rank_cases(session, [case])[0].explain()
    proposal = related.get("proposal")
    return FindingResult(
        case=case.number,
        type=case.type,
        status=case.status,
        title=case.title,
        detail=case.detail,
        evidence=dict(evidence or {}),
        impact=impact,
        priority=priority,
        proposal=ProposalOut(**proposal) if isinstance(proposal, dict) else None,
        facts=_finding_facts(case, dict(evidence or {}), impact, priority),
        charts=case_charts(case.type, dict(evidence or {})),
    )


def _currency(session: Session, case: ExceptionCase) -> str:
    entity = session.get(LegalEntity, case.entity_id)
    return entity.base_currency if entity else "USD"


def draft_from_finding(session: Session, ctx: ToolContext, args: FindingArgs) -> DraftResult:
    """The case's proposed draft, drafted as the user's: a preview, unconfirmed."""
    return draft_result(session, draft_from_case(session, ctx.request(), case_number=args.case_number))


TOOLS = [
    Tool(
        "get_briefing",
        "What needs the user's attention: approvals waiting, their open cases and findings by type, who to chase.",
        BriefingArgs,
        get_briefing,
        recap=True,
    ),
    Tool(
        "explain_finding",
        "Why a case (EX-...) was raised and what it proposes: its evidence, value at risk and proposed draft.",
        FindingArgs,
        explain_finding,
        recap=True,
    ),
    Tool(
        "draft_from_finding",
        "Open the proposed draft (PO, transfer, order change) of a case (EX-...) as the user's." + DRAFT_NOTE,
        FindingArgs,
        draft_from_finding,
        writes=True,
    ),
]
