"""The write gate: draft a change, let its requester confirm it, let the policy decide, and let people
approve what it holds.

Drafting previews the change by running the real commands inside a savepoint that is rolled
back, so business tables never change until the policy or the approvers let the draft through,
and the preview is exactly what would execute. A draft stays unconfirmed until its requester, a
person in a channel, confirms the preview they were shown (integrations and tests confirm in the same
call, explicitly); only then does the policy decide. The assistant holds no person, so it can draft
but never confirm. Execution re-runs the commands as the requester
against the state at that moment and re-asks the policy; if either refuses, the draft fails with
the reason and nothing is written.
"""

import hashlib
import json
import re
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from core import clock
from core.actor import Actor, Person
from core.audit import AuditContext, record_event
from core.documents import load_document
from core.drafts.base import Applied, DraftPayload, HeldCase, Payload
from core.drafts.kinds import KINDS
from core.drafts.models import DraftAction, DraftApproval, DraftStatus
from core.errors import ErpError, IdempotencyConflict, InvalidInput, InvalidState, PermissionDenied
from core.exceptions import ExceptionType, detect_exceptions, raise_case
from core.fx import exchange_rate
from core.masterdata.models import Item, LegalEntity, User, UserEntityScope, Warehouse
from core.masterdata.service import load_actor
from core.money import round_money
from core.numbering import DRAFT
from core.outbox.service import publish
from core.policy import Decision, Outcome, Policy, Requirement, evaluate, load_policy, record_decision
from core.policy.facts import DraftKind, Facts
from core.settings import get_settings
from core.stock.models import StockBalance
from core.stock.service import Key
from core.text import require_storable

# Advisory-lock key space ("DR") in which requests sharing an idempotency key queue on PostgreSQL.
IDEMPOTENCY_LOCK_SPACE = 0x4452
KEY_REUSED = "this idempotency key was already used for a different request; use a new key"


@dataclass(frozen=True)
class RequestContext:
    """Who asks for a change, and through which channel, conversation and tool call.

    `restates` names earlier previews of this conversation the request corrects ("sorry, it's for BRAZOSPL"):
    they are superseded like a preview of the same subject, whatever their subject."""

    actor: Actor
    channel: str
    conversation_id: str | None = None
    tool_call_id: str | None = None
    restates: tuple[str, ...] = ()

    def audit(self) -> AuditContext:
        return AuditContext(
            actor_user_id=self.actor.user_id,
            channel=self.channel,
            conversation_id=self.conversation_id,
            tool_call_id=self.tool_call_id,
        )


def _person_audit(person: Person) -> AuditContext:
    return AuditContext(actor_user_id=person.actor.user_id, channel=person.channel)


# --- Drafting -------------------------------------------------------------------------


def parse_payload(kind: DraftKind | str, payload: Payload | dict[str, Any]) -> tuple[DraftKind, DraftPayload]:
    """The typed payload for a kind, or a clear refusal naming the fields that are wrong."""
    try:
        draft_kind = DraftKind(kind)
    except ValueError:
        raise InvalidInput(f"unknown draft kind '{kind}'; kinds are {', '.join(k.value for k in KINDS)}") from None
    if draft_kind not in KINDS:
        raise InvalidInput(f"drafts of kind '{draft_kind.value}' are not supported")
    model = KINDS[draft_kind][0]
    if isinstance(payload, model):
        return draft_kind, payload
    try:
        return draft_kind, model.model_validate(payload if isinstance(payload, dict) else payload.model_dump())
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors())
        raise InvalidInput(f"the {draft_kind.value} request is not valid: {problems}") from None


def _idempotency_key(ctx: RequestContext, kind: DraftKind, payload: Payload) -> str:
    """The same tool call retried gives the same key; a request with no call id is always a new one
    (ordering the same thing twice on purpose must not return last week's draft)."""
    if ctx.tool_call_id is None:
        return uuid.uuid4().hex
    body = json.dumps(
        [ctx.actor.user_id, kind.value, payload.model_dump(mode="json"), ctx.conversation_id, ctx.tool_call_id],
        sort_keys=True,
    )
    return hashlib.sha256(body.encode()).hexdigest()


