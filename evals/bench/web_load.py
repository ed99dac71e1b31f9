"""The web service under load, measured from a second process over loopback.

    .venv/bin/python -m evals.bench.web_load [--users 50] [--turns 3] [--workers 1 2]
        [--backend postgresql|sqlite] [--think-ms 0 [10000]] [--local-model] [--local-users 4] [--out evals/results]

For each worker count it loads the demo company into a fresh database, starts the real server
(`uvicorn assistant.http.app:app_from_env --factory`) as a subprocess on a free loopback port,
with the scripted model `evals.common.scripted_load.bench_script` (its replies cost nothing, so the figures are the
service's own cost), and drives it with httpx from this process: `--users` staff users, each signed in
with its own session and conversation, send `--turns` messages in sequence and read the SSE stream,
while two managers poll their approvals inbox and approve the transfers the users drafted.
It times the first event and the `answer` event of every turn, the approvals, and counts errors.
`--local-model` adds a small run on the default local model: a few users asking one stock question
each at once, for the time to the first token and the queue positions they were shown.
Every database and server it starts is gone at the end. Results: evals/results/web_load-latest.{md,json}.
"""

import argparse
import asyncio
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console

from assistant.llm.weights import model_path
from core.db import Database
from core.demo.directory import USERS
from core.settings import data_dir
from evals.common.datasets import DatasetSpec, PostgresStore, SqliteStore, Store, dataset
from evals.common.measures import Latency, summarize
from evals.common.tables import Grid, to_rich
from evals.common.scripted_load import SCRIPTED_MODEL, STOCK_SKU, STOCK_WAREHOUSE, TRANSFER_TEXT, prepare_accounts
from evals.common.served import Signed, error_code, free_port, new_conversation, sign_in
from evals.common.sse import SseStream
from evals.common.tables import machine_facts
from evals.common.results import results_page, write_results

REPO_DIR = Path(__file__).resolve().parents[2]
RESULTS_DIR = REPO_DIR / "evals" / "results"
BUSINESS_DATE = "2026-11-20"  # the demo company's business date (core.demo builds it as of ERP_TODAY)
ANSWER_P95_TARGET_MS = 300.0
STAFF_ROLES = ("sales", "warehouse")
MANAGERS = ("maria", "grace")  # both approve NA transfers; each takes every other draft number
LOCAL_QUESTIONS = (
    "How many V-200 do we have in Atlanta?",
    "what's available of V-200 at DAL",
    "is there any V-200 left in ATL today?",
    "stock of V-220 in Dallas",
)
POLL_SECONDS = 0.25  # how often a manager with nothing to approve looks at the inbox again
READY_TIMEOUT_S = 180.0
WARM_UP_FAST_S = 1.0  # warm-up rounds go on until every turn of one round answers within this
WARM_UP_LIMIT_S = 120.0
DRAIN_LIMIT_S = 60.0  # how long managers may keep approving after the last user finished


# --- Figures -------------------------------------------------------------------------------------


def spread(seconds: Sequence[float]) -> Latency | None:
    """p50, p95, mean and max in ms (nearest rank, as the other benchmarks), or None without values."""
    return summarize(seconds) if seconds else None


@dataclass
class TurnTiming:
    """One message sent and its SSE stream read; times in seconds from sending it."""

    user: int
    account: str
    turn: int
    kind: str  # "stock" or "transfer"
    first_event_s: float | None = None
    started_s: float | None = None
    first_token_s: float | None = None
    answer_s: float | None = None
    done_s: float | None = None
    queued: list[int] = field(default_factory=list)
    tools: list[str] = field(default_factory=list)
    answer: str = ""
    drafts: list[str] = field(default_factory=list)  # "DR-7:pending_approval", from the `draft` events
    error: str | None = None


@dataclass
class ManagerTally:
    polls: list[float] = field(default_factory=list)
    approvals: list[float] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    approved: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Resources:
    """CPU over the load phase, in % of one core (100 = one core busy the whole time)."""

    server_percent: float  # the uvicorn process and its workers
    server_cpu_s: float  # ... in CPU seconds over the load phase
    worker_percent: list[float]  # each worker's share (how evenly the connections spread)
    postgres_percent: float  # every `postgres` process on the machine (0 on SQLite)
    bench_percent: float  # this load generator
    machine_busy_percent: float  # all cores together, 100 = every core busy
    others_percent: float  # the rest of the machine's busy time: other work competing with the figures


