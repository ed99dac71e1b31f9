"""Publishing events in the caller's transaction, sequencing the committed ones, and consuming them by cursor.

See the package docstring (core/outbox/__init__.py) for why positions are given after commit by one sequencer.
"""

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, insert, or_, select, text, update
from sqlalchemy.orm import Session

from core import clock
from core.actor import Actor, Role
from core.errors import InvalidInput
from core.outbox.models import OutboxConsumer, OutboxEvent

# The events the core publishes: the type, then what it means. Receivers filter on these names.
EVENT_TYPES: dict[str, str] = {
    "sales_order.confirmed": "a sales order was confirmed: its stock is reserved",
    "sales_order.shipped": "goods of a sales order left a warehouse (one event per shipment)",
    "sales_order.invoiced": "a shipment of a sales order was invoiced (one event per invoice)",
    "payment.applied": "a customer's payment was applied to invoices",
    "transfer.shipped": "a transfer left its source warehouse and is in transit",
    "transfer.received": "a transfer arrived at its destination",
    "purchase_order.received": "goods were received against a purchase order",
    "draft.executed": "a draft action was carried out (by the policy at once, or after approval)",
    "draft.rejected": "an approver rejected a draft action",
    "draft.blocked": "the policy blocked a draft action",
    "draft.failed": "an approved draft action could not be carried out",
    "exception.opened": "an exception case was raised",
    "exception.resolved": "an exception case was closed (resolved or dismissed)",
}
SEQUENCER_LOCK_KEY = 0x4552504F55544258  # "ERPOUTBX": one sequencer at a time (PostgreSQL, per transaction)
SEQUENCE_BATCH = 1_000
MAX_POLL = 500


def plain(value: Any) -> Any:
    """`value` as JSON keeps it: amounts (Decimal) as their exact text, dates as ISO strings."""
    return json.loads(json.dumps(value, default=_as_text))


def _as_text(value: Any) -> str:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date | datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


# --- Publish ------------------------------------------------------------------------------------------------


def publish(
    session: Session,
    *,
    type: str,
    document_type: str,
    document_number: str,
    entity_id: int | None,
    payload: dict[str, Any],
    counterparty_entity_id: int | None = None,
) -> OutboxEvent:
    """Queue a business event in the caller's transaction: it commits, or vanishes, with the change it reports."""
    if type not in EVENT_TYPES:
        raise InvalidInput(f"no event type {type!r}; the types are {', '.join(EVENT_TYPES)}")
    event = OutboxEvent(
        type=type,
        document_type=document_type,
        document_number=document_number,
        entity_id=entity_id,
        counterparty_entity_id=counterparty_entity_id,
        payload=plain(payload),
        occurred_at=clock.now(),
    )
    session.add(event)
    session.flush()  # written now, with the change, not at commit: later reads in the transaction see it
    return event


def publish_many(session: Session, events: Sequence[dict[str, Any]]) -> None:
    """Queue many events at once (a detection pass raising hundreds of cases): one executemany, same transaction."""
    if not events:
        return
    now = clock.now()
    rows = [{**e, "payload": plain(e["payload"]), "occurred_at": now, "position": None} for e in events]
    for row in rows:
        if row["type"] not in EVENT_TYPES:
            raise InvalidInput(f"no event type {row['type']!r}")
        row.setdefault("counterparty_entity_id", None)
    session.execute(insert(OutboxEvent), rows)


# --- Sequence -----------------------------------------------------------------------------------------------


def sequence_events(session: Session, *, batch: int = SEQUENCE_BATCH) -> int:
    """Give the committed events without a position the next positions, in id order (at most `batch`); how many.

    Serialized by a lock, and seeing only committed rows, positions follow commit order. Commit soon after: the
    lock is held until the transaction ends.
    """
    if session.scalar(select(OutboxEvent.id).where(OutboxEvent.position.is_(None)).limit(1)) is None:
        return 0  # nothing to do: no lock taken
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SEQUENCER_LOCK_KEY})
    last = session.scalar(select(func.coalesce(func.max(OutboxEvent.position), 0))) or 0
    ids = list(
        session.scalars(
            select(OutboxEvent.id).where(OutboxEvent.position.is_(None)).order_by(OutboxEvent.id).limit(batch)
        )
    )
    if ids:  # one executemany: an UPDATE by primary key per event
        session.execute(update(OutboxEvent), [{"id": i, "position": last + n} for n, i in enumerate(ids, start=1)])
    return len(ids)


