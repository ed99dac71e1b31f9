"""The audit log: one append-only, hash-chained row per decision and per write."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base

HASH_LENGTH = 64  # hex sha256


class AuditEvent(Base):
    """Who did what to which record, through which channel; `hash` seals it and links it to `seq - 1`."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Gap-free 1..n; the unique index is also what refuses a fork of the chain.
    seq: Mapped[int] = mapped_column(index=True, unique=True)
    occurred_at: Mapped[datetime]
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    channel: Mapped[str] = mapped_column(String(32))
    conversation_id: Mapped[str | None] = mapped_column(String(128))
    tool_call_id: Mapped[str | None] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64))
    subject_type: Mapped[str] = mapped_column(String(64))
    subject_id: Mapped[str] = mapped_column(String(128))
    entity_id: Mapped[int | None]
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(HASH_LENGTH))
    hash: Mapped[str] = mapped_column(String(HASH_LENGTH))

    __table_args__ = (Index("ix_audit_events_subject", "subject_type", "subject_id", "seq"),)