@dataclass(frozen=True)
class ConfigResult:
    label: str
    backend: str
    workers: int
    users: int
    turns_per_user: int
    think_ms: int
    model_slots: str  # what /readyz says about the model gate
    warm_up_s: float
    sign_in: Latency | None
    seconds: float  # from the start signal to the last user's last answer
    drain_seconds: float  # ... to the managers' last approval
    turns_sent: int
    turns_answered: int
    turns_per_second: float
    first_event: Latency | None
    answer: Latency | None
    done: Latency | None
    turns_queued: int  # turns told `queued` at least once (the server's model gate was full)
    max_queue_position: int
    transfers_drafted: int
    approvals: int
    approvals_per_second: float
    approval: Latency | None
    inbox_poll: Latency | None
    draft_outcomes: dict[str, int]
    errors: int
    error_kinds: dict[str, int]
    resources: Resources
    worker_restarts: int  # server workers that died and were replaced, start-up included
    server_log_problems: list[str]
    slowest: list[TurnTiming]  # the five slowest turns to an answer (or to their end), for a closer look


@dataclass(frozen=True)
class LocalUser:
    account: str
    question: str
    queued: list[int]
    first_event_s: float | None
    started_s: float | None
    first_token_s: float | None
    answer_s: float | None
    tools: list[str]
    answer: str
    error: str | None


@dataclass(frozen=True)
class LocalResult:
    backend: str
    model: str
    warm_up_s: float  # model load, prompt prefix and one whole turn, before the users start
    users: list[LocalUser]
    first_token: Latency | None
    answer: Latency | None
    queue_wait: Latency | None  # sending to `started`
    own_turn: Latency | None  # `started` to `answer`: the turn itself, without the queue
    errors: int
    resources: Resources  # while the users' turns ran (postgres not counted apart: in "others")
    server_log_problems: list[str]


@dataclass(frozen=True)
class Settings:
    users: int
    turns: int
    workers: tuple[int, ...]
    backend: str
    think_ms: tuple[int, ...]
    local_model: bool
    local_users: int
    scripted: bool
    out: str
    command: str


@dataclass(frozen=True)
class Target:
    target: str
    measured: str
    limit: str
    passed: bool


@dataclass(frozen=True)
class WebLoadRun:
    settings: Settings
    machine: dict[str, Any]
    configs: list[ConfigResult]
    local: LocalResult | None
    local_skipped: str | None
    targets: list[Target]
    wall_seconds: float


# --- Who asks what ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """One virtual user: a demo account (several virtual users share one) and the messages it sends."""

    index: int
    account: str
    entity: str
    messages: tuple[tuple[str, str], ...]  # (kind, text)


def staff_accounts() -> list[tuple[str, str]]:
    """(username, entity) of the demo's sales and warehouse users, in the directory's order."""
    return [
        (u.username, u.entities[0])
        for u in USERS
        if len(u.entities) == 1 and any(r.value in STAFF_ROLES for r in u.roles)
    ]


def plans(users: int, turns: int) -> list[Plan]:
    """Users spread round-robin over the staff accounts. Each asks about stock in its entity's
    warehouse; NA users draft the over-limit transfer in their second message (or their only one)."""
    accounts = staff_accounts()
    made = []
    for index in range(users):
        account, entity = accounts[index % len(accounts)]
        transfer_turn = min(1, turns - 1) if entity == "NA" else -1
        stock = f"How many {STOCK_SKU} can we promise from {STOCK_WAREHOUSE[entity]}?"
        messages = tuple(("transfer", TRANSFER_TEXT) if t == transfer_turn else ("stock", stock) for t in range(turns))
        made.append(Plan(index, account, entity, messages))
    return made


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
    """`uvicorn assistant.http.app:app_from_env --factory` on a free loopback port, stopped afterwards."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "assistant.http.app:app_from_env",
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


def _cpu_of(pid: int) -> float:
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
    workers = {pid: _cpu_of(pid) for pid in server.worker_pids()}
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


# --- Talking to the service ---------------------------------------------------------------------


def _take(timing: TurnTiming, name: str, data: str, at: float) -> None:
    """Note one SSE frame of a turn."""
    if timing.first_event_s is None:
        timing.first_event_s = at
    if name == "queued":
        timing.queued.append(int(json.loads(data)["position"]))
    elif name == "started":
        timing.started_s = at
    elif name == "token":
        if timing.first_token_s is None:
            timing.first_token_s = at
    elif name == "tool_call":
        timing.tools.append(str(json.loads(data)["name"]))
    elif name == "draft":
        card = json.loads(data)  # the draft as the turn made it (the answer's cards may be approved already)
        timing.drafts.append(f"{card['number']}:{card['status']}")
    elif name == "answer":
        answer = json.loads(data)
        timing.answer_s = at
        timing.answer = str(answer["text"])
        if answer.get("stopped"):
            timing.error = f"answer stopped: {answer['stopped']}"
    elif name == "error":
        timing.error = f"error event: {json.loads(data).get('code')}"
    elif name == "done":
        timing.done_s = at


async def send_turn(signed: Signed, conversation: str, timing: TurnTiming, text: str) -> TurnTiming:
    """POST one message and read its event stream to the end."""
    started = time.perf_counter()
    try:
        async with signed.client.stream(
            "POST", f"/api/conversations/{conversation}/messages", json={"text": text}, headers=signed.headers
        ) as response:
            if response.status_code != 200:
                await response.aread()
                timing.error = f"send: HTTP {response.status_code} {error_code(response)}".rstrip()
                return timing
            stream = SseStream()
            async for line in response.aiter_lines():
                if (frame := stream.feed(line)) is not None:
                    _take(timing, *frame, time.perf_counter() - started)
    except (httpx.HTTPError, ValueError, KeyError) as error:
        timing.error = f"{type(error).__name__} while streaming"
    if timing.error is None and timing.answer_s is None:
        timing.error = "no answer event"
    if (
        timing.error is None
        and timing.kind == "transfer"
        and not any(d.endswith(":pending_approval") for d in timing.drafts)
    ):
        timing.error = f"the transfer's draft was {timing.drafts or 'missing'}, not pending_approval"
    return timing


# --- The scripted load -----------------------------------------------------------------------------


async def settled_workers(server: Server) -> list[int]:
    """Wait until every worker is up and idle (done starting: imports, pools, the conversation store)."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        pids = server.worker_pids()
        before = {pid: _cpu_of(pid) for pid in pids}
        await asyncio.sleep(0.5)
        busy = [pid for pid in pids if _cpu_of(pid) - before[pid] > 0.05]
        if len(pids) == server.workers and not busy and server.worker_pids() == pids:
            return pids
    raise RuntimeError(f"the server's {server.workers} workers did not settle within {READY_TIMEOUT_S:.0f} s")


