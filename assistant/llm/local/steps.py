"""Several rounds of tools in one turn: after tool results, another tool or the answer, and never the same call twice.

The 1.5B model, asked again after a tool's result with every tool on offer and nothing else said, calls a tool
again (often the same one) far more often than it answers. What decides instead (`StepRule`, chosen by
measurement: evals/results/multistep_bench-latest.md):

- `rounds`: how many rounds of tool calls the user's message may take: "one" (then words only), "parts" (one
  per part of the request, as code splits it at "and", "then", "if so", ...), or "free" (until the agent's step
  cap);
- `note`: a progress note written by code after the tool results: the request, the calls made and their key
  facts, and "if the request still needs a step, call it; otherwise reply";
- `exclude`: "repeat" (a call that repeats one made since the user spoke is never returned: the model is asked
  for the answer instead, in the same call, from the cached prompt) or "called" (a tool already called since
  the user spoke leaves the grammar: it cannot be called again in that turn);
- `decide`: a one-token constrained decision (`{"next": "tool"}` or `{"next": "answer"}`) before the output,
  which then may only call a tool or only reply.
"""

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from assistant.conditions import (
    CHANGE_WORDS,
    GUARD_CODES,
    LOOK_FIRST,
    last_request,
    loaded,
    only_asks,
    previewed_calls,
    since_user,
    stock_condition,
    writes_left,
)
from assistant.llm.local.grammar import tool_name
from prompts import text

Rounds = Literal["one", "parts", "free"]
Exclude = Literal["repeat", "called"]
FACTS_PER_RESULT = 6  # top-level figures of a tool result the note repeats
FACT_CHARS = 60  # a figure's text longer than this is cut
GUARD_ROUNDS = 2  # a call code sent back (look first, one transfer per route) adds the look-up and the call again
DECISION_GRAMMAR = 'root ::= "{\\"next\\": \\"" ("tool" | "answer") "\\"}"'
DECISION_OPENING = '{"next": "'
PROGRESS_NOTE = text("local/progress_note.md")  # the note's last line, after the calls made and their facts
NEXT_STEP = text("local/next_step.md")  # the question the one-token decision answers


@dataclass(frozen=True)
class StepRule:
    rounds: Rounds = "one"
    note: bool = False
    exclude: Exclude = "repeat"
    decide: bool = False
    look_first: bool = False  # a request of several parts that asks to look something up: no draft in round one


# The rules the benchmark compares (evals/bench/multistep_bench.py --rule NAME).
RULES: dict[str, StepRule] = {
    "one": StepRule(rounds="one"),
    "free": StepRule(rounds="free"),
    "free-called": StepRule(rounds="free", exclude="called"),
    "note": StepRule(rounds="free", note=True),
    "note-called": StepRule(rounds="free", note=True, exclude="called"),
    "parts": StepRule(rounds="parts"),
    "parts-note": StepRule(rounds="parts", note=True),
    "parts-called": StepRule(rounds="parts", exclude="called"),
    "parts-note-called": StepRule(rounds="parts", note=True, exclude="called"),
    "decide": StepRule(rounds="free", decide=True),
    "decide-called": StepRule(rounds="free", exclude="called", decide=True),
    "decide-note-called": StepRule(rounds="free", note=True, exclude="called", decide=True),
    "parts-note-look": StepRule(rounds="parts", note=True, look_first=True),
}
# Chosen on the dev set (evals/results/multistep_bench-latest.md): against "one", multi-step requests complete and
# single-step ones do not regress; "called" (no tool twice) pushed the model to a wrong tool instead of answering.
RULE = RULES["parts-note-look"]


@dataclass
class Tally:
    """How often the model was about to repeat a call and answered instead (for the benchmark)."""

    repeats_answered: int = 0


TALLY = Tally()


@dataclass(frozen=True)
class Plan:
    """What one call may output, from the turn so far: the tools, whether words, what code adds to the prompt."""

    tools: list[dict[str, Any]]
    answer: bool
    note: str | None = None  # a system message after the tool results
    decide: bool = False  # ask the one-token decision first
    made: frozenset[str] = frozenset()  # calls made since the user spoke (call_key); one of them is not returned


