"""The web service in-process for a run: a TestClient over a database, answered by a model that calls exactly
the tools a message names (EchoScript), with the per-user turn rate lifted."""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from assistant.agent import Assistant
from assistant.channels.slack import SlackConfig
from assistant.channels.web.app import create_app
from assistant.channels.web.services import Services, WebConfig
from assistant.conversations import open_checkpointer
from assistant.llm.scripted import Call, Reply, Script, scripted_model
from assistant.llm.settings import ModelSettings
from core.db import Database
from core.settings import override_settings
from evals.common.sse import json_or_none

MAX_CHAT_CALLS = 8  # tool calls one chat message may ask for


class EchoScript(Script):
    """A model that calls exactly the tools a message names, one line each ("check_availability {json}"),
    one after the other, and then answers with their results: the result itself for one call, a JSON
    list for several. So the chat's answer says what each tool said."""

    def __init__(self) -> None:
        super().__init__([])

    def next(self, messages: list[dict[str, Any]], tool_choice: str | None = None) -> Reply:
        asked = max(i for i, m in enumerate(messages) if m["role"] == "user")
        results = [str(m.get("content") or "") for m in messages[asked + 1 :] if m["role"] == "tool"]
        named = [_named_call(line) for line in str(messages[asked].get("content") or "").splitlines() if line]
        calls = [call for call in named if call is not None]
        if len(calls) != len(named):
            return Reply(text="say each tool's name and its arguments as JSON, one per line")
        if len(results) < len(calls) and tool_choice != "none":
            return Reply(calls=(calls[len(results)],))
        answer = results[0] if len(results) == 1 else "[" + ",".join(results) + "]"
        # Compact JSON has spaces only inside strings, where `\u0020` means the same; without them the
        # answer streams as one token instead of hundreds (the scripted model streams word by word).
        return Reply(text=answer.replace(" ", "\\u0020"))


def _named_call(line: str) -> Call | None:
    name, _, text = line.partition(" ")
    arguments = json_or_none(text or "{}")
    return Call(name, arguments) if isinstance(arguments, dict) else None


def chat_text(name: str, arguments: dict[str, Any]) -> str:
    """The message that makes EchoScript call `name` with `arguments`."""
    return f"{name} {json.dumps(arguments)}"


@contextmanager
def generous_rate_limit(per_minute: int = 100_000) -> Iterator[None]:
    """Lift the per-user turn rate for the block: these runs send many turns a minute on purpose."""
    with override_settings(turns_per_minute=per_minute):
        yield


@contextmanager
def web_client(
    db: Database, workdir: Path, *, model: str | None = None, slack: SlackConfig | None = None
) -> Iterator[TestClient]:
    """The web service in-process over `db`, answering with `model` (EchoScript by default), with the Slack bot
    when `slack` is given; the turn rate limit is lifted."""
    checkpointer = open_checkpointer("sqlite://", sqlite_path=workdir / "access-conversations.db")
    chosen = model or scripted_model(EchoScript())
    # The echo model answers with every result, so it speaks after a preview too.
    settings = ModelSettings(model=chosen, retries=0, max_steps=MAX_CHAT_CALLS + 1, previews_end_turn=False)
    assistant = Assistant(db, checkpointer, channel="web", settings=settings)
    services = Services(db, assistant, WebConfig(secure_cookies="auto", widget_origins=[]))
    with generous_rate_limit(), TestClient(create_app(services, slack), raise_server_exceptions=False) as client:
        yield client