async def warm_up(server: Server, username: str, password: str) -> float:
    """Untimed rounds of concurrent turns, each on a new connection, until one round answers within
    WARM_UP_FAST_S with every worker taking part and no worker replaced meanwhile: each worker has then
    imported litellm and the script and opened its pools. Seconds taken."""
    began = time.perf_counter()
    width = 4 * server.workers
    signed, _ = await sign_in(server.base_url, username, password, keep_alive=False)
    try:
        conversations = [await new_conversation(signed) for _ in range(width)]
        pids, rounds = await settled_workers(server), 0
        while time.perf_counter() - began < WARM_UP_LIMIT_S:
            before = {pid: _cpu_of(pid) for pid in pids}
            turns = [TurnTiming(-1, username, rounds, "stock") for _ in conversations]
            text = f"How many {STOCK_SKU} can we promise from ATL?"
            done = await asyncio.gather(
                *(send_turn(signed, c, t, text) for c, t in zip(conversations, turns, strict=True))
            )
            rounds += 1
            failed = [t.error for t in done if t.error]
            if failed:
                raise RuntimeError(f"warm-up turns failed: {Counter(failed).most_common(3)}")
            if server.worker_pids() != pids:  # a worker died and is starting again
                pids, rounds = await settled_workers(server), 0
                continue
            everyone = all(_cpu_of(pid) - before[pid] > 0.01 for pid in pids)
            if rounds >= 2 and everyone and max(t.done_s or 0.0 for t in done) < WARM_UP_FAST_S:
                return time.perf_counter() - began
    finally:
        await signed.client.aclose()
    raise RuntimeError(f"the server did not answer fast on every worker within {WARM_UP_LIMIT_S:.0f} s")


async def run_user(
    signed: Signed, conversation: str, plan: Plan, go: asyncio.Event, think_s: float, users: int
) -> tuple[list[TurnTiming], float]:
    """The user's messages one after another once `go` is set; (timings, when it finished).
    With a think time, users start spread evenly over one think time, as people do, not all at once."""
    await go.wait()
    if think_s:
        await asyncio.sleep(think_s * plan.index / users)
    timings = []
    for turn, (kind, text) in enumerate(plan.messages):
        if turn and think_s:
            await asyncio.sleep(think_s)
        timing = TurnTiming(plan.index, plan.account, turn, kind)
        timings.append(await send_turn(signed, conversation, timing, text))
    return timings, time.perf_counter()


def _draft_number(number: str) -> int:
    digits = number.rsplit("-", 1)[-1]
    return int(digits) if digits.isdigit() else 0


