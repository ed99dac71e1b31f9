"""Webhook subscriptions (an admin's), the fan-out consumer that turns events into deliveries, and the bookkeeping
of each delivery: which are due, what an attempt came to (delivered, back off, dead), and replaying the dead.

Posting itself is not here: core/outbox/delivery.py runs a pass with a poster the channel layer provides.
"""

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import and_, exists, select
from sqlalchemy.orm import Session, aliased

from core import clock
from core.actor import Actor, Role
from core.errors import InvalidInput, InvalidState, NotFound, PermissionDenied
from core.masterdata.service import entity_codes, get_entity
from core.outbox.models import DeliveryStatus, OutboxEvent, WebhookDelivery, WebhookSubscription
from core.outbox.service import EVENT_TYPES, consume, event_body
from core.outbox.signature import EVENT_ID_HEADER, EVENT_TYPE_HEADER, SIGNATURE_HEADER, sign
from core.settings import get_settings
from core.text import require_storable

WEBHOOKS_CONSUMER = "webhooks"
MAX_URL = 500
MAX_LISTED = 500
MAX_ERROR = 1_000


def require_admin(actor: Actor, what: str) -> None:
    """Webhooks send the company's events outside: only an admin manages them."""
    if Role.ADMIN not in actor.roles:
        raise PermissionDenied(f"{actor.username} may not {what}: that takes the admin role")


# --- Subscriptions -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewSubscription:
    """A subscription just made, with its secret: shown once, for the receiver to check signatures with."""

    subscription: WebhookSubscription
    secret: str


def _checked_url(url: str) -> str:
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidInput(f"{url!r} is not an http(s) URL; give the receiver's full address, e.g. https://host/hook")
    if len(url) > MAX_URL:
        raise InvalidInput(f"the URL is {len(url)} characters long; at most {MAX_URL} fit")
    return url


def _checked_types(event_types: Sequence[str]) -> list[str]:
    families = {t.split(".")[0] for t in EVENT_TYPES}
    chosen = []
    for name in (t.strip() for t in event_types if t.strip()):
        family, _, rest = name.partition(".")
        if name not in EVENT_TYPES and not (rest == "*" and family in families):
            raise InvalidInput(
                f"no event type {name!r}; the types are {', '.join(EVENT_TYPES)} (or a family such as sales_order.*)"
            )
        chosen.append(name)
    return sorted(set(chosen))


def add_subscription(
    session: Session,
    actor: Actor,
    *,
    url: str,
    event_types: Sequence[str] = (),
    entities: Sequence[str] = (),
    secret: str | None = None,
) -> NewSubscription:
    """Subscribe a URL to events from now on (all types, or those named; all entities, or those named)."""
    require_admin(actor, "add a webhook")
    for text in (url, secret or "", *event_types, *entities):
        require_storable(text, "the webhook")
    key = secret.strip() if secret is not None else secrets.token_hex(32)
    if not 16 <= len(key) <= 128:
        raise InvalidInput("a webhook secret must be 16 to 128 characters; leave it out to have one made")
    entity_ids = sorted({get_entity(session, code=code).id for code in entities})
    subscription = WebhookSubscription(
        url=_checked_url(url),
        secret=key,
        event_types=_checked_types(event_types),
        entity_ids=entity_ids,
        active=True,
        created_by=actor.user_id,
        created_at=clock.now(),
    )
    session.add(subscription)
    session.flush()
    return NewSubscription(subscription, key)


def list_subscriptions(session: Session, actor: Actor, *, include_removed: bool = False) -> list[WebhookSubscription]:
    """The subscriptions, oldest first (only active ones unless `include_removed`)."""
    require_admin(actor, "see the webhooks")
    query = select(WebhookSubscription).order_by(WebhookSubscription.id)
    if not include_removed:
        query = query.where(WebhookSubscription.active.is_(True))
    return list(session.scalars(query))


def get_subscription(session: Session, actor: Actor, *, subscription_id: int) -> WebhookSubscription:
    require_admin(actor, "see the webhooks")
    found = session.get(WebhookSubscription, subscription_id)
    if found is None:
        raise NotFound("webhook", str(subscription_id))
    return found