def draft_action(
    session: Session,
    ctx: RequestContext,
    *,
    kind: DraftKind | str,
    payload: Payload | dict[str, Any],
    confirmed: bool,
    idempotency_key: str | None = None,
    policy: Policy | None = None,
) -> DraftAction:
    """Draft a change and preview it, with what the policy would decide. Unconfirmed, it waits for its
    requester to confirm that preview and nothing changes; `confirmed` (an integration's or a test's explicit
    choice), the policy decides at once: execute, hold for approval, or block.

    The same request twice (same idempotency key) returns the same draft.
    """
    draft_kind, typed = parse_payload(kind, payload)
    key = idempotency_key or _idempotency_key(ctx, draft_kind, typed)
    queue_on_key(session, key)
    existing = session.scalars(select(DraftAction).where(DraftAction.idempotency_key == key)).first()
    if existing is not None:
        return _same_request(existing, ctx, draft_kind, typed)
    applied, diff = preview(session, ctx.actor, draft_kind, typed)
    facts = _facts(session, ctx.actor, draft_kind, applied)
    decision = evaluate(facts, policy or current_policy())
    replaced = _restated_previews(session, ctx, draft_kind, typed)  # locked before the audit chain, as stock is
    draft = _new_draft(session, ctx, draft_kind, typed, key, applied, diff, facts, decision)
    _log(session, ctx.audit(), draft, "draft.created", summary=draft.summary, diff=diff)
    _supersede(session, ctx, replaced, by=draft)
    if confirmed:
        _submit(session, draft, decision, ctx.audit(), applied.held_case)
    return draft


def _restated_previews(
    session: Session, ctx: RequestContext, kind: DraftKind, payload: DraftPayload
) -> list[DraftAction]:
    """The requester's previews, still unconfirmed in this conversation, that this request restates.

    A changed request ("no, make that 30") replaces the preview it restates, so that only the newest can be
    confirmed. Which one it restates the kind says (the same route, the same customer: `DraftPayload.subject`), or
    the requester's correction names it (`RequestContext.restates`: "the other way round" changes the route); a
    second request in the same breath ("... and 5 from Dallas to Reno") replaces nothing. A retried tool call never
    gets here: its idempotency key returns the draft it made."""
    if ctx.conversation_id is None:
        return []
    waiting = session.scalars(
        select(DraftAction)
        .where(
            DraftAction.requester_id == ctx.actor.user_id,
            DraftAction.conversation_id == ctx.conversation_id,
            DraftAction.kind == kind.value,
            DraftAction.status == DraftStatus.UNCONFIRMED.value,
        )
        .order_by(DraftAction.id)
        .with_for_update()
    ).all()
    return [d for d in waiting if d.number in ctx.restates or payload.replaces(parse_payload(kind, d.payload)[1])]


def _supersede(session: Session, ctx: RequestContext, replaced: list[DraftAction], *, by: DraftAction) -> None:
    """Cancel the previews the newer draft `by` restates; confirming one now says it is cancelled."""
    for draft in replaced:
        draft.status = DraftStatus.CANCELLED.value
        draft.decided_at = clock.now()
        _log(session, ctx.audit(), draft, "draft.superseded", by=by.number)
    session.flush()


def _submit(
    session: Session, draft: DraftAction, decision: Decision, audit: AuditContext, held: HeldCase | None = None
) -> None:
    """The requester's confirmation: the draft goes to the policy, and waits for approvers from now on
    (with `held`, the case the draft raises when the policy holds it)."""
    now = clock.now()
    draft.escalate_at = now + timedelta(hours=get_settings().approval_escalate_hours)
    draft.expires_at = now + timedelta(hours=get_settings().approval_ttl_hours)
    draft.status = DraftStatus.PENDING_APPROVAL.value
    _log(session, audit, draft, "draft.confirmed")
    _settle(session, draft, decision, audit)
    if held is not None and decision.outcome is Outcome.NEEDS_APPROVAL:
        _raise_held_case(session, draft, held)


def _preview_changed(draft: DraftAction, why: str) -> InvalidState:
    return InvalidState(
        f"{draft.number} would no longer do what its preview showed ({why}); ask for it again to see a new preview"
    )


