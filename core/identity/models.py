"""Sign-in records: password hashes, browser sessions, API tokens, and links from chat accounts to users.

Session and token secrets are never stored: only their SHA-256, so a copy of the database signs no one in.
"""

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base


class Credential(Base):
    """A user's password, as an argon2id hash."""

    __tablename__ = "credentials"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    updated_at: Mapped[datetime]


class WebSession(Base):
    """A signed-in browser: the cookie's hash, its CSRF token, and when it ends."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class ApiToken(Base):
    """A named bearer token a person made for a program acting as them; a read-only one may not change anything."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    read_only: Mapped[bool] = mapped_column(default=False, server_default=false())


class ChannelLink(Base):
    """An account on another channel (a Slack user id) that speaks for an ERP user."""

    __tablename__ = "channel_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    email_hint: Mapped[str | None] = mapped_column(String(160))
    created_at: Mapped[datetime]
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    __table_args__ = (UniqueConstraint("channel", "external_id", name="uq_channel_links_channel_external"),)
