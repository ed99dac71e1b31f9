"""Core records as the web shows them: draft cards and details, exception cases.

Every function reads through the core's own access rules (`get_draft`, `get_case`), so a view
can never show what the signed-in user may not see.
"""

from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from assistant.channels.web.schemas import (
    Case,
    CaseDetail,
    CaseEvent,
    ChatMessage,
    DraftCard,
    DraftDetail,
    Fact,
    PriorityFactor,
    Reason,
    Verdict,
)
from core import clock
from core.actor import Actor
from core.drafts.models import DraftAction, DraftStatus
from core.drafts.service import (
    approvals_of,
    decision_blocker,
    get_draft,
    open_requirements,
)
from core.errors import ErpError
from core.exceptions import ExceptionCase, assignable_people, get_case, may_handle
from core.exceptions.models import ACTIVE_STATUSES
from core.finance.service import credit_status
from core.masterdata.service import display_names, entity_codes, usernames
from core.money import round_money
from core.planning.priorities import Factor, Ranked, rank_cases, rank_drafts
from core.settings import get_settings
from core.stock.service import available_to_promise


def _hours_since(when: datetime) -> float:
    return max(0.0, (clock.now() - when).total_seconds() / 3600)


def factor_views(factors: Sequence[Factor]) -> list[PriorityFactor]:
    return [
        PriorityFactor(name=f.name, weight=f.weight, points=f.points, score=f.score, basis=f.basis) for f in factors
    ]


def cards(
    session: Session, drafts: list[DraftAction], *, viewer: Actor | None = None, ranked: bool = False
) -> list[DraftCard]:
    """Cards for many drafts, with one query for the names of everyone who asked. With `viewer`, the cards of
    the drafts they asked for say whether they may confirm or cancel them (without, no card offers either).
    Each card carries its priority by business impact (`urgency`, with its factors); `ranked`: the highest first."""
    names = display_names(session, user_ids=(d.requester_id for d in drafts))
    codes = entity_codes(session, {d.entity_id for d in drafts})
    priorities = rank_drafts(session, drafts)
    if ranked:
        return [_card(session, r.item, names, codes, viewer, r) for r in priorities]
    by_id = {r.item.id: r for r in priorities}
    return [_card(session, d, names, codes, viewer, by_id[d.id]) for d in drafts]


def preview_note(draft: DraftAction, requester: str) -> str | None:
    """For an unconfirmed draft, in plain words: nothing has changed, and what the policy would decide
    (`requester`: who must confirm it, "you" on the requester's own card)."""
    if draft.status != DraftStatus.UNCONFIRMED:
        return None
    if clock.now() >= draft.expires_at:
        return (
            f"This preview expired at {draft.expires_at:%H:%M} UTC without being confirmed; nothing was changed. "
            "Ask again for a new preview."
        )
    confirms = "you confirm" if requester == "you" else f"{requester} confirms"
    return f"Nothing has changed yet: this is a preview until {confirms} it. If confirmed: {draft.explanation}"


def _card(
    session: Session,
    draft: DraftAction,
    names: dict[int, str],
    codes: dict[int, str],
    viewer: Actor | None,
    priority: Ranked[DraftAction],
) -> DraftCard:
    waiting = open_requirements(session, draft)
    mine = viewer is not None and viewer.user_id == draft.requester_id
    unconfirmed = draft.status == DraftStatus.UNCONFIRMED
    requester = names.get(draft.requester_id, f"user {draft.requester_id}")
    return DraftCard(
        number=draft.number,
        kind=draft.kind,
        status=draft.status,
        summary=draft.summary,
        entity=codes.get(draft.entity_id, str(draft.entity_id)),
        amount=round_money(draft.amount),
        currency=draft.currency,
        amount_usd=round_money(draft.amount_usd),
        requester=requester,
        created_at=draft.created_at,
        age_hours=round(_hours_since(draft.created_at), 2),
        escalate_at=draft.escalate_at,
        expires_at=draft.expires_at,
        overdue=draft.status == "pending_approval" and clock.now() >= draft.escalate_at,
        waiting_for=[f"{role} of {entity}" for role, entity in waiting],
        explanation=draft.explanation,
        reasons=[Reason(rule=r.get("rule_id", ""), text=r.get("text", "")) for r in draft.reasons],
        diff=list(draft.diff),
        result_ref=draft.result_ref,
        failure_reason=draft.failure_reason,
        low_risk=len(waiting) == 1 and Decimal(draft.amount_usd) <= get_settings().low_risk_usd,
        urgency=priority.score,
        factors=factor_views(priority.factors),
        note=preview_note(draft, "you" if mine else requester),
        can_confirm=mine and unconfirmed and clock.now() < draft.expires_at,
        can_cancel=mine and draft.status in (DraftStatus.UNCONFIRMED, DraftStatus.PENDING_APPROVAL),
    )


def draft_card(session: Session, actor: Actor, number: str) -> DraftCard:
    """One draft's card, if the user may see the draft (as that user sees it: their own may be confirmed)."""
    return cards(session, [get_draft(session, actor, draft_number=number)], viewer=actor)[0]


def draft_detail(
    session: Session, actor: Actor, number: str, excerpt_of: Callable[[DraftAction], list[ChatMessage]]
) -> DraftDetail:
    """A draft with its approvals, whether this user may decide, the conversation that produced it
    (`excerpt_of`, asked only once the core has let the user see the draft), and today's facts."""
    draft = get_draft(session, actor, draft_number=number)
    excerpt = excerpt_of(draft)
    card = cards(session, [draft], viewer=actor)[0]
    verdicts = approvals_of(session, draft)
    names = display_names(session, user_ids=(v.approver_id for v in verdicts))
    return DraftDetail(
        **card.model_dump(),
        approvals=[
            Verdict(
                approver=names.get(v.approver_id, "?"),
                verdict=v.verdict,
                role=v.role,
                comment=v.comment,
                at=v.created_at,
            )
            for v in verdicts
        ],
        can_decide=decision_blocker(session, actor, draft) is None,
        conversation_excerpt=excerpt,
        current=current_facts(session, actor, draft),
    )