async def run_manager(
    signed: Signed, index: int, count: int, go: asyncio.Event, users_done: asyncio.Event
) -> tuple[ManagerTally, float]:
    """Poll the approvals inbox and approve this manager's share of what waits (every `count`-th draft
    number), until the users are done and nothing of its share is left; (tally, when it finished)."""
    tally = ManagerTally()
    await go.wait()
    deadline: float | None = None
    while True:
        finished = users_done.is_set()
        if finished and deadline is None:
            deadline = time.monotonic() + DRAIN_LIMIT_S
        started = time.perf_counter()
        try:
            response = await signed.client.get("/api/approvals")
        except httpx.HTTPError as error:
            tally.errors[f"inbox: {type(error).__name__}"] += 1
            await asyncio.sleep(POLL_SECONDS)
            continue
        tally.polls.append(time.perf_counter() - started)
        if response.status_code != 200:
            tally.errors[f"inbox: HTTP {response.status_code} {error_code(response)}"] += 1
            await asyncio.sleep(POLL_SECONDS)
            continue
        mine = [d["number"] for d in response.json()["drafts"] if _draft_number(d["number"]) % count == index]
        for number in mine:
            await approve(signed, number, tally)
        if finished and not mine:
            break
        if deadline is not None and time.monotonic() > deadline:
            tally.errors["drafts still waiting after the drain limit"] += len(mine)
            break
        if not mine:
            await asyncio.sleep(POLL_SECONDS)
    return tally, time.perf_counter()


async def approve(signed: Signed, number: str, tally: ManagerTally) -> None:
    started = time.perf_counter()
    try:
        response = await signed.client.post(
            f"/api/drafts/{number}/approve", json={"comment": "load test"}, headers=signed.headers
        )
    except httpx.HTTPError as error:
        tally.errors[f"approve: {type(error).__name__}"] += 1
        return
    seconds = time.perf_counter() - started
    if response.status_code != 200:
        tally.errors[f"approve: HTTP {response.status_code} {error_code(response)}"] += 1
        return
    tally.approvals.append(seconds)
    tally.approved.append(number)
    status = str(response.json()["status"])
    tally.outcomes[status] += 1
    if status != "executed":
        tally.errors[f"approved draft ended {status}: {response.json().get('failure_reason')}"] += 1


@dataclass
class LoadOutcome:
    sign_ins: list[float]
    timings: list[TurnTiming]
    managers: list[ManagerTally]
    seconds: float
    drain_seconds: float
    resources: Resources


async def drive(
    server: Server, run: Settings, password: str, think_ms: int
) -> tuple[LoadOutcome, float, dict[str, Any]]:
    ready = await wait_ready(server)
    warm_up_s = await warm_up(server, "sam", password)
    everyone = plans(run.users, run.turns)
    signed_users = await asyncio.gather(*(sign_in(server.base_url, p.account, password) for p in everyone))
    conversations = await asyncio.gather(*(new_conversation(s) for s, _ in signed_users))
    signed_managers = [await sign_in(server.base_url, name, password) for name in MANAGERS]
    go, users_done = asyncio.Event(), asyncio.Event()
    users = [
        asyncio.create_task(run_user(s, c, p, go, think_ms / 1000, run.users))
        for (s, _), c, p in zip(signed_users, conversations, everyone, strict=True)
    ]
    managers = [
        asyncio.create_task(run_manager(s, i, len(MANAGERS), go, users_done))
        for i, (s, _) in enumerate(signed_managers)
    ]
    before = cpu_snapshot(server)
    began = time.perf_counter()
    go.set()
    user_results = await asyncio.gather(*users)
    users_done.set()
    manager_results = await asyncio.gather(*managers)
    after = cpu_snapshot(server)
    for signed, _ in [*signed_users, *signed_managers]:
        await signed.client.aclose()
    outcome = LoadOutcome(
        sign_ins=[seconds for _, seconds in signed_users],
        timings=[t for timings, _ in user_results for t in timings],
        managers=[tally for tally, _ in manager_results],
        seconds=max(end for _, end in user_results) - began,
        drain_seconds=max([end for _, end in user_results] + [end for _, end in manager_results]) - began,
        resources=resources_between(before, after, run.backend),
    )
    return outcome, warm_up_s, ready


