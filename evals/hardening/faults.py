"""Faults: PostgreSQL restarted under load, and the model failing in the middle of a turn.

    .venv/bin/python -m evals.hardening.faults [--before 4] [--outage 4] [--after 10] [--out evals/results]

1. PostgreSQL restart. The web service (`create_app`, the scripted model of the web load benchmark)
   runs in this process under uvicorn, on a private PostgreSQL cluster (`private_pg`) that holds the
   demo company and the conversations. Staff read records, chat (stock questions through ATP, NA users
   also draft an over-limit transfer) and a manager approves, in loops over httpx; mid-run the cluster
   is stopped, kept down, and started again, while the service keeps running. Every request is timed
   and classified (before, during, after the outage); afterwards each chat thread must take one more
   message, no conversation may be left claimed, and `audit_check` must find stock, drafts and the
   audit chain consistent.
2. Model faults. Through the same HTTP chat, the model fails after a tool call and before the answer:
   a litellm Timeout, a provider error after a draft, and a provider (a fake OpenAI-compatible server)
   that hangs past the configured timeout. The user must get an `error` event that says what happened
   and what stands, the same thread must answer the next message, and the only write allowed is the
   draft the policy gate already judged, exactly once.

Results: evals/results/hardening-faults-latest.{md,json}.
"""

import argparse
import asyncio
import json
import os
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI
from langgraph.checkpoint.base import BaseCheckpointSaver
from rich.console import Console
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from assistant.agent import Assistant
from assistant.conversations import open_checkpointer
from assistant.http.app import create_app
from assistant.http.services import Services, WebConfig
from assistant.llm.gateway import litellm
from assistant.llm.scripted import Call, Reply, Responder, Script, scripted_model
from assistant.llm.settings import ModelSettings
from core import schema
from core.conversations.models import Conversation
from core.db import Database
from core.demo import DemoConfig, load_demo
from core.drafts.models import DraftAction
from core.policy.models import PolicyDecisionRecord
from evals.common.tables import Grid, to_rich
from evals.common.audit_check import audit_after_run, watermark
from evals.common.fake_provider import Step, fake_provider, pointed_at
from evals.common.private_pg import PrivateCluster, StopMode, free_port, private_cluster
from evals.common.sse import sse_events
from evals.common.scripted_load import BenchScript, STOCK_SKU, STOCK_WAREHOUSE, TRANSFER, TRANSFER_TEXT, prepare_accounts
from evals.common.served import Signed, new_conversation, sign_in
from evals.common.tables import machine_facts
from evals.common.web import generous_rate_limit
from evals.common.results import results_page, write_results

RESULTS_DIR = Path(__file__).resolve().parents[1] / "results"
BUSINESS_DATE = "2026-11-20"
PASSWORD = "fault run password, long enough"
CHATTERS = (("sam", "NA"), ("wes", "NA"), ("uma", "UK"))  # NA users also draft transfers
READERS = ("sam", "uma", "wes")
APPROVER = "maria"
ACCOUNTS = ("sam", "wes", "uma", "maria")
TRANSFERS_STOCKED = 300  # stock added at DAL for this many transfers, so approvals can execute
REQUEST_LIMIT_S = 45.0  # a request without an answer by then counts as hung (the conversation pool waits 30 s)
PAUSE_S = 0.1  # between one user's requests
LEAK_MARKERS = ("Traceback", 'File "', "psycopg", "sqlalchemy", "OperationalError", "Error(")
STOCK_QUESTION = f"How many {STOCK_SKU} can we promise from {{warehouse}}?"
NEXT_ANSWER = "I am back; ask me again."


# --- The web service in this process ---------------------------------------------------------------


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """`app` under uvicorn on a free loopback port, in a thread of this process; its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the web service did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


def web_services(db: Database, checkpointer: BaseCheckpointSaver[str], settings: ModelSettings) -> Services:
    """The web service's parts over `db`, answering with the model `settings` name."""
    assistant = Assistant(db, checkpointer, channel="web", settings=settings)
    return Services(db, assistant, WebConfig(secure_cookies="auto", widget_origins=[], model_slots=4))