def plan(
    messages: Sequence[dict[str, Any]],
    tools: Sequence[dict[str, Any]],
    offered: tuple[list[dict[str, Any]], bool],
    tool_choice: Any,
    rule: StepRule | None = None,
) -> Plan:
    """The plan of a call whose `tool_choice` offers `offered` (tools, words): the rule applies only to "auto",
    and only once tools have answered the user's message."""
    rule = rule or RULE
    allowed, answer = offered
    calls = calls_since_user(messages)
    if not _auto(tool_choice) or not tools:
        return Plan(allowed, answer)
    if not calls:
        looking = (rule.look_first and looks_first(messages)) or only_asks(last_request(messages))
        return Plan([t for t in allowed if not writes(t)] if looking else allowed, answer)
    rounds = tool_rounds(messages)
    budget = {"one": 1, "parts": request_parts(last_request(messages)), "free": 10**6}[rule.rounds]
    if rounds >= budget + GUARD_ROUNDS * guarded_rounds(messages) or (
        previewed(messages) and not writes_left(messages)
    ):
        return Plan([], True)
    made = frozenset(call_key(name, arguments) for name, arguments in calls_made(messages))
    if rule.exclude == "called":
        called = {name for name, _ in calls}
        allowed = [t for t in allowed if tool_name(t) not in called]
    if not asks_for_change(last_request(messages)):
        allowed = [t for t in allowed if not writes(t)]
    out = Plan(allowed, answer, made=made, decide=rule.decide and bool(allowed) and answer)
    return replace(out, note=progress_note(messages)) if rule.note and allowed else out


def _auto(tool_choice: Any) -> bool:
    """Whether the model may choose: "auto", or code's subset of the tools in OpenAI's "allowed_tools" form with
    mode "auto" (the step rule still applies within it)."""
    if isinstance(tool_choice, dict) and tool_choice.get("type") == "allowed_tools":
        return bool((tool_choice.get("allowed_tools") or {}).get("mode", "auto") == "auto")
    return tool_choice in (None, "auto")


def previewed(messages: Sequence[dict[str, Any]]) -> bool:
    """Whether a draft tool answered since the user spoke: its preview waits for the user's confirmation, so
    the turn answers now (a 1.5B model asked again after a preview looks up the draft, the policies, ...), unless
    the request asks for another write no draft has covered yet (`writes_left`)."""
    return bool(previewed_calls(messages))


def last_round_sent_back(messages: Sequence[dict[str, Any]]) -> bool:
    """Whether code sent every call of the last round since the user spoke back to be made otherwise."""
    results = {m.get("tool_call_id"): _result(m) for m in since_user(messages) if m["role"] == "tool"}
    rounds = [[c.get("id") for c in m.get("tool_calls") or []] for m in since_user(messages) if m.get("tool_calls")]
    return bool(rounds) and all(_guarded(results.get(i)) for i in rounds[-1])


def redo_after_look_up(messages: Sequence[dict[str, Any]]) -> tuple[str, ...]:
    """The draft tools code sent back to look first, when the round after them made those look-ups and drafted
    nothing: the draft comes now ("EX-4: order the missing P-240" read the case; the 1.5B model, free to choose,
    answered with what the case said instead of drafting). Empty otherwise."""
    results = {m.get("tool_call_id"): _result(m) for m in since_user(messages) if m["role"] == "tool"}
    rounds = [m.get("tool_calls") or [] for m in since_user(messages) if m.get("tool_calls")]
    if len(rounds) < 2 or any(_guarded(results.get(c.get("id"))) for c in rounds[-1]):
        return ()
    sent_back = [c for c in rounds[-2] if (results.get(c.get("id")) or {}).get("error") == LOOK_FIRST]
    if not sent_back or len(sent_back) < len(rounds[-2]) or any(writes_call(c) for c in rounds[-1]):
        return ()
    return tuple(dict.fromkeys(str(c["function"]["name"]) for c in sent_back if writes_call(c)))


def writes_call(call: dict[str, Any]) -> bool:
    return is_write(str((call.get("function") or {}).get("name", "")))


def guarded_rounds(messages: Sequence[dict[str, Any]]) -> int:
    """Rounds since the user spoke whose every call code sent back to be made otherwise (look the stock up first,
    one transfer per route): each adds `GUARD_ROUNDS` to the request's rounds, for the look-up and the call again."""
    results = {m.get("tool_call_id"): _result(m) for m in since_user(messages) if m["role"] == "tool"}
    rounds = [[c.get("id") for c in m.get("tool_calls") or []] for m in since_user(messages) if m.get("tool_calls")]
    return sum(1 for ids in rounds if ids and all(_guarded(results.get(i)) for i in ids))


def _guarded(data: dict[str, Any] | None) -> bool:
    return data is not None and data.get("error") in GUARD_CODES


def _result(message: dict[str, Any]) -> dict[str, Any]:
    return loaded(message.get("content"))


WRITE_PREFIXES = ("draft_", "request_")  # the registry's write tools: draft_*, request_credit_hold_release


# The words of a look-up that a later part of the request depends on ("see whether ... and if so order").
LOOKUP_WORDS = re.compile(
    r"\b(?:check|see whether|see if|whether|find|look up|look at|look it up|how many|how much|if|is there|are there)\b",
    re.IGNORECASE,
)


def looks_first(messages: Sequence[dict[str, Any]]) -> bool:
    """Whether the request has several parts, one of them a look-up: its first round looks, a draft comes after
    (the 1.5B model otherwise drafts at once, skipping the check the user asked for, and guesses its figures)."""
    request = last_request(messages)
    asks_to_look = LOOKUP_WORDS.search(request) is not None or stock_condition(request) is not None
    return request_parts(request) > 1 and asks_to_look


