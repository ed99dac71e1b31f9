"""PostgreSQL restarted under load: what users saw during the outage and after it, and what the database kept."""

import asyncio
import os
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from rich.console import Console
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from assistant.channels.web.app import create_app
from assistant.conversations import open_checkpointer
from assistant.llm.scripted import scripted_model
from assistant.llm.settings import ModelSettings
from core.conversations.models import Conversation
from core.db import Database
from core.demo import DemoConfig
from evals.common.audit_check import audit_after_run, watermark
from evals.common.private_pg import PrivateCluster, StopMode, private_cluster
from evals.common.scripted_load import STOCK_SKU, STOCK_WAREHOUSE, TRANSFER_TEXT, BenchScript
from evals.common.served import Signed, new_conversation, serving, sign_in
from evals.common.web import generous_rate_limit
from evals.hardening.faults.serving import (
    APPROVER,
    CHATTERS,
    PASSWORD,
    PAUSE_S,
    READERS,
    STOCK_QUESTION,
    Answer,
    Sample,
    chat,
    get_json,
    load_company,
    narrator,
    post_json,
    timed,
    web_services,
)

# --- 1. PostgreSQL restarted under load -----------------------------------------------------------


@dataclass(frozen=True)
class RestartSettings:
    before_s: float = 4.0  # load before the cluster stops
    outage_s: float = 4.0  # how long it stays down
    after_s: float = 10.0  # load after it is back
    recovery_cap_s: float = 30.0  # ... and longer, up to this, until every kind has succeeded again (a slow machine)
    company: DemoConfig = field(default_factory=DemoConfig)  # the demo company it runs on (default size)
    stop_mode: StopMode = "fast"  # "immediate" is a crash: the cluster recovers from its WAL on start


@dataclass
class Load:
    origin: float
    stop: asyncio.Event
    samples: list[Sample] = field(default_factory=list)

    async def run(self, kind: str, user: str, call: Callable[[], Awaitable[Answer]]) -> Answer:
        sample, answer = await timed(kind, user, self.origin, call)
        self.samples.append(sample)
        return answer


async def reader(load: Load, signed: Signed, user: str) -> None:
    while not load.stop.is_set():
        await load.run("read", user, lambda: get_json(signed, f"/api/records/{STOCK_SKU}"))
        await asyncio.sleep(PAUSE_S)


def message_for(entity: str, turn: int) -> str:
    """Stock questions; every third message of an NA user drafts the over-limit transfer."""
    if entity == "NA" and turn % 3 == 2:
        return TRANSFER_TEXT
    return STOCK_QUESTION.format(warehouse=STOCK_WAREHOUSE[entity])


async def chatter(load: Load, signed: Signed, user: str, entity: str, conversation: str) -> None:
    turn = 0
    while not load.stop.is_set():
        text = message_for(entity, turn)
        await load.run("chat", user, partial(chat, signed, conversation, text))
        turn += 1
        await asyncio.sleep(PAUSE_S)


async def approver(load: Load, signed: Signed) -> None:
    while not load.stop.is_set():
        inbox = await load.run("inbox", APPROVER, lambda: get_json(signed, "/api/approvals"))
        numbers = [d["number"] for d in inbox.body.get("drafts", [])] if isinstance(inbox.body, dict) else []
        for number in numbers:
            path = f"/api/drafts/{number}/approve"
            await load.run("approve", APPROVER, partial(post_json, signed, path, {"comment": "fault run"}))
        await asyncio.sleep(PAUSE_S * 3)


@dataclass(frozen=True)
class Outage:
    down_s: float  # the cluster stopped (s from the start of the load)
    up_s: float  # ... and accepted connections again
    stop_took_s: float
    start_took_s: float


async def restart_cluster(cluster: PrivateCluster, settings: RestartSettings, origin: float) -> Outage:
    await asyncio.sleep(settings.before_s)
    began = time.monotonic()
    await asyncio.to_thread(cluster.stop, settings.stop_mode)
    down = time.monotonic()
    await asyncio.sleep(settings.outage_s)
    await asyncio.to_thread(cluster.start)
    up = time.monotonic()
    return Outage(down - origin, up - origin, down - began, up - down - settings.outage_s)


@dataclass
class Users:
    readers: list[tuple[str, Signed]]
    chatters: list[tuple[str, str, Signed, str]]  # user, entity, client, conversation
    approver: Signed

    async def close(self) -> None:
        clients = {id(s.client): s.client for s in self.signed()}
        for client in clients.values():
            await client.aclose()

    def signed(self) -> list[Signed]:
        return [s for _, s in self.readers] + [c[2] for c in self.chatters] + [self.approver]