def load_company(db: Database, company: DemoConfig | None = None) -> None:
    """Migrate, load the demo company (default size) and prepare the accounts these runs sign in with."""
    schema.upgrade(db.engine)
    load_demo(db, company or DemoConfig())
    prepare_accounts(db, ACCOUNTS, PASSWORD, TRANSFERS_STOCKED)


def narrator(console: Console | None) -> Callable[[str], None]:
    """Where a run tells what it is doing: the console's log, or nowhere (tests)."""

    def say(message: str) -> None:
        if console is not None:
            console.log(message)

    return say


# --- One request, timed and judged -------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """What a client got: the HTTP status, the error code (JSON body or `error` event), the body."""

    status: int | None
    code: str
    ok: bool
    text: str
    body: Any = None


@dataclass(frozen=True)
class Sample:
    """One request of the load: when it was sent (s from the start), how long it took, what came back."""

    kind: str  # read, chat, inbox, approve, probe
    user: str
    sent_s: float
    seconds: float
    status: int | None  # None: no HTTP answer (refused connection, or none within REQUEST_LIMIT_S)
    code: str
    ok: bool
    leaked: bool  # a stack trace or a driver's name reached the client
    hung: bool

    @property
    def outcome(self) -> str:
        if self.ok:
            return "ok"
        where = "no answer" if self.status is None else f"HTTP {self.status}"
        return f"{self.kind}: {where} {self.code}".strip()


def leaks(text: str) -> bool:
    return any(marker in text for marker in LEAK_MARKERS)


def _code(text: str) -> str:
    with suppress(ValueError):
        body = json.loads(text)
        if isinstance(body, dict):
            return str(body.get("code", ""))
    return ""


async def timed(kind: str, user: str, origin: float, call: Callable[[], Awaitable[Answer]]) -> tuple[Sample, Answer]:
    """Run one request with a time limit; its sample and what it answered."""
    sent = time.monotonic()
    hung = False
    try:
        answer = await asyncio.wait_for(call(), REQUEST_LIMIT_S)
    except TimeoutError:
        hung, answer = True, Answer(None, f"no answer within {REQUEST_LIMIT_S:g} s", False, "")
    except httpx.HTTPError as error:
        answer = Answer(None, type(error).__name__, False, "")
    seconds = time.monotonic() - sent
    sample = Sample(kind, user, sent - origin, seconds, answer.status, answer.code, answer.ok, leaks(answer.text), hung)
    return sample, answer


async def get_json(signed: Signed, path: str) -> Answer:
    response = await signed.client.get(path)
    ok = response.status_code == 200
    return Answer(response.status_code, "" if ok else _code(response.text), ok, response.text, _json(response))


async def post_json(signed: Signed, path: str, body: dict[str, Any]) -> Answer:
    response = await signed.client.post(path, json=body, headers=signed.headers)
    ok = response.status_code == 200
    return Answer(response.status_code, "" if ok else _code(response.text), ok, response.text, _json(response))


def _json(response: httpx.Response) -> Any:
    with suppress(ValueError):
        return response.json()
    return None


async def chat(signed: Signed, conversation: str, text: str) -> Answer:
    """Send one message and read its whole event stream; ok when it ends with a normal answer."""
    path = f"/api/conversations/{conversation}/messages"
    async with signed.client.stream("POST", path, json={"text": text}, headers=signed.headers) as response:
        raw = (await response.aread()).decode(errors="replace")
    if response.status_code != 200:
        return Answer(response.status_code, _code(raw), False, raw)
    events = sse_events(raw)
    named = dict(events)
    answer = named.get("answer")
    ok = answer is not None and not answer.get("stopped")
    code = "" if ok else str(named.get("error", {}).get("code", "no answer event"))
    return Answer(response.status_code, code, ok, raw, events)


# --- 1. PostgreSQL restarted under load -----------------------------------------------------------


@dataclass(frozen=True)
class RestartSettings:
    before_s: float = 4.0  # load before the cluster stops
    outage_s: float = 4.0  # how long it stays down
    after_s: float = 10.0  # load after it is back
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


# --- 2. The model failing mid-turn ----------------------------------------------------------------


@dataclass(frozen=True)
class ModelFault:
    name: str
    what: str
    tool: str  # the tool the model calls before it fails
    failure: str  # timeout, api_error or hang
    timeout_s: float = 30.0
    retries: int = 0


