"""Engine, declarative base and the unit of work: one transaction per command, rolled back by default."""

import random
import sqlite3
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Date, DateTime, Engine, Numeric, create_engine, event, exc, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from core.settings import database_url

# SQLite keeps NUMERIC as binary floating point; money here stays far below 1e12 and is
# rounded to cents at every business boundary, so the conversion warning is noise.
warnings.filterwarnings("ignore", message=".*does \\*not\\* support Decimal objects natively.*")

T = TypeVar("T")

MONEY = Numeric(18, 4)
MAX_ATTEMPTS = 6
SQLITE_UNAVAILABLE = ("database is locked", "unable to open database", "disk I/O error")


class Base(DeclarativeBase):
    type_annotation_map = {Decimal: MONEY, datetime: DateTime(), date: Date()}


def _configure_sqlite(engine: Engine) -> None:
    """Let SQLAlchemy own BEGIN so a writing unit can take the write lock up front."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # A deferred transaction that later writes can deadlock against another writer;
        # IMMEDIATE takes the single write lock first and waits (busy_timeout) for it.
        mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for `url` configured for this core (SQLite pragmas, pool pre-ping)."""
    engine = create_engine(url, pool_pre_ping=True, **kwargs)
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine)
    return engine


def is_retryable(error: BaseException) -> bool:
    """Serialization failures, deadlocks and a busy SQLite file are worth running again."""
    if not isinstance(error, exc.DBAPIError):
        return False
    sqlstate = getattr(error.orig, "sqlstate", None)
    if sqlstate in {"40001", "40P01"}:
        return True
    return "database is locked" in str(error.orig)


def is_unavailable(error: BaseException) -> bool:
    """The database could not be reached, dropped the connection, or stayed busy: worth trying again later.

    The driver's own errors count too (the conversation store uses psycopg directly): psycopg's
    OperationalError (its pool's timeout included) is about the server or the connection, matched by
    name so the core needs no driver; sqlite3 uses OperationalError for bad SQL as well, so only a
    locked or unreadable file counts there.
    """
    if isinstance(error, exc.DBAPIError):
        if error.connection_invalidated:
            return True
        error = error.orig if isinstance(error.orig, BaseException) else error
    if isinstance(error, sqlite3.OperationalError):
        return any(problem in str(error) for problem in SQLITE_UNAVAILABLE)
    return any(c.__name__ == "OperationalError" for c in type(error).__mro__)


class Database:
    """One ERP database: hands out units of work and runs commands with bounded retry."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        write_engine = engine.execution_options(sqlite_begin="IMMEDIATE") if self.dialect == "sqlite" else engine
        self._read_sessions = sessionmaker(bind=engine, expire_on_commit=False)
        self._write_sessions = sessionmaker(bind=write_engine, expire_on_commit=False)
        self.retries = 0

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> "Database":
        """A Database on a new engine for `url`."""
        return cls(make_engine(url, **kwargs))

    @contextmanager
    def session(self, *, write: bool = False) -> Iterator[Session]:
        """A unit of work: rolled back unless the caller commits inside the block."""
        factory = self._write_sessions if write else self._read_sessions
        session = factory()
        try:
            yield session
        finally:
            # close() rolls back whatever was not committed, and keeps loaded values readable.
            session.close()

    def read(self, query: Callable[[Session], T]) -> T:
        """Run a read-only query in its own transaction."""
        with self.session() as session:
            return query(session)

    def run(self, command: Callable[[Session], T], *, attempts: int = MAX_ATTEMPTS) -> T:
        """Run `command` in one transaction and commit; retry it whole on a conflict."""
        for attempt in range(1, attempts + 1):
            try:
                with self.session(write=True) as session:
                    result = command(session)
                    session.commit()
                    return result
            except exc.DBAPIError as error:
                if attempt == attempts or not is_retryable(error):
                    raise
                self.retries += 1
                time.sleep(random.uniform(0, 0.005 * 2**attempt))
        raise AssertionError("unreachable")  # pragma: no cover

    def ping(self) -> None:
        """Ask the database the simplest question; raises when it does not answer (readiness checks)."""
        self.read(lambda session: session.execute(text("SELECT 1")).scalar_one())

    def refresh_statistics(self) -> None:
        """Have the query planner count the tables again (ANALYZE), as after a bulk load.

        PostgreSQL plans from row estimates; until its autovacuum gets round to a freshly loaded table (or
        never, where autovacuum is off) it assumes a few hundred rows and picks nested loops that take
        seconds. SQLite keeps what ANALYZE finds in sqlite_stat1 and uses it the same way.
        """
        with self.engine.connect() as connection:
            connection.exec_driver_sql("ANALYZE")
            connection.commit()

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


def open_database() -> Database:
    """The configured database (creating the folder of a SQLite file), for every entrypoint that serves it."""
    url = database_url()
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    return Database.from_url(url)
