"""What a load run measures (turn timings, manager tallies, resources, results) and who asks what."""

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from core.demo.directory import USERS
from evals.common.measures import Latency, summarize
from evals.common.scripted_load import STOCK_SKU, STOCK_WAREHOUSE, TRANSFER_TEXT

ANSWER_P95_TARGET_MS = 300.0
STAFF_ROLES = ("sales", "warehouse")
MANAGERS = ("maria", "grace")  # both approve NA transfers; each takes every other draft number
POLL_SECONDS = 0.25  # how often a manager with nothing to approve looks at the inbox again

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
    drafts: list[str] = field(default_factory=list)  # "DR-7:unconfirmed", from the `draft` events (previews)
    confirmed: list[str] = field(default_factory=list)  # "DR-7:pending_approval", after the user's confirm
    confirms: list[float] = field(default_factory=list)  # seconds of each POST /api/drafts/{number}/confirm
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
    confirmations: int  # previews the users confirmed (the draft card's Confirm, through the API)
    confirm: Latency | None  # the POST /confirm round trip
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