def confirm(session: Session, person: Person, *, draft_number: str | int, policy: Policy | None = None) -> DraftAction:
    """The requester confirms the preview they were shown; only then does the policy decide on it. The preview
    is run again first: if stock, prices or credit changed it, nothing is decided and the requester must ask again."""
    draft = get_draft(session, person.actor, draft_number=draft_number, lock=True)
    if draft.requester_id != person.actor.user_id:
        raise PermissionDenied(f"only the person who asked for {draft.number} can confirm it")
    if draft.status != DraftStatus.UNCONFIRMED:
        raise InvalidState(f"{draft.number} is {draft.status}; only an unconfirmed draft can be confirmed")
    if clock.now() >= draft.expires_at:
        raise InvalidState(f"the preview of {draft.number} expired at {draft.expires_at:%H:%M}; ask for it again")
    kind, payload = parse_payload(draft.kind, draft.payload)
    requester = _requester(session, draft)
    try:
        applied, diff = preview(session, requester, kind, payload)
    except ErpError as error:  # e.g. the stock it would reserve is gone: the same refusal, with the reason
        raise _preview_changed(draft, error.message) from None
    if effect_of(diff) != effect_of(draft.diff) or applied.summary != draft.summary:
        raise _preview_changed(draft, "stock, prices or credit changed")
    draft.diff = diff  # the same change, shown to approvers on today's figures
    facts = _facts(session, requester, kind, applied)
    _submit(session, draft, evaluate(facts, policy or current_policy()), _person_audit(person), applied.held_case)
    return draft


