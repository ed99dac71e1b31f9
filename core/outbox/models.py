"""Outbox tables: the one queue of committed business events, each consumer's cursor, webhook subscriptions and
their deliveries."""

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base


class OutboxEvent(Base):
    """A business event, written in the transaction of the change it reports; `position` is given after commit by
    the sequencer (core/outbox/service.py), in commit order, and is what consumers keep their cursor on."""

    __tablename__ = "outbox_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    position: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    type: Mapped[str] = mapped_column(String(48), index=True)
    document_type: Mapped[str] = mapped_column(String(32))
    document_number: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[int | None] = mapped_column(ForeignKey("legal_entities.id"), index=True)
    # The other side of an intercompany document (a transfer's receiving entity): its people see the event too.
    counterparty_entity_id: Mapped[int | None] = mapped_column(ForeignKey("legal_entities.id"))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    occurred_at: Mapped[datetime]


class OutboxConsumer(Base):
    """A reader of the queue (webhook fan-out; later the audit chain): the last position it has taken in, and
    (SQLite, where there is no advisory lock) a lease saying which worker is consuming now."""

    __tablename__ = "outbox_consumers"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    cursor: Mapped[int] = mapped_column(BigInteger, default=0)
    lease_holder: Mapped[str | None] = mapped_column(String(80))
    lease_until: Mapped[datetime | None]
    updated_at: Mapped[datetime]


class WebhookSubscription(Base):
    """An outside URL that receives events (all, or those of some types and entities), signed with its secret."""

    __tablename__ = "webhook_subscriptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(500))
    secret: Mapped[str] = mapped_column(String(128))
    event_types: Mapped[list[str]] = mapped_column(JSON)  # empty: every type; "sales_order.*" matches a family
    entity_ids: Mapped[list[int]] = mapped_column(JSON)  # empty: every entity
    active: Mapped[bool] = mapped_column(default=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime]


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"


class WebhookDelivery(Base):
    """One event for one subscription: tried until the receiver answers 2xx, backing off; dead after N failures
    until an admin replays it. `document_key` orders deliveries: a later event of a document waits for the earlier."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("webhook_subscriptions.id", ondelete="CASCADE"))
    event_id: Mapped[int] = mapped_column(ForeignKey("outbox_events.id"))
    position: Mapped[int] = mapped_column(BigInteger)
    document_key: Mapped[str] = mapped_column(String(80))
    status: Mapped[str] = mapped_column(String(12))
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime]
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None]
    created_at: Mapped[datetime]

    __table_args__ = (
        UniqueConstraint("subscription_id", "event_id", name="uq_webhook_deliveries_subscription_event"),
        Index("ix_webhook_deliveries_status_next", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_document", "subscription_id", "document_key", "position"),
    )