def current_facts(session: Session, actor: Actor, draft: DraftAction) -> list[Fact]:
    """Today's stock for each item and warehouse the draft names, and the customer's credit (as this user sees them)."""
    facts: list[Fact] = []
    payload = draft.payload
    for sku, place in _stock_places(payload):
        facts.extend(_stock_fact(session, actor, sku, place))
    if isinstance(payload.get("customer"), str):
        facts.extend(_credit_fact(session, actor, payload["customer"]))
    return facts


def _stock_places(payload: dict[str, Any]) -> list[tuple[str, str | None]]:
    places = [payload.get(k) for k in ("from_warehouse", "to_warehouse", "warehouse") if payload.get(k)]
    pairs: list[tuple[str, str | None]] = []
    for line in payload.get("lines", []):
        if not isinstance(line.get("sku"), str):
            continue  # a line named by number (a shipment's "line 2") has no item of its own to show
        line_places = [line["warehouse"]] if line.get("warehouse") else places or [None]
        pairs.extend((line["sku"], p) for p in line_places)
    return list(dict.fromkeys(pairs))[:12]


def _stock_fact(session: Session, actor: Actor, sku: str, warehouse: str | None) -> list[Fact]:
    try:
        report = available_to_promise(session, actor, sku=sku, warehouse=warehouse)
    except ErpError:
        return []  # not in this user's scope, or gone: show nothing rather than a guess
    return [
        Fact(label=f"{report.sku} @ {w.warehouse}", value=_stock_text(w.on_hand, w.reserved, w.available_now, incoming))
        for w in report.warehouses
        for incoming in [sum(s.quantity for s in w.incoming)]
    ]


def _stock_text(on_hand: int, reserved: int, available: int, incoming: int) -> str:
    text = f"on hand {on_hand:,}, reserved {reserved:,}, available now {available:,}"
    return f"{text}, incoming {incoming:,}" if incoming else text


def _credit_fact(session: Session, actor: Actor, customer: str) -> list[Fact]:
    try:
        status = credit_status(session, actor, customer=customer)
    except ErpError:
        return []
    hold = f"; on credit hold ({status.hold_reason})" if status.on_hold else ""
    value = (
        f"exposure {status.currency} {status.exposure:,.2f} of limit {status.credit_limit:,.2f} "
        f"(receivables {status.open_receivables:,.2f}, open orders {status.open_orders:,.2f}){hold}"
    )
    return [Fact(label=f"{status.customer} credit", value=value)]


# --- exception cases ---------------------------------------------------------------------


def case_views(session: Session, cases: list[ExceptionCase], *, ranked: bool = False) -> list[Case]:
    """Board rows for many cases, with one query each for owners and entity codes; `ranked`: ordered by priority
    (business impact), each row with its score and factors."""
    owners = usernames(session, user_ids=(c.owner_user_id for c in cases))
    codes = entity_codes(session, {c.entity_id for c in cases})
    if not ranked:
        return [_case(c, owners, codes) for c in cases]
    return [_case(r.item, owners, codes, r) for r in rank_cases(session, cases)]


def _case(
    case: ExceptionCase, owners: dict[int, str], codes: dict[int, str], priority: Ranked[ExceptionCase] | None = None
) -> Case:
    now = clock.now()
    return Case(
        number=case.number,
        type=case.type,
        entity=codes.get(case.entity_id, str(case.entity_id)),
        severity=case.severity,
        title=case.title,
        status=case.status,
        owner=owners.get(case.owner_user_id) if case.owner_user_id else None,
        owner_role=case.owner_role,
        created_at=case.created_at,
        sla_due_at=case.sla_due_at,
        age_days=round(max(0.0, (now - case.created_at).total_seconds() / 86400), 2),
        overdue=case.status in ACTIVE_STATUSES and now >= case.sla_due_at,
        proposal=_proposal_summary(case),
        priority=priority.score if priority else None,
        factors=factor_views(priority.factors) if priority else [],
    )


def _proposal_summary(case: ExceptionCase) -> str | None:
    """The summary of the draft the case proposes while it is active (a closed case's proposal no longer stands)."""
    proposal = (case.related or {}).get("proposal")
    if not isinstance(proposal, dict) or case.status not in ACTIVE_STATUSES:
        return None
    return str(proposal.get("summary") or proposal.get("kind") or "a proposed draft")


def case_detail(session: Session, actor: Actor, number: str) -> CaseDetail:
    """A case with its suggestions and timeline, and what this user may do with it."""
    case = get_case(session, actor, case_number=number)
    row = case_views(session, [case])[0]
    people = usernames(session, user_ids=(e.actor_user_id for e in case.events))
    return CaseDetail(
        **row.model_dump(),
        detail=case.detail,
        suggestions=list(case.suggestions),
        related=dict(case.related),
        routing_reason=case.routing_reason,
        events=[
            CaseEvent(kind=e.kind, text=e.text, by=people.get(e.actor_user_id) if e.actor_user_id else None, at=e.at)
            for e in case.events
        ],
        can_handle=may_handle(actor, case) and case.status in ACTIVE_STATUSES,
        assignees=assignable_people(session, case, limit=20),
    )
