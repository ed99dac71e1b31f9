"""The web service in this process, and one request to it, timed and judged."""

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

import httpx
from langgraph.checkpoint.base import BaseCheckpointSaver
from rich.console import Console

from assistant.agent import Assistant
from assistant.channels.web.services import Services, WebConfig
from assistant.llm.settings import ModelSettings
from core import schema
from core.db import Database
from core.demo import DemoConfig, load_demo
from evals.common.scripted_load import STOCK_SKU, prepare_accounts
from evals.common.served import Signed
from evals.common.sse import sse_events

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
