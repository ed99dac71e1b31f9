"""One model call: the tools it may use, the prompt, generation under the model's lock, the parsed reply."""

import json
from collections.abc import Generator, Iterator, Sequence
from typing import Any

from assistant.llm.local.choice import NAME_OPENING, REPLY_OPENING, call_plan, certain_after, openers
from assistant.llm.local.grammar import Idle, output_grammar, tool_name, tool_parameters
from assistant.llm.local.model import Deadline, Engine, LocalModelTimeout, WarmUp, engine
from assistant.llm.local.parsing import (
    AnswerStream,
    Reply,
    ToolCall,
    parse_output,
    reply_output,
    sentences_end,
    tidy_arguments,
)
from assistant.llm.local.prompt import conversation, template_message
from assistant.llm.local.steps import DECISION_GRAMMAR, DECISION_OPENING, NEXT_STEP, TALLY, call_key, calls_since_user
from core.settings import get_settings
from prompts import text

ROUTED_PART = text("local/routed_part.md")
ANSWER_MAX_TOKENS = 256  # a reply: one to three sentences are asked for
CALL_MAX_TOKENS = 512  # a tool call or a reply: a sales order of 20 lines takes about 400
DECISION_TOKENS = 4  # {"next": "tool"} after its opening


def run(
    messages: Sequence[dict[str, Any]],
    tools: Sequence[dict[str, Any]] = (),
    *,
    tool_choice: Any = None,
    max_tokens: int | None = None,
    timeout_s: float | None = None,
    focus: str | None = None,
    idle: Idle | None = None,
) -> Iterator[str | Reply]:
    """One model call: the answer's text as it is written (str), then the whole `Reply`. It holds the model
    until it ends: close it if you stop reading early. With `timeout_s`, waiting for the model (another
    call holds it) and generating must end within that time, or `LocalModelTimeout` is raised.

    After tool results, what the call may output follows the step rule (`steps`): a call that repeats one
    made since the user spoke is never returned; the answer is generated instead, from the same prompt.
    `idle`: per tool, optional arguments the output leaves out (nothing in the conversation could support them)."""
    deadline = Deadline.after(timeout_s) if timeout_s is not None else None
    plain = [template_message(m) for m in messages]
    chosen = call_plan(plain, tools, tool_choice)
    examples = examples_per_request()
    messages, shared = conversation(plain, tools, examples)
    if chosen.note:
        messages.append({"role": "system", "content": chosen.note})
    if focus and chosen.tools:  # the part of the request code routed this call to (assistant.routing)
        messages.append({"role": "system", "content": ROUTED_PART.format(part=focus)})
    model = engine()
    if not model.lock.acquire(timeout=max(deadline.left_s(), 0) if deadline else -1):
        raise LocalModelTimeout(deadline.timeout_s if deadline else 0)
    try:
        if shared and tools and examples is None:  # a prefix of one request's own is not saved to disk
            model.ensure_prefix(model.prefix(messages[:shared], tools))
        allowed, answer, spent = chosen.tools, chosen.answer, 0
        if chosen.decide:
            wants_tool, spent = decide(model, messages, tools, deadline)
            allowed, answer = (allowed, False) if wants_tool else ([], True)
        limit = max_tokens or (CALL_MAX_TOKENS if allowed else ANSWER_MAX_TOKENS)
        prompt = model.prompt(messages, tools, limit)
        most = answer_sentences(plain)
        output, truncated = yield from _output(model, prompt, tools, allowed, answer, limit, deadline, idle, most)
        spent += model.last.completion_tokens
        content, call = parse_output(output, truncated=truncated) if tools else (output.strip(), None)
        call = _tidied(call, allowed)
        if call and call_key(call.name, call.arguments) in chosen.made:  # asked again: the answer instead
            TALLY.repeats_answered += 1
            output, truncated = yield from _output(model, prompt, tools, [], True, limit, deadline, sentences=most)
            spent += model.last.completion_tokens
            content, call = parse_output(output, truncated=truncated)
        stats = model.last
    finally:
        model.lock.release()
    yield Reply(
        content=content,
        tool_call=call,
        finish_reason="tool_calls" if call else ("length" if truncated else "stop"),
        prompt_tokens=stats.prompt_tokens,
        completion_tokens=spent,
        cached_tokens=stats.cached_tokens,
    )


