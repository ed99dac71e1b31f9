"""Exception cases: raising (once per dedup key, routed by rule), listing, and the lifecycle.

open → assigned → resolved / dismissed (and back with reopen). Every change is an event on the
case's timeline, naming the person. Who may act:

- anyone with the case's entity in scope may read it and comment;
- assigning, resolving, dismissing and reopening need the role the routing named for the case,
  or manager or admin, or to be the user the case is assigned to.
"""

import difflib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Select, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from core import clock
from core.actor import Actor, Role
from core.audit import AuditContext, record_event
from core.documents import load_document
from core.errors import InvalidInput, InvalidState, NotFound, OutOfScope, PermissionDenied
from core.exceptions.models import (
    ACTIVE_STATUSES,
    CLOSED_STATUSES,
    CaseEvent,
    CaseStatus,
    EventKind,
    ExceptionCase,
    ExceptionType,
    Severity,
)
from core.exceptions.routing import RoutingRules, decide, load_routing, owners_named
from core.masterdata.models import LegalEntity, User, UserEntityScope, UserRole
from core.masterdata.service import entity_codes, get_entity
from core.numbering import EXCEPTION_CASE
from core.outbox.service import publish_many
from core.text import require_storable

MANAGING_ROLES = frozenset({Role.MANAGER, Role.ADMIN})
MAX_TEXT = 4000
MAX_LIST = 500
INSERT_BATCH = 200

T = TypeVar("T")


@dataclass(frozen=True)
class NewCase:
    """A case a detector (or another module) wants raised."""

    type: ExceptionType
    entity_id: int
    dedup_key: str
    severity: Severity
    title: str
    detail: str
    related: dict[str, Any]
    suggestions: list[dict[str, Any]] = field(default_factory=list)
    condition_key: str | None = None  # a condition that can come back: this case is one episode of it


def chunks(values: Sequence[T], size: int = 500) -> Iterator[Sequence[T]]:
    """`values` in slices of at most `size` (IN lists and multi-row inserts stay bounded)."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


# --- Raising ---------------------------------------------------------------------------------


def raise_case(
    session: Session,
    *,
    type: ExceptionType | str,
    entity_id: int,
    dedup_key: str,
    severity: Severity | str,
    title: str,
    detail: str,
    related: dict[str, Any],
    suggestions: list[dict[str, Any]] | None = None,
) -> tuple[ExceptionCase, bool]:
    """The case for `dedup_key`, raised and routed now if there was none: (case, created_now)."""
    new = NewCase(
        type=parse_type(type),
        entity_id=entity_id,
        dedup_key=_required(dedup_key, "dedup_key", 120),
        severity=_severity(severity),
        title=_required(title, "title", 200),
        detail=detail.strip(),
        related=_json(related, "related"),
        suggestions=_json(suggestions or [], "suggestions"),
    )
    existing = _by_key(session, new.dedup_key)
    if existing is not None:
        return existing, False
    created = raise_new(session, [new])
    if created:
        return created[0], True
    raced = _by_key(session, new.dedup_key)  # another transaction raised it in the meantime
    assert raced is not None
    return raced, False


def find_case(session: Session, *, dedup_key: str) -> ExceptionCase | None:
    """The case raised for a key, if any (no scope check: for modules closing the case they caused)."""
    return _by_key(session, dedup_key)


def settle_caused_case(session: Session, actor: Actor, *, dedup_key: str, resolution: str) -> ExceptionCase | None:
    """Resolve the active case a module raised for `dedup_key` once its cause is gone (an invoice released or
    matched): the module's own command decided, so no case role is needed. None if there is no active case."""
    case = _by_key(session, dedup_key)
    if case is None or case.status not in ACTIVE_STATUSES:
        return None
    case.status = CaseStatus.RESOLVED.value
    _record(session, case, actor, EventKind.RESOLVED, _required(resolution, "the resolution"), {})
    return case


def episode_key(condition: str, episode: int) -> str:
    """The dedup key of a condition's n-th episode: the condition itself for the first, "<condition>#n" after."""
    return condition if episode == 1 else f"{condition}#{episode}"