def queue_on_key(session: Session, key: str) -> None:
    """Wait for any other transaction drafting with this key (a client retrying while its first call runs).
    A unit of work may queue on the same key again (the lock is re-entrant); it is held until the commit.

    Without this both would miss the other's uncommitted draft and the second would fail on the unique
    key instead of getting the first's draft back. SQLite's write units already hold its single write lock.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"SELECT pg_advisory_xact_lock({IDEMPOTENCY_LOCK_SPACE}, hashtext(:key))"), {"key": key})


def _same_request(existing: DraftAction, ctx: RequestContext, kind: DraftKind, payload: Payload) -> DraftAction:
    same = (
        existing.requester_id == ctx.actor.user_id
        and existing.kind == kind.value
        and existing.payload == payload.model_dump(mode="json")
    )
    if not same:
        raise IdempotencyConflict(KEY_REUSED)
    return existing


def preview(session: Session, actor: Actor, kind: DraftKind, payload: Payload) -> tuple[Applied, list[str]]:
    """What the draft would do, from running it in a savepoint that is then rolled back."""
    apply = KINDS[kind][1]
    savepoint = session.begin_nested()
    try:
        applied = apply(session, actor, payload)
        after = _balances(session, applied.keys)
    finally:
        savepoint.rollback()
    before = _balances(session, applied.keys)
    return applied, [*applied.effects, *_diff_lines(before, after)]


Snapshot = dict[
    Key, tuple[str, int, int, int, int, int]
]  # key -> (label, on_hand, reserved, backordered, incoming, in_transit)


def _balances(session: Session, keys: list[Key]) -> Snapshot:
    if not keys:
        return {}
    rows = session.execute(
        select(Item.id, Warehouse.id, Item.sku, Warehouse.code, StockBalance)
        .join(StockBalance, StockBalance.item_id == Item.id)
        .join(Warehouse, Warehouse.id == StockBalance.warehouse_id)
        .where(Item.id.in_({k[0] for k in keys}), Warehouse.id.in_({k[1] for k in keys}))
        .execution_options(populate_existing=True)
    ).all()
    wanted = set(keys)
    return {
        (i, w): (f"{sku} @ {code}", b.on_hand, b.reserved, b.backordered, b.incoming, b.in_transit)
        for i, w, sku, code, b in rows
        if (i, w) in wanted
    }


COLUMNS = ("on hand", "reserved", "backordered", "incoming", "in transit")


def _diff_lines(before: Snapshot, after: Snapshot) -> list[str]:
    """One line per stock position that changes: "V-200 @ DAL: reserved 0 → 40; available 368 → 328"."""
    lines = []
    for key in sorted(after):
        label, *new = after[key]
        old = list(before.get(key, (label, 0, 0, 0, 0, 0))[1:])
        changes = [f"{name} {a} → {b}" for name, a, b in zip(COLUMNS, old, new, strict=True) if a != b]
        if not changes:
            continue
        free_old, free_new = old[0] - old[1] - old[2], new[0] - new[1] - new[2]
        if free_old != free_new:
            changes.append(f"available {max(0, free_old)} → {max(0, free_new)}")
        lines.append(f"{label}: " + ", ".join(changes))
    return lines


_CHANGE = re.compile(r"([a-z][a-z ]*?) (-?\d+) → (-?\d+)")


def effect_of(diff: list[str]) -> list[str]:
    """What a preview does, without the figures around it: "V-200 @ DAL: reserved +40" for each stock line (other
    lines as they are). Other orders moving the same stock change the figures, not what this draft does."""
    effect = []
    for line in diff:
        label, colon, rest = line.partition(": ")
        changes = [(name, int(b) - int(a)) for name, a, b in _CHANGE.findall(rest) if name != "available"]
        effect.append(
            f"{label}: " + ", ".join(f"{name} {delta:+d}" for name, delta in changes) if colon and changes else line
        )
    return effect


def _entity_code(session: Session, entity_id: int | None) -> str | None:
    if entity_id is None:
        return None
    entity = session.get(LegalEntity, entity_id)
    return entity.code if entity else None


def _facts(session: Session, actor: Actor, kind: DraftKind, applied: Applied) -> Facts:
    rate = exchange_rate(session, from_currency=applied.currency, to_currency="USD", on=clock.today())
    return Facts(
        kind=kind,
        entity=_entity_code(session, applied.entity_id) or "",
        counterparty_entity=_entity_code(session, applied.counterparty_entity_id),
        requester_roles=sorted(r.value for r in actor.roles),
        currency=applied.currency,
        amount=round_money(applied.amount),
        amount_usd=round_money(applied.amount * rate),
        quantity=applied.quantity,
        **applied.facts,
    )


def _new_draft(
    session: Session,
    ctx: RequestContext,
    kind: DraftKind,
    payload: Payload,
    key: str,
    applied: Applied,
    diff: list[str],
    facts: Facts,
    decision: Decision,
) -> DraftAction:
    now = clock.now()
    draft = DraftAction(
        kind=kind.value,
        status=DraftStatus.UNCONFIRMED.value,
        payload=payload.model_dump(mode="json"),
        entity_id=applied.entity_id,
        counterparty_entity_id=applied.counterparty_entity_id,
        currency=applied.currency,
        amount=facts.amount,
        amount_usd=facts.amount_usd,
        summary=applied.summary,
        diff=diff,
        facts=facts.model_dump(mode="json"),
        requester_id=ctx.actor.user_id,
        channel=ctx.channel,
        conversation_id=ctx.conversation_id,
        tool_call_id=ctx.tool_call_id,
        idempotency_key=key,
        outcome=decision.outcome.value,
        requirements=[r.model_dump(mode="json") for r in decision.requirements],
        reasons=[r.model_dump(mode="json") for r in decision.reasons],
        explanation=decision.explain(),
        created_at=now,
        escalate_at=now + timedelta(minutes=get_settings().preview_ttl_minutes),
        expires_at=now + timedelta(minutes=get_settings().preview_ttl_minutes),
    )
    session.add(draft)
    session.flush()
    return draft


def _record(session: Session, draft: DraftAction, decision: Decision, audit: AuditContext) -> None:
    facts = Facts.model_validate(draft.facts)
    draft.decision_id = record_decision(session, draft_id=draft.id, facts=facts, decision=decision).id
    draft.outcome = decision.outcome.value
    draft.requirements = [r.model_dump(mode="json") for r in decision.requirements]
    draft.reasons = [r.model_dump(mode="json") for r in decision.reasons]
    draft.explanation = decision.explain()
    _log(session, audit, draft, "policy.decided", outcome=decision.outcome.value, explanation=draft.explanation)


def _settle(session: Session, draft: DraftAction, decision: Decision, audit: AuditContext) -> None:
    """Apply the policy's decision: execute now, wait for approvers, or block."""
    _record(session, draft, decision, audit)
    if decision.outcome is Outcome.BLOCK:
        draft.status = DraftStatus.BLOCKED.value
        draft.decided_at = clock.now()
        _log(session, audit, draft, "draft.blocked", explanation=draft.explanation)
    elif decision.outcome is Outcome.EXECUTE:
        _execute(session, draft, audit)
    session.flush()


