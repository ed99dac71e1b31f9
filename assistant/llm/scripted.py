"""A scripted model: a litellm custom provider that replays given tool calls and answers.

Graph tests and the overhead benchmark run the real code path (litellm, the graph, the
tools) with a model whose every reply is known in advance:

    model = scripted_model(Script([Reply(calls=(Call("check_availability", {"sku": "V-200"}),)),
                                   Reply(text="12 available at ATL.")]))
    litellm.completion(model=model, messages=..., tools=...)
"""

import importlib
import itertools
import json
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from litellm import Message, ModelResponse
from litellm.llms.custom_llm import CustomLLM
from litellm.types.utils import ChatCompletionMessageToolCall, Function, GenericStreamingChunk, Usage


@dataclass(frozen=True)
class Call:
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Reply:
    """One model reply: tool calls (several means parallel calls), or an answer."""

    text: str | None = None
    calls: tuple[Call, ...] = ()


Responder = Callable[[list[dict[str, Any]]], Reply]


class Script:
    """Replies in order; a callable entry decides from the messages it is given."""

    def __init__(self, replies: Iterable[Reply | Responder]) -> None:
        self._replies = list(replies)
        self._lock = threading.Lock()
        self.seen: list[list[dict[str, Any]]] = []
        self.tool_choices: list[str | None] = []

    def next(self, messages: list[dict[str, Any]], tool_choice: str | None = None) -> Reply:
        with self._lock:
            self.seen.append(messages)
            self.tool_choices.append(tool_choice)
            if len(self.seen) > len(self._replies):
                return Reply(text="(the script has no more replies)")
            entry = self._replies[len(self.seen) - 1]
        return entry if isinstance(entry, Reply) else entry(messages)


_scripts: dict[str, Script] = {}
_ids = itertools.count(1)


def scripted_model(script: Script) -> str:
    """Register a script and return the litellm model string that plays it."""
    name = f"s{next(_ids)}-{uuid.uuid4().hex[:6]}"
    _scripts[name] = script
    return f"scripted/{name}"


def _script_for(model: str) -> Script:
    name = model.removeprefix("scripted/")
    if name not in _scripts and ":" in name:
        _scripts[name] = _imported(name)
    if name not in _scripts:
        raise KeyError(f"no script registered as '{model}'")
    return _scripts[name]


def _imported(spec: str) -> Script:
    """`scripted/package.module:factory` names a function returning a Script: how a server started in
    another process (the web load benchmark) gets a scripted model. Only for tests and benchmarks."""
    module_name, _, attribute = spec.partition(":")
    factory = getattr(importlib.import_module(module_name), attribute)
    script = factory()
    if not isinstance(script, Script):
        raise TypeError(f"{spec} returned {type(script).__name__}, not a Script")
    return script


def _tokens(messages: list[dict[str, Any]]) -> int:
    return max(1, sum(len(str(m.get("content") or "")) for m in messages) // 4)


def _tool_calls(reply: Reply, salt: int) -> list[ChatCompletionMessageToolCall]:
    return [
        ChatCompletionMessageToolCall(
            id=f"call_{salt}_{i}", type="function", function=Function(name=c.name, arguments=json.dumps(c.arguments))
        )
        for i, c in enumerate(reply.calls)
    ]


class ScriptedLLM(CustomLLM):
    """litellm's `scripted/<name>` provider."""

    def completion(self, model: str, messages: list[dict[str, Any]], *args: Any, **kwargs: Any) -> ModelResponse:
        reply = _script_for(model).next(messages, _tool_choice(kwargs, args))
        calls = _tool_calls(reply, len(messages))
        response: ModelResponse = kwargs.get("model_response") or (args[3] if len(args) > 3 else ModelResponse())
        response.choices[0].message = Message(role="assistant", content=reply.text, tool_calls=calls or None)
        response.choices[0].finish_reason = "tool_calls" if calls else "stop"
        completion_tokens = max(1, len(reply.text or "") // 4 + 10 * len(calls))
        response.usage = Usage(
            prompt_tokens=_tokens(messages),
            completion_tokens=completion_tokens,
            total_tokens=_tokens(messages) + completion_tokens,
        )
        response.model = model
        return response

    def streaming(
        self, model: str, messages: list[dict[str, Any]], *args: Any, **kwargs: Any
    ) -> Iterator[GenericStreamingChunk]:
        reply = _script_for(model).next(messages, _tool_choice(kwargs, args))
        words = (reply.text or "").split(" ")
        for i, word in enumerate(words if reply.text else []):
            yield _chunk(word if i == 0 else f" {word}")
        for i, call in enumerate(_tool_calls(reply, len(messages))):
            chunk = _chunk("")
            chunk["tool_use"] = {
                "id": call.id,
                "type": "function",
                "function": {"name": call.function.name, "arguments": call.function.arguments},
                "index": i,
            }
            yield chunk
        done = _chunk("")
        done["is_finished"] = True
        done["finish_reason"] = "tool_calls" if reply.calls else "stop"
        completion_tokens = max(1, len(reply.text or "") // 4 + 10 * len(reply.calls))
        done["usage"] = {
            "prompt_tokens": _tokens(messages),
            "completion_tokens": completion_tokens,
            "total_tokens": _tokens(messages) + completion_tokens,
        }
        yield done

    async def acompletion(self, model: str, messages: list[dict[str, Any]], *args: Any, **kwargs: Any) -> ModelResponse:
        return self.completion(model, messages, *args, **kwargs)

    async def astreaming(  # type: ignore[override]
        self, model: str, messages: list[dict[str, Any]], *args: Any, **kwargs: Any
    ) -> AsyncIterator[GenericStreamingChunk]:
        for chunk in self.streaming(model, messages, *args, **kwargs):
            yield chunk


def _tool_choice(kwargs: dict[str, Any], args: tuple[Any, ...]) -> str | None:
    params = kwargs.get("optional_params") or (args[8] if len(args) > 8 else {})
    choice = params.get("tool_choice") if isinstance(params, dict) else None
    return choice if isinstance(choice, str) else None


def _chunk(text: str) -> GenericStreamingChunk:
    return {"text": text, "tool_use": None, "is_finished": False, "finish_reason": "", "usage": None, "index": 0}