async def sign_in_users(base_url: str) -> Users:
    readers = [(u, (await sign_in(base_url, u, PASSWORD))[0]) for u in READERS]
    chatters = []
    for user, entity in CHATTERS:
        signed, _ = await sign_in(base_url, user, PASSWORD)
        chatters.append((user, entity, signed, await new_conversation(signed)))
    return Users(readers, chatters, (await sign_in(base_url, APPROVER, PASSWORD))[0])


async def warm_up(users: Users) -> None:
    """One untimed turn first: the first turn of a process imports litellm, seconds that are not the outage's."""
    user, entity, signed, _ = users.chatters[0]
    conversation = await new_conversation(signed)
    answer = await chat(signed, conversation, STOCK_QUESTION.format(warehouse=STOCK_WAREHOUSE[entity]))
    if not answer.ok:
        raise RuntimeError(f"the warm-up turn of {user} failed: HTTP {answer.status} {answer.code}")


RECOVERY_KINDS = ("read", "chat")


def recovered(load: Load, outage: Outage) -> bool:
    """Every kind of request has succeeded once since the cluster came back."""
    back = {s.kind for s in load.samples if s.ok and _after(s, outage)}
    return back.issuperset(RECOVERY_KINDS)


async def until_recovered(load: Load, outage: Outage, longest_s: float) -> None:
    """The load goes on while some kind has not yet succeeded again, for at most `longest_s` more."""
    deadline = time.monotonic() + max(0.0, longest_s)
    while not recovered(load, outage) and time.monotonic() < deadline:
        await asyncio.sleep(0.25)


async def drive_restart(base_url: str, cluster: PrivateCluster, settings: RestartSettings) -> tuple[Load, Outage]:
    """The load, with the cluster restarted in the middle; then one more message in every thread."""
    users = await sign_in_users(base_url)
    await warm_up(users)
    load = Load(time.monotonic(), asyncio.Event())
    try:
        tasks = [asyncio.create_task(reader(load, s, u)) for u, s in users.readers]
        tasks += [asyncio.create_task(chatter(load, s, u, e, c)) for u, e, s, c in users.chatters]
        tasks.append(asyncio.create_task(approver(load, users.approver)))
        outage = await restart_cluster(cluster, settings, load.origin)
        await asyncio.sleep(settings.after_s)
        await until_recovered(load, outage, settings.recovery_cap_s - settings.after_s)
        load.stop.set()
        await asyncio.gather(*tasks)
        for user, entity, signed, conversation in users.chatters:
            text = STOCK_QUESTION.format(warehouse=STOCK_WAREHOUSE[entity])
            await load.run("probe", user, partial(chat, signed, conversation, text))
    finally:
        await users.close()
    return load, outage


@dataclass(frozen=True)
class KindFigures:
    kind: str
    sent: int
    ok: int
    failed_during: int  # overlapping the outage
    failed_after: int  # sent after the cluster was back
    first_ok_after_s: float | None  # from the cluster being back to the first success sent after it


@dataclass(frozen=True)
class RestartResult:
    settings: RestartSettings
    outage: Outage
    requests: int
    during_outage: int  # requests in flight at some point while the cluster was down
    failed_during_outage: int
    error_kinds: dict[str, int]  # "read: HTTP 503 database_unavailable" -> count, over the whole run
    slowest_failure_s: float
    slowest_failures: list[str]  # the five slowest, "chat: HTTP 200 database_unavailable in 6.8 s (sent at 5.1 s)"
    hung: int
    leaked: int
    failed_after_restart: int
    errors_after_restart: dict[str, int]
    last_failure_after_up_s: float | None  # when the last failed request sent after recovery ended
    recovered_after_s: float | None  # from back up to the first success of every kind
    kinds: list[KindFigures]
    probes_ok: int  # one more message in each chat thread after the run
    probes: int
    conversations_left_claimed: int
    drafts_made: int
    drafts_executed: int
    audit_ok: bool
    audit_problems: list[str]
    service_restarted: bool


def _during(sample: Sample, outage: Outage) -> bool:
    return sample.sent_s <= outage.up_s and sample.sent_s + sample.seconds >= outage.down_s


def _after(sample: Sample, outage: Outage) -> bool:
    return sample.sent_s > outage.up_s