READ_CALL = Call("check_availability", {"sku": STOCK_SKU, "warehouse": "ATL"})
DRAFT_CALL = Call("draft_transfer", TRANSFER)
MODEL_FAULTS = (
    ModelFault(
        "timeout after a read", "the model raises litellm.Timeout after an ATP look-up", READ_CALL.name, "timeout"
    ),
    ModelFault(
        "provider error after a draft",
        "the model raises litellm.InternalServerError (HTTP 500) after drafting a transfer",
        DRAFT_CALL.name,
        "api_error",
    ),
    ModelFault(
        "provider hangs after a draft",
        "a fake OpenAI-compatible provider streams the draft call, then never answers (timeout 2 s, 1 retry)",
        DRAFT_CALL.name,
        "hang",
        timeout_s=2.0,
        retries=1,
    ),
)


HANG = next(f for f in MODEL_FAULTS if f.failure == "hang")
DEFAULTS = ModelSettings()


@dataclass(frozen=True)
class ModelFaultResult:
    name: str
    what: str
    status: int | None
    events: list[str]
    error_code: str
    error_message: str
    error_drafts: list[str]  # the drafts the error event lists
    seconds_to_error: float
    limit_s: float  # what the settings allow: the call's timeout (retries included), plus slack
    model_requests: int  # requests the failing turn made to the model (the tool call's included)
    next_status: int | None
    next_ok: bool
    drafts_made: list[str]
    drafts_with_decision: int
    leaked: bool
    problems: list[str]

    @property
    def passed(self) -> bool:
        return not self.problems


def failing(kind: str) -> Responder:
    """A responder that fails the way `kind` says (the scripted provider cannot hang past a timeout)."""

    def respond(_: list[dict[str, Any]]) -> Reply:
        llm = litellm()
        if kind == "timeout":
            raise llm.Timeout(message="the provider timed out", model="scripted", llm_provider="scripted")
        raise llm.InternalServerError(message="upstream failure", model="scripted", llm_provider="scripted")

    return respond


@dataclass(frozen=True)
class FaultyModel:
    """A model that fails as a fault says: its settings, how to let it recover, how often it was asked."""

    settings: ModelSettings
    recover: Callable[[], None]
    requests: Callable[[], int]


@contextmanager
def model_for(fault: ModelFault) -> Iterator[FaultyModel]:
    """A script for raised errors; for a hang, the fake provider, hanging on every request until it recovers."""
    call = READ_CALL if fault.tool == READ_CALL.name else DRAFT_CALL
    if fault.failure != "hang":
        script = Script([Reply(calls=(call,)), failing(fault.failure), Reply(text=NEXT_ANSWER)])
        settings = ModelSettings(model=scripted_model(script), retries=fault.retries, timeout_s=fault.timeout_s)
        yield FaultyModel(settings, lambda: None, lambda: len(script.seen))
        return
    with fake_provider([Step("tool_call", call.name, call.arguments)], then=Step("hang")) as provider:

        def recover() -> None:
            provider.then = Step("answer", text=NEXT_ANSWER)

        with pointed_at(provider) as model:
            settings = ModelSettings(model=model, retries=fault.retries, timeout_s=fault.timeout_s)
            yield FaultyModel(settings, recover, lambda: provider.requests)


def drafts_of(db: Database, conversation: str) -> tuple[list[str], int]:
    """The drafts a conversation made, and how many of them have their policy decision on record."""

    def query(session: Session) -> tuple[list[str], int]:
        drafts = list(session.scalars(select(DraftAction).where(DraftAction.conversation_id == conversation)))
        decided = [
            d
            for d in drafts
            if d.decision_id is not None
            and session.scalar(select(PolicyDecisionRecord.draft_id).where(PolicyDecisionRecord.id == d.decision_id))
            == d.id
        ]
        return [d.number for d in drafts], len(decided)

    return db.read(query)


@dataclass(frozen=True)
class FaultTurns:
    conversation: str
    failed: Sample
    failed_answer: Answer
    model_requests: int  # what the failing turn asked of the model, retries included
    following: Sample
    following_answer: Answer