def _execute(session: Session, draft: DraftAction, audit: AuditContext) -> None:
    """Carry the draft out as its requester, all or nothing; a refusal leaves it failed with the reason."""
    kind = DraftKind(draft.kind)
    model, apply = KINDS[kind]
    savepoint = session.begin_nested()
    try:
        requester = _requester(session, draft)
        applied = apply(session, requester, model.model_validate(draft.payload))
        savepoint.commit()
    except ErpError as error:
        savepoint.rollback()
        _fail(session, draft, audit, error.message)
        return
    draft.status = DraftStatus.EXECUTED.value
    draft.result_ref = applied.result_ref
    draft.executed_at = clock.now()
    draft.decided_at = draft.decided_at or draft.executed_at
    # A write can create a shortage or a late order; raise those cases in the same transaction.
    detect_exceptions(session, entity_ids=[e for e in (draft.entity_id, draft.counterparty_entity_id) if e])
    _log(session, audit, draft, "draft.executed", result=applied.result_ref)


def _requester(session: Session, draft: DraftAction) -> Actor:
    user = session.get(User, draft.requester_id)
    if user is None or not user.active:
        raise PermissionDenied("the requester of this draft is no longer an active user")
    return load_actor(session, username=user.username)


def _log(session: Session, audit: AuditContext, draft: DraftAction, action: str, **data: Any) -> None:
    """An audit event of the draft; it names the conversation and tool call that started the draft, whoever acts."""
    started = replace(
        audit,
        conversation_id=audit.conversation_id or draft.conversation_id,
        tool_call_id=audit.tool_call_id or draft.tool_call_id,
    )
    record_event(
        session,
        started,
        action=action,
        subject_type="draft",
        subject_id=draft.number,
        entity_id=draft.entity_id,
        data={"kind": draft.kind, "status": draft.status, **data},
    )
    if action in DECIDED_EVENTS:
        _publish_decided(session, draft, action)


# Where a draft's decision settles (every door: REST, CLI, assistant, approvals) it is logged here; these actions
# are the decisions other systems hear about, as the outbox event of the same name.
DECIDED_EVENTS = frozenset({"draft.executed", "draft.rejected", "draft.blocked", "draft.failed"})


def _publish_decided(session: Session, draft: DraftAction, action: str) -> None:
    publish(
        session,
        type=action,
        document_type="draft",
        document_number=draft.number,
        entity_id=draft.entity_id,
        counterparty_entity_id=draft.counterparty_entity_id,
        payload={
            "draft": draft.number,
            "kind": draft.kind,
            "status": draft.status,
            "summary": draft.summary,
            "currency": draft.currency,
            "amount": draft.amount,
            "result": draft.result_ref,
            "reason": draft.failure_reason,
            "channel": draft.channel,
        },
    )


_POLICY: Policy | None = None


def current_policy() -> Policy:
    """The deployment's policy, loaded (and validated) once per process."""
    global _POLICY
    if _POLICY is None:
        _POLICY = load_policy()
    return _POLICY


# --- Reading ---------------------------------------------------------------------------


def get_draft(session: Session, actor: Actor, *, draft_number: str | int, lock: bool = False) -> DraftAction:
    """A draft its requester may see, and anyone with one of its entities (either side if intercompany) in scope."""
    draft = load_document(session, DraftAction, draft_number, kind=DRAFT, lock=lock)
    sides = [e for e in (draft.entity_id, draft.counterparty_entity_id) if e is not None]
    if draft.requester_id != actor.user_id and not any(actor.can_see(e) for e in sides):
        actor.require_entity(draft.entity_id, f"draft {draft.number}")
    return draft


def approvals_of(session: Session, draft: DraftAction) -> list[DraftApproval]:
    """Every approval and rejection of a draft, oldest first."""
    return list(
        session.scalars(select(DraftApproval).where(DraftApproval.draft_id == draft.id).order_by(DraftApproval.id))
    )


def _requirements(draft: DraftAction) -> list[Requirement]:
    return [Requirement.model_validate(r) for r in draft.requirements]


def _unmet(
    session: Session, draft: DraftAction, approvals: list[DraftApproval] | None = None
) -> list[tuple[Requirement, int]]:
    """Requirements no approval has met yet, each with the entity id it is for (`approvals`: already loaded)."""
    given = approvals if approvals is not None else approvals_of(session, draft)
    met = [(a.role, a.entity_id) for a in given if a.verdict == "approved"]
    unmet = []
    for requirement in _requirements(draft):
        entity_id = _requirement_entity(session, draft, requirement)
        if (requirement.role, entity_id) in met:
            met.remove((requirement.role, entity_id))
        else:
            unmet.append((requirement, entity_id))
    return unmet


