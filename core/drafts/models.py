"""Draft actions: typed requests for one business write, held until the policy or a person lets them through."""

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base
from core.numbering import DRAFT


class DraftStatus(StrEnum):
    UNCONFIRMED = "unconfirmed"  # previewed; nothing is decided until its requester confirms
    PENDING_APPROVAL = "pending_approval"
    APPROVED = "approved"
    EXECUTED = "executed"
    REJECTED = "rejected"
    BLOCKED = "blocked"
    EXPIRED = "expired"
    FAILED = "failed"
    CANCELLED = "cancelled"


class DraftAction(Base):
    __tablename__ = "draft_actions"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    status: Mapped[str] = mapped_column(String(20), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    entity_id: Mapped[int] = mapped_column(ForeignKey("legal_entities.id"), index=True)
    counterparty_entity_id: Mapped[int | None] = mapped_column(ForeignKey("legal_entities.id"))
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[Decimal]
    amount_usd: Mapped[Decimal]
    summary: Mapped[str] = mapped_column(Text)
    diff: Mapped[list[str]] = mapped_column(JSON)
    facts: Mapped[dict[str, Any]] = mapped_column(JSON)
    requester_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    conversation_id: Mapped[str | None] = mapped_column(String(64))
    tool_call_id: Mapped[str | None] = mapped_column(String(64))
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    decision_id: Mapped[int | None]
    outcome: Mapped[str] = mapped_column(String(16))
    requirements: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    reasons: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    explanation: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    escalate_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    escalated: Mapped[bool] = mapped_column(default=False)
    decided_at: Mapped[datetime | None]
    executed_at: Mapped[datetime | None]
    result_ref: Mapped[str | None] = mapped_column(String(32))
    failure_reason: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_draft_actions_status_expires", "status", "expires_at"),)

    @property
    def number(self) -> str:
        return DRAFT.format(self.id)


class DraftApproval(Base):
    """One person's approval or rejection of a draft, and which requirement it met."""

    __tablename__ = "draft_approvals"

    id: Mapped[int] = mapped_column(primary_key=True)
    draft_id: Mapped[int] = mapped_column(ForeignKey("draft_actions.id"), index=True)
    approver_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    verdict: Mapped[str] = mapped_column(String(10))
    role: Mapped[str | None] = mapped_column(String(16))
    entity_id: Mapped[int | None] = mapped_column(ForeignKey("legal_entities.id"))
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]

    __table_args__ = (Index("ix_draft_approvals_draft_approver", "draft_id", "approver_id", unique=True),)