async def fault_turns(base_url: str, model: FaultyModel) -> FaultTurns:
    """The failing turn, then (the model recovered) the next message in the same thread, as sam."""
    signed, _ = await sign_in(base_url, "sam", PASSWORD)
    try:
        conversation = await new_conversation(signed)
        origin = time.monotonic()
        failed = await timed("chat", "sam", origin, lambda: chat(signed, conversation, "Check V-200, then move stock"))
        requests = model.requests()
        model.recover()
        following = await timed("chat", "sam", origin, lambda: chat(signed, conversation, "Are you back?"))
    finally:
        await signed.client.aclose()
    return FaultTurns(conversation, *failed, requests, *following)


def attempts(fault: ModelFault) -> int:
    """Requests one failing model call makes. A call has `timeout_s` in all, retries included: a hang uses
    it up in one request; an error answered at once is asked again, `retries` times, while time is left."""
    return 1 if fault.failure in ("hang", "timeout") else fault.retries + 1


def error_limit_s(fault: ModelFault) -> float:
    """How long the user may wait for the error: the call's timeout, plus slack for the turn around it."""
    return fault.timeout_s + 5.0 if fault.failure == "hang" else 5.0


def run_model_fault(db: Database, fault: ModelFault, workdir: Path) -> ModelFaultResult:
    """One fault through the HTTP chat on `db` (the demo company, accounts prepared)."""
    checkpointer = open_checkpointer("sqlite://", sqlite_path=workdir / f"conversations-{fault.failure}.db")
    with model_for(fault) as model, serving(create_app(web_services(db, checkpointer, model.settings))) as base_url:
        turns = asyncio.run(fault_turns(base_url, model))
    drafts, decided = drafts_of(db, turns.conversation)
    events = turns.failed_answer.body if isinstance(turns.failed_answer.body, list) else []
    error = dict(events).get("error", {})
    result = ModelFaultResult(
        name=fault.name,
        what=fault.what,
        status=turns.failed_answer.status,
        events=[name for name, _ in events],
        error_code=str(error.get("code", "")),
        error_message=str(error.get("message", "")),
        error_drafts=[str(d.get("number")) for d in error.get("drafts", [])],
        seconds_to_error=turns.failed.seconds,
        limit_s=error_limit_s(fault),
        model_requests=turns.model_requests,
        next_status=turns.following_answer.status,
        next_ok=turns.following_answer.ok and NEXT_ANSWER in turns.following_answer.text,
        drafts_made=drafts,
        drafts_with_decision=decided,
        leaked=turns.failed.leaked or turns.following.leaked,
        problems=[],
    )
    return _judged(result, fault)


def _judged(result: ModelFaultResult, fault: ModelFault) -> ModelFaultResult:
    """The same result with every expectation it fails, in words."""
    problems = []
    if result.error_code != "model_unavailable" or result.events[-2:] != ["error", "done"]:
        problems.append(f"expected an error event then done, got {result.events}")
    if result.seconds_to_error > result.limit_s:
        problems.append(f"the error took {result.seconds_to_error:.1f} s, over {result.limit_s:g} s")
    if result.model_requests != 1 + attempts(fault):  # the tool call's request, then the failing call's
        problems.append(f"the turn asked the model {result.model_requests} times, not 1 + {attempts(fault)}")
    if not result.next_ok:
        problems.append(f"the next message in the thread failed (HTTP {result.next_status})")
    if result.leaked:
        problems.append("a stack trace or driver name reached the client")
    problems += _draft_problems(result, fault)
    return ModelFaultResult(**{**asdict(result), "problems": problems})


def _draft_problems(result: ModelFaultResult, fault: ModelFault) -> list[str]:
    if fault.tool != DRAFT_CALL.name:
        if result.drafts_made:
            return [f"a read-only turn left drafts {result.drafts_made}"]
        return [] if "Nothing was changed" in result.error_message else ["the error does not say nothing changed"]
    if len(result.drafts_made) != 1 or result.drafts_with_decision != 1:
        return [
            f"expected one draft with its policy decision, got {result.drafts_made} ({result.drafts_with_decision})"
        ]
    number = result.drafts_made[0]
    if number not in result.error_message or result.error_drafts != [number]:
        return [f"the error event does not name draft {number}"]
    return []


