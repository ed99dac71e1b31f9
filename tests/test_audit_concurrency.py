"""Many commands appending audit events at once still leave one linear, gap-free chain."""

import threading
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.audit import AuditContext, AuditEvent, ChainReport, record_event, verify_chain
from core.db import Database

THREADS = 10
COMMANDS_PER_THREAD = 8
SYSTEM = AuditContext(actor_user_id=None, channel="system")

Mark = tuple[int, int, int]  # thread, command, event within the command


class Abandon(Exception):
    """Raised inside a command so that its transaction (and its events) roll back."""


def _append(session: Session, thread: int, command: int) -> list[Mark]:
    """1 to 3 events for one command; every fourth command is abandoned after appending."""
    marks = [(thread, command, k) for k in range(1 + (thread + command) % 3)]
    for mark in marks:
        record_event(
            session, SYSTEM, action="draft.created", subject_type="draft", subject_id=str(mark), data={"m": mark}
        )
    if command % 4 == 3:
        raise Abandon
    return marks


def _race(db: Database) -> tuple[set[Mark], list[str], list[ChainReport]]:
    """Appenders from one barrier plus a verifier reading while they write; returns committed marks and failures."""
    start = threading.Barrier(THREADS + 1)
    committed: set[Mark] = set()
    errors: list[str] = []
    broken_while_appending: list[ChainReport] = []
    lock = threading.Lock()
    done = threading.Event()

    def appender(thread: int) -> None:
        start.wait()
        for command in range(COMMANDS_PER_THREAD):
            try:
                marks = db.run(lambda s, c=command: _append(s, thread, c))  # type: ignore[misc]
            except Abandon:
                continue
            except Exception as error:
                with lock:
                    errors.append(f"{type(error).__name__}: {error}")
                continue
            with lock:
                committed.update(marks)

    def verifier() -> None:
        start.wait()
        while not done.is_set():
            report = db.read(verify_chain)
            if not report.ok:
                broken_while_appending.append(report)

    threads = [threading.Thread(target=appender, args=(n,)) for n in range(THREADS)]
    watcher = threading.Thread(target=verifier)
    for thread in [*threads, watcher]:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    done.set()
    watcher.join(timeout=30)
    assert not any(t.is_alive() for t in [*threads, watcher]), "a client hung"
    return committed, errors, broken_while_appending


def _stored_marks(session: Session) -> list[tuple[int, Any]]:
    return [(seq, data["m"]) for seq, data in session.execute(select(AuditEvent.seq, AuditEvent.data))]


def _assert_one_linear_chain(db: Database) -> None:
    committed, errors, broken_while_appending = _race(db)
    assert errors == []
    assert broken_while_appending == []  # a reader never sees a half-written chain
    report = db.read(verify_chain)
    assert report == ChainReport(ok=True, events=len(committed), first_broken_seq=None, reason=None)
    stored = db.read(_stored_marks)
    assert sorted(seq for seq, _ in stored) == list(range(1, len(committed) + 1))
    assert {tuple(mark) for _, mark in stored} == committed
    abandoned = THREADS * COMMANDS_PER_THREAD // 4
    assert 0 < len(committed) < 3 * THREADS * COMMANDS_PER_THREAD and abandoned > 0


def test_concurrent_appenders_keep_one_gap_free_verified_chain(db: Database) -> None:
    """PostgreSQL queues appenders on the advisory lock; SQLite's write units already hold its single write lock."""
    _assert_one_linear_chain(db)
