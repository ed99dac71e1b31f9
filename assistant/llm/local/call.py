"""One model call: the tools it may use, the prompt, generation under the model's lock, the parsed reply."""

import json
from collections.abc import Iterator, Sequence
from typing import Any

from assistant.llm.local.choice import NAME_OPENING, REPLY_OPENING, certain_after, offered, openers
from assistant.llm.local.grammar import output_grammar, tool_name, tool_parameters
from assistant.llm.local.model import Deadline, LocalModelTimeout, WarmUp, engine
from assistant.llm.local.parsing import AnswerStream, Reply, ToolCall, parse_output, tidy_arguments
from assistant.llm.local.prompt import conversation, template_message

ANSWER_MAX_TOKENS = 256  # a reply: one to three sentences are asked for
CALL_MAX_TOKENS = 512  # a tool call or a reply: a sales order of 20 lines takes about 400


def run(
    messages: Sequence[dict[str, Any]],
    tools: Sequence[dict[str, Any]] = (),
    *,
    tool_choice: Any = None,
    max_tokens: int | None = None,
    timeout_s: float | None = None,
) -> Iterator[str | Reply]:
    """One model call: the answer's text as it is written (str), then the whole `Reply`. It holds the model
    until it ends: close it if you stop reading early. With `timeout_s`, waiting for the model (another
    call holds it) and generating must end within that time, or `LocalModelTimeout` is raised."""
    deadline = Deadline.after(timeout_s) if timeout_s is not None else None
    plain = [template_message(m) for m in messages]
    allowed, answer = offered(plain, tools, tool_choice)
    messages, shared = conversation(plain, tools)
    model = engine()
    limit = max_tokens or (CALL_MAX_TOKENS if allowed else ANSWER_MAX_TOKENS)
    grammar = output_grammar(allowed, answer=answer) if tools else None
    opening = "" if not tools else NAME_OPENING if allowed else REPLY_OPENING
    names = openers(allowed, answer=answer)
    if not model.lock.acquire(timeout=max(deadline.left_s(), 0) if deadline else -1):
        raise LocalModelTimeout(deadline.timeout_s if deadline else 0)
    try:
        if shared and tools:
            model.ensure_prefix(model.prefix(messages[:shared], tools))
        prompt = model.prompt(messages, tools, limit)
        stream = AnswerStream() if grammar else None
        text: list[str] = []
        pieces = model.generate(
            prompt, grammar, limit, opening=opening, certain=lambda out: certain_after(out, names), deadline=deadline
        )
        for piece in pieces:
            text.append(piece)
            delta = stream.feed(piece) if stream else piece
            if delta:
                yield delta
        stats = model.last
    finally:
        model.lock.release()
    truncated = stats.completion_tokens >= limit
    output = "".join(text)
    content, call = parse_output(output, truncated=truncated) if grammar else (output.strip(), None)
    schema = next((tool_parameters(t) for t in allowed if call and tool_name(t) == call.name), None)
    if call and schema:
        call = ToolCall(call.name, json.dumps(tidy_arguments(json.loads(call.arguments), schema), ensure_ascii=False))
    yield Reply(
        content=content,
        tool_call=call,
        finish_reason="tool_calls" if call else ("length" if truncated else "stop"),
        prompt_tokens=stats.prompt_tokens,
        completion_tokens=stats.completion_tokens,
        cached_tokens=stats.cached_tokens,
    )


def complete(
    messages: Sequence[dict[str, Any]],
    tools: Sequence[dict[str, Any]] = (),
    *,
    tool_choice: Any = None,
    max_tokens: int | None = None,
    timeout_s: float | None = None,
) -> Reply:
    """One model call, waited for."""
    for event in run(messages, tools, tool_choice=tool_choice, max_tokens=max_tokens, timeout_s=timeout_s):
        if isinstance(event, Reply):
            return event
    raise AssertionError("run() ends with a Reply")


def warm_up(system: str, tools: Sequence[dict[str, Any]], *, fresh: bool = False) -> WarmUp:
    """Load the model and have the context hold the system prompt and tools, from disk if saved before
    (`fresh`: forget any saved copy and compute it)."""
    messages, shared = conversation([{"role": "system", "content": system}], tools)
    model = engine()
    with model.lock:
        tokens = model.prefix(messages[:shared], tools)
        if fresh:
            model._state_file(tokens).unlink(missing_ok=True)
            model.llama.reset()
        return model.ensure_prefix(tokens)
