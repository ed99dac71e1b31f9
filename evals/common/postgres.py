"""The local PostgreSQL server as the benchmark uses it: scratch databases, its version, and pgbench."""

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import URL, make_url, text

from core.db import make_engine

SERVER_URL = make_url(os.environ.get("ERP_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"))
PGBENCH_DATABASE = "erp_bench_pgbench"
TPS_LINE = re.compile(r"^tps = ([0-9.]+)", re.MULTILINE)


def url_of(database: str) -> URL:
    """The server URL pointing at another database."""
    return SERVER_URL.set(database=database)


def _admin(sql: str, **params: str) -> list[tuple[object, ...]]:
    engine = make_engine(SERVER_URL.render_as_string(hide_password=False), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            result = connection.execute(text(sql), params)
            return [tuple(row) for row in result] if result.returns_rows else []
    finally:
        engine.dispose()


def database_exists(name: str) -> bool:
    return bool(_admin("SELECT 1 FROM pg_database WHERE datname = :name", name=name))


def create_database(name: str, *, template: str | None = None) -> None:
    clause = f' TEMPLATE "{template}"' if template else ""
    _admin(f'CREATE DATABASE "{name}"{clause}')


def drop_database(name: str) -> None:
    _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def rename_database(old: str, new: str) -> None:
    _admin(f'ALTER DATABASE "{old}" RENAME TO "{new}"')


def database_size_mb(name: str) -> float:
    rows = _admin("SELECT pg_database_size(:name)", name=name)
    return int(str(rows[0][0])) / 2**20


def server_version() -> str:
    return str(_admin("SHOW server_version")[0][0])


@contextmanager
def scratch_database(name: str) -> Iterator[str]:
    """A new empty database, dropped afterwards whatever happens."""
    drop_database(name)
    create_database(name)
    try:
        yield name
    finally:
        drop_database(name)


# --- pgbench ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PgbenchResult:
    version: str
    scale: int
    clients: int
    threads: int
    seconds: int
    tps: float


def _connection_args() -> list[str]:
    host, port = SERVER_URL.host or "127.0.0.1", str(SERVER_URL.port or 5432)
    return ["-h", host, "-p", port, "-U", SERVER_URL.username or "postgres"]


def _pgbench(*args: str, timeout: float) -> str:
    executable = shutil.which("pgbench")
    if executable is None:
        raise RuntimeError("pgbench is not installed (Debian: apt-get install postgresql-client)")
    env = {**os.environ, "PGPASSWORD": SERVER_URL.password} if SERVER_URL.password else None
    done = subprocess.run([executable, *args], capture_output=True, text=True, timeout=timeout, check=True, env=env)
    return done.stdout + done.stderr


def parse_tps(output: str) -> float:
    """The tps pgbench reports (the figure without initial connection time)."""
    match = TPS_LINE.search(output)
    if match is None:
        raise RuntimeError(f"pgbench printed no tps line:\n{output}")
    return float(match.group(1))


def run_pgbench(*, seconds: int, clients: int = 8, threads: int = 2, scale: int = 1) -> PgbenchResult:
    """TPC-B-like tps of this server on a scratch database, dropped afterwards."""
    with scratch_database(PGBENCH_DATABASE) as name:
        _pgbench(*_connection_args(), "-i", "-q", "-s", str(scale), name, timeout=300)
        load = ["-c", str(clients), "-j", str(threads), "-T", str(seconds)]
        output = _pgbench(*_connection_args(), *load, name, timeout=seconds + 120)
    version = _pgbench("--version", timeout=30).strip()
    return PgbenchResult(version, scale, clients, threads, seconds, parse_tps(output))
