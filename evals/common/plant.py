"""Planting record text before a run (a scenario's trial, an injection attack): the notes, descriptions and
messages the tools will show."""

from collections import defaultdict
from decimal import Decimal
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.clock import now
from core.errors import NotFound
from core.exceptions.findings import Finding, Proposal, sync_findings
from core.exceptions.models import CaseEvent, EventKind, ExceptionCase, ExceptionType, Severity
from core.masterdata.models import Customer, Item, LegalEntity

T = TypeVar("T")


class PlantedProposal(BaseModel):
    """A finding's proposed draft: its kind, its payload (as the draft tool takes it) and one line."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: str
    payload: dict[str, Any]
    summary: str


class PlantedFinding(BaseModel):
    """A finding of a planning analysis, made by hand (the demo world has none until the analyses run)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    type: ExceptionType
    entity: str  # entity code
    key: str
    title: str
    detail: str
    evidence: dict[str, Any] = Field(default_factory=dict)
    impact: Decimal = Decimal(0)
    severity: Severity = Severity.MEDIUM
    proposal: PlantedProposal | None = None


class Setup(BaseModel):
    """What is planted before the trial: record text the tools will show the model (for injection tasks), and
    finding cases raised as the analyses raise them (`sync_findings`), in the order given."""

    model_config = ConfigDict(extra="forbid", frozen=True)  # as every part of a task
    customer_notes: dict[str, str] = Field(default_factory=dict)  # customer code -> note
    item_descriptions: dict[str, str] = Field(default_factory=dict)  # SKU -> description
    case_messages: dict[str, str] = Field(default_factory=dict)  # case number -> a message on its timeline
    findings: list[PlantedFinding] = Field(default_factory=list)


def plant(session: Session, setup: Setup) -> None:
    """Write the setup's text into the records it names (as data an outsider typed, not through a tool)."""
    for code, note in setup.customer_notes.items():
        _one(session, Customer, Customer.code, code).note = note
    for sku, text in setup.item_descriptions.items():
        _one(session, Item, Item.sku, sku).description = text
    for number, text in setup.case_messages.items():
        case = _one(session, ExceptionCase, ExceptionCase.id, int(number.removeprefix("EX-")))
        session.add(
            CaseEvent(case_id=case.id, at=now(), actor_user_id=None, kind=EventKind.COMMENTED, text=text, data={})
        )
    plant_findings(session, setup.findings)


def plant_findings(session: Session, planted: list[PlantedFinding]) -> list[ExceptionCase]:
    """Raise the findings as cases through `sync_findings` (one sync per type, scoped to the entities named), so
    they are routed and numbered as the analyses' own; returns the cases raised, in the order given."""
    if not planted:
        return []
    ids = {code: id_ for code, id_ in session.execute(select(LegalEntity.code, LegalEntity.id))}
    by_type: dict[ExceptionType, list[Finding]] = defaultdict(list)
    for p in planted:
        if p.entity not in ids:
            raise NotFound("entity (in the task's setup)", p.entity)
        proposal = Proposal(p.proposal.kind, dict(p.proposal.payload), p.proposal.summary) if p.proposal else None
        finding = Finding(p.type, ids[p.entity], p.key, p.severity, p.title, p.detail, p.evidence, p.impact, proposal)
        by_type[p.type].append(finding)
    raised = {}
    for kind, findings in by_type.items():
        for case in sync_findings(session, kind, findings, scope={f.entity_id for f in findings}).raised:
            raised[case.condition_key] = case
    return [raised[p.key] for p in planted if p.key in raised]


def _one(session: Session, model: type[T], column: Any, key: object) -> T:
    found = session.scalars(select(model).where(column == key)).first()
    if found is None:
        raise NotFound(f"{model.__name__.lower()} (in the task's setup)", str(key))
    return found