def kind_figures(samples: Sequence[Sample], outage: Outage, kind: str) -> KindFigures:
    mine = [s for s in samples if s.kind == kind]
    after_ok = [s.sent_s + s.seconds - outage.up_s for s in mine if _after(s, outage) and s.ok]
    return KindFigures(
        kind=kind,
        sent=len(mine),
        ok=sum(s.ok for s in mine),
        failed_during=sum(not s.ok and _during(s, outage) for s in mine),
        failed_after=sum(not s.ok and _after(s, outage) for s in mine),
        first_ok_after_s=min(after_ok) if after_ok else None,
    )


def summarize_restart(
    settings: RestartSettings, load: Load, outage: Outage, checks: dict[str, Any], restarted: bool
) -> RestartResult:
    samples = [s for s in load.samples if s.kind != "probe"]
    probes = [s for s in load.samples if s.kind == "probe"]
    failures = [s for s in samples if not s.ok]
    after = [s for s in failures if _after(s, outage)]
    kinds = [kind_figures(samples, outage, k) for k in ("read", "chat", "inbox", "approve")]
    firsts = [k.first_ok_after_s for k in kinds if k.sent]
    return RestartResult(
        settings=settings,
        outage=outage,
        requests=len(samples),
        during_outage=sum(_during(s, outage) for s in samples),
        failed_during_outage=sum(_during(s, outage) for s in failures),
        error_kinds=dict(Counter(s.outcome for s in failures).most_common()),
        slowest_failure_s=max((s.seconds for s in failures), default=0.0),
        slowest_failures=[
            f"{s.outcome} in {s.seconds:.1f} s (sent {s.sent_s - outage.down_s:+.1f} s from the stop)"
            for s in sorted(failures, key=lambda s: -s.seconds)[:5]
        ],
        hung=sum(s.hung for s in load.samples),
        leaked=sum(s.leaked for s in load.samples),
        failed_after_restart=len(after),
        errors_after_restart=dict(Counter(s.outcome for s in after).most_common()),
        last_failure_after_up_s=max((s.sent_s + s.seconds - outage.up_s for s in after), default=None),
        recovered_after_s=None if None in firsts else max(f for f in firsts if f is not None),
        kinds=kinds,
        probes_ok=sum(s.ok for s in probes),
        probes=len(probes),
        conversations_left_claimed=checks["claimed"],
        drafts_made=checks["drafts"],
        drafts_executed=checks["executed"],
        audit_ok=checks["audit_ok"],
        audit_problems=checks["problems"],
        service_restarted=restarted,
    )


def claimed_conversations(session: Session) -> int:
    """Conversations still marked as answering: a turn that never freed its thread."""
    query = select(func.count()).select_from(Conversation).where(Conversation.turn_started_at.is_not(None))
    return int(session.scalar(query) or 0)


def consistency(db: Database, mark: Any) -> dict[str, Any]:
    def check(session: Session) -> dict[str, Any]:
        report = audit_after_run(session, mark)
        problems = list(report.problems) + ([] if report.chain.ok else [f"audit chain: {report.chain}"])
        return {
            "claimed": claimed_conversations(session),
            "drafts": report.drafts,
            "executed": report.executed,
            "audit_ok": report.ok,
            "problems": problems[:20],
        }

    return db.read(check)


def run_restart(settings: RestartSettings, console: Console | None = None) -> RestartResult:
    """The web service on a private cluster, restarted under load; everything it made is gone afterwards."""
    say = narrator(console)
    with private_cluster() as cluster, generous_rate_limit():
        url = cluster.create_database("erp")
        say(f"private PostgreSQL on port {cluster.port}: loading the demo company")
        setup = Database.from_url(url)
        try:
            load_company(setup, settings.company)
            mark = setup.read(watermark)
        finally:
            setup.dispose()
        db = Database.from_url(url, pool_size=10, max_overflow=10)
        try:
            app = create_app(web_services(db, open_checkpointer(url), ModelSettings(model=_bench_model(), retries=0)))
            with serving(app) as base_url:
                pid = os.getpid()
                say(
                    f"load for {settings.before_s:g} s, outage of {settings.outage_s:g} s, {settings.after_s:g} s after"
                )
                load, outage = asyncio.run(drive_restart(base_url, cluster, settings))
                restarted = os.getpid() != pid or app.state.services.db is not db
            return summarize_restart(settings, load, outage, consistency(db, mark), restarted)
        finally:
            db.dispose()


def _bench_model() -> str:
    return scripted_model(BenchScript())
