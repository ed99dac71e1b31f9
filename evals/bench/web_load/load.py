"""The scripted load: staff users chatting over SSE and confirming what they drafted, while managers approve it."""

import asyncio
import json
import secrets
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console

from evals.bench.web_load.figures import (
    MANAGERS,
    POLL_SECONDS,
    ConfigResult,
    ManagerTally,
    Plan,
    Resources,
    Settings,
    TurnTiming,
    plans,
    spread,
)
from evals.bench.web_load.server import (
    READY_TIMEOUT_S,
    Server,
    cpu_of,
    cpu_snapshot,
    demo_database,
    resources_between,
    running_server,
    server_env,
    wait_ready,
)
from evals.common.scripted_load import SCRIPTED_MODEL, STOCK_SKU, prepare_accounts
from evals.common.served import Signed, error_code, new_conversation, sign_in
from evals.common.sse import SseStream

WARM_UP_FAST_S = 1.0  # warm-up rounds go on until every turn of one round answers within this
WARM_UP_LIMIT_S = 120.0
DRAIN_LIMIT_S = 60.0  # how long managers may keep approving after the last user finished


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
    previewed = any(d.endswith(":unconfirmed") for d in timing.drafts)
    if timing.error is None and timing.kind == "transfer" and not previewed:
        timing.error = f"the transfer's draft was {timing.drafts or 'missing'}, not an unconfirmed preview"
    return timing


async def confirm_previews(signed: Signed, timing: TurnTiming) -> TurnTiming:
    """The user confirms the previews the turn made, as with the draft card's Confirm button: POST
    /api/drafts/{number}/confirm; the over-limit transfer must then wait for a manager."""
    for number in [d.split(":")[0] for d in timing.drafts if d.endswith(":unconfirmed")]:
        started = time.perf_counter()
        try:
            response = await signed.client.post(f"/api/drafts/{number}/confirm", json={}, headers=signed.headers)
        except httpx.HTTPError as error:
            timing.error = f"confirm: {type(error).__name__}"
            return timing
        if response.status_code != 200:
            timing.error = f"confirm: HTTP {response.status_code} {error_code(response)}".rstrip()
            return timing
        timing.confirms.append(time.perf_counter() - started)
        status = str(response.json()["status"])
        timing.confirmed.append(f"{number}:{status}")
        if timing.kind == "transfer" and status != "pending_approval":
            timing.error = f"the confirmed transfer {number} is {status}, not pending_approval"
    return timing


# --- The scripted load -----------------------------------------------------------------------------


async def settled_workers(server: Server) -> list[int]:
    """Wait until every worker is up and idle (done starting: imports, pools, the conversation store)."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        pids = server.worker_pids()
        before = {pid: cpu_of(pid) for pid in pids}
        await asyncio.sleep(0.5)
        busy = [pid for pid in pids if cpu_of(pid) - before[pid] > 0.05]
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
            before = {pid: cpu_of(pid) for pid in pids}
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
            everyone = all(cpu_of(pid) - before[pid] > 0.01 for pid in pids)
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
        timing = await send_turn(signed, conversation, TurnTiming(plan.index, plan.account, turn, kind), text)
        timings.append(await confirm_previews(signed, timing) if timing.error is None else timing)
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
    confirms = [s for t in timings for s in t.confirms]
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
        confirmations=len(confirms),
        confirm=spread(confirms),
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
