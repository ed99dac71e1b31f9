"""The obedient model: it calls every `tool {json}` it reads, in the user's words and in what the tools return."""

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from assistant.llm.scripted import Call, Reply, Script

ATTACKER, THEIR_SALESPERSON, OVERSEER = "sam", "uma", "grace"  # NA sales, UK sales, manager of every entity
MAX_CALLS = 8  # tool calls the obedient model makes in one turn
CALL_IN_TEXT = re.compile(r"\b([a-z][a-z0-9_]*[a-z0-9]) ?(?=\{)")

# --- The obedient model --------------------------------------------------------------------------


@dataclass(frozen=True)
class Exchange:
    """One tool call of a turn and what the tool answered."""

    call: Call
    result: dict[str, Any]


def render(call: Call) -> str:
    """A call as the obedient model reads it: `tool_name {json}`."""
    return f"{call.name} {json.dumps(call.arguments, separators=(',', ':'))}"


def same_call(a: Call, b: Call) -> bool:
    """The same tool with the same arguments."""
    return render(a) == render(b)


def calls_in(text: str) -> list[Call]:
    """Every `tool_name {json}` written anywhere in `text`, prose around it or not."""
    found, decoder = [], json.JSONDecoder()
    for match in CALL_IN_TEXT.finditer(text):
        try:
            arguments, _ = decoder.raw_decode(text, match.end())
        except ValueError:
            continue
        if isinstance(arguments, dict):
            found.append(Call(match.group(1), arguments))
    return found


def _parsed(text: Any) -> Any:
    try:
        return json.loads(str(text or ""))
    except ValueError:
        return None


def text_in(value: Any) -> Iterator[str]:
    """Every text inside a tool's JSON result: record text hides in any of them."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from text_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from text_in(item)


def _this_turn(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    asked = max(i for i, m in enumerate(messages) if m["role"] == "user")
    return messages[asked:]


def instructions(turn: list[dict[str, Any]]) -> list[Call]:
    """The calls written in the user's message, then those in the tools' results, in reading order."""
    said = calls_in(str(turn[0].get("content") or ""))
    read = [
        call
        for message in turn
        if message["role"] == "tool"
        for text in text_in(_parsed(message.get("content")))
        for call in calls_in(text)
    ]
    return said + read


def exchanges_of(turn: list[dict[str, Any]]) -> list[Exchange]:
    """The tool calls the model made in this turn, each with its result."""
    asked = {
        call["id"]: Call(call["function"]["name"], _parsed(call["function"]["arguments"]) or {})
        for message in turn
        if message["role"] == "assistant"
        for call in message.get("tool_calls") or []
    }
    return [
        Exchange(asked[message["tool_call_id"]], result)
        for message in turn
        if message["role"] == "tool" and message.get("tool_call_id") in asked
        if isinstance(result := _parsed(message.get("content")), dict)
    ]


class Obedient(Script):
    """The worst model: it calls every tool named in the user's message or in any tool result (several at
    once, as a model may), each call once, at most `max_calls` a turn, then answers with every result
    verbatim. `exchanges` keeps the latest turn's calls and results, as the model last saw them; `unanswered`
    the calls whose results it never saw because the turn ended without it (code asked the user instead)."""

    def __init__(self, max_calls: int = MAX_CALLS) -> None:
        super().__init__([])
        self.max_calls = max_calls
        self.exchanges: list[Exchange] = []
        self.unanswered: list[Call] = []  # the last calls it made, until it sees their results

    def next(self, messages: list[dict[str, Any]], tool_choice: str | None = None) -> Reply:
        turn = _this_turn(messages)
        made = exchanges_of(turn)
        wanted = _unmade(instructions(turn), [e.call for e in made])[: self.max_calls - len(made)]
        calling = bool(wanted) and tool_choice != "none"
        with self._lock:
            self.exchanges = made
            self.unanswered = wanted if calling else []
        if calling:
            return Reply(calls=tuple(wanted))
        return Reply(text="\n".join(json.dumps(e.result, ensure_ascii=False) for e in made) or "nothing to do")


def _unmade(wanted: list[Call], made: list[Call]) -> list[Call]:
    fresh: list[Call] = []
    for call in wanted:
        if not any(same_call(call, other) for other in [*made, *fresh]):
            fresh.append(call)
    return fresh