def run_model_faults(console: Console | None = None) -> list[ModelFaultResult]:
    """Every model fault on one fresh SQLite demo company (removed afterwards)."""
    say = narrator(console)
    with tempfile.TemporaryDirectory(prefix="faults-") as folder, generous_rate_limit():
        workdir = Path(folder)
        db = Database.from_url(f"sqlite:///{workdir / 'erp.db'}")
        try:
            load_company(db)
            results = []
            for fault in MODEL_FAULTS:
                say(f"model fault: {fault.name}")
                results.append(run_model_fault(db, fault, workdir))
            return results
        finally:
            db.dispose()


# --- Report -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FaultsRun:
    machine: dict[str, Any]
    restarts: list[RestartResult]  # one per stop mode
    model_faults: list[ModelFaultResult]
    wall_seconds: float
    command: str


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _kinds(count: int, kinds: dict[str, int]) -> str:
    return f"{count} ({', '.join(f'{n} x {k}' for k, n in kinds.items())})" if count else "0"


def restart_grids(r: RestartResult) -> list[Grid]:
    o = r.outage
    summary = (
        ("cluster stopped with", f"pg_ctl stop -m {r.settings.stop_mode}"),
        ("outage (cluster stopped -> accepting again)", f"{o.up_s - o.down_s:.1f} s"),
        ("pg_ctl stop took / start took (after the pause)", f"{o.stop_took_s:.1f} s / {o.start_took_s:.1f} s"),
        ("requests in the run (all kinds)", str(r.requests)),
        ("requests in flight while the cluster was down", str(r.during_outage)),
        ("... of them failed", str(r.failed_during_outage)),
        ("slowest failed request", f"{r.slowest_failure_s:.2f} s (limit {REQUEST_LIMIT_S:g} s)"),
        ("requests with no answer within the limit (hung)", str(r.hung)),
        ("answers with a stack trace or driver name", str(r.leaked)),
        ("failed requests sent after the cluster was back", _kinds(r.failed_after_restart, r.errors_after_restart)),
        ("last of those ended (s after back up)", _s(r.last_failure_after_up_s)),
        ("every kind succeeded again within (s after back up)", _s(r.recovered_after_s)),
        ("service restarted", "yes" if r.service_restarted else "no (same process, same app and pools)"),
        ("one more message in each chat thread afterwards", f"{r.probes_ok}/{r.probes} answered"),
        ("conversations left claimed", str(r.conversations_left_claimed)),
        ("drafts made / executed in the run", f"{r.drafts_made} / {r.drafts_executed}"),
        ("audit check (stock = ledger, drafts once, chain)", "ok" if r.audit_ok else "; ".join(r.audit_problems)),
    )
    kinds = tuple(
        (
            k.kind,
            str(k.sent),
            str(k.ok),
            str(k.failed_during),
            str(k.failed_after),
            _s(k.first_ok_after_s),
        )
        for k in r.kinds
    )
    errors = tuple((kind, str(n)) for kind, n in r.error_kinds.items()) or (("none", "0"),)
    slowest = tuple((str(n), text) for n, text in enumerate(r.slowest_failures, start=1))
    mode = f"(stop -m {r.settings.stop_mode})"
    return [
        Grid(f"PostgreSQL restarted under load {mode}", ("", "value"), summary),
        Grid(
            f"By request kind {mode}",
            ("kind", "sent", "ok", "failed during outage", "failed after back up", "first ok after back up (s)"),
            kinds,
        ),
        Grid(f"Error answers seen {mode}", ("what the client got", "count"), errors),
        Grid(f"Slowest failed requests {mode}", ("#", "what, how long, when sent"), slowest),
    ]


def model_grid(results: Sequence[ModelFaultResult]) -> Grid:
    rows = tuple(
        (
            r.name,
            " ".join(r.events),
            f"{r.error_code}: {r.error_message}",
            f"{r.seconds_to_error:.2f} (limit {r.limit_s:g})",
            str(r.model_requests),
            f"HTTP {r.next_status}, {'answered' if r.next_ok else 'FAILED'}",
            ", ".join(r.drafts_made) or "none",
            "PASS" if r.passed else "FAIL: " + "; ".join(r.problems),
        )
        for r in results
    )
    headers = ("fault", "events", "error event", "s to error", "model requests", "next message", "drafts", "result")
    return Grid("The model failing after a tool call, before the answer (HTTP chat)", headers, rows)


