"""Where conversations are kept between turns and restarts: a LangGraph checkpointer per deployment.

SQLite (a file beside the ERP database) by default; PostgreSQL when the ERP database is
PostgreSQL, so a server with several workers shares one conversation store.
"""

import sqlite3
from pathlib import Path

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.sqlite import SqliteSaver
from sqlalchemy.engine import make_url

from core.settings import data_dir, database_url


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
        open=True,
    )
    saver = PostgresSaver(pool)  # type: ignore[arg-type]
    saver.setup()
    return saver
