"""The audit-log benchmark: append throughput and chain verification time.

    .venv/bin/python -m evals.bench.audit_bench [--append N] [--verify N] [--no-postgres]

Appends N events single-threaded on SQLite and PostgreSQL, one command (transaction) per event
and then N in one command; builds a chain of `--verify` events on SQLite and times verify_chain
over it, and its peak Python memory. Every database it makes is removed at the end.
"""

import argparse
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Sequence
from pathlib import Path

from sqlalchemy.orm import Session

from core import schema
from core.audit import AuditContext, record_event, verify_chain
from core.db import Database
from evals.common import postgres

CONTEXT = AuditContext(actor_user_id=None, channel="assistant", conversation_id="bench", tool_call_id="call-1")
FILL_BATCH = 1_000


def _append(session: Session, n: int) -> None:
    record_event(
        session,
        CONTEXT,
        action="draft.created",
        subject_type="draft",
        subject_id=n,
        entity_id=1,
        data={"kind": "sales_order", "amount": "1250.50", "lines": [{"sku": "V-200", "qty": 3}]},
    )


def _append_batch(first: int, count: int) -> Callable[[Session], None]:
    def command(session: Session) -> None:
        for n in range(first, first + count):
            _append(session, n)

    return command


def append_rates(db: Database, events: int) -> tuple[float, float]:
    """Events per second appended one per command, then all in one command."""
    started = time.perf_counter()
    for n in range(events):
        db.run(lambda s, n=n: _append(s, n))  # type: ignore[misc]
    one_per_command = events / (time.perf_counter() - started)
    started = time.perf_counter()
    db.run(_append_batch(events, events))
    one_command = events / (time.perf_counter() - started)
    assert db.read(verify_chain).events == 2 * events
    return one_per_command, one_command


def verify_figures(db: Database, events: int) -> tuple[float, float, float]:
    """Seconds to build the chain, seconds to verify it, peak MiB allocated while verifying."""
    started = time.perf_counter()
    for first in range(0, events, FILL_BATCH):
        db.run(_append_batch(first, min(FILL_BATCH, events - first)))
    fill_seconds = time.perf_counter() - started
    started = time.perf_counter()
    report = db.read(verify_chain)
    verify_seconds = time.perf_counter() - started
    assert report.ok and report.events == events, report
    tracemalloc.start()
    db.read(verify_chain)
    peak_mib = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return fill_seconds, verify_seconds, peak_mib


def _sqlite(folder: Path, name: str) -> Database:
    db = Database.from_url(f"sqlite:///{folder / name}.db")
    schema.upgrade(db.engine)
    return db


def _report_append(backend: str, events: int, rates: tuple[float, float]) -> None:
    print(f"{backend:<11} append {events:,}: {rates[0]:,.0f} events/s one per command, {rates[1]:,.0f} in one command")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--append", type=int, default=2_000, help="events appended per backend")
    parser.add_argument("--verify", type=int, default=100_000, help="events in the chain verified on SQLite")
    parser.add_argument("--no-postgres", action="store_true", help="measure SQLite only")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        db = _sqlite(Path(folder), "append")
        _report_append("sqlite", args.append, append_rates(db, args.append))
        db.dispose()
        if not args.no_postgres:
            with postgres.scratch_database("erp_bench_audit") as name:
                db = Database.from_url(postgres.url_of(name).render_as_string(hide_password=False))
                schema.upgrade(db.engine)
                _report_append("postgresql", args.append, append_rates(db, args.append))
                db.dispose()
        db = _sqlite(Path(folder), "verify")
        fill, verify, peak = verify_figures(db, args.verify)
        db.dispose()
        print(
            f"sqlite      verify {args.verify:,}: {verify:.2f} s ({args.verify / verify:,.0f} events/s), "
            f"peak {peak:.1f} MiB; chain built in {fill:.1f} s"
        )


if __name__ == "__main__":
    main()