# --- Consume ------------------------------------------------------------------------------------------------

Handler = Callable[[Session, list[OutboxEvent]], None]


@dataclass(frozen=True)
class Consumed:
    """What one `consume` call took in: how many events, and the consumer's cursor after."""

    events: int
    cursor: int


def consumer(session: Session, name: str, *, lock: bool = True) -> OutboxConsumer:
    """The consumer's row, locked for this transaction; a new consumer starts at the queue's beginning."""
    query = select(OutboxConsumer).where(OutboxConsumer.name == name)
    found = session.scalars(query.with_for_update() if lock else query).first()
    if found is not None:
        return found
    created = OutboxConsumer(name=name, cursor=0, updated_at=clock.now())
    session.add(created)
    session.flush()
    return created


def consume(session: Session, name: str, handler: Handler, *, batch: int = SEQUENCE_BATCH) -> Consumed:
    """Hand the consumer's next events (position order, at most `batch`) to `handler` and move its cursor past
    them, in the caller's transaction: the work and the cursor commit together, so nothing is taken twice or lost."""
    row = consumer(session, name)
    events = list(
        session.scalars(
            select(OutboxEvent).where(OutboxEvent.position > row.cursor).order_by(OutboxEvent.position).limit(batch)
        )
    )
    if events:
        handler(session, events)
        row.cursor = int(events[-1].position or row.cursor)
        row.updated_at = clock.now()
        session.flush()
    return Consumed(len(events), row.cursor)


# --- Leases (SQLite: no advisory locks) ---------------------------------------------------------------------


def take_lease(session: Session, name: str, holder: str, *, seconds: float) -> bool:
    """Claim the consumer's lease for `holder` unless another holder's lease is still running (call in a writing
    transaction: on SQLite it holds the single write lock, so two workers cannot both take it)."""
    row = consumer(session, name)
    now = clock.now()
    if row.lease_holder not in (None, holder) and row.lease_until is not None and row.lease_until > now:
        return False
    row.lease_holder, row.lease_until = holder, now + timedelta(seconds=seconds)
    session.flush()
    return True


def release_lease(session: Session, name: str, holder: str) -> None:
    """Give the lease back (only if `holder` still has it)."""
    row = consumer(session, name)
    if row.lease_holder == holder:
        row.lease_holder, row.lease_until = None, None
        session.flush()


# --- Poll ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EventPage:
    """Sequenced events after a cursor, and the cursor to ask from next (unchanged when there was nothing new)."""

    events: list[OutboxEvent]
    next: int


def events_after(session: Session, actor: Actor, *, after: int = 0, limit: int = 100) -> EventPage:
    """The sequenced events after position `after` that the actor may see: those of (or with) an entity in their
    scope; events of no entity only for admins."""
    if after < 0:
        raise InvalidInput(f"after must be a position, 0 or more, not {after}")
    if not 1 <= limit <= MAX_POLL:
        raise InvalidInput(f"limit must be between 1 and {MAX_POLL}, got {limit}")
    scope = sorted(actor.entity_ids)
    visible = or_(OutboxEvent.entity_id.in_(scope), OutboxEvent.counterparty_entity_id.in_(scope))
    if Role.ADMIN in actor.roles:
        visible = or_(visible, OutboxEvent.entity_id.is_(None))
    events = list(
        session.scalars(
            select(OutboxEvent).where(OutboxEvent.position > after, visible).order_by(OutboxEvent.position).limit(limit)
        )
    )
    return EventPage(events, int(events[-1].position or after) if events else after)


def event_document(event: OutboxEvent) -> dict[str, Any]:
    """The event as receivers get it (webhook body and polling alike)."""
    return {
        "id": event.id,
        "position": event.position,
        "type": event.type,
        "document": {"type": event.document_type, "number": event.document_number},
        "entity_id": event.entity_id,
        "counterparty_entity_id": event.counterparty_entity_id,
        "occurred_at": event.occurred_at.isoformat() + "Z",  # stored naive UTC; said so on the wire (RFC 3339)
        "payload": event.payload,
    }


def event_body(event: OutboxEvent) -> bytes:
    """The exact bytes a webhook posts: the event's JSON, keys sorted, so the same event is the same body."""
    return json.dumps(event_document(event), sort_keys=True, separators=(",", ":")).encode()
