"""The audit log: every event is sealed by its hash and linked to the previous one; tampering is found."""

import json
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from hashlib import sha256
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import Executable, delete, event, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.audit import (
    GENESIS_HASH,
    AuditContext,
    AuditEvent,
    canonical_json,
    event_hash,
    events_for,
    record_event,
    verify_chain,
)
from core.audit import service as audit_service
from core.audit.chain import HASHED_FIELDS
from core.db import Database
from core.errors import InvalidInput
from core.masterdata.models import User

SYSTEM = AuditContext(actor_user_id=None)
EVENTS = AuditEvent.metadata.tables["audit_events"]


def _record(db: Database, count: int, *, subject_type: str = "draft") -> list[AuditEvent]:
    """`count` events, each in its own command, about subjects 1..count."""

    def command(s: Session, n: int) -> AuditEvent:
        return record_event(s, SYSTEM, action="draft.created", subject_type=subject_type, subject_id=n, data={"n": n})

    return [db.run(lambda s, n=n: command(s, n)) for n in range(1, count + 1)]  # type: ignore[misc]


def _user(db: Database, username: str) -> int:
    """A person to name as the actor (the audit log refers to users by id)."""

    def command(s: Session) -> int:
        user = User(username=username, display_name=username.title(), email=f"{username}@example.com")
        s.add(user)
        s.flush()
        return user.id

    return db.run(command)


def _tamper(db: Database, statement: Executable) -> None:
    """Change the log as someone with DDL rights would: switch the append-only guard off first."""
    guard_off = {
        "sqlite": ["DROP TRIGGER IF EXISTS audit_events_no_update", "DROP TRIGGER IF EXISTS audit_events_no_delete"],
        "postgresql": ["ALTER TABLE audit_events DISABLE TRIGGER USER"],
    }[db.dialect]
    with db.engine.begin() as connection:
        for sql in guard_off:
            connection.exec_driver_sql(sql)
        connection.execute(statement)


def _verify(db: Database) -> audit_service.ChainReport:
    return db.read(verify_chain)


def test_an_empty_chain_verifies_with_no_events(db: Database) -> None:
    assert _verify(db) == audit_service.ChainReport(ok=True, events=0, first_broken_seq=None, reason=None)


def test_each_event_links_to_the_previous_hash_starting_from_64_zeros(db: Database) -> None:
    events = _record(db, 3)
    assert [e.seq for e in events] == [1, 2, 3]
    assert [e.prev_hash for e in events] == [GENESIS_HASH, events[0].hash, events[1].hash]
    assert all(e.hash == event_hash(e) and len(e.hash) == 64 for e in events)
    assert _verify(db).ok and _verify(db).events == 3


def test_an_event_names_the_person_channel_conversation_and_tool_call(db: Database) -> None:
    sam = _user(db, "sam")
    context = AuditContext(actor_user_id=sam, channel="slack", conversation_id="C042:1700.1", tool_call_id="tc-7")
    db.run(
        lambda s: record_event(
            s, context, action="policy.decided", subject_type="draft", subject_id=17, entity_id=1, data={"rule": "r1"}
        )
    )
    [stored] = db.read(lambda s: events_for(s, subject_type="draft", subject_id="17"))
    assert (stored.actor_user_id, stored.channel, stored.conversation_id, stored.tool_call_id) == (
        sam,
        "slack",
        "C042:1700.1",
        "tc-7",
    )
    assert (stored.action, stored.subject_id, stored.entity_id, stored.data) == (
        "policy.decided",
        "17",
        1,
        {"rule": "r1"},
    )
    assert stored.occurred_at.date() == date(2026, 11, 20)  # core.clock.now(), on the pinned business date


def test_decimals_and_dates_in_the_data_are_stored_as_the_strings_that_were_hashed(db: Database) -> None:
    data = {
        "amount": Decimal("1250.50"),
        "due": date(2026, 12, 1),
        "lines": ({"qty": 3},),
        "at": datetime(2026, 11, 20),
    }
    db.run(lambda s: record_event(s, SYSTEM, action="draft.created", subject_type="draft", subject_id=1, data=data))
    [stored] = db.read(lambda s: events_for(s, subject_type="draft", subject_id=1))
    assert stored.data == {"amount": "1250.50", "due": "2026-12-01", "lines": [{"qty": 3}], "at": "2026-11-20T00:00:00"}
    assert _verify(db).ok