def asks_for_change(text: str) -> bool:
    return CHANGE_WORDS.search(text) is not None


def writes(tool: dict[str, Any]) -> bool:
    return is_write(tool_name(tool))


def is_write(name: str) -> bool:
    """Whether a tool of this name writes (a draft, a request): the one test the step rule and routing share."""
    return name.startswith(WRITE_PREFIXES)


def tool_rounds(messages: Sequence[dict[str, Any]]) -> int:
    """How many times tools were called since the user last spoke."""
    rounds = 0
    for message in reversed(messages):
        if message["role"] == "user":
            break
        rounds += bool(message.get("tool_calls"))
    return rounds


def calls_since_user(messages: Sequence[dict[str, Any]]) -> list[tuple[str, Any]]:
    """(name, arguments) of each tool call made since the user last spoke, oldest first."""
    out = []
    for message in since_user(messages):
        for call in message.get("tool_calls") or []:
            function = call.get("function") or {}
            out.append((str(function.get("name", "")), _arguments(function.get("arguments"))))
    return out


def calls_made(messages: Sequence[dict[str, Any]]) -> list[tuple[str, Any]]:
    """The calls since the user spoke that ran or were refused for good: a call code sent back to look the stock up
    first may be made again."""
    results = {m.get("tool_call_id"): _result(m) for m in since_user(messages) if m["role"] == "tool"}
    return [
        (str((c.get("function") or {}).get("name", "")), _arguments((c.get("function") or {}).get("arguments")))
        for m in since_user(messages)
        for c in m.get("tool_calls") or []
        if not _guarded(results.get(c.get("id")))
    ]


def call_key(name: str, arguments: Any) -> str:
    """A call's identity: its name and arguments, key order and `null`s aside."""
    arguments = _arguments(arguments)
    if isinstance(arguments, dict):
        arguments = {k: v for k, v in arguments.items() if v is not None}
    return f"{name}:{json.dumps(arguments, sort_keys=True, ensure_ascii=False)}"


def _arguments(arguments: Any) -> Any:
    if isinstance(arguments, str):
        try:
            return json.loads(arguments or "{}")
        except ValueError:
            return arguments
    return arguments if arguments is not None else {}


# A request's parts: "check X and if so order it", "look it up, then tell me ...", "A as well as B".
PART_BREAK = re.compile(
    r"\b(?:and then|and if so|and if|if so|then|and|also|as well as|plus|after that|afterwards|vs|versus)\b|[;,?]"
    r"|\s\+\s*|\s*\+\s|\s&\s",  # "status so2253 + so2258?", "BRAZOSHV vs LONESTAR3"
    re.IGNORECASE,
)


def request_parts(text: str) -> int:
    """How many steps the request's wording may ask for, as code counts them: one, plus one per break between
    two non-empty parts (at most 4). Over-counting costs nothing when the model answers anyway; it only lifts
    the ceiling."""
    parts = [p for p in PART_BREAK.split(text) if re.search(r"\w", p)]
    return max(1, min(4, len(parts)))


def progress_note(messages: Sequence[dict[str, Any]]) -> str:
    """Code's account of the turn so far, for the model to decide on: the request, each call and its key facts,
    and what to do next."""
    lines = [f'The user asked: "{last_request(messages)}". Done so far:']
    results = {m.get("tool_call_id"): m.get("content") for m in since_user(messages) if m["role"] == "tool"}
    for message in since_user(messages):
        for call in message.get("tool_calls") or []:
            function = call.get("function") or {}
            arguments = json.dumps(_arguments(function.get("arguments")), ensure_ascii=False)
            lines.append(f"- {function.get('name')} {arguments} -> {key_facts(results.get(call.get('id')))}")
    lines.append(PROGRESS_NOTE)
    return "\n".join(lines)


def key_facts(content: Any) -> str:
    """A tool result in one line: its refusal, or its first few top-level figures and how many rows each list
    holds."""
    try:
        data = json.loads(str(content))
    except ValueError:
        return str(content)[:FACT_CHARS]
    if not isinstance(data, dict):
        return f"{len(data)} rows" if isinstance(data, list) else str(data)[:FACT_CHARS]
    if "error" in data:
        return f"refused ({data.get('error')}): {str(data.get('message', ''))[: FACT_CHARS * 2]}"
    facts = []
    for key, value in data.items():
        if isinstance(value, list):
            facts.append(f"{key}: {len(value)} rows")
        elif isinstance(value, dict):
            continue
        elif value is not None:
            facts.append(f"{key}: {str(value)[:FACT_CHARS]}")
        if len(facts) >= FACTS_PER_RESULT:
            break
    return "; ".join(facts) or "done"
