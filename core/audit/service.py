"""Recording audit events on the chain, reading a record's history, and verifying the chain."""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, String, select, text
from sqlalchemy.orm import Session

from core.audit.chain import GENESIS_HASH, HASHED_FIELDS, as_stored_json, event_hash
from core.audit.models import AuditEvent
from core.clock import now
from core.errors import InvalidInput

# Appenders on PostgreSQL queue on this transaction-level advisory lock ("AUDITCHN") before
# reading the head, so each new event links to the last committed one. SQLite needs none:
# write units begin IMMEDIATE and so already hold the database's single write lock.
CHAIN_LOCK_KEY = 0x4155_4449_5443_484E
VERIFY_CHUNK = 5_000

_VERIFIED_COLUMNS = [getattr(AuditEvent, name) for name in (*HASHED_FIELDS, "hash")]


@dataclass(frozen=True)
class AuditContext:
    """Who is behind an event and where they acted: the person, the channel, the conversation, the tool call."""

    actor_user_id: int | None
    channel: str = "system"
    conversation_id: str | None = None
    tool_call_id: str | None = None


@dataclass(frozen=True)
class ChainReport:
    """The outcome of a verification; `events` counts the events found sound before any break."""

    ok: bool
    events: int
    first_broken_seq: int | None
    reason: str | None


def _require_fits(field: str, value: str | None) -> None:
    column_type = AuditEvent.__table__.c[field].type
    limit = column_type.length if isinstance(column_type, String) else None
    if value is not None and limit is not None and len(value) > limit:
        raise InvalidInput(f"audit {field} is {len(value)} characters long; at most {limit} fit", field=field)


def _lock_chain(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"SELECT pg_advisory_xact_lock({CHAIN_LOCK_KEY})"))


def _head(session: Session) -> tuple[int, str]:
    """The seq and hash of the newest event, or (0, genesis) on an empty chain."""
    row = session.execute(select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)).first()
    return (row.seq, row.hash) if row is not None else (0, GENESIS_HASH)


def record_event(
    session: Session,
    context: AuditContext,
    *,
    action: str,
    subject_type: str,
    subject_id: str | int,
    entity_id: int | None = None,
    data: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event to the chain in the caller's transaction (it commits or rolls back with it).

    On PostgreSQL this holds the chain lock until the transaction ends, so record late in a command.
    """
    if not context.channel or not action or not subject_type:
        raise InvalidInput("an audit event needs a channel, an action and a subject type")
    fields = {
        "channel": context.channel,
        "conversation_id": context.conversation_id,
        "tool_call_id": context.tool_call_id,
        "action": action,
        "subject_type": subject_type,
        "subject_id": str(subject_id),
    }
    for field, value in fields.items():
        _require_fits(field, value)
    try:
        stored_data = as_stored_json(data or {})
    except (TypeError, ValueError) as error:
        raise InvalidInput(f"audit data for {action} is not JSON: {error}") from None
    _lock_chain(session)
    head_seq, head_hash = _head(session)
    event = AuditEvent(
        seq=head_seq + 1,
        occurred_at=now(),
        actor_user_id=context.actor_user_id,
        entity_id=entity_id,
        data=stored_data,
        prev_hash=head_hash,
        **fields,
    )
    event.hash = event_hash(event)
    session.add(event)
    session.flush()
    return event


def events_for(session: Session, *, subject_type: str, subject_id: str | int) -> list[AuditEvent]:
    """A record's history, oldest first."""
    return list(
        session.scalars(
            select(AuditEvent)
            .where(AuditEvent.subject_type == subject_type, AuditEvent.subject_id == str(subject_id))
            .order_by(AuditEvent.seq)
        )
    )


def _rows_in_seq_order(session: Session) -> Iterator[Row[Any]]:
    """Every event's hashed columns, a chunk at a time (keyset on seq), so memory stays flat."""
    query = select(*_VERIFIED_COLUMNS).order_by(AuditEvent.seq).limit(VERIFY_CHUNK)
    chunk = session.execute(query).all()
    while chunk:
        yield from chunk
        chunk = session.execute(query.where(AuditEvent.seq > chunk[-1].seq)).all()


def _fault(row: Row[Any], expected_seq: int, expected_prev: str) -> tuple[int, str] | None:
    """Where and why `row` breaks the chain, or None when it is the sound next link."""
    if row.seq > expected_seq:
        return expected_seq, f"seq {expected_seq} is missing (the next event is seq {row.seq})"
    if row.seq != expected_seq:
        return row.seq, f"unexpected seq {row.seq} (expected seq {expected_seq})"
    if row.prev_hash != expected_prev:
        return row.seq, f"prev_hash does not match the hash of seq {expected_seq - 1}"
    if event_hash(row) != row.hash:
        return row.seq, "stored hash does not match the event's contents"
    return None


def verify_chain(session: Session) -> ChainReport:
    """Walk the chain in seq order and report the first broken link: a gap, a bad link or a bad hash."""
    sound, expected_prev = 0, GENESIS_HASH
    for row in _rows_in_seq_order(session):
        fault = _fault(row, sound + 1, expected_prev)
        if fault is not None:
            return ChainReport(ok=False, events=sound, first_broken_seq=fault[0], reason=fault[1])
        sound, expected_prev = row.seq, row.hash
    return ChainReport(ok=True, events=sound, first_broken_seq=None, reason=None)