def summarize_config(
    run: Settings,
    workers: int,
    think_ms: int,
    outcome: LoadOutcome,
    warm_up_s: float,
    ready: dict[str, Any],
    server: Server,
) -> ConfigResult:
    log, restarts = server.problems(), server.restarts
    timings = outcome.timings
    answered = [t for t in timings if t.answer_s is not None and t.error is None]
    errors: Counter[str] = Counter(t.error for t in timings if t.error)
    for tally in outcome.managers:
        errors += tally.errors
    drafted = sorted({d.split(":")[0] for t in timings for d in t.drafts})
    approved = sorted(n for tally in outcome.managers for n in tally.approved)
    missing = set(drafted) - set(approved)
    if missing:
        errors["drafts never approved"] += len(missing)
    outcomes = sum((tally.outcomes for tally in outcome.managers), Counter[str]())
    approvals = [s for tally in outcome.managers for s in tally.approvals]
    queued = [max(t.queued) for t in timings if t.queued]
    return ConfigResult(
        label=f"{workers} worker{'s' if workers > 1 else ''}, {run.backend}"
        + (f", think {think_ms / 1000:g} s" if think_ms else ""),
        backend=run.backend,
        workers=workers,
        users=run.users,
        turns_per_user=run.turns,
        think_ms=think_ms,
        model_slots=str(ready.get("checks", {}).get("model", "")),
        warm_up_s=warm_up_s,
        sign_in=spread(outcome.sign_ins),
        seconds=outcome.seconds,
        drain_seconds=outcome.drain_seconds,
        turns_sent=len(timings),
        turns_answered=len(answered),
        turns_per_second=len(answered) / outcome.seconds,
        first_event=spread([t.first_event_s for t in timings if t.first_event_s is not None]),
        answer=spread([t.answer_s for t in answered if t.answer_s is not None]),
        done=spread([t.done_s for t in timings if t.done_s is not None]),
        turns_queued=len(queued),
        max_queue_position=max(queued, default=0),
        transfers_drafted=len(drafted),
        approvals=len(approvals),
        approvals_per_second=len(approvals) / outcome.drain_seconds,
        approval=spread(approvals),
        inbox_poll=spread([s for tally in outcome.managers for s in tally.polls]),
        draft_outcomes=dict(outcomes),
        errors=sum(errors.values()),
        error_kinds=dict(errors.most_common()),
        resources=outcome.resources,
        worker_restarts=restarts,
        server_log_problems=log,
        slowest=sorted(timings, key=lambda t: -(t.answer_s or t.done_s or 0.0))[:5],
    )


def measure_config(console: Console, run: Settings, workers: int, think_ms: int) -> ConfigResult:
    """One configuration: fresh database, fresh server with `workers` workers, the load, the figures."""
    everyone = plans(run.users, run.turns)
    transfers = sum(kind == "transfer" for p in everyone for kind, _ in p.messages)
    accounts = sorted({p.account for p in everyone} | set(MANAGERS) | {"sam"})
    password = secrets.token_urlsafe(18)
    with tempfile.TemporaryDirectory(prefix="web_load-") as folder:
        workdir = Path(folder)
        console.log(f"{run.backend}, {workers} worker(s): loading the demo company")
        with demo_database(run.backend, workdir) as (url, db):
            prepare_accounts(db, accounts, password, transfers)
            env = server_env(url, workdir / "data", model=SCRIPTED_MODEL)
            console.log(f"{run.backend}, {workers} worker(s): starting the server")
            with running_server(env, workers, workdir) as server:
                outcome, warm_up_s, ready = asyncio.run(drive(server, run, password, think_ms))
            return summarize_config(run, workers, think_ms, outcome, warm_up_s, ready, server)


# --- The local model -------------------------------------------------------------------------------


def local_model_reason() -> str | None:
    """Why the local model cannot run here (None if it can)."""
    from assistant.llm.local import unavailable_reason

    return unavailable_reason()


def local_env(url: str, workdir: Path) -> dict[str, str]:
    """The server's environment for the local model: the weights and prefix cache of this checkout's data
    folder (so the prompt prefix is computed once, not on every run), everything else in `workdir`."""
    env = server_env(url, workdir / "data", model=None)
    env["ERP_LOCAL_MODEL_PATH"] = str(model_path().resolve())
    shared = data_dir() / "models" / "prefix-cache"
    shared.mkdir(parents=True, exist_ok=True)
    (workdir / "data" / "models").mkdir(parents=True, exist_ok=True)
    (workdir / "data" / "models" / "prefix-cache").symlink_to(shared, target_is_directory=True)
    return env


async def drive_local(
    server: Server, password: str, users: int
) -> tuple[float, list[TurnTiming], list[str], Resources]:
    """One untimed warm-up turn (waits for the model and its prefix), then `users` stock questions at once."""
    await wait_ready(server)
    began = time.perf_counter()
    signed, _ = await sign_in(server.base_url, "sam", password)
    conversation = await new_conversation(signed)
    warm = await send_turn(signed, conversation, TurnTiming(-1, "sam", 0, "stock"), LOCAL_QUESTIONS[0])
    await signed.client.aclose()
    if warm.error:
        raise RuntimeError(f"the local model's warm-up turn failed: {warm.error}")
    warm_up_s = time.perf_counter() - began
    accounts = ["sam", "wes"]
    questions = [LOCAL_QUESTIONS[i % len(LOCAL_QUESTIONS)] for i in range(users)]
    signed_users = [(await sign_in(server.base_url, accounts[i % 2], password))[0] for i in range(users)]
    conversations = [await new_conversation(s) for s in signed_users]
    before = cpu_snapshot(server)
    timings = await asyncio.gather(
        *(
            send_turn(s, c, TurnTiming(i, accounts[i % 2], 0, "stock"), q)
            for i, (s, c, q) in enumerate(zip(signed_users, conversations, questions, strict=True))
        )
    )
    after = cpu_snapshot(server)
    for s in signed_users:
        await s.client.aclose()
    return warm_up_s, list(timings), questions, resources_between(before, after, "sqlite")


