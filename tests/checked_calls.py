"""The argument check (`assistant.provenance.check_calls`) run on one model call, as the agent runs it: for the
suites that hold the model's calls against the user's words."""

import json
from typing import Any

from assistant.provenance import Held, check_calls
from core.db import Database
from core.masterdata.service import load_actor
from tools import default_registry

REGISTRY = default_registry()


def checked_call(
    db: Database, texts: list[str], tool: str, arguments: dict[str, Any], user: str = "sam"
) -> tuple[dict[str, Any], Held | None]:
    """The arguments the call would run with, and why it is held (None: it runs), after the user's `texts`."""
    messages: list[dict[str, Any]] = [{"role": "user", "content": t} for t in texts]
    call = {"id": "c1", "type": "function", "function": {"name": tool, "arguments": json.dumps(arguments)}}
    messages.append({"role": "assistant", "content": "", "tool_calls": [call]})
    actor = db.read(lambda s: load_actor(s, username=user))
    checked = check_calls(db, REGISTRY, actor, messages, {})
    return json.loads(checked.calls[0]["function"]["arguments"]), checked.held.get("c1")
