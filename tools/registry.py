"""The tool registry: typed functions, their schemas for a model, and one way to call them.

A tool is `(session, ctx, args) -> result` with pydantic args and result. Calling one through
the registry validates the model's arguments, runs read tools in a read-only unit of work and
draft tools in one write transaction, and turns every refusal into a typed error the model can
act on; the caller gets a typed `ToolOutcome` (tools/outcome.py). There is no approve tool:
approving is a person's act in a channel.
"""

import difflib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy.orm import Session

from core.actor import ROLE_PERMISSIONS, Permission, Role
from core.db import Database
from core.errors import ErpError
from core.text import NUL_REFUSED, has_nul
from tools.brief import BriefOf, asks_how, briefed
from tools.context import ToolContext
from tools.outcome import ToolError, ToolOutcome


class ToolArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    args: type[BaseModel]
    run: Callable[[Session, ToolContext, Any], BaseModel]
    writes: bool = False
    needs: Permission | None = None  # the permission the core command behind it requires (it checks it itself)
    # Every read result's facts complete an answer that left them out; this one's record numbers too, even when
    # the answer gave its figures: what a briefing or a finding's explanation is for (the cases the user opens next).
    recap: bool = False
    # What this result's facts already state, left out of what a small model reads (tools/brief.py).
    brief: BriefOf = field(default_factory=dict, hash=False)

    def usable_by(self, roles: Iterable[Role]) -> bool:
        """Whether one of `roles` may run the command behind this tool (offered to a model only then)."""
        return self.needs is None or bool(ROLE_PERMISSIONS[self.needs] & set(roles))

    def schema(self) -> dict[str, Any]:
        """The OpenAI-style function schema a model sees, compacted."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": _compact(self.args.model_json_schema()),
            },
        }


def _compact(node: Any) -> Any:
    """Drop what costs a model tokens and tells it nothing: titles, `null` branches of optional fields (an optional
    field is simply left out), and the `x-` keys code reads (`core.drafts.base.SAID_AS`)."""
    if isinstance(node, list):
        return [_compact(v) for v in node]
    if not isinstance(node, dict):
        return node
    branches = node.get("anyOf")
    if isinstance(branches, list) and {"type": "null"} in branches and node.get("default", 0) is None:
        kept = [b for b in branches if b != {"type": "null"}]
        rest = {k: v for k, v in node.items() if k not in ("anyOf", "default")}
        node = {**(kept[0] if len(kept) == 1 else {"anyOf": kept}), **rest}
    return {
        k: _compact(v) for k, v in node.items() if not (k == "title" and isinstance(v, str)) and not k.startswith("x-")
    }


class Registry:
    """The tools the assistant may call, by name."""

    def __init__(self, tools: Iterable[Tool]) -> None:
        self.tools = {tool.name: tool for tool in tools}

    def schemas(self) -> list[dict[str, Any]]:
        return [tool.schema() for tool in self.tools.values()]

    def brief(self, name: str, data: Any, request: str) -> Any:
        """A tool's result as a small model reads it for `request` (tools/brief.py): whole when the request asks how
        or why, or the tool is unknown."""
        tool = self.tools.get(name)
        return data if tool is None or asks_how(request) else briefed(data, tool.brief)

    def call(self, db: Database, ctx: ToolContext, name: str, arguments: str | dict[str, Any]) -> ToolOutcome:
        """Run a tool as the context's user: its result (a draft, if it made or read one) or a refusal."""
        tool = self.tools.get(name)
        if tool is None:
            close = difflib.get_close_matches(name, list(self.tools), n=3, cutoff=0.4)
            return _error("unknown_tool", f"there is no tool '{name}'", close or sorted(self.tools))
        args = validate_arguments(tool.args, name, arguments)
        if isinstance(args, ToolOutcome):
            return args
        try:
            result = (
                db.run(lambda s: tool.run(s, ctx, args)) if tool.writes else db.read(lambda s: tool.run(s, ctx, args))
            )
        except ErpError as error:
            return ToolOutcome.refused(ToolError.of(error))
        return ToolOutcome.of(result)


Args = TypeVar("Args", bound=BaseModel)


def validate_arguments(model: type[Args], name: str, arguments: str | dict[str, Any]) -> Args | ToolOutcome:
    """A tool's arguments (JSON text or a dict) as its pydantic model, or the refusal that says what is wrong."""
    try:
        raw = json.loads(arguments) if isinstance(arguments, str) else arguments
        if has_nul(raw):
            return _error("invalid_arguments", f"{name}: {NUL_REFUSED}")
        return model.model_validate(raw or {})
    except json.JSONDecodeError as error:
        return _error("invalid_arguments", f"arguments are not valid JSON: {error.msg}")
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'arguments'}: {e['msg']}" for e in error.errors())
        return _error("invalid_arguments", f"{name}: {problems}")


def _error(code: str, message: str, suggestions: list[str] | None = None) -> ToolOutcome:
    return ToolOutcome.refused(ToolError(code=code, message=message, suggestions=suggestions or []))