def measure_local(console: Console, run: Settings) -> LocalResult:
    password = secrets.token_urlsafe(18)
    with tempfile.TemporaryDirectory(prefix="web_load-local-") as folder:
        workdir = Path(folder)
        console.log(f"local model, {run.backend}: loading the demo company")
        with demo_database(run.backend, workdir) as (url, db):
            prepare_accounts(db, ["sam", "wes"], password, transfers=0)
            env = local_env(url, workdir)
            console.log(f"local model: starting the server, then {run.local_users} users at once")
            with running_server(env, 1, workdir) as server:
                warm_up_s, timings, questions, resources = asyncio.run(drive_local(server, password, run.local_users))
            log = server.problems()
    rows = [
        LocalUser(
            t.account,
            q,
            t.queued,
            t.first_event_s,
            t.started_s,
            t.first_token_s,
            t.answer_s,
            t.tools,
            t.answer,
            t.error,
        )
        for t, q in zip(timings, questions, strict=True)
    ]
    return LocalResult(
        backend=run.backend,
        model="local (default): " + os.path.basename(env["ERP_LOCAL_MODEL_PATH"]),
        warm_up_s=warm_up_s,
        users=rows,
        first_token=spread([t.first_token_s for t in timings if t.first_token_s is not None]),
        answer=spread([t.answer_s for t in timings if t.answer_s is not None]),
        queue_wait=spread([t.started_s for t in timings if t.started_s is not None]),
        own_turn=spread(
            [t.answer_s - t.started_s for t in timings if t.answer_s is not None and t.started_s is not None]
        ),
        errors=sum(1 for t in timings if t.error),
        resources=resources,
        server_log_problems=log,
    )


# --- Report ---------------------------------------------------------------------------------------


def targets_of(configs: Sequence[ConfigResult]) -> list[Target]:
    made = []
    for c in configs:
        p95 = c.answer.p95_ms if c.answer else float("inf")
        made.append(
            Target(
                f"p95 time to final answer, {c.users} users x {c.turns_per_user} turns, {c.label}",
                f"{p95:.0f} ms",
                f"<= {ANSWER_P95_TARGET_MS:.0f} ms",
                p95 <= ANSWER_P95_TARGET_MS,
            )
        )
        made.append(Target(f"errors, {c.label}", str(c.errors), "0", c.errors == 0))
    return made


def _ms(s: Latency | None, *parts: str) -> tuple[str, ...]:
    if s is None:
        return tuple("-" for _ in parts)
    return tuple(f"{getattr(s, p + '_ms'):.0f}" for p in parts)


