"""The scale dataset on SQLite and PostgreSQL: loaded fresh, or kept between runs and copied.

A kept dataset is never measured on directly: each run works on a copy (a file copy on SQLite,
`CREATE DATABASE ... TEMPLATE` on PostgreSQL), so every run starts from the same state. A dataset
counts as kept only once it loaded completely: it is loaded under a temporary name, renamed, and
its load record (how long the load took, what it made) written next to the SQLite cache.
"""

import hashlib
import json
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, is_dataclass
from pathlib import Path
from typing import Any, Protocol

import core.demo
from core import clock, schema
from core.db import Database
from core.demo import DemoConfig, load_demo
from evals.common import postgres

Progress = Callable[[str, int, int], None]
LOADING = "_loading"


@dataclass(frozen=True)
class DatasetSpec:
    """Which demo company to generate."""

    items: int
    history_months: int
    seed: int

    @property
    def key(self) -> str:
        """Names a kept copy; a new migration or a changed generator makes a new key."""
        return f"i{self.items}_m{self.history_months}_s{self.seed}_r{schema.head_revision()}_g{generator_version()}"

    def config(self) -> DemoConfig:
        return DemoConfig(seed=self.seed, items=self.items, history_months=self.history_months)


def generator_version() -> str:
    """A short hash of the demo generator's source, so a kept dataset never outlives the code that made it."""
    digest = hashlib.sha256()
    for source in sorted(Path(core.demo.__file__).parent.glob("*.py")):
        digest.update(source.read_bytes())
    return digest.hexdigest()[:8]


@dataclass(frozen=True)
class LoadRecord:
    backend: str
    items: int
    history_months: int
    seed: int
    generator: str  # `generator_version()` of the code that made it
    seconds: float  # migrating and loading the demo company
    loaded_on: str
    cached: bool  # kept from an earlier run; `seconds` is that run's load time
    size_mb: float
    summary: dict[str, Any]


class Store(Protocol):
    """Where one backend keeps databases, addressed by name."""

    @property
    def backend(self) -> str: ...

    def url(self, name: str) -> str: ...
    def engine_args(self, pool_size: int) -> dict[str, Any]: ...
    def cache_name(self, key: str) -> str: ...
    def work_name(self) -> str: ...
    def exists(self, name: str) -> bool: ...
    def create(self, name: str) -> None: ...
    def drop(self, name: str) -> None: ...
    def rename(self, old: str, new: str) -> None: ...
    def clone(self, source: str, target: str) -> None: ...
    def size_mb(self, name: str) -> float: ...


@dataclass(frozen=True)
class SqliteStore:
    """SQLite files: the working copy in a temporary folder, kept datasets in the cache folder."""

    workdir: Path
    cache_dir: Path
    backend: str = "sqlite"

    def url(self, name: str) -> str:
        return f"sqlite:///{name}"

    def engine_args(self, pool_size: int) -> dict[str, Any]:
        return {"pool_size": pool_size}

    def cache_name(self, key: str) -> str:
        return str(self.cache_dir / f"core_bench-{key}.db")

    def work_name(self) -> str:
        return str(self.workdir / "core_bench.db")

    def exists(self, name: str) -> bool:
        return Path(name).exists()

    def create(self, name: str) -> None:
        Path(name).parent.mkdir(parents=True, exist_ok=True)

    def drop(self, name: str) -> None:
        for suffix in ("", "-wal", "-shm"):
            Path(name + suffix).unlink(missing_ok=True)

    def rename(self, old: str, new: str) -> None:
        Path(old).replace(new)

    def clone(self, source: str, target: str) -> None:
        shutil.copyfile(source, target)

    def size_mb(self, name: str) -> float:
        return Path(name).stat().st_size / 2**20


@dataclass(frozen=True)
class PostgresStore:
    """Databases on the local server; the working copy is `work`."""

    work: str = "erp_bench_run"
    backend: str = "postgresql"

    def url(self, name: str) -> str:
        return postgres.url_of(name).render_as_string(hide_password=False)

    def engine_args(self, pool_size: int) -> dict[str, Any]:
        # Timeouts keep a stuck lock from hanging the benchmark: it must end by itself.
        options = "-c lock_timeout=15s -c statement_timeout=120s"
        return {"pool_size": pool_size, "max_overflow": 4, "connect_args": {"options": options}}

    def cache_name(self, key: str) -> str:
        return f"erp_bench_{key}"

    def work_name(self) -> str:
        return self.work

    def exists(self, name: str) -> bool:
        return postgres.database_exists(name)

    def create(self, name: str) -> None:
        postgres.create_database(name)

    def drop(self, name: str) -> None:
        postgres.drop_database(name)

    def rename(self, old: str, new: str) -> None:
        postgres.rename_database(old, new)

    def clone(self, source: str, target: str) -> None:
        postgres.create_database(target, template=source)

    def size_mb(self, name: str) -> float:
        return postgres.database_size_mb(name)


def summary_of(summary: object) -> dict[str, Any]:
    """The generator's summary as plain data."""
    return asdict(summary) if is_dataclass(summary) and not isinstance(summary, type) else {"summary": str(summary)}


def load_fresh(store: Store, name: str, spec: DatasetSpec, progress: Progress | None) -> LoadRecord:
    """Migrate a new database and load the demo company into it, timed."""
    store.drop(name)
    store.create(name)
    db = Database.from_url(store.url(name))
    generator = generator_version()
    try:
        started = time.perf_counter()
        schema.upgrade(db.engine)
        summary = load_demo(db, spec.config(), progress)
        seconds = time.perf_counter() - started
        if store.backend == "sqlite":
            with db.engine.connect() as connection:
                connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        db.dispose()
    return LoadRecord(
        backend=store.backend,
        items=spec.items,
        history_months=spec.history_months,
        seed=spec.seed,
        generator=generator,
        seconds=seconds,
        loaded_on=clock.today().isoformat(),
        cached=False,
        size_mb=store.size_mb(name),
        summary=summary_of(summary),
    )


def kept_dataset(store: Store, spec: DatasetSpec, key: str, cache_dir: Path, progress: Progress | None) -> LoadRecord:
    """The kept dataset's load record, loading (and keeping) it first if there is no complete one."""
    name, record_file = store.cache_name(key), cache_dir / f"core_bench-{key}.{store.backend}.json"
    if store.exists(name) and record_file.exists():
        return LoadRecord(**{**json.loads(record_file.read_text()), "cached": True})
    loading = name + LOADING
    try:
        record = load_fresh(store, loading, spec, progress)
        store.drop(name)
        store.rename(loading, name)
    finally:
        store.drop(loading)  # a no-op once renamed; removes a half-loaded copy after a failure
    cache_dir.mkdir(parents=True, exist_ok=True)
    record_file.write_text(json.dumps(asdict(record), indent=2, default=str))
    return record


@contextmanager
def dataset(
    store: Store, spec: DatasetSpec, *, cache_dir: Path | None, pool_size: int, progress: Progress | None = None
) -> Iterator[tuple[Database, LoadRecord]]:
    """The scale dataset to measure on (a copy when kept), removed afterwards whatever happens."""
    work = store.work_name()
    try:
        if cache_dir is None:
            record = load_fresh(store, work, spec, progress)
        else:
            key = spec.key  # once: the generator's source may change while it loads
            record = kept_dataset(store, spec, key, cache_dir, progress)
            store.drop(work)
            store.clone(store.cache_name(key), work)
        db = Database.from_url(store.url(work), **store.engine_args(pool_size))
        try:
            yield db, record
        finally:
            db.dispose()
    finally:
        store.drop(work)
