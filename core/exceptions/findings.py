"""The findings of the planning analyses, kept in the exception queue.

An analysis (core/planning) returns every `Finding` that holds now, each with a stable `key` (what
was found, e.g. "replenishment:item:12:warehouse:3"). `sync_findings` makes the queue agree with that
list, set-based, for one case type in one scope:

- a finding with no running case is raised as a new case (an episode of its key, as shortages are),
  routed by the routing rules, with its evidence and its proposed draft in `related`;
- a finding whose case is running keeps that case: its figures, proposal and severity are refreshed
  when they moved, so a re-run never duplicates it;
- a running case whose finding is gone is closed, with the reason on its timeline and in the audit log.

A case a person dismissed stays dismissed while its finding holds; when the finding comes back after it
was closed, it is a new episode, a new case.
"""

import json
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import clock
from core.errors import InvalidInput
from core.exceptions.models import ACTIVE_STATUSES, ExceptionCase, ExceptionType, Severity
from core.exceptions.service import NewCase, chunks, end_episodes, episode_key, next_episodes, raise_new

MAX_KEY = 110  # the dedup key adds "#n" to the finding's key; both columns hold 120


@dataclass(frozen=True)
class Proposal:
    """A draft a person can open from the case and submit through the gate: its kind and its payload."""

    kind: str  # a DraftKind value: "purchase_order", "transfer", "order_change", ...
    payload: dict[str, Any]  # the draft's payload, exactly as the draft tool or POST /api/drafts takes it
    summary: str  # one line, e.g. "PO to ACME-SUP for 120 V-200 into DAL"

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "payload": plain(self.payload), "summary": self.summary}


@dataclass(frozen=True)
class Finding:
    """Something an analysis found that a person should see, with the numbers that justify it."""

    type: ExceptionType
    entity_id: int
    key: str
    severity: Severity
    title: str
    detail: str  # the explanation in words, with its figures
    evidence: dict[str, Any]  # the figures, by name (JSON-able; Decimals and dates become strings)
    impact: Decimal = Decimal(0)  # the value at risk, in the entity's currency: what priorities rank by
    proposal: Proposal | None = None
    suggestions: list[dict[str, Any]] = field(default_factory=list)  # other options, as detectors give them

    def related(self) -> dict[str, Any]:
        return {
            "finding": self.key,
            "evidence": plain(self.evidence),
            "impact": str(self.impact),
            "proposal": self.proposal.as_json() if self.proposal else None,
        }


@dataclass(frozen=True)
class Synced:
    """What one sync did: cases raised, refreshed (figures moved) and closed (finding gone); `kept` unchanged."""

    raised: list[ExceptionCase]
    refreshed: list[ExceptionCase]
    closed: list[ExceptionCase]
    kept: int

    def counts(self) -> dict[str, int]:
        return {
            "raised": len(self.raised),
            "refreshed": len(self.refreshed),
            "closed": len(self.closed),
            "kept": self.kept,
        }


def plain(value: Any) -> Any:
    """`value` as JSON data: Decimals, dates and other scalars become strings, as they are stored."""
    return json.loads(json.dumps(value, default=str))


def default_gone_note(case: ExceptionCase) -> str:
    return f"No longer holds: the {clock.today().isoformat()} run of the analysis did not find it again."


def sync_findings(
    session: Session,
    case_type: ExceptionType,
    findings: Sequence[Finding],
    *,
    scope: Collection[int] | None = None,
    gone: Callable[[ExceptionCase], str] = default_gone_note,
) -> Synced:
    """Make the open cases of `case_type` in `scope` (entity ids; None = all) agree with `findings`."""
    current = _checked(case_type, findings, scope)
    running = _running(session, case_type, scope)
    ended = [(case, gone(case)) for key, case in running.items() if key not in current]
    closed = end_episodes(session, ended) if ended else []
    refreshed = [case for key, case in running.items() if key in current and _refresh(case, current[key])]
    fresh = [f for key, f in current.items() if key not in running]
    episodes = next_episodes(session, [f.key for f in fresh]) if fresh else {}
    raised = raise_new(session, [_new_case(f, episodes[f.key]) for f in fresh])
    kept = len(running) - len(ended) - len(refreshed)
    return Synced(raised=raised, refreshed=refreshed, closed=closed, kept=kept)


def _checked(
    case_type: ExceptionType, findings: Sequence[Finding], scope: Collection[int] | None
) -> dict[str, Finding]:
    allowed = None if scope is None else set(scope)
    by_key: dict[str, Finding] = {}
    for finding in findings:
        if finding.type != case_type:
            raise InvalidInput(f"a {finding.type.value} finding given to the {case_type.value} sync")
        if allowed is not None and finding.entity_id not in allowed:
            raise InvalidInput(f"finding {finding.key} is of entity {finding.entity_id}, outside the run's scope")
        if not finding.key or len(finding.key) > MAX_KEY:
            raise InvalidInput(f"a finding's key must have 1 to {MAX_KEY} characters: {finding.key!r}")
        by_key.setdefault(finding.key, finding)
    return by_key


def _running(session: Session, case_type: ExceptionType, scope: Collection[int] | None) -> dict[str, ExceptionCase]:
    """The running episode of each finding key of this type: its case, by key."""
    query = select(ExceptionCase).where(
        ExceptionCase.type == case_type.value,
        ExceptionCase.condition_key.is_not(None),
        ExceptionCase.ended_at.is_(None),
    )
    if scope is not None:
        query = query.where(ExceptionCase.entity_id.in_(list(scope)))
    return {str(case.condition_key): case for case in session.scalars(query.order_by(ExceptionCase.id))}


def _refresh(case: ExceptionCase, finding: Finding) -> bool:
    """Bring a running case's figures up to date; True if anything moved. A closed (dismissed) case is left as is."""
    if case.status not in ACTIVE_STATUSES:
        return False
    related, severity = finding.related(), finding.severity.value
    if case.related == related and case.detail == finding.detail and case.severity == severity:
        return False
    case.related, case.detail, case.severity = related, finding.detail, severity
    case.title = finding.title[:200]
    case.suggestions = plain(finding.suggestions)
    case.updated_at = clock.now()
    return True


def _new_case(finding: Finding, episode: int) -> NewCase:
    return NewCase(
        type=finding.type,
        entity_id=finding.entity_id,
        dedup_key=episode_key(finding.key, episode),
        severity=finding.severity,
        title=finding.title[:200],
        detail=finding.detail,
        related=finding.related(),
        suggestions=plain(finding.suggestions),
        condition_key=finding.key,
    )


def open_findings(session: Session, case_type: ExceptionType, entity_ids: Collection[int]) -> list[ExceptionCase]:
    """The active cases of one finding type in these entities, oldest first."""
    found: list[ExceptionCase] = []
    for batch in chunks(sorted(entity_ids)):
        found.extend(
            session.scalars(
                select(ExceptionCase).where(
                    ExceptionCase.type == case_type.value,
                    ExceptionCase.entity_id.in_(batch),
                    ExceptionCase.status.in_([s.value for s in ACTIVE_STATUSES]),
                )
            )
        )
    return sorted(found, key=lambda c: c.id)