def next_episodes(session: Session, conditions: list[str]) -> dict[str, int]:
    """The episode number a new case of each condition gets: one more than the cases it has had."""
    counts: dict[str, int] = {}
    for batch in chunks(conditions):
        for condition, n in session.execute(
            select(ExceptionCase.condition_key, func.count())
            .where(ExceptionCase.condition_key.in_(batch))
            .group_by(ExceptionCase.condition_key)
        ):
            counts[str(condition)] = int(n)
    return {c: counts.get(c, 0) + 1 for c in conditions}


def _by_key(session: Session, dedup_key: str) -> ExceptionCase | None:
    return session.scalars(select(ExceptionCase).where(ExceptionCase.dedup_key == dedup_key)).first()


def raise_new(session: Session, cases: Sequence[NewCase], rules: RoutingRules | None = None) -> list[ExceptionCase]:
    """Insert the cases whose key is new, route them and write their first events; returns those inserted.

    A few statements for any number of cases. The insert skips keys that exist (ON CONFLICT DO
    NOTHING), so two passes racing each other raise every case once.
    """
    first: dict[str, NewCase] = {}
    for case in cases:
        first.setdefault(case.dedup_key, case)
    unique = list(first.values())
    if not unique:
        return []
    rules = rules or load_routing()
    entities = _entity_codes(session, {c.entity_id for c in unique})
    owners = owners_named(session, rules)
    now = clock.now()
    rows, routes = [], {}
    for case in unique:
        route = decide(rules, owners, case.type, entities[case.entity_id])
        routes[case.dedup_key] = route
        rows.append(
            {
                "type": case.type.value,
                "entity_id": case.entity_id,
                "severity": case.severity.value,
                "title": case.title[:200],
                "detail": case.detail,
                "dedup_key": case.dedup_key,
                "condition_key": case.condition_key,
                "related": case.related,
                "suggestions": case.suggestions,
                "owner_role": route.rule.owner_role.value if route.rule.owner_role else None,
                "owner_user_id": route.owner_user_id,
                "status": (CaseStatus.ASSIGNED if route.owner_user_id else CaseStatus.OPEN).value,
                "sla_due_at": now + timedelta(hours=route.rule.sla_hours),
                "routing_rule_id": route.rule.id,
                "routing_reason": route.reason,
                "created_at": now,
                "updated_at": now,
            }
        )
    ids = _insert_new(session, rows)
    if not ids:
        return []
    created = {c.id: c for batch in chunks(ids) for c in session.scalars(cases_by_id(batch))}
    by_key = {c.dedup_key: c for c in created.values()}
    events: list[dict[str, Any]] = []
    for case in unique:
        if case.dedup_key not in by_key:
            continue
        row, route = by_key[case.dedup_key], routes[case.dedup_key]
        routed = {
            "rule": route.rule.id,
            "rule_line": route.rule.line,
            "owner_role": row.owner_role,
            "owner_user_id": row.owner_user_id,
            "sla_hours": route.rule.sla_hours,
            "sla_due_at": row.sla_due_at.isoformat(),
            "routing_file": rules.path,
            "routing_sha256": rules.sha256,
        }
        events.append(_event_row(row, EventKind.RAISED, row.title, {"dedup_key": row.dedup_key}, now))
        events.append(_event_row(row, EventKind.ROUTED, route.reason, routed, now))
    session.execute(insert(CaseEvent), events)  # one executemany; event ids are not needed here
    raised = [by_key[c.dedup_key] for c in unique if c.dedup_key in by_key]
    _audit_raised(session, raised)
    publish_many(session, [_case_event("exception.opened", case) for case in raised])
    return raised


def end_episodes(session: Session, ended: Sequence[tuple[ExceptionCase, str]]) -> list[ExceptionCase]:
    """The condition behind each case has ended (hold released, shortage filled): mark the episode over and resolve
    the case if it is still open, with the note on its timeline and the audit log (by the system, as detection).

    Returns the cases resolved now (a case a person already closed only gets its episode marked over)."""
    now = clock.now()
    resolved = []
    for case, note in ended:
        case.ended_at = now
        if case.status in ACTIVE_STATUSES:
            case.status = CaseStatus.RESOLVED.value
            case.updated_at = now
            case.events.append(
                CaseEvent(
                    case_id=case.id, at=now, actor_user_id=None, kind=EventKind.RESOLVED.value, text=note, data={}
                )
            )
            resolved.append(case)
    session.flush()
    for case in resolved:
        _audit(session, AuditContext(actor_user_id=None), case, EventKind.RESOLVED, case.events[-1].text)
    return resolved