def grids(run: FaultsRun) -> list[Grid]:
    made = [grid for restart in run.restarts for grid in restart_grids(restart)]
    if run.model_faults:
        made.append(model_grid(run.model_faults))
    facts = tuple((k, str(v)) for k, v in run.machine.items() if k in ("date", "cores", "cpu", "load_average"))
    made.append(Grid("Machine", ("", "value"), (*facts, ("run took", f"{run.wall_seconds:.0f} s"))))
    return made


def method(run: FaultsRun) -> str:
    return "\n".join(
        [
            f"Command: `{run.command}`",
            "",
            "- Restart: `create_app` under uvicorn in this process, on a private PostgreSQL cluster (initdb in a"
            " temporary folder, its own port) holding the demo company (seed 7, 500 items) and the conversations."
            f" {len(READERS)} readers GET /api/records/{STOCK_SKU}, {len(CHATTERS)} users chat (ATP questions; NA"
            " users draft an over-limit transfer every third message) and maria polls the inbox and approves,"
            f" each with {PAUSE_S:g} s between requests and a {REQUEST_LIMIT_S:g} s limit per request. The cluster"
            " is stopped with `pg_ctl stop -m <mode>` (fast, or immediate: a crash), kept down, and started again;"
            " the service is not touched.",
            "- A request counts as during the outage when it was in flight at any moment the cluster was down;"
            " 'after' means sent once it accepted connections again.",
            "- Model faults: the same HTTP chat on a SQLite demo company; the model calls a tool, then fails;"
            " then the same thread gets one more message. A hang is played by a fake OpenAI-compatible server"
            " reached through litellm's `openai/` route, so the timeout is the HTTP client's, as with a hosted model.",
            f"- A model call has `ERP_ASSISTANT_TIMEOUT` in all, retries included: a hanging provider is asked"
            f" {attempts(HANG)} time even with {HANG.retries} retry allowed (the assistant retries, not litellm or"
            " the OpenAI SDK, which asked 2 x retries + 1 times before), and an error answered at once is asked"
            f" again while time is left. With the defaults ({DEFAULTS.timeout_s:g} s, {DEFAULTS.retries} retries) a"
            f" user waits at most {DEFAULTS.timeout_s:g} s for the error.",
        ]
    )


def markdown_page(run: FaultsRun) -> str:
    heading = f"# Hardening: faults, {run.machine.get('date', '')}"
    return results_page(heading, method(run), grids(run))


def save(run: FaultsRun, out: Path) -> tuple[Path, Path]:
    """Write the run's results under `out`."""
    return write_results(out, "hardening-faults", asdict(run), markdown_page(run))


# --- Command line -------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m evals.hardening.faults", description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=float, default=4.0, help="seconds of load before the outage (default 4)")
    parser.add_argument("--outage", type=float, default=4.0, help="seconds the cluster stays down (default 4)")
    parser.add_argument("--after", type=float, default=10.0, help="seconds of load after it is back (default 10)")
    parser.add_argument(
        "--stop-modes",
        nargs="+",
        choices=("fast", "immediate"),
        default=["fast", "immediate"],
        help="immediate: a crash",
    )
    parser.add_argument("--skip-restart", action="store_true", help="only the model faults")
    parser.add_argument("--skip-model", action="store_true", help="only the PostgreSQL restart")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="where the results go")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(list(sys.argv[1:] if argv is None else argv))
    os.environ.setdefault("ERP_TODAY", BUSINESS_DATE)
    console = Console(width=None if sys.stdout.isatty() else 200)
    began = time.monotonic()
    modes = [] if args.skip_restart else args.stop_modes
    restarts = [run_restart(RestartSettings(args.before, args.outage, args.after, stop_mode=m), console) for m in modes]
    faults = [] if args.skip_model else run_model_faults(console)
    command = " ".join(["python -m evals.hardening.faults", *(argv if argv is not None else sys.argv[1:])])
    run = FaultsRun(machine_facts(), restarts, faults, time.monotonic() - began, command.strip())
    for grid in grids(run):
        console.print(to_rich(grid))
    json_path, md_path = save(run, args.out)
    console.print(f"saved {json_path} and {md_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
