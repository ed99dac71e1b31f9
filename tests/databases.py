"""Throw-away databases for tests: built once by migrations, cloned per test.

SQLite clones are file copies; PostgreSQL clones are `CREATE DATABASE ... TEMPLATE`.
PostgreSQL must be reachable (127.0.0.1:5432, user postgres): every core test runs on both.
"""

import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from sqlalchemy import text

from core import schema
from core.db import Database, make_engine

PG_ADMIN_URL = os.environ.get("ERP_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BACKENDS = ("sqlite", "postgresql")

# `fresh(backend, fill)`: a clone of the migrated template, for one test (the fixture in conftest.py).
Fresh = Callable[[str, str], AbstractContextManager[Database]]


def pg_url(name: str) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def _pg_admin(sql: str) -> None:
    engine = make_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(sql))
    finally:
        engine.dispose()


def create_pg_database(name: str, template: str | None = None) -> None:
    _pg_admin(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))


def drop_pg_database(name: str) -> None:
    _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


ORPHAN_NAME = re.compile(r"^erp_(?:tpl_[a-z]+|t)_(\d+)_[0-9a-f]+$")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def drop_orphaned_databases() -> list[str]:
    """Drop test databases left by runs that were killed (their creating process is gone)."""
    engine = make_engine(PG_ADMIN_URL)
    try:
        with engine.connect() as conn:
            names = [row[0] for row in conn.execute(text("SELECT datname FROM pg_database"))]
    finally:
        engine.dispose()
    orphans = [n for n in names if (m := ORPHAN_NAME.match(n)) and not _alive(int(m.group(1)))]
    for name in orphans:
        drop_pg_database(name)
    return orphans


Fill = Callable[[Database], None]


class Template:
    """A migrated (and optionally filled) database that tests clone."""

    def __init__(self, backend: str, workdir: Path, label: str, fill: Fill | None) -> None:
        self.backend = backend
        self.label = label
        token = f"{label}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        if backend == "sqlite":
            self.path = workdir / f"{token}.db"
            url = f"sqlite:///{self.path}"
        else:
            self.name = f"erp_tpl_{token}"
            drop_pg_database(self.name)
            create_pg_database(self.name)
            url = pg_url(self.name)
        db = Database.from_url(url)
        schema.upgrade(db.engine)
        if fill is not None:
            fill(db)
        if backend == "sqlite":
            with db.engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        db.dispose()

    @contextmanager
    def clone(self, workdir: Path) -> Iterator[Database]:
        """A fresh copy of the template, dropped afterwards."""
        if self.backend == "sqlite":
            path = workdir / f"{uuid.uuid4().hex}.db"
            shutil.copyfile(self.path, path)
            db = Database.from_url(f"sqlite:///{path}")
            try:
                yield db
            finally:
                db.dispose()
            return
        name = f"erp_t_{os.getpid()}_{uuid.uuid4().hex[:10]}"
        create_pg_database(name, template=self.name)
        db = Database.from_url(pg_url(name), pool_size=20, max_overflow=10)
        try:
            yield db
        finally:
            db.dispose()
            drop_pg_database(name)

    def drop(self) -> None:
        if self.backend == "postgresql":
            drop_pg_database(self.name)


class Templates:
    """A session's templates, one per backend and label (a label names how it is filled), each built on first use."""

    def __init__(self, workdir: Path, fills: Mapping[str, Fill | None]) -> None:
        self.workdir, self.fills = workdir, fills
        self.made: dict[tuple[str, str], Template] = {}

    def get(self, backend: str, label: str) -> Template:
        """The template of `label` on `backend`, built now if nothing needed it before."""
        if (backend, label) not in self.made:
            self.made[(backend, label)] = Template(backend, self.workdir, label, self.fills[label])
        return self.made[(backend, label)]

    def clone(self, backend: str, label: str, workdir: Path) -> AbstractContextManager[Database]:
        """A fresh copy of that template in `workdir`, dropped when the block ends."""
        return self.get(backend, label).clone(workdir)

    def drop(self) -> None:
        for template in self.made.values():
            template.drop()
