"""Requests other systems sent, by their idempotency key, with the result the first one got."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base


class IntegrationRequest(Base):
    """One integration user's request under one key: what it asked (a fingerprint) and what it was answered.

    A retry with the key gets `result` back; the key with another request is refused. Written in the
    transaction that drafted the document, so a stored result always names a draft that exists."""

    __tablename__ = "integration_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    key: Mapped[str] = mapped_column(String(80))
    kind: Mapped[str] = mapped_column(String(32))
    fingerprint: Mapped[str] = mapped_column(String(64))
    draft_id: Mapped[int] = mapped_column(ForeignKey("draft_actions.id"), index=True)
    result: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime]

    __table_args__ = (UniqueConstraint("user_id", "key", name="uq_integration_requests_user_key"),)