@pytest.mark.parametrize("data", [{"what": object()}, {"ratio": float("nan")}, {1: "x", "a": "y"}])
def test_data_without_a_single_json_spelling_is_refused(db: Database, data: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput, match="not JSON"):
        db.run(lambda s: record_event(s, SYSTEM, action="draft.created", subject_type="draft", subject_id=1, data=data))


def test_an_id_too_long_for_its_column_is_refused_on_every_database(db: Database) -> None:
    context = AuditContext(actor_user_id=None, channel="assistant", tool_call_id="x" * 129)
    with pytest.raises(InvalidInput, match="tool_call_id is 129 characters"):
        db.run(lambda s: record_event(s, context, action="draft.created", subject_type="draft", subject_id=1))


def test_an_event_of_a_rolled_back_command_leaves_no_gap(db: Database) -> None:
    class Abandon(Exception):
        pass

    def abandoned(s: Session) -> None:
        record_event(s, SYSTEM, action="draft.created", subject_type="draft", subject_id=1)
        raise Abandon

    with pytest.raises(Abandon):
        db.run(abandoned)
    [event_] = _record(db, 1)
    assert (event_.seq, event_.prev_hash) == (1, GENESIS_HASH)
    assert _verify(db).events == 1


def test_several_events_in_one_command_chain_in_order(db: Database) -> None:
    def command(s: Session) -> list[AuditEvent]:
        return [
            record_event(s, SYSTEM, action=action, subject_type="draft", subject_id=9)
            for action in ("draft.created", "policy.decided", "draft.executed")
        ]

    first = _record(db, 1)
    created, decided, executed = db.run(command)
    assert [created.seq, decided.seq, executed.seq] == [2, 3, 4]
    assert (created.prev_hash, decided.prev_hash, executed.prev_hash) == (first[0].hash, created.hash, decided.hash)
    history = db.read(lambda s: events_for(s, subject_type="draft", subject_id=9))
    assert [e.action for e in history] == ["draft.created", "policy.decided", "draft.executed"]
    assert _verify(db).events == 4


def test_events_for_returns_only_the_subjects_history(db: Database) -> None:
    _record(db, 2)
    _record(db, 2, subject_type="exception")
    history = db.read(lambda s: events_for(s, subject_type="exception", subject_id=2))
    assert [(e.subject_type, e.subject_id, e.seq) for e in history] == [("exception", "2", 4)]


@pytest.mark.parametrize(
    "change",
    [
        lambda s: setattr(s.scalars(select(AuditEvent)).one(), "action", "draft.rejected"),
        lambda s: s.execute(update(EVENTS).values(data={"n": 2})),
        lambda s: s.execute(delete(EVENTS)),
    ],
    ids=["orm-update", "update", "delete"],
)
def test_the_database_refuses_to_change_or_delete_an_audit_event(
    db: Database, change: Callable[[Session], object]
) -> None:
    def command(s: Session) -> None:
        change(s)
        s.flush()

    _record(db, 1)
    with pytest.raises(IntegrityError, match="audit_events is append-only"):
        db.run(command)
    assert _verify(db).events == 1


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgresql"])
def test_postgresql_refuses_to_truncate_the_audit_log(db: Database) -> None:
    _record(db, 1)
    with pytest.raises(IntegrityError, match="audit_events is append-only"):
        db.run(lambda s: s.execute(text("TRUNCATE audit_events")))


def test_a_tampered_event_is_reported_at_its_seq(db: Database) -> None:
    _record(db, 5)
    _tamper(db, update(EVENTS).where(EVENTS.c.seq == 3).values(data={"n": 300}))
    report = _verify(db)
    assert (report.ok, report.first_broken_seq, report.events) == (False, 3, 2)
    assert report.reason == "stored hash does not match the event's contents"