def _audit_raised(session: Session, cases: list[ExceptionCase]) -> None:
    """One audit event for the cases a pass raised: which, where, and how each was routed."""
    if not cases:
        return
    subject = cases[0].number if len(cases) == 1 else f"{cases[0].number}..{cases[-1].number}"
    record_event(
        session,
        AuditContext(actor_user_id=None),
        action="exception.raised",
        subject_type="exception",
        subject_id=subject,
        entity_id=cases[0].entity_id if len({c.entity_id for c in cases}) == 1 else None,
        data={"cases": [{"case": c.number, "type": c.type, "routing": c.routing_reason} for c in cases]},
    )


def cases_by_id(ids: Sequence[int]) -> Select[ExceptionCase]:
    return select(ExceptionCase).where(ExceptionCase.id.in_(ids)).order_by(ExceptionCase.id)


def _insert_new(session: Session, rows: list[dict[str, Any]]) -> list[int]:
    dialect_insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    ids: list[int] = []
    for batch in chunks(rows, INSERT_BATCH):
        statement = (
            dialect_insert(ExceptionCase)
            .values(list(batch))
            .on_conflict_do_nothing(index_elements=["dedup_key"])
            .returning(ExceptionCase.id)
        )
        ids.extend(session.scalars(statement))
    return sorted(ids)


def _entity_codes(session: Session, entity_ids: set[int]) -> dict[int, str]:
    codes = entity_codes(session, entity_ids)
    missing = sorted(entity_ids - set(codes))
    if missing:
        raise InvalidInput(f"no legal entity with id {', '.join(map(str, missing))}; a case needs an existing entity")
    return codes


def _event_row(case: ExceptionCase, kind: EventKind, text: str, data: dict[str, Any], at: datetime) -> dict[str, Any]:
    """A system event (no person behind it), as an insert row."""
    return {"case_id": case.id, "at": at, "actor_user_id": None, "kind": kind.value, "text": text, "data": data}


# --- Validation of inputs ------------------------------------------------------------------------


def parse_type(value: ExceptionType | str) -> ExceptionType:
    """A case type from its name, or a refusal listing the types."""
    try:
        return ExceptionType(str(value).strip().lower())
    except ValueError:
        raise InvalidInput(
            f"unknown case type {value!r}; types are {', '.join(t.value for t in ExceptionType)}"
        ) from None


def parse_status(value: CaseStatus | str) -> CaseStatus:
    """A case status from its name, or a refusal listing the statuses."""
    try:
        return CaseStatus(str(value).strip().lower())
    except ValueError:
        raise InvalidInput(
            f"unknown case status {value!r}; statuses are {', '.join(s.value for s in CaseStatus)}"
        ) from None


def _severity(value: Severity | str) -> Severity:
    try:
        return Severity(str(value).strip().lower())
    except ValueError:
        raise InvalidInput(f"unknown severity {value!r}; use {', '.join(s.value for s in Severity)}") from None


def _required(text: str, what: str, limit: int = MAX_TEXT) -> str:
    cleaned = text.strip()
    if not cleaned:
        raise InvalidInput(f"{what} must not be empty")
    require_storable(cleaned, what)
    if len(cleaned) > limit:
        raise InvalidInput(f"{what} is {len(cleaned)} characters long; keep it within {limit}")
    return cleaned


def _json(value: T, what: str) -> T:
    try:
        json.dumps(value)
    except (TypeError, ValueError) as error:
        raise InvalidInput(f"{what} must be plain JSON data (strings, numbers, lists, mappings): {error}") from None
    return value


# --- Reading -----------------------------------------------------------------------------------


def get_case(session: Session, actor: Actor, *, case_number: str | int, lock: bool = False) -> ExceptionCase:
    """The case with its timeline, if its entity is in the actor's scope (`lock`: for a command that changes it)."""
    case = load_document(
        session,
        ExceptionCase,
        case_number,
        kind=EXCEPTION_CASE,
        lock=lock,
        lines=ExceptionCase.events,
    )
    actor.require_entity(case.entity_id, f"exception case {case.number}")
    return case


@dataclass(frozen=True)
class CasePage:
    """One page of cases and how many match in all."""

    cases: list[ExceptionCase]
    total: int


