"""The drafts as people list them: the approvals inbox (filtered), a person's decisions, a conversation's drafts.

Every list starts from what the user may see or decide, so a channel only translates its request into a filter.
"""

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import clock
from core.actor import Actor
from core.documents import load_document
from core.drafts.models import DraftAction, DraftApproval, DraftStatus
from core.drafts.service import current_policy, pending_for
from core.errors import NotFound
from core.masterdata.models import UserEntityScope
from core.masterdata.service import get_entity
from core.numbering import DRAFT


@dataclass(frozen=True)
class InboxFilter:
    """Which of the drafts waiting for an approver to show; a field left None does not filter."""

    entity: str | None = None  # an entity code, on either side of an intercompany draft
    kind: str | None = None
    min_age_hours: float | None = None
    min_value_usd: Decimal | None = None
    max_value_usd: Decimal | None = None


def waiting_for(session: Session, *, actor: Actor, filters: InboxFilter | None = None) -> list[DraftAction]:
    """Drafts this user could approve now that pass the filter, oldest first."""
    wanted = filters or InboxFilter()
    entity_id = get_entity(session, code=wanted.entity).id if wanted.entity is not None else None
    cutoff = clock.now() - timedelta(hours=wanted.min_age_hours) if wanted.min_age_hours is not None else None
    return [
        d
        for d in pending_for(session, actor)
        if (entity_id is None or entity_id in (d.entity_id, d.counterparty_entity_id))
        and (wanted.kind is None or d.kind == wanted.kind)
        and (cutoff is None or d.created_at <= cutoff)
        and (wanted.min_value_usd is None or Decimal(d.amount_usd) >= wanted.min_value_usd)
        and (wanted.max_value_usd is None or Decimal(d.amount_usd) <= wanted.max_value_usd)
    ]


def decided_by(session: Session, *, actor: Actor, limit: int) -> list[DraftAction]:
    """Drafts this user approved or rejected, the latest decision first, each once (at most `limit` decisions)."""
    ids = session.scalars(
        select(DraftApproval.draft_id)
        .where(DraftApproval.approver_id == actor.user_id)
        .order_by(DraftApproval.id.desc())
        .limit(limit)
    ).all()
    drafts = {d.id: d for d in session.scalars(select(DraftAction).where(DraftAction.id.in_(ids)))}
    return [drafts[i] for i in dict.fromkeys(ids) if i in drafts]


def drafts_in_conversation(session: Session, *, actor: Actor, conversation_id: str) -> list[DraftAction]:
    """The drafts this user asked for in one conversation, oldest first."""
    return list(
        session.scalars(
            select(DraftAction)
            .where(DraftAction.conversation_id == conversation_id, DraftAction.requester_id == actor.user_id)
            .order_by(DraftAction.id)
        )
    )


def may_approve(session: Session, *, actor: Actor) -> bool:
    """Whether this user could approve anything: a role the policy asks for and a limit above zero somewhere."""
    if not {r.value for r in actor.roles} & current_policy().approving_roles:
        return False
    limits = session.scalar(
        select(func.count())
        .select_from(UserEntityScope)
        .where(UserEntityScope.user_id == actor.user_id, UserEntityScope.approval_limit > 0)
    )
    return bool(limits)


def awaiting_approval(session: Session, *, draft_number: str) -> DraftAction | None:
    """The draft if it still waits for approval, else None (for announcing it to its approvers; no scope applies)."""
    try:
        draft = load_document(session, DraftAction, draft_number, kind=DRAFT, lock=False)
    except NotFound:
        return None
    return draft if draft.status == DraftStatus.PENDING_APPROVAL else None