def _requirement_entity(session: Session, draft: DraftAction, requirement: Requirement) -> int:
    if requirement.entity is None:
        return draft.entity_id
    entity = session.scalars(select(LegalEntity).where(LegalEntity.code == requirement.entity)).first()
    if entity is None:
        raise InvalidState(f"policy names an unknown entity '{requirement.entity}'")
    return entity.id


def _can_meet(
    session: Session, actor: Actor, draft: DraftAction, requirement: Requirement, entity_id: int
) -> str | None:
    """None if this user may meet this requirement, else why not."""
    if requirement.role not in {r.value for r in actor.roles}:
        return f"needs the role {requirement.role}"
    if not actor.can_see(entity_id):
        return f"needs {_entity_code(session, entity_id)} in your scope"
    scope = session.get(UserEntityScope, (actor.user_id, entity_id))
    limit = Decimal(scope.approval_limit) if scope else Decimal(0)
    entity = session.get(LegalEntity, entity_id)
    assert entity is not None
    rate = _usd_rate(session, entity.base_currency)
    value = round_money(Decimal(draft.amount_usd) * rate)
    if limit < value:
        return (
            f"your approval limit in {entity.code} is {entity.base_currency} {limit:,.2f}; this draft is {value:,.2f}"
        )
    return None


def _usd_rate(session: Session, currency: str) -> Decimal:
    """Today's USD rate, looked up once per unit of work (an inbox checks it for every draft)."""
    rates: dict[tuple[str, object], Decimal] = session.info.setdefault("usd_rates", {})
    key = (currency, clock.today())
    if key not in rates:
        rates[key] = exchange_rate(session, from_currency="USD", to_currency=currency, on=clock.today())
    return rates[key]


def pending_for(session: Session, actor: Actor) -> list[DraftAction]:
    """Drafts waiting for an approval this user could give, oldest first (reading needs no Person)."""
    drafts = session.scalars(
        select(DraftAction)
        .where(
            DraftAction.status == DraftStatus.PENDING_APPROVAL.value,
            DraftAction.requester_id != actor.user_id,
        )
        .order_by(DraftAction.created_at, DraftAction.id)
    ).all()
    approvals: dict[int, list[DraftApproval]] = {d.id: [] for d in drafts}
    for approval in session.scalars(
        select(DraftApproval).where(DraftApproval.draft_id.in_(list(approvals))).order_by(DraftApproval.id)
    ):
        approvals[approval.draft_id].append(approval)
    return [
        d
        for d in drafts
        if any(_can_meet(session, actor, d, r, e) is None for r, e in _unmet(session, d, approvals[d.id]))
    ]


def open_requirements(session: Session, draft: DraftAction) -> list[tuple[str, str]]:
    """The approvals a waiting draft still needs, as (role, entity code) pairs; none once it is decided."""
    if draft.status != DraftStatus.PENDING_APPROVAL:
        return []
    return [(r.role, _entity_code(session, e) or str(e)) for r, e in _unmet(session, draft)]


def decision_blocker(session: Session, actor: Actor, draft: DraftAction) -> ErpError | None:
    """Why this user cannot approve or reject the draft now (the error deciding would raise), or None if they can."""
    checked = _decision_check(session, actor, draft)
    return checked if isinstance(checked, ErpError) else None


def _decision_check(session: Session, actor: Actor, draft: DraftAction) -> tuple[Requirement, int] | ErpError:
    """The one rule for who may decide a draft now: the open requirement this user would meet, or why not."""
    if draft.status != DraftStatus.PENDING_APPROVAL:
        return InvalidState(f"{draft.number} is {draft.status}; only a draft waiting for approval can be decided")
    if clock.now() >= draft.expires_at:
        return InvalidState(f"{draft.number} expired at {draft.expires_at:%Y-%m-%d %H:%M}; ask for a new draft")
    if draft.requester_id == actor.user_id:
        return PermissionDenied(f"you requested {draft.number}; someone else must approve or reject it")
    if any(a.approver_id == actor.user_id for a in approvals_of(session, draft)):
        return InvalidState(f"you have already decided on {draft.number}")
    return _requirement_for(session, actor, draft)


# --- Deciding --------------------------------------------------------------------------


