"""The append-only, hash-chained audit log: who decided or changed what, through which channel."""

from core.audit.chain import GENESIS_HASH, canonical_json, event_hash
from core.audit.models import AuditEvent
from core.audit.service import AuditContext, ChainReport, events_for, record_event, verify_chain

__all__ = [
    "GENESIS_HASH",
    "AuditContext",
    "AuditEvent",
    "ChainReport",
    "canonical_json",
    "event_hash",
    "events_for",
    "record_event",
    "verify_chain",
]