def grids(result: WebLoadRun) -> list[Grid]:
    made = []
    if result.targets:
        made.append(
            Grid(
                "Targets",
                ("target", "measured", "limit", "result"),
                tuple((t.target, t.measured, t.limit, "PASS" if t.passed else "FAIL") for t in result.targets),
            )
        )
    if result.configs:
        made.append(
            Grid(
                "Chat turns, scripted model (ms from sending the message)",
                (
                    "config",
                    "users",
                    "turns",
                    "wall s",
                    "turns/s",
                    "first event p50",
                    "p95",
                    "max",
                    "answer p50",
                    "p95",
                    "max",
                    "queued turns",
                    "errors",
                ),
                tuple(
                    (
                        c.label,
                        str(c.users),
                        f"{c.turns_answered}/{c.turns_sent}",
                        f"{c.seconds:.1f}",
                        f"{c.turns_per_second:.1f}",
                        *_ms(c.first_event, "p50", "p95", "max"),
                        *_ms(c.answer, "p50", "p95", "max"),
                        f"{c.turns_queued} (max position {c.max_queue_position})",
                        str(c.errors),
                    )
                    for c in result.configs
                ),
            )
        )
        made.append(
            Grid(
                "Approvals, sign-in, CPU (% of one core over the load; server: total (per worker); machine: all cores)",
                (
                    "config",
                    "transfers drafted",
                    "approvals",
                    "approvals/s",
                    "approve p50",
                    "p95",
                    "inbox poll p50",
                    "p95",
                    "sign-in p50",
                    "p95",
                    "server CPU",
                    "server CPU ms per turn",
                    "postgres CPU",
                    "bench CPU",
                    "other processes",
                    "machine busy",
                ),
                tuple(
                    (
                        c.label,
                        str(c.transfers_drafted),
                        ", ".join(f"{n} {k}" for k, n in c.draft_outcomes.items()) or "0",
                        f"{c.approvals_per_second:.2f}",
                        *_ms(c.approval, "p50", "p95"),
                        *_ms(c.inbox_poll, "p50", "p95"),
                        *_ms(c.sign_in, "p50", "p95"),
                        _server_cpu(c.resources),
                        f"{1000 * c.resources.server_cpu_s / max(c.turns_answered, 1):.0f}",
                        f"{c.resources.postgres_percent:.0f}%",
                        f"{c.resources.bench_percent:.0f}%",
                        f"{c.resources.others_percent:.0f}%",
                        f"{c.resources.machine_busy_percent:.0f}%",
                    )
                    for c in result.configs
                ),
            )
        )
        problems = [(c.label, kind, str(n)) for c in result.configs for kind, n in c.error_kinds.items()]
        if problems:
            made.append(Grid("Errors by kind", ("config", "error", "count"), tuple(problems)))
        crashes = [
            (c.label, str(c.worker_restarts), "; ".join(exceptions(c.server_log_problems)) or "-")
            for c in result.configs
            if c.worker_restarts or c.server_log_problems
        ]
        if crashes:
            made.append(
                Grid(
                    "Server log (not counted as errors: no request failed)",
                    ("config", "worker restarts", "exceptions logged"),
                    tuple(crashes),
                )
            )
    if result.local is not None:
        lo = result.local
        made.append(
            Grid(
                f"Local model, {len(lo.users)} users at once, 1 worker, {lo.backend} (s from sending the message)",
                ("user", "question", "queued positions shown", "started", "first token", "answer", "tools", "answer"),
                tuple(
                    (
                        u.account,
                        u.question,
                        ", ".join(map(str, u.queued)) or "none",
                        _s(u.started_s),
                        _s(u.first_token_s),
                        _s(u.answer_s),
                        ", ".join(u.tools),
                        (u.error or u.answer)[:120],
                    )
                    for u in lo.users
                ),
            )
        )
        made.append(
            Grid(
                "Local model summary",
                ("figure", "value"),
                (
                    ("model", lo.model),
                    ("warm-up before the users (model, prompt prefix, one turn)", f"{lo.warm_up_s:.1f} s"),
                    ("time to first token p50 / max", _pair(lo.first_token)),
                    ("time to answer p50 / max", _pair(lo.answer)),
                    ("time queued (to `started`) p50 / max", _pair(lo.queue_wait)),
                    ("the turn itself (`started` to `answer`) p50 / max", _pair(lo.own_turn)),
                    ("server CPU / other processes (% of one core)", _cpu_pair(lo.resources)),
                    ("errors", str(lo.errors)),
                ),
            )
        )
    elif result.local_skipped:
        made.append(Grid("Local model", ("", "value"), (("skipped", result.local_skipped),)))
    m = result.machine
    made.append(
        Grid(
            "Machine",
            ("", "value"),
            (
                *((k, str(m[k])) for k in MACHINE_FACTS if k in m),
                ("run took", f"{result.wall_seconds:.0f} s"),
            ),
        )
    )
    return made


EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(?:Error|Exception|Violation|Timeout)\b.*")


def exceptions(log: Sequence[str]) -> list[str]:
    """The distinct exception lines ("psycopg.errors.UniqueViolation: ...") of a log excerpt."""
    return list(dict.fromkeys(m.group(0)[:200] for line in log if (m := EXCEPTION_LINE.match(line))))


def _server_cpu(r: Resources) -> str:
    split = " (" + " + ".join(f"{w:.0f}%" for w in r.worker_percent) + ")" if len(r.worker_percent) > 1 else ""
    return f"{r.server_percent:.0f}%{split}"


MACHINE_FACTS = ("date", "cores", "ram_gb", "cpu", "os", "python", "postgresql", "load_average")


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _cpu_pair(r: Resources) -> str:
    return f"{r.server_percent:.0f}% / {r.others_percent:.0f}%"


def _pair(s: Latency | None) -> str:
    return "-" if s is None else f"{s.p50_ms / 1000:.2f} s / {s.max_ms / 1000:.2f} s"