def _open_for_decision(
    session: Session, person: Person, draft_number: str | int
) -> tuple[DraftAction, tuple[Requirement, int]]:
    """The draft locked for deciding, with the requirement this person meets (or the refusal, raised)."""
    draft = get_draft(session, person.actor, draft_number=draft_number, lock=True)
    checked = _decision_check(session, person.actor, draft)
    if isinstance(checked, ErpError):
        raise checked
    return draft, checked


def _requirement_for(session: Session, actor: Actor, draft: DraftAction) -> tuple[Requirement, int] | PermissionDenied:
    reasons = []
    for requirement, entity_id in _unmet(session, draft):
        why_not = _can_meet(session, actor, draft, requirement, entity_id)
        if why_not is None:
            return requirement, entity_id
        reasons.append(f"{requirement.role} of {_entity_code(session, entity_id)}: {why_not}")
    return PermissionDenied(f"you cannot approve {draft.number}: " + "; ".join(reasons))


def _record_verdict(
    session: Session, person: Person, draft: DraftAction, met: tuple[Requirement, int], verdict: str, comment: str
) -> None:
    """Store a person's verdict against the open requirement they meet."""
    require_storable(comment, "the comment")
    requirement, entity_id = met
    session.add(
        DraftApproval(
            draft_id=draft.id,
            approver_id=person.actor.user_id,
            verdict=verdict,
            role=requirement.role,
            entity_id=entity_id,
            comment=comment.strip()[:2000],
            created_at=clock.now(),
        )
    )


def approve(session: Session, person: Person, *, draft_number: str | int, comment: str = "") -> DraftAction:
    """A person's approval; when the last required approval arrives the draft is re-checked and executed."""
    draft, met = _open_for_decision(session, person, draft_number)
    _record_verdict(session, person, draft, met, "approved", comment)
    session.flush()
    audit = _person_audit(person)
    complete = not _unmet(session, draft)
    if complete:
        # Stock is locked before the audit chain everywhere, so the two never wait on each other in a cycle.
        applied = _revalidated(session, draft, audit)
    _log(session, audit, draft, "draft.approved", role=met[0].role, comment=comment)
    if complete:
        _settle_approved(session, draft, audit, applied)
    return draft


def _revalidated(session: Session, draft: DraftAction, audit: AuditContext) -> Applied | ErpError:
    """Preview the draft again on today's stock, credit and prices (this locks the stock it touches)."""
    kind = DraftKind(draft.kind)
    payload = KINDS[kind][0].model_validate(draft.payload)
    try:
        requester = _requester(session, draft)
        applied, diff = preview(session, requester, kind, payload)
    except ErpError as error:
        return error
    facts = _facts(session, requester, kind, applied)
    draft.facts, draft.diff = facts.model_dump(mode="json"), diff
    draft.amount, draft.amount_usd = facts.amount, facts.amount_usd
    return applied


def _settle_approved(session: Session, draft: DraftAction, audit: AuditContext, checked: Applied | ErpError) -> None:
    """Fully approved: ask the policy again on the fresh facts, then execute, fail, or wait for more approval."""
    if isinstance(checked, ErpError):
        _fail(session, draft, audit, checked.message)
        return
    decision = evaluate(Facts.model_validate(draft.facts), current_policy())
    given = {(r.role, r.entity) for r in _requirements(draft)}
    _record(session, draft, decision, audit)
    if decision.outcome is Outcome.BLOCK:
        _fail(session, draft, audit, f"the policy now blocks it: {draft.explanation}")
    elif decision.outcome is Outcome.NEEDS_APPROVAL and {(r.role, r.entity) for r in decision.requirements} - given:
        _log(session, audit, draft, "draft.needs_more_approval", explanation=draft.explanation)
    else:
        draft.status = DraftStatus.APPROVED.value
        draft.decided_at = clock.now()
        _execute(session, draft, audit)
    session.flush()


def _fail(session: Session, draft: DraftAction, audit: AuditContext, reason: str) -> None:
    draft.status = DraftStatus.FAILED.value
    draft.failure_reason = reason
    draft.decided_at = clock.now()
    _log(session, audit, draft, "draft.failed", reason=reason)


def require_rejection_comment(comment: str) -> None:
    """A rejection must say why: the requester reads the comment."""
    if not comment.strip():
        raise InvalidInput("a rejection needs a comment telling the requester why")


