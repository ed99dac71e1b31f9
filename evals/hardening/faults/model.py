"""The model failing mid-turn: timeouts, errors and broken streams, and what the user is told."""

import asyncio
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from sqlalchemy import select
from sqlalchemy.orm import Session

from assistant.channels.web.app import create_app
from assistant.conversations import open_checkpointer
from assistant.llm.gateway import litellm
from assistant.llm.scripted import Call, Reply, Responder, Script, scripted_model
from assistant.llm.settings import ModelSettings
from core.db import Database
from core.drafts.models import DraftAction
from core.policy.models import PolicyDecisionRecord
from evals.common.fake_provider import Step, fake_provider, pointed_at
from evals.common.scripted_load import STOCK_SKU, TRANSFER
from evals.common.served import new_conversation, serving, sign_in
from evals.common.web import generous_rate_limit
from evals.hardening.faults.serving import (
    NEXT_ANSWER,
    PASSWORD,
    Answer,
    Sample,
    chat,
    load_company,
    narrator,
    timed,
    web_services,
)

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
# The first line only: the message asks for the second too, so the model is asked again after this preview and
# fails then (a turn whose previews are all it asked for is answered by code, not by the model).
DRAFT_CALL = Call("draft_transfer", {**TRANSFER, "lines": TRANSFER["lines"][:1]})
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
        failed = await timed(
            "chat",
            "sam",
            origin,
            lambda: chat(signed, conversation, "Check V-200, then move 3 P-200 and 5 P-180 from DAL to ATL"),
        )
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
    if len(result.drafts_made) != 1 or result.drafts_with_decision != 0:
        # The draft call ran before the fault: it left one preview, undecided until its requester confirms it.
        return [
            f"expected one unconfirmed preview with no policy decision, got {result.drafts_made}"
            f" ({result.drafts_with_decision} decided)"
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