TAMPERED = {
    "seq": 99,
    "occurred_at": datetime(2026, 11, 19, 23, 59),
    "actor_user_id": None,
    "channel": "web",
    "conversation_id": "another-conversation",
    "tool_call_id": "another-call",
    "action": "draft.approved",
    "subject_type": "exception",
    "subject_id": "18",
    "entity_id": 2,
    "data": {"amount": "9999.00"},
    "prev_hash": "f" * 64,
}


def test_a_change_to_any_hashed_field_breaks_the_chain_at_that_event(db: Database) -> None:
    assert set(TAMPERED) == set(HASHED_FIELDS)
    context = AuditContext(_user(db, "mia"), channel="assistant", conversation_id="c-1", tool_call_id="t-1")
    for n in (1, 2, 3):
        db.run(
            lambda s, n=n: record_event(  # type: ignore[misc]
                s, context, action="draft.created", subject_type="draft", subject_id=n, entity_id=1, data={"n": n}
            )
        )
    original = db.read(lambda s: dict(s.execute(select(EVENTS).where(EVENTS.c.seq == 2)).mappings().one()))
    for field, value in TAMPERED.items():
        _tamper(db, update(EVENTS).where(EVENTS.c.id == original["id"]).values({field: value}))
        report = _verify(db)
        assert (report.ok, report.first_broken_seq) == (False, 2), field
        _tamper(db, update(EVENTS).where(EVENTS.c.id == original["id"]).values(original))
        assert _verify(db).ok, field


def test_a_tampered_event_resealed_with_a_fresh_hash_breaks_the_next_link(db: Database) -> None:
    events = _record(db, 5)
    forged = SimpleNamespace(**{name: getattr(events[2], name) for name in HASHED_FIELDS})
    forged.data = {"n": 300}
    _tamper(db, update(EVENTS).where(EVENTS.c.seq == 3).values(data=forged.data, hash=event_hash(forged)))
    report = _verify(db)
    assert (report.first_broken_seq, report.reason) == (4, "prev_hash does not match the hash of seq 3")


def test_a_deleted_event_is_reported_as_the_missing_seq(db: Database) -> None:
    _record(db, 5)
    _tamper(db, delete(EVENTS).where(EVENTS.c.seq == 3))
    report = _verify(db)
    assert (report.first_broken_seq, report.reason) == (3, "seq 3 is missing (the next event is seq 4)")


def test_verification_reads_the_chain_in_chunks_and_checks_links_across_them(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(audit_service, "VERIFY_CHUNK", 4)
    _record(db, 10)
    reads: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "FROM audit_events" in statement:
            reads.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        assert _verify(db).events == 10
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert len(reads) == 4  # 4 + 4 + 2 events, then an empty chunk
    _tamper(db, delete(EVENTS).where(EVENTS.c.seq == 5))  # the first event of the second chunk
    assert _verify(db).first_broken_seq == 5


def test_the_hash_is_sha256_of_the_pinned_canonical_json() -> None:
    """Changing this spelling would break every chain already written: it is pinned here on purpose."""
    fields = {
        "seq": 1,
        "occurred_at": datetime(2026, 11, 20, 9, 30, 0, 250000),
        "actor_user_id": 7,
        "channel": "slack",
        "conversation_id": None,
        "tool_call_id": "tc-1",
        "action": "draft.approved",
        "subject_type": "draft",
        "subject_id": "42",
        "entity_id": None,
        "data": {"qty": 3, "amount": "10.50", "note": "café"},
        "prev_hash": GENESIS_HASH,
    }
    spelled = (
        '{"action":"draft.approved","actor_user_id":7,"channel":"slack","conversation_id":null,'
        '"data":{"amount":"10.50","note":"caf\\u00e9","qty":3},"entity_id":null,'
        f'"occurred_at":"2026-11-20T09:30:00.250000","prev_hash":"{GENESIS_HASH}","seq":1,'
        '"subject_id":"42","subject_type":"draft","tool_call_id":"tc-1"}'
    )
    assert canonical_json(fields) == spelled
    assert json.loads(spelled) == {**fields, "occurred_at": "2026-11-20T09:30:00.250000"}
    assert event_hash(SimpleNamespace(**fields)) == sha256(spelled.encode()).hexdigest()
    assert canonical_json({"b": Decimal("1.50"), "a": date(2026, 1, 2)}) == '{"a":"2026-01-02","b":"1.50"}'
