"""The transactional outbox: the one queue of committed business events, read by consumers with a cursor each.

How it holds together:

- **Publish in the change's transaction.** A core service calls `publish(session, ...)` where the business
  event happens (an order confirmed, shipped, invoiced, paid...). The row commits or rolls back with the change,
  so no event is lost and none is invented. It is inserted with `position NULL`.
- **One sequencer.** `sequence_events(session)` gives the committed events that have none increasing positions,
  in id order, under a database lock (PostgreSQL `pg_advisory_xact_lock`; SQLite has one writer at a time). It
  sees only committed rows and runs serialized, so positions follow commit order: an event whose id was taken
  early but committed late gets a later position instead of slipping behind a consumer's cursor.
- **A cursor per consumer.** A consumer (`outbox_consumers`: name, cursor) takes in the events with
  `position > cursor`, in position order, in batches, and moves its cursor in the same transaction as the work it
  did with them (`consume`). Webhook fan-out (core/outbox/webhooks.py: one delivery row per matching
  subscription) is the first consumer; polling readers (`GET /api/events?after=`) keep their cursor themselves.
  A later consumer, such as the audit chain integrating events into its hash chain in batches, plugs in the same
  way: a name and a handler `(session, events) -> None` passed to `consume`, run after `sequence_events`.
- **Webhook delivery** (core/outbox/delivery.py) claims due deliveries in one transaction, posts them outside any
  transaction through a poster the channel layer provides (HTTP stays out of the core), and records each outcome
  in another; one worker delivers at a time (a database lock). core/outbox/signature.py is the signature scheme
  and the reference check for receivers.
"""

from core.outbox.models import OutboxConsumer, OutboxEvent, WebhookDelivery, WebhookSubscription
from core.outbox.service import EVENT_TYPES, consume, events_after, publish, sequence_events

__all__ = [
    "EVENT_TYPES",
    "OutboxConsumer",
    "OutboxEvent",
    "WebhookDelivery",
    "WebhookSubscription",
    "consume",
    "events_after",
    "publish",
    "sequence_events",
]
