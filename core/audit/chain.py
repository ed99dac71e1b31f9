"""The hash that seals an audit event: sha256 of a canonical JSON of everything but `id` and `hash`."""

import json
from datetime import date, datetime, time
from decimal import Decimal
from hashlib import sha256
from typing import Any
from uuid import UUID

GENESIS_HASH = "0" * 64

# Every column of an event except `id` (the database's, not the chain's) and `hash` itself.
HASHED_FIELDS = (
    "seq",
    "occurred_at",
    "actor_user_id",
    "channel",
    "conversation_id",
    "tool_call_id",
    "action",
    "subject_type",
    "subject_id",
    "entity_id",
    "data",
    "prev_hash",
)


def _as_text(value: Any) -> str:
    if isinstance(value, Decimal | UUID):
        return str(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} {value!r} has no JSON form; pass str, number, bool, list or dict")


def canonical_json(value: Any) -> str:
    """One spelling per value: sorted keys, no whitespace, ASCII, Decimals and dates as strings."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False, default=_as_text)


def as_stored_json(value: Any) -> Any:
    """`value` as it reads back from a JSON column (Decimals and dates become strings, tuples lists)."""
    loaded: Any = json.loads(canonical_json(value))
    return loaded


def event_hash(event: Any) -> str:
    """The hex sha256 sealing `event` (an AuditEvent or a row with the same attribute names)."""
    fields = {name: getattr(event, name) for name in HASHED_FIELDS}
    return sha256(canonical_json(fields).encode("ascii")).hexdigest()