def page_cases(
    session: Session,
    actor: Actor,
    *,
    type: ExceptionType | str | None = None,
    entity: str | None = None,
    owner: str | None = None,
    status: CaseStatus | str | None = None,
    active_only: bool = False,
    limit: int = 50,
) -> CasePage:
    """Cases in the actor's entities, the soonest due first, filtered by type, entity code, owner username and
    status (or only open and assigned ones), with how many match in all so a caller can say what it left out."""
    if not 1 <= limit <= MAX_LIST:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIST}, got {limit}")
    query = select(ExceptionCase).where(ExceptionCase.entity_id.in_(actor.entity_ids))
    if type is not None:
        query = query.where(ExceptionCase.type == parse_type(type).value)
    if status is not None:
        query = query.where(ExceptionCase.status == parse_status(status).value)
    elif active_only:
        query = query.where(ExceptionCase.status.in_([s.value for s in ACTIVE_STATUSES]))
    if entity is not None:
        ent = get_entity(session, code=entity)
        actor.require_entity(ent.id, f"entity {ent.code}")
        query = query.where(ExceptionCase.entity_id == ent.id)
    if owner is not None:
        query = query.where(ExceptionCase.owner_user_id == _user(session, owner, actor.entity_ids).id)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    cases = list(session.scalars(query.order_by(ExceptionCase.sla_due_at, ExceptionCase.id).limit(limit)))
    return CasePage(cases, total)


def _user(session: Session, username: str, entity_ids: frozenset[int]) -> User:
    """An active user by username; a miss suggests close usernames among users of these entities."""
    wanted = username.strip()
    user = session.scalars(select(User).where(User.username == wanted, User.active.is_(True))).first()
    if user is None:
        user = session.scalars(select(User).where(User.username.ilike(wanted), User.active.is_(True))).first()
    if user is None:
        known = list(
            session.scalars(
                select(User.username)
                .join(UserEntityScope, UserEntityScope.user_id == User.id)
                .where(UserEntityScope.entity_id.in_(entity_ids), User.active.is_(True))
                .distinct()
            )
        )
        raise NotFound("user", username, difflib.get_close_matches(wanted, known, n=3, cutoff=0.5))
    return user


# --- The lifecycle ------------------------------------------------------------------------------


def assign_case(session: Session, actor: Actor, *, case_number: str | int, assignee: str) -> ExceptionCase:
    """Give an open case to a person who can see its entity."""
    case = _case_to_handle(session, actor, case_number, "assign")
    _require_active(case, "assigned")
    user = _user(session, assignee, frozenset({case.entity_id}))
    if session.get(UserEntityScope, (user.id, case.entity_id)) is None:
        raise OutOfScope(
            f"{user.username} cannot see {_entity_code(session, case)}, where {case.number} belongs; "
            f"assign it to one of {', '.join(assignable_people(session, case))}",
            case=case.number,
            assignee=user.username,
        )
    if case.owner_user_id == user.id and case.status == CaseStatus.ASSIGNED:
        return case  # already so: nothing changes, nothing to record
    previous = session.get(User, case.owner_user_id) if case.owner_user_id else None
    case.owner_user_id = user.id
    case.status = CaseStatus.ASSIGNED.value
    text = f"assigned to {user.username}" + (f" (was {previous.username})" if previous else "")
    _record(session, case, actor, EventKind.ASSIGNED, text, {"assignee": user.username, "previous": _name(previous)})
    return case


def comment_case(session: Session, actor: Actor, *, case_number: str | int, text: str) -> CaseEvent:
    """Add a comment to a case's timeline (open or closed)."""
    body = _required(text, "a comment")
    case = get_case(session, actor, case_number=case_number, lock=True)
    return _record(session, case, actor, EventKind.COMMENTED, body, {})


def resolve_case(
    session: Session, actor: Actor, *, case_number: str | int, resolution: str, dismiss: bool = False
) -> ExceptionCase:
    """Close a case as resolved (or dismissed: not a real problem), saying how."""
    body = _required(resolution, "the resolution")
    case = _case_to_handle(session, actor, case_number, "dismiss" if dismiss else "resolve")
    _require_active(case, "dismissed" if dismiss else "resolved")
    status, kind = (CaseStatus.DISMISSED, EventKind.DISMISSED) if dismiss else (CaseStatus.RESOLVED, EventKind.RESOLVED)
    case.status = status.value
    _record(session, case, actor, kind, body, {})
    return case