def remove_subscription(session: Session, actor: Actor, *, subscription_id: int) -> WebhookSubscription:
    """Stop a subscription: nothing more is sent to it (its delivery history stays)."""
    require_admin(actor, "remove a webhook")
    subscription = get_subscription(session, actor, subscription_id=subscription_id)
    if not subscription.active:
        raise InvalidState(f"webhook {subscription_id} is already removed")
    subscription.active = False
    session.flush()
    return subscription


def entity_codes_of(session: Session, subscription: WebhookSubscription) -> list[str]:
    codes = entity_codes(session, subscription.entity_ids)
    return [codes[i] for i in subscription.entity_ids if i in codes]


# --- Fan-out: the webhook consumer of the outbox -------------------------------------------------------------


def wants(subscription: WebhookSubscription, event: OutboxEvent) -> bool:
    """Whether the subscription takes this event: made before it, of a type and an entity it asked for."""
    if event.occurred_at < subscription.created_at:
        return False
    family = event.type.split(".")[0] + ".*"
    if subscription.event_types and not {event.type, family} & set(subscription.event_types):
        return False
    sides = {event.entity_id, event.counterparty_entity_id} - {None}
    return not subscription.entity_ids or bool(sides & set(subscription.entity_ids))


def document_key(event: OutboxEvent) -> str:
    return f"{event.document_type}:{event.document_number}"[:80]


@dataclass(frozen=True)
class FannedOut:
    """One fan-out step: the events taken in, the deliveries they made."""

    events: int
    deliveries: int


