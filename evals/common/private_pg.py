"""A private PostgreSQL cluster to stop, start and restart without touching the shared server.

    with private_cluster() as cluster:
        url = cluster.create_database("erp")
        cluster.restart(pause_s=2.0)

`initdb` makes a throw-away cluster in a temporary folder; it listens on a free loopback port and
its own Unix socket folder, trusts local connections, and is removed afterwards whatever happens.
PostgreSQL refuses to run as root, so as root every server command runs as the `postgres` user
(the folder is handed to it). The shared server on 127.0.0.1:5432 is never touched.
"""

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from sqlalchemy import text

from core.db import make_engine
from evals.common.served import free_port

PG_LIB = Path("/usr/lib/postgresql")
SERVER_USER = "postgres"
COMMAND_TIMEOUT_S = 60.0
StopMode = Literal["smart", "fast", "immediate"]


class ClusterError(RuntimeError):
    """A server command of the private cluster failed; the message carries the end of its log."""


def postgres_bin() -> Path:
    """The newest installed PostgreSQL's bin folder (Debian keeps one per major version)."""
    versions = sorted((p for p in PG_LIB.glob("*/bin") if (p / "initdb").exists()), key=_major, reverse=True)
    if not versions:
        raise ClusterError(f"no PostgreSQL server binaries under {PG_LIB} (Debian: apt-get install postgresql)")
    return versions[0]


def _major(bin_dir: Path) -> int:
    name = bin_dir.parent.name
    return int(name) if name.isdigit() else 0


@dataclass
class PrivateCluster:
    """One private cluster: its folder, port and server binaries."""

    root: Path
    port: int
    bin_dir: Path

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_file(self) -> Path:
        return self.root / "server.log"

    def url(self, database: str = "postgres") -> str:
        """A SQLAlchemy URL (psycopg 3) for `database` on this cluster, over TCP on loopback."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def init(self) -> None:
        """Create the cluster's files (trust authentication, superuser `postgres`)."""
        self._run("initdb", "-D", str(self.data_dir), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=60"
        self._run("pg_ctl", "-D", str(self.data_dir), "-o", options, "-l", str(self.log_file), "-w", "start")

    def stop(self, mode: StopMode = "fast") -> None:
        """Stop the server: `fast` ends sessions and checkpoints, `immediate` is a crash (recovery on start)."""
        self._run("pg_ctl", "-D", str(self.data_dir), "-m", mode, "-w", "stop")

    def restart(self, *, pause_s: float = 0.0, mode: StopMode = "fast") -> tuple[float, float]:
        """Stop, stay down for `pause_s`, start again; (monotonic time it went down, time it was back)."""
        self.stop(mode)
        down = time.monotonic()
        time.sleep(pause_s)
        self.start()
        return down, time.monotonic()

    def is_running(self) -> bool:
        done = subprocess.run(
            self._as_server_user([str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "status"]),
            capture_output=True,
            timeout=COMMAND_TIMEOUT_S,
            check=False,
        )
        return done.returncode == 0

    def create_database(self, name: str, *, template: str | None = None) -> str:
        """A new database on this cluster; its URL."""
        clause = f' TEMPLATE "{template}"' if template else ""
        engine = make_engine(self.url(), isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{name}"{clause}'))
        finally:
            engine.dispose()
        return self.url(name)

    def _run(self, program: str, *args: str) -> None:
        command = self._as_server_user([str(self.bin_dir / program), *args])
        done = subprocess.run(command, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False)
        if done.returncode != 0:
            raise ClusterError(f"{program} failed ({done.returncode}): {done.stderr.strip()}\n{self._log_tail()}")

    def _as_server_user(self, command: Sequence[str]) -> list[str]:
        return ["runuser", "-u", SERVER_USER, "--", *command] if os.geteuid() == 0 else list(command)

    def _log_tail(self, lines: int = 20) -> str:
        if not self.log_file.exists():
            return ""
        return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])


def _hand_to_server_user(root: Path) -> None:
    """As root, the folder must belong to the user the server runs as."""
    if os.geteuid() == 0:
        account = pwd.getpwnam(SERVER_USER)
        os.chown(root, account.pw_uid, account.pw_gid)


@contextmanager
def private_cluster(port: int | None = None) -> Iterator[PrivateCluster]:
    """A new private cluster, started; stopped (immediately) and deleted afterwards whatever happens."""
    root = Path(tempfile.mkdtemp(prefix="erp-pg-"))
    cluster = PrivateCluster(root, port or free_port(), postgres_bin())
    try:
        _hand_to_server_user(root)
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        if cluster.data_dir.exists() and cluster.is_running():
            cluster.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)