def reject(session: Session, person: Person, *, draft_number: str | int, comment: str) -> DraftAction:
    """A person's rejection, with the reason the requester will read."""
    require_rejection_comment(comment)
    draft, met = _open_for_decision(session, person, draft_number)
    _record_verdict(session, person, draft, met, "rejected", comment)
    draft.status = DraftStatus.REJECTED.value
    draft.decided_at = clock.now()
    session.flush()
    _log(session, _person_audit(person), draft, "draft.rejected", comment=comment)
    return draft


def cancel(session: Session, ctx: RequestContext, *, draft_number: str | int) -> DraftAction:
    """The requester withdraws a draft that is still waiting."""
    draft = get_draft(session, ctx.actor, draft_number=draft_number, lock=True)
    if draft.requester_id != ctx.actor.user_id:
        raise PermissionDenied(f"only the requester can cancel {draft.number}")
    if draft.status not in (DraftStatus.UNCONFIRMED, DraftStatus.PENDING_APPROVAL):
        raise InvalidState(f"{draft.number} is {draft.status}; only a waiting draft can be cancelled")
    draft.status = DraftStatus.CANCELLED.value
    draft.decided_at = clock.now()
    session.flush()
    _log(session, ctx.audit(), draft, "draft.cancelled")
    return draft


# --- Expiry and escalation --------------------------------------------------------------


@dataclass(frozen=True)
class SweepReport:
    escalated: list[str]
    expired: list[str]


def sweep_approvals(session: Session, *, now: datetime | None = None) -> SweepReport:
    """Escalate drafts waiting too long (an approval_overdue case) and expire those past their time."""
    now = now or clock.now()
    waiting = session.scalars(
        select(DraftAction)
        .where(
            DraftAction.status.in_([DraftStatus.PENDING_APPROVAL.value, DraftStatus.UNCONFIRMED.value]),
            DraftAction.escalate_at <= now,
        )
        .order_by(DraftAction.id)
        .with_for_update()
    ).all()
    system = AuditContext(actor_user_id=None, channel="system")
    escalated, expired = [], []
    for draft in waiting:
        if draft.expires_at <= now:
            draft.status = DraftStatus.EXPIRED.value
            draft.decided_at = now
            expired.append(draft.number)
            _log(session, system, draft, "draft.expired")
        elif not draft.escalated:
            draft.escalated = True
            _escalate(session, draft)
            escalated.append(draft.number)
            _log(session, system, draft, "draft.escalated")
    session.flush()
    return SweepReport(escalated=escalated, expired=expired)


def _raise_held_case(session: Session, draft: DraftAction, held: HeldCase) -> None:
    """A draft held for approval because of a variance (an over-receipt, say) is also a case for its owner."""
    raise_case(
        session,
        type=held.type,
        entity_id=draft.entity_id,
        dedup_key=f"{held.type.value}:draft:{draft.id}",
        severity="medium",
        title=held.title,
        detail=f"{held.detail}. {draft.number} waits for approval: {draft.explanation}",
        related={**held.related, "draft": draft.number},
    )


def _escalate(session: Session, draft: DraftAction) -> None:
    waiting_for = ", ".join(sorted({r["role"] for r in draft.requirements})) or "an approver"
    raise_case(
        session,
        type=ExceptionType.APPROVAL_OVERDUE,
        entity_id=draft.entity_id,
        dedup_key=f"approval_overdue:draft:{draft.id}",
        severity="medium",
        title=f"{draft.number} has waited since {draft.created_at:%Y-%m-%d %H:%M} for {waiting_for}",
        detail=f"{draft.summary}. {draft.explanation}",
        related={"draft": draft.number},
    )


def explain(session: Session, actor: Actor, *, draft_number: str | int) -> str:
    """The policy decision for a draft in plain words, and where it stands."""
    draft = get_draft(session, actor, draft_number=draft_number)
    state = {
        DraftStatus.EXECUTED: f"executed as {draft.result_ref}",
        DraftStatus.FAILED: f"failed: {draft.failure_reason}",
    }.get(DraftStatus(draft.status), draft.status.replace("_", " "))
    return f"{draft.number} ({state}). {draft.explanation}"


__all__ = [
    "RequestContext",
    "approvals_of",
    "approve",
    "cancel",
    "confirm",
    "decision_blocker",
    "draft_action",
    "explain",
    "get_draft",
    "open_requirements",
    "pending_for",
    "queue_on_key",
    "reject",
    "require_rejection_comment",
    "sweep_approvals",
]