def examples_per_request() -> int | None:
    """How many worked examples a call shows, the closest to its request (`ERP_LOCAL_EXAMPLES`) when tools are
    chosen per request (`ERP_LOCAL_TOOL_SUBSET`); None: every example of the tools offered, as the cached
    prefix has them."""
    settings = get_settings()
    return settings.local_examples if settings.local_tool_subset else None


def answer_sentences(messages: Sequence[dict[str, Any]]) -> int | None:
    """How many sentences an answer may have (`ERP_LOCAL_ANSWER_SENTENCES`): after tool results only, whose facts
    code recaps under the answer (a question to the user, a greeting, a refusal are not cut); None: no limit."""
    most = get_settings().local_answer_sentences
    return most if most and calls_since_user(messages) else None


def _output(
    model: Engine,
    prompt: list[int],
    tools: Sequence[dict[str, Any]],
    allowed: Sequence[dict[str, Any]],
    answer: bool,
    limit: int,
    deadline: Deadline | None,
    idle: Idle | None = None,
    sentences: int | None = None,
) -> Generator[str, None, tuple[str, bool]]:
    """One generation within the output grammar of `allowed` (and `reply` if `answer`): the answer's text as
    it is written; returns the whole output and whether it was cut off at `limit`. An answer ends after its
    `sentences`-th sentence: the model stops there, and the output is closed as the model would have closed it
    (the 1.5B model goes on quoting the results' facts, which code recaps under the answer anyway, at a few tokens
    a second)."""
    grammar = output_grammar(allowed, answer=answer, idle=idle) if tools else None
    opening = "" if not tools else NAME_OPENING if allowed else REPLY_OPENING
    names = openers(allowed, answer=answer)
    stream = AnswerStream() if grammar else None
    text: list[str] = []
    pieces = model.generate(
        prompt, grammar, limit, opening=opening, certain=lambda out: certain_after(out, names), deadline=deadline
    )
    said = ""
    for piece in pieces:
        text.append(piece)
        delta = stream.feed(piece) if stream else piece
        end = sentences_end(said + delta, sentences) if sentences and stream and stream.is_answer else None
        if end is not None:  # the last sentence allowed is written: stop here, before the next one
            if end > len(said):
                yield (said + delta)[len(said) : end]
            pieces.close()
            return reply_output((said + delta)[:end].strip()), False
        said += delta
        if delta:
            yield delta
    return "".join(text), model.last.completion_tokens >= limit


def _tidied(call: ToolCall | None, allowed: Sequence[dict[str, Any]]) -> ToolCall | None:
    """The call without the idle optional arguments small models fill in (`tidy_arguments`)."""
    schema = next((tool_parameters(t) for t in allowed if call and tool_name(t) == call.name), None)
    if call is None or schema is None:
        return call
    return ToolCall(call.name, json.dumps(tidy_arguments(json.loads(call.arguments), schema), ensure_ascii=False))


def decide(
    model: Engine, messages: list[dict[str, Any]], tools: Sequence[dict[str, Any]], deadline: Deadline | None
) -> tuple[bool, int]:
    """The one-token decision after tool results: whether the request needs another tool (else the answer),
    and the tokens it generated. The question is asked after the conversation and then dropped from it."""
    prompt = model.prompt([*messages, {"role": "system", "content": NEXT_STEP}], tools, DECISION_TOKENS)
    said = ""
    for piece in model.generate(prompt, DECISION_GRAMMAR, DECISION_TOKENS, opening=DECISION_OPENING, deadline=deadline):
        said += piece
        if "tool" in said or "answer" in said:
            break
    return "tool" in said, model.last.completion_tokens


def complete(
    messages: Sequence[dict[str, Any]],
    tools: Sequence[dict[str, Any]] = (),
    *,
    tool_choice: Any = None,
    max_tokens: int | None = None,
    timeout_s: float | None = None,
    focus: str | None = None,
    idle: Idle | None = None,
) -> Reply:
    """One model call, waited for."""
    run_ = run(
        messages, tools, tool_choice=tool_choice, max_tokens=max_tokens, timeout_s=timeout_s, focus=focus, idle=idle
    )
    for event in run_:
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
