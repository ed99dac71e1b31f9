"""The database and the real server in a subprocess, and the CPU it spends, read from /proc."""

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from core.db import Database
from evals.bench.web_load.figures import Resources
from evals.common.company import BUSINESS_DATE
from evals.common.datasets import DatasetSpec, PostgresStore, SqliteStore, Store, dataset
from evals.common.served import free_port

REPO_DIR = Path(__file__).resolve().parents[3]
READY_TIMEOUT_S = 180.0


# --- The database and the server ---------------------------------------------------------------


@contextmanager
def demo_database(backend: str, workdir: Path) -> Iterator[tuple[str, Database]]:
    """A fresh demo company (default size) on `backend`: (its URL, its Database); dropped afterwards."""
    store: Store = (
        PostgresStore(work=f"erp_bench_web_{os.getpid()}") if backend == "postgresql" else SqliteStore(workdir, workdir)
    )
    with dataset(store, DatasetSpec(items=500, history_months=12, seed=7), cache_dir=None, pool_size=2) as (db, _):
        yield store.url(store.work_name()), db


@dataclass
class Server:
    process: "subprocess.Popen[bytes]"
    base_url: str
    log: Path
    workers: int
    seen: set[int] = field(default_factory=set)  # every worker process it has had

    def worker_pids(self) -> list[int]:
        """The processes that serve requests: uvicorn's spawned workers, or uvicorn itself with one worker."""
        if self.workers == 1:
            return [self.process.pid]
        found = sorted(
            pid
            for pid, (_, parent, _) in _processes().items()
            if parent == self.process.pid and b"spawn_main" in _cmdline(pid)
        )
        self.seen.update(found)
        return found

    @property
    def restarts(self) -> int:
        """Workers that died and were replaced (uvicorn restarts a worker that exits)."""
        return max(0, len(self.seen) - self.workers)

    def problems(self) -> list[str]:
        """The end of the server's log (its last 80 lines) if it reports an error or a traceback."""
        if not self.log.exists():
            return []
        lines = self.log.read_text(errors="replace").splitlines()
        return lines[-80:] if any("Traceback" in ln or "ERROR" in ln for ln in lines) else []


def server_env(database_url: str, data_dir: Path, *, model: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("ERP_MODEL_SLOTS", "ERP_WIDGET_ORIGINS")}
    env.update(
        ERP_DATABASE_URL=database_url,
        ERP_DATA_DIR=str(data_dir),
        ERP_TODAY=os.environ.get("ERP_TODAY", BUSINESS_DATE),
        ERP_TURNS_PER_MINUTE="100000",
        CHROMA_HOST="",
        PYTHONUNBUFFERED="1",
    )
    if model is None:
        env.pop("ERP_ASSISTANT_MODEL", None)
    else:
        env["ERP_ASSISTANT_MODEL"] = model
    return env


@contextmanager
def running_server(env: dict[str, str], workers: int, workdir: Path) -> Iterator[Server]:
    """`uvicorn assistant.channels.web.app:app_from_env --factory` on a free loopback port, stopped afterwards."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "assistant.channels.web.app:app_from_env",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        "warning",
    ]
    log = workdir / f"server-{port}.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(command, cwd=REPO_DIR, env=env, stdout=sink, stderr=subprocess.STDOUT)
    server = Server(process, f"http://127.0.0.1:{port}", log, workers)
    try:
        yield server
    finally:
        stop(process)


def stop(process: "subprocess.Popen[bytes]") -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


async def wait_ready(server: Server) -> dict[str, Any]:
    """Poll /readyz until it answers 200; the body's checks."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    async with httpx.AsyncClient(base_url=server.base_url, timeout=5) as client:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                tail = "\n".join(server.log.read_text(errors="replace").splitlines()[-30:])
                raise RuntimeError(f"the server exited with {server.process.returncode}:\n{tail}")
            with suppress(httpx.HTTPError):
                response = await client.get("/readyz")
                if response.status_code == 200:
                    body: dict[str, Any] = response.json()
                    return body
            await asyncio.sleep(0.2)
    raise RuntimeError(f"the server was not ready within {READY_TIMEOUT_S:.0f} s")


# --- CPU from /proc -------------------------------------------------------------------------------

TICKS = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> tuple[str, list[str]]:
    text = Path(f"/proc/{pid}/stat").read_text()
    name = text[text.index("(") + 1 : text.rindex(")")]
    return name, text[text.rindex(")") + 2 :].split()


def _processes() -> dict[int, tuple[str, int, float]]:
    """pid -> (name, parent pid, CPU seconds so far) of every process we may read."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with suppress(OSError, ValueError, IndexError):
                name, fields = _stat_fields(int(entry.name))
                found[int(entry.name)] = (name, int(fields[1]), (int(fields[11]) + int(fields[12])) / TICKS)
    return found


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def cpu_of(pid: int) -> float:
    """CPU seconds the process has used so far (0 once it is gone)."""
    try:
        _, fields = _stat_fields(pid)
    except (OSError, ValueError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def _tree_cpu(processes: dict[int, tuple[str, int, float]], root: int) -> float:
    children: dict[int, list[int]] = {}
    for pid, (_, parent, _) in processes.items():
        children.setdefault(parent, []).append(pid)
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        if pid in processes:
            total += processes[pid][2]
        todo.extend(children.get(pid, []))
    return total


def _machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all cores since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return sum(values) - idle, sum(values)


@dataclass(frozen=True)
class CpuSnapshot:
    at: float
    server: float
    workers: dict[int, float]
    postgres: float
    bench: float
    machine: tuple[int, int]


def cpu_snapshot(server: Server) -> CpuSnapshot:
    processes = _processes()
    postgres_cpu = sum(cpu for name, _, cpu in processes.values() if name == "postgres")
    workers = {pid: cpu_of(pid) for pid in server.worker_pids()}
    return CpuSnapshot(
        time.monotonic(),
        _tree_cpu(processes, server.process.pid),
        workers,
        postgres_cpu,
        time.process_time(),
        _machine_ticks(),
    )


def resources_between(before: CpuSnapshot, after: CpuSnapshot, backend: str) -> Resources:
    wall = max(after.at - before.at, 1e-9)
    busy, total = after.machine[0] - before.machine[0], after.machine[1] - before.machine[1]
    machine = 100 * busy / total if total else 0.0
    server, bench = 100 * (after.server - before.server) / wall, 100 * (after.bench - before.bench) / wall
    postgres_cpu = 100 * (after.postgres - before.postgres) / wall if backend == "postgresql" else 0.0
    return Resources(
        server_percent=server,
        server_cpu_s=after.server - before.server,
        worker_percent=[100 * (cpu - before.workers.get(pid, 0.0)) / wall for pid, cpu in after.workers.items()],
        postgres_percent=postgres_cpu,
        bench_percent=bench,
        machine_busy_percent=machine,
        others_percent=max(0.0, machine * (os.cpu_count() or 1) - server - postgres_cpu - bench),
    )
