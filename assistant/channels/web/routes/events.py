"""Events out, over HTTP: polling the outbox (`GET /api/events?after=`) and managing webhooks (admins).

Polling suits a receiver that cannot take webhooks: it keeps the last `position` it processed and asks for what
came after; positions follow commit order, so a cursor never skips an event. A caller sees the events of the
entities in their scope (those with no entity only if admin), with a session cookie or an API token.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field, HttpUrl
from sqlalchemy.orm import Session

from assistant.channels.web.auth import CurrentUser, ServicesDep
from assistant.channels.web.errors import documented
from assistant.channels.web.schemas import Timestamp
from core.outbox.models import OutboxEvent, WebhookDelivery, WebhookSubscription
from core.outbox.service import MAX_POLL, events_after, sequence_events
from core.outbox.webhooks import (
    add_subscription,
    dead_deliveries,
    entity_codes_of,
    list_subscriptions,
    remove_subscription,
    replay,
)

router = APIRouter(prefix="/api", tags=["events"])
ERRORS = documented(401, 403, 404, 409, 422)
MAX_ID = 2**31 - 1  # the ids' column type; a larger number names nothing
MAX_POSITION = 2**62  # positions are 64-bit
WebhookId = Annotated[int, Path(ge=1, le=MAX_ID)]
Id = Annotated[int, Field(ge=1, le=MAX_ID)]


class DocumentRef(BaseModel):
    type: str = Field(description="sales_order, payment, transfer, purchase_order, draft or exception")
    number: str = Field(description="the document's number, e.g. SO-1042")


class EventView(BaseModel):
    """One committed business event, exactly as a webhook delivers it."""

    id: int
    position: int = Field(description="its place in commit order: the cursor to keep")
    type: str = Field(description="e.g. sales_order.confirmed")
    document: DocumentRef
    entity_id: int | None
    counterparty_entity_id: int | None
    occurred_at: Timestamp
    payload: dict[str, Any] = Field(description="the document's key figures (amounts as exact decimal text)")


class EventPageView(BaseModel):
    events: list[EventView]
    next: int = Field(description="ask with after=next for what comes later (unchanged when nothing was new)")


def event_view(event: OutboxEvent) -> EventView:
    return EventView(
        id=event.id,
        position=event.position or 0,
        type=event.type,
        document=DocumentRef(type=event.document_type, number=event.document_number),
        entity_id=event.entity_id,
        counterparty_entity_id=event.counterparty_entity_id,
        occurred_at=event.occurred_at,
        payload=event.payload,
    )


@router.get("/events", response_model=EventPageView, responses=ERRORS)
def poll_events(
    user: CurrentUser,
    svc: ServicesDep,
    after: Annotated[
        int, Query(ge=0, le=MAX_POSITION, description="the last position you processed; 0 from the start")
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_POLL)] = 100,
) -> EventPageView:
    """The business events after position `after` in your entities, oldest first, with the cursor to ask from
    next. Delivery is at least once: de-duplicate on `id`."""
    svc.db.run(sequence_events)  # events committed a moment ago get their position now, not at the next pass
    page = svc.db.read(lambda s: events_after(s, user.actor, after=after, limit=limit))
    return EventPageView(events=[event_view(e) for e in page.events], next=page.next)


# --- Webhooks (admins) ---------------------------------------------------------------------------------------


class WebhookRequest(BaseModel):
    url: HttpUrl = Field(description="the receiver (http or https, at most 500 characters)")
    event_types: list[Annotated[str, Field(max_length=48)]] = Field(
        default=[], max_length=50, description="empty: every type; a family like sales_order.* works"
    )
    entities: list[Annotated[str, Field(max_length=16)]] = Field(
        default=[], max_length=50, description="entity codes; empty: every entity"
    )
    secret: str | None = Field(
        default=None, min_length=16, max_length=128, description="16-128 characters; leave out to have one made"
    )


class WebhookView(BaseModel):
    id: int
    url: str
    event_types: list[str]
    entities: list[str]
    active: bool
    created_at: Timestamp


class NewWebhookView(WebhookView):
    secret: str = Field(description="signs every delivery (X-ERP-Signature); shown only now")


class WebhookList(BaseModel):
    webhooks: list[WebhookView]


class DeadDeliveryView(BaseModel):
    id: int
    webhook: int
    event: EventView
    attempts: int
    last_error: str | None


class DeadDeliveryList(BaseModel):
    deliveries: list[DeadDeliveryView]


class ReplayRequest(BaseModel):
    deliveries: list[Id] = Field(
        default=[], max_length=500, description="the dead deliveries to send again; empty: all"
    )
    webhook: Id | None = Field(default=None, description="only this webhook's")


class ReplayView(BaseModel):
    replayed: list[int]


def _webhook_view(s: Session, w: WebhookSubscription) -> dict[str, Any]:
    return {
        "id": w.id,
        "url": w.url,
        "event_types": w.event_types,
        "entities": entity_codes_of(s, w),
        "active": w.active,
        "created_at": w.created_at,
    }


@router.get("/webhooks", response_model=WebhookList, responses=ERRORS)
def webhooks(user: CurrentUser, svc: ServicesDep) -> WebhookList:
    """The active webhook subscriptions (admins)."""
    views = svc.db.read(lambda s: [_webhook_view(s, w) for w in list_subscriptions(s, user.actor)])
    return WebhookList(webhooks=[WebhookView(**v) for v in views])


@router.post("/webhooks", response_model=NewWebhookView, status_code=201, responses=ERRORS)
def add_webhook(body: WebhookRequest, user: CurrentUser, svc: ServicesDep) -> NewWebhookView:
    """Send every future event (or those of the types and entities named) to `url`, signed with the secret returned
    here once (admins)."""

    def command(s: Session) -> dict[str, Any]:
        made = add_subscription(
            s, user.actor, url=str(body.url), event_types=body.event_types, entities=body.entities, secret=body.secret
        )
        return {**_webhook_view(s, made.subscription), "secret": made.secret}

    return NewWebhookView(**svc.db.run(command))


@router.delete("/webhooks/{webhook_id}", response_model=WebhookView, responses=ERRORS)
def remove_webhook(webhook_id: WebhookId, user: CurrentUser, svc: ServicesDep) -> WebhookView:
    """Stop sending to a webhook; its delivery history stays (admins)."""
    view = svc.db.run(lambda s: _webhook_view(s, remove_subscription(s, user.actor, subscription_id=webhook_id)))
    return WebhookView(**view)


def _dead_view(delivery: WebhookDelivery, event: OutboxEvent) -> DeadDeliveryView:
    return DeadDeliveryView(
        id=delivery.id,
        webhook=delivery.subscription_id,
        event=event_view(event),
        attempts=delivery.attempts,
        last_error=delivery.last_error,
    )


@router.get("/webhooks/dead", response_model=DeadDeliveryList, responses=ERRORS)
def dead(
    user: CurrentUser,
    svc: ServicesDep,
    webhook: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> DeadDeliveryList:
    """Deliveries that gave up after the last attempt, oldest event first, with the last error (admins)."""
    rows = svc.db.read(lambda s: dead_deliveries(s, user.actor, subscription_id=webhook, limit=limit))
    return DeadDeliveryList(deliveries=[_dead_view(d, e) for d, e in rows])


@router.post("/webhooks/dead/replay", response_model=ReplayView, responses=ERRORS)
def replay_dead(body: ReplayRequest, user: CurrentUser, svc: ServicesDep) -> ReplayView:
    """Send dead deliveries again from a clean count of attempts: those named, else all (of a webhook)."""
    done = svc.db.run(
        lambda s: [d.id for d in replay(s, user.actor, delivery_ids=body.deliveries, subscription_id=body.webhook)]
    )
    return ReplayView(replayed=done)