def reopen_case(session: Session, actor: Actor, *, case_number: str | int, reason: str) -> ExceptionCase:
    """Open a resolved or dismissed case again (detection never does: its key stays used)."""
    body = _required(reason, "the reason to reopen")
    case = _case_to_handle(session, actor, case_number, "reopen")
    if case.status not in CLOSED_STATUSES:
        raise InvalidState(f"{case.number} is {case.status}; only a resolved or dismissed case can be reopened")
    case.status = (CaseStatus.ASSIGNED if case.owner_user_id else CaseStatus.OPEN).value
    _record(session, case, actor, EventKind.REOPENED, body, {})
    return case


def _case_to_handle(session: Session, actor: Actor, case_number: str | int, verb: str) -> ExceptionCase:
    case = get_case(session, actor, case_number=case_number, lock=True)
    if not may_handle(actor, case):
        routed = f"role {case.owner_role}, " if case.owner_role else ""
        raise PermissionDenied(
            f"{actor.username} may not {verb} {case.number}: that takes {routed}manager or admin, "
            "or being the person it is assigned to; comment on it instead, or ask one of them",
            case=case.number,
        )
    return case


def may_handle(actor: Actor, case: ExceptionCase) -> bool:
    """Whether the actor may assign, resolve, dismiss or reopen the case (scope is checked separately)."""
    if actor.roles & MANAGING_ROLES or case.owner_user_id == actor.user_id:
        return True
    return case.owner_role is not None and case.owner_role in {r.value for r in actor.roles}


def _require_active(case: ExceptionCase, verb: str) -> None:
    if case.status not in ACTIVE_STATUSES:
        raise InvalidState(
            f"{case.number} is already {case.status} and cannot be {verb}; reopen it first if the problem is back",
            case=case.number,
            status=case.status,
        )


def _record(
    session: Session, case: ExceptionCase, actor: Actor, kind: EventKind, text: str, data: dict[str, Any]
) -> CaseEvent:
    now = clock.now()
    case.updated_at = now
    event = CaseEvent(case_id=case.id, at=now, actor_user_id=actor.user_id, kind=kind.value, text=text, data=data)
    case.events.append(event)
    session.flush()
    _audit(session, AuditContext(actor_user_id=actor.user_id), case, kind, text)
    return event


def _audit(session: Session, context: AuditContext, case: ExceptionCase, kind: EventKind, text: str) -> None:
    """Every change to a case also goes on the hash-chained audit log; a closing one also to the outbox."""
    record_event(
        session,
        context,
        action=f"exception.{kind.value}",
        subject_type="exception",
        subject_id=case.number,
        entity_id=case.entity_id,
        data={"type": case.type, "status": case.status, "text": text[:500]},
    )
    if kind in (EventKind.RESOLVED, EventKind.DISMISSED):
        publish_many(session, [_case_event("exception.resolved", case, resolution=text[:500])])


def _case_event(type: str, case: ExceptionCase, **extra: Any) -> dict[str, Any]:
    """A case's outbox event (every case opened or closed, by detection, an analysis or a person, passes here)."""
    return {
        "type": type,
        "document_type": "exception",
        "document_number": case.number,
        "entity_id": case.entity_id,
        "payload": {
            "case": case.number,
            "type": case.type,
            "severity": case.severity,
            "status": case.status,
            "title": case.title,
            "owner_role": case.owner_role,
            **extra,
        },
    }


def _name(user: User | None) -> str | None:
    return user.username if user else None


def _entity_code(session: Session, case: ExceptionCase) -> str:
    entity = session.get(LegalEntity, case.entity_id)
    return entity.code if entity else str(case.entity_id)


def assignable_people(session: Session, case: ExceptionCase, limit: int = 6) -> list[str]:
    """Active users who can see the case's entity, those with its role first."""
    rows = session.execute(
        select(User.username, User.id)
        .join(UserEntityScope, UserEntityScope.user_id == User.id)
        .where(UserEntityScope.entity_id == case.entity_id, User.active.is_(True))
        .order_by(User.username)
    ).all()
    role_holders = set(
        session.scalars(select(UserRole.user_id).where(UserRole.role == (case.owner_role or Role.MANAGER.value)))
    )
    ordered = sorted(rows, key=lambda r: (r.id not in role_holders, r.username))
    return [r.username for r in ordered[:limit]]
