"""The index of chat threads: whose they are, where they came from, and one row per turn.

The messages themselves live in LangGraph's checkpointer, keyed by the conversation id.
"""

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base


class Conversation(Base):
    """One thread of a user's chat; `turn_started_at` is set while a reply is being written."""

    __tablename__ = "conversations"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    channel: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(120), default="")
    external_key: Mapped[str | None] = mapped_column(String(160), unique=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    turns: Mapped[int] = mapped_column(default=0)
    turn_started_at: Mapped[datetime | None]

    # A user's list is read newest first.
    __table_args__ = (Index("ix_conversations_user_updated", "user_id", "updated_at"),)


class ConversationTurn(Base):
    """One message and its reply, for rate limits and metrics."""

    __tablename__ = "conversation_turns"

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    started_at: Mapped[datetime] = mapped_column(index=True)
    finished_at: Mapped[datetime | None]

    # The rate limit counts one user's turns in the last minute.
    __table_args__ = (Index("ix_conversation_turns_user_started", "user_id", "started_at"),)
