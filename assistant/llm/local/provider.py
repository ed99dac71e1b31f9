"""litellm's custom provider `local/...`: the local model behind `litellm.completion`, streaming or not."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import litellm  # assistant.llm (imported first, as this package's parent) has pointed litellm at its local price map
from litellm.llms.custom_llm import CustomLLM
from litellm.types.utils import GenericStreamingChunk, ModelResponse

from assistant.llm.local.call import complete, run
from assistant.llm.local.model import LocalModelUnavailable, engine
from assistant.llm.local.parsing import Reply, ToolCall

PROVIDER = "local"
MODEL_NAME = "qwen2.5-coder-1.5b"
MODEL = f"{PROVIDER}/{MODEL_NAME}"


def _usage(reply: Reply) -> dict[str, Any]:
    return {
        "prompt_tokens": reply.prompt_tokens,
        "completion_tokens": reply.completion_tokens,
        "total_tokens": reply.prompt_tokens + reply.completion_tokens,
        "prompt_tokens_details": {"cached_tokens": reply.cached_tokens},
    }


def _tool_call(call: ToolCall, index: int = 0) -> dict[str, Any]:
    return {
        "id": f"call_{uuid.uuid4().hex[:24]}",
        "type": "function",
        "function": {"name": call.name, "arguments": call.arguments},
        "index": index,
    }


def _chunk(text: str = "", **extra: Any) -> GenericStreamingChunk:
    chunk: GenericStreamingChunk = {
        "text": text,
        "tool_use": None,
        "is_finished": False,
        "finish_reason": "",
        "usage": None,
        "index": 0,
    }
    chunk.update(extra)  # type: ignore[typeddict-item]
    return chunk


def _call_args(messages: list[Any], optional_params: dict[str, Any], timeout: Any = None) -> dict[str, Any]:
    return {
        "timeout_s": float(timeout) if isinstance(timeout, int | float) else None,
        "messages": messages,
        "tools": optional_params.get("tools") or (),
        "tool_choice": _tool_choice(optional_params),
        "max_tokens": optional_params.get("max_tokens") or optional_params.get("max_completion_tokens"),
        "focus": optional_params.get("routed_part"),
        "idle": optional_params.get("idle_arguments"),
    }


def _tool_choice(optional_params: dict[str, Any]) -> Any:
    """The call's `tool_choice`; with the agent's `allowed_tools` (code's routing of a request's part) and "auto" or
    "required", OpenAI's "allowed_tools" form of it, which litellm's own check does not pass through."""
    choice, names = optional_params.get("tool_choice"), optional_params.get("allowed_tools")
    if names is None or choice not in (None, "auto", "required"):
        return choice
    listed = [{"type": "function", "function": {"name": str(name)}} for name in names]
    return {"type": "allowed_tools", "allowed_tools": {"mode": choice or "auto", "tools": listed}}


class LocalLLM(CustomLLM):
    """litellm's door to the local model: `completion(model="local/...")` with tools, streaming or not.

    litellm calls these with keyword arguments only; the ones not named here (api_key, logging_obj, ...) mean
    nothing to an in-process model. A missing model raises `LocalModelUnavailable` at the call, also when
    streaming, and litellm hands it on as an APIConnectionError (see `unavailable_from`)."""

    def completion(  # type: ignore[override]
        self,
        model: str,
        messages: list[Any],
        model_response: ModelResponse,
        optional_params: dict[str, Any],
        timeout: Any = None,
        **_: Any,
    ) -> ModelResponse:
        reply = complete(**_call_args(messages, optional_params, timeout))
        calls = [_tool_call(reply.tool_call)] if reply.tool_call else None
        choice = model_response.choices[0]
        choice.message = litellm.Message(role="assistant", content=reply.content, tool_calls=calls)
        choice.finish_reason = reply.finish_reason  # type: ignore[assignment]
        model_response.model = model
        setattr(model_response, "usage", litellm.Usage(**_usage(reply)))  # noqa: B010
        return model_response

    def streaming(  # type: ignore[override]
        self, messages: list[Any], optional_params: dict[str, Any], timeout: Any = None, **_: Any
    ) -> Iterator[GenericStreamingChunk]:
        call = _call_args(messages, optional_params, timeout)
        engine()  # fail here, where litellm reports it, rather than in the middle of the stream
        return _chunks(run(**call))

    async def acompletion(self, **kwargs: Any) -> ModelResponse:  # type: ignore[override]
        return await asyncio.to_thread(self.completion, **kwargs)

    def astreaming(self, **kwargs: Any) -> AsyncIterator[GenericStreamingChunk]:  # type: ignore[override]
        return _async_chunks(self.streaming(**kwargs))


def _chunks(events: Iterator[str | Reply]) -> Iterator[GenericStreamingChunk]:
    for event in events:
        if isinstance(event, str):
            yield _chunk(event)
            continue
        if event.tool_call:
            yield _chunk(tool_use=_tool_call(event.tool_call))
        yield _chunk(is_finished=True, finish_reason=event.finish_reason, usage=_usage(event))


async def _async_chunks(chunks: Iterator[GenericStreamingChunk]) -> AsyncIterator[GenericStreamingChunk]:
    """The stream generated in a worker thread, chunk by chunk, so the event loop stays free."""
    try:
        while (chunk := await asyncio.to_thread(next, chunks, None)) is not None:
            yield chunk
    finally:
        close = getattr(chunks, "close", None)
        if close:
            close()


def unavailable_from(error: BaseException) -> LocalModelUnavailable | None:
    """The `LocalModelUnavailable` behind an error litellm raised, if that is what it was."""
    seen: BaseException | None = error
    for _ in range(10):
        if seen is None or isinstance(seen, LocalModelUnavailable):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


_handler = LocalLLM()


def register() -> None:
    """Make `local/...` model strings reach this process's local model (idempotent)."""
    litellm.suppress_debug_info = True
    entries = [e for e in litellm.custom_provider_map if e.get("provider") != PROVIDER]
    litellm.custom_provider_map = [*entries, {"provider": PROVIDER, "custom_handler": _handler}]
