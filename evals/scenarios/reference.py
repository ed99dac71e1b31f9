"""A task's reference solution played by the scripted model: it proves the task can be passed.

Each reference turn makes its tool calls through the real assistant (graph, tools, policy gate)
and answers with its `say` text, whose `{i.path}` placeholders are filled from the results the
tools actually returned. A task whose reference fails has an expectation the core contradicts.
"""

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from assistant.llm.scripted import Call, Reply, Script, scripted_model
from evals.scenarios.task import RefCall, RefTurn, Task

PLACEHOLDER = re.compile(r"\{(\d+)((?:\.[\w-]+)+)\}")


@dataclass
class Reference:
    """The model string that plays a task's reference, and what went wrong filling its answers."""

    model: str
    errors: list[str] = field(default_factory=list)


def reference_model(task: Task) -> Reference:
    """A scripted model that plays the task's reference solution.

    It reacts to the conversation rather than replaying a fixed list: each time it is asked, it makes the
    current turn's first round of calls not yet made since the user spoke, or answers once all are made. A
    call code made itself (a correction redone by code) counts as made, and a turn code answered itself (a
    question, a preview) asks nothing of it.
    """
    if not task.reference:
        raise ValueError(f"task {task.id} has no reference solution")
    errors: list[str] = []
    seen: list[str] = []  # the user messages met so far: the current one's position is the reference turn

    def respond(messages: list[dict[str, Any]]) -> Reply:
        users = [i for i, m in enumerate(messages) if m["role"] == "user"]
        said = str(messages[users[-1]].get("content") or "") if users else ""
        if not seen or seen[-1] != said:
            seen.append(said)
        turn = task.reference[min(len(seen), len(task.reference)) - 1]
        since = messages[users[-1] + 1 :] if users else []
        pending = _next_round(turn, since)
        if pending is not None:
            return Reply(calls=tuple(Call(c.tool, c.args) for c in pending))
        return _answer(turn, messages, errors) if turn.rounds else Reply(text=turn.say)

    return Reference(scripted_model(Script([respond] * MAX_CALLS)), errors)


MAX_CALLS = 64  # model calls a task's reference may take, all turns together


def _next_round(turn: RefTurn, since: list[dict[str, Any]]) -> list[RefCall] | None:
    """The turn's first round whose calls were not all made since the user spoke (by the model or by code)."""
    made = Counter(c["function"]["name"] for m in since for c in m.get("tool_calls") or [])
    for calls in turn.rounds:
        needed = Counter(c.tool for c in calls)
        if any(made[name] < count for name, count in needed.items()):
            return calls
        made -= needed
    return None


def _answer(turn: RefTurn, messages: list[dict[str, Any]], errors: list[str]) -> Reply:
    """The turn's answer, its placeholders filled from the results of the turn's calls (all rounds)."""
    count = sum(len(calls) for calls in turn.rounds)
    results = [json.loads(m["content"]) for m in messages if m.get("role") == "tool"][-count:]
    try:
        if len(results) != count:
            raise KeyError(f"expected {count} tool results, got {len(results)}")
        return Reply(text=fill(turn.say, results))
    except KeyError as error:  # a result without the field the reference quotes: the task is wrong
        errors.append(str(error))
        raise


def fill(text: str, results: list[Any]) -> str:
    """Replace each `{i.a.b}` with field a.b of the i-th result (list positions are numbers)."""

    def value(match: re.Match[str]) -> str:
        node = results[int(match.group(1))]
        for part in match.group(2).strip(".").split("."):
            try:
                node = node[int(part)] if isinstance(node, list) else node[part]
            except (KeyError, IndexError, ValueError, TypeError) as error:
                raise KeyError(f"{match.group(0)}: no '{part}' in {json.dumps(node)[:300]}") from error
        return str(node)

    return PLACEHOLDER.sub(value, text)
