"""Where conversations are kept between turns and restarts: a LangGraph checkpointer per deployment.

SQLite (a file beside the ERP database) by default; PostgreSQL when the ERP database is
PostgreSQL, so a server with several workers shares one conversation store.
"""

import sqlite3
import time
from pathlib import Path
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.sqlite import SqliteSaver
from sqlalchemy.engine import make_url

from core.settings import data_dir, database_url

SETUP_LOCK = 0x45525043  # "ERPC": the advisory lock key held while the checkpoint tables are set up


def open_checkpointer(url: str | None = None, sqlite_path: Path | None = None) -> BaseCheckpointSaver[str]:
    """The conversation store that goes with the ERP database at `url`."""
    parsed = make_url(url or database_url())
    if parsed.get_backend_name() == "postgresql":
        return _postgres(parsed.set(drivername="postgresql").render_as_string(hide_password=False))
    path = sqlite_path or _sqlite_path(parsed.database)
    path.parent.mkdir(parents=True, exist_ok=True)
    saver = SqliteSaver(sqlite3.connect(path, check_same_thread=False, timeout=30))
    saver.setup()
    return saver


def _sqlite_path(database: str | None) -> Path:
    if database and database != ":memory:":
        erp = Path(database)
        return erp.with_name(f"{erp.stem}-conversations.db")
    return data_dir() / "conversations.db"


def _postgres(conninfo: str) -> BaseCheckpointSaver[str]:
    from langgraph.checkpoint.postgres import PostgresSaver
    from psycopg.rows import dict_row
    from psycopg_pool import ConnectionPool

    pool = ConnectionPool(
        conninfo,
        min_size=1,
        max_size=4,
        kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row},
        # After the server restarts, every pooled connection is dead; without a check on checkout each one
        # failed one chat turn after the database was back (measured by evals/hardening/faults/).
        check=ConnectionPool.check_connection,
        open=True,
    )
    saver = PostgresSaver(pool)  # type: ignore[arg-type]
    # Several workers starting at once would race to create the checkpoint tables (one dies on a
    # unique violation); an advisory lock lets one create them while the others wait, then find them.
    # Poll with a try-lock: a session blocked inside pg_advisory_lock would hold a snapshot that the
    # setup's CREATE INDEX CONCURRENTLY waits for, and the two would wait on each other for minutes.
    with pool.connection() as lock:
        _wait_for_setup_lock(lock)
        try:
            saver.setup()
        finally:
            lock.execute("SELECT pg_advisory_unlock(%s)", (SETUP_LOCK,))
    return saver


def _wait_for_setup_lock(connection: Any) -> None:
    while True:
        row = connection.execute("SELECT pg_try_advisory_lock(%s) AS held", (SETUP_LOCK,)).fetchone()
        if row and row["held"]:
            return
        time.sleep(0.05)