def fan_out(session: Session, *, batch: int = 1_000) -> FannedOut:
    """Take in the webhook consumer's next events: a pending delivery per event and subscription that wants it."""
    subscriptions = list(session.scalars(select(WebhookSubscription).where(WebhookSubscription.active.is_(True))))
    made = 0

    def handle(s: Session, events: list[OutboxEvent]) -> None:
        nonlocal made
        now = clock.now()
        rows = [
            WebhookDelivery(
                subscription_id=sub.id,
                event_id=event.id,
                position=event.position,
                document_key=document_key(event),
                status=DeliveryStatus.PENDING.value,
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
            for event in events
            for sub in subscriptions
            if wants(sub, event)
        ]
        s.add_all(rows)
        made += len(rows)

    taken = consume(session, WEBHOOKS_CONSUMER, handle, batch=batch)
    return FannedOut(taken.events, made)


# --- Due deliveries and their outcomes -----------------------------------------------------------------------


@dataclass(frozen=True)
class DeliveryJob:
    """What one attempt posts: where, the exact body, and the event's identity for the headers."""

    delivery_id: int
    subscription_id: int
    url: str
    secret: str
    event_id: int
    event_type: str
    body: bytes

    def headers(self, *, timestamp: int | None = None) -> dict[str, str]:
        """The request's headers, signed at the moment of sending (or at `timestamp`)."""
        return {
            "Content-Type": "application/json",
            EVENT_ID_HEADER: str(self.event_id),
            EVENT_TYPE_HEADER: self.event_type,
            SIGNATURE_HEADER: sign(self.secret, self.body, timestamp=timestamp),
        }


def due_deliveries(session: Session, *, limit: int = 100, now: datetime | None = None) -> list[DeliveryJob]:
    """Pending deliveries whose time has come, in position order, each only once every earlier event of its
    document to its subscription is delivered (a dead earlier one holds the later back until replayed)."""
    at = now or clock.now()
    earlier = aliased(WebhookDelivery)
    blocked = exists().where(
        and_(
            earlier.subscription_id == WebhookDelivery.subscription_id,
            earlier.document_key == WebhookDelivery.document_key,
            earlier.position < WebhookDelivery.position,
            earlier.status != DeliveryStatus.DELIVERED.value,
        )
    )
    rows = session.execute(
        select(WebhookDelivery, WebhookSubscription, OutboxEvent)
        .join(WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id)
        .join(OutboxEvent, OutboxEvent.id == WebhookDelivery.event_id)
        .where(
            WebhookDelivery.status == DeliveryStatus.PENDING.value,
            WebhookDelivery.next_attempt_at <= at,
            WebhookSubscription.active.is_(True),
            ~blocked,
        )
        .order_by(WebhookDelivery.position, WebhookDelivery.id)
        .limit(limit)
    ).all()
    return [DeliveryJob(d.id, s.id, s.url, s.secret, e.id, e.type, event_body(e)) for d, s, e in rows]


def backoff(attempts: int) -> timedelta:
    """The wait after the `attempts`-th failure: the base, doubled each time, never above the cap."""
    settings = get_settings()
    seconds = min(settings.webhook_backoff_cap_seconds, settings.webhook_backoff_seconds * 2 ** max(attempts - 1, 0))
    return timedelta(seconds=seconds)


def record_attempt(session: Session, *, delivery_id: int, error: str | None) -> WebhookDelivery:
    """What an attempt came to: delivered (no error), or failed: tried again after the back-off, dead after the
    last attempt allowed (ERP_WEBHOOK_MAX_ATTEMPTS)."""
    delivery = session.get_one(WebhookDelivery, delivery_id, with_for_update=True)
    now = clock.now()
    delivery.attempts += 1
    if error is None:
        delivery.status, delivery.delivered_at, delivery.last_error = DeliveryStatus.DELIVERED.value, now, None
    else:
        delivery.last_error = error[:MAX_ERROR]
        if delivery.attempts >= get_settings().webhook_max_attempts:
            delivery.status = DeliveryStatus.DEAD.value
        else:
            delivery.next_attempt_at = now + backoff(delivery.attempts)
    session.flush()
    return delivery


# --- The dead letters ------------------------------------------------------------------------------------------


def dead_deliveries(
    session: Session, actor: Actor, *, subscription_id: int | None = None, limit: int = 100
) -> list[tuple[WebhookDelivery, OutboxEvent]]:
    """Deliveries that gave up, oldest event first, with their events (admins)."""
    require_admin(actor, "see dead webhook deliveries")
    if not 1 <= limit <= MAX_LISTED:
        raise InvalidInput(f"limit must be between 1 and {MAX_LISTED}, got {limit}")
    query = (
        select(WebhookDelivery, OutboxEvent)
        .join(OutboxEvent, OutboxEvent.id == WebhookDelivery.event_id)
        .where(WebhookDelivery.status == DeliveryStatus.DEAD.value)
        .order_by(WebhookDelivery.position, WebhookDelivery.id)
        .limit(limit)
    )
    if subscription_id is not None:
        query = query.where(WebhookDelivery.subscription_id == subscription_id)
    return [(d, e) for d, e in session.execute(query).all()]


def replay(
    session: Session, actor: Actor, *, delivery_ids: Sequence[int] = (), subscription_id: int | None = None
) -> list[WebhookDelivery]:
    """Send dead deliveries again from a clean count: those named, else every dead one (of a subscription)."""
    require_admin(actor, "replay webhook deliveries")
    query = select(WebhookDelivery).where(WebhookDelivery.status == DeliveryStatus.DEAD.value)
    if delivery_ids:
        query = query.where(WebhookDelivery.id.in_(list(delivery_ids)))
    if subscription_id is not None:
        query = query.where(WebhookDelivery.subscription_id == subscription_id)
    chosen = list(session.scalars(query.order_by(WebhookDelivery.id).with_for_update()))
    missing = sorted(set(delivery_ids) - {d.id for d in chosen})
    if missing:
        raise NotFound("dead webhook delivery", ", ".join(map(str, missing)))
    now = clock.now()
    for delivery in chosen:
        delivery.status, delivery.attempts, delivery.next_attempt_at = DeliveryStatus.PENDING.value, 0, now
    session.flush()
    return chosen


def deliveries_of(session: Session, *, event_id: int | None = None) -> list[WebhookDelivery]:
    """Every delivery (of an event), in position order: for the doors' detail views and tests."""
    query = select(WebhookDelivery).order_by(WebhookDelivery.position, WebhookDelivery.id)
    if event_id is not None:
        query = query.where(WebhookDelivery.event_id == event_id)
    return list(session.scalars(query))