def method(result: WebLoadRun) -> str:
    s = result.settings
    pacing = (
        "no pause between a user's messages, all users starting together"
        if s.think_ms == (0,)
        else "in sequence with the think time of the configuration between a user's messages (a configuration"
        " with a think time also spreads the users' first messages evenly over one think time; without one"
        " all start together)"
    )
    which = "their only message" if s.turns == 1 else "their second message"
    return "\n".join(
        [
            f"Command: `{s.command}`",
            "",
            "How these figures were taken (every figure is also in web_load-latest.json):",
            "",
            "- Server: `python -m uvicorn assistant.http.app:app_from_env --factory --workers N --log-level warning`"
            " on a free loopback port, in its own process; the demo company (seed 7, 500 items) loaded fresh for"
            f" each configuration into {s.backend}; ERP_TODAY={BUSINESS_DATE}; rate limit raised; no search index.",
            f"- Model: `{SCRIPTED_MODEL}`: a tool call decided from the user's message, then a fixed"
            " short answer from the tool's result; its replies cost nothing, so the times are the service's own.",
            f"- Load: this process, httpx over loopback. {s.users} users round-robin over the demo's sales and"
            f" warehouse accounts (each with its own session and conversation) send {s.turns} messages each,"
            f" {pacing}; NA users draft a USD ~15k transfer (needs a manager) in"
            f" {which}, the rest ask for V-200 in their entity's warehouse. Managers maria and grace poll"
            f" /api/approvals (every {POLL_SECONDS} s when idle) and approve every other draft each. Stock for"
            " those transfers is added at DAL first, so every approval can execute.",
            "- Times: from sending the POST to the first complete SSE frame (`first event`: `queued` or"
            " `started`) and to the `answer` frame; approvals: the POST /approve round trip. Turns/s counts"
            " answered turns over the time to the last user's last answer. Before timing, untimed warm-up"
            " rounds run until every worker answers fast (litellm and the script are imported on the first turn).",
            "- CPU: from /proc over the load phase, in % of one core; 'server CPU ms per turn' is the server's CPU"
            " time divided by the answered turns (its approvals, inbox polls and stream handling included);"
            " 'other processes' is the rest of the machine's busy time (kernel time for loopback traffic included).",
            "- Local model (`--local-model`): the same server with ERP_ASSISTANT_MODEL unset (the default local"
            " model, one turn at a time), one worker; one untimed turn first waits for the model and its prompt"
            " prefix, then users ask one stock question each, all at once. First token: the first `token` event;"
            " queue positions: every `queued` event a user saw.",
            "- Errors: non-2xx, `error` events, streams without `answer`, a transfer not pending approval,"
            " an approved draft that did not execute, a draft left unapproved.",
        ]
    )


def markdown_page(result: WebLoadRun) -> str:
    heading = f"# Web service under load, {result.machine.get('date', '')}"
    return results_page(heading, method(result), grids(result))


def save(result: WebLoadRun, out: Path) -> tuple[Path, Path]:
    """Write the run's results under `out`."""
    return write_results(out, "web_load", asdict(result), markdown_page(result))


# --- Command line -------------------------------------------------------------------------------


def parse_settings(argv: Sequence[str]) -> Settings:
    parser = argparse.ArgumentParser(prog="python -m evals.bench.web_load", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--users", type=int, default=50, help="concurrent staff users (default 50)")
    parser.add_argument("--turns", type=int, default=3, help="messages each user sends, in sequence (default 3)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="server worker counts (default 1 2)")
    parser.add_argument("--backend", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument(
        "--think-ms", type=int, nargs="+", default=[0], help="pause between a user's messages, per run (default 0)"
    )
    parser.add_argument("--local-model", action="store_true", help="also run the local model with a few users")
    parser.add_argument("--local-users", type=int, default=4, help="users at once on the local model (default 4)")
    parser.add_argument("--no-scripted", action="store_true", help="skip the scripted runs (with --local-model)")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="where the results go")
    args = parser.parse_args(argv)
    if args.users < 1 or args.turns < 1 or min(args.workers) < 1 or min(args.think_ms) < 0:
        parser.error("--users, --turns and --workers must be at least 1, --think-ms at least 0")
    return Settings(
        users=args.users,
        turns=args.turns,
        workers=tuple(args.workers),
        backend=args.backend,
        think_ms=tuple(args.think_ms),
        local_model=args.local_model,
        local_users=args.local_users,
        scripted=not args.no_scripted,
        out=str(args.out),
        command=" ".join([".venv/bin/python -m evals.bench.web_load", *argv]).strip(),
    )


def bench(run: Settings, console: Console) -> WebLoadRun:
    began = time.monotonic()
    os.environ.setdefault("ERP_TODAY", BUSINESS_DATE)  # the demo is built as of the business date
    configs = [measure_config(console, run, w, t) for t in run.think_ms for w in run.workers] if run.scripted else []
    for c in configs:
        console.log(
            f"{c.label}: {c.turns_answered}/{c.turns_sent} turns, answer p95 {_ms(c.answer, 'p95')[0]} ms,"
            f" {c.errors} errors"
        )
    local, skipped = None, None
    if run.local_model:
        skipped = local_model_reason()
        if skipped is None:
            local = measure_local(console, run)
        else:
            console.log(f"local model skipped: {skipped}")
    return WebLoadRun(
        settings=run,
        machine=machine_facts(),
        configs=configs,
        local=local,
        local_skipped=skipped,
        targets=targets_of(configs),
        wall_seconds=time.monotonic() - began,
    )


def main(argv: Sequence[str] | None = None) -> int:
    run = parse_settings(list(sys.argv[1:] if argv is None else argv))
    console = Console(width=None if sys.stdout.isatty() else 200)
    result = bench(run, console)
    for grid in grids(result):
        console.print(to_rich(grid))
    json_path, md_path = save(result, Path(run.out))
    console.print(f"saved {json_path} and {md_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
