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

from assistant.llm.scripted import Call, Reply, Responder, Script, scripted_model
from evals.scenarios.task import RefTurn, Task

PLACEHOLDER = re.compile(r"\{(\d+)((?:\.[\w-]+)+)\}")
MAX_EXTRA_CALLS = 5  # model calls a turn may make beyond its reference (code sending a call back), each answered


@dataclass
class Reference:
    """The model string that plays a task's reference, and what went wrong filling its answers."""

    model: str
    errors: list[str] = field(default_factory=list)


def reference_model(task: Task) -> Reference:
    """A scripted model that plays the task's reference solution.

    Each turn's replies are played from the start of that turn's own list: code answers a turn that ends in
    previews itself, and the answer the reference wrote for it is then never asked for."""
    if not task.reference:
        raise ValueError(f"task {task.id} has no reference solution")
    errors: list[str] = []
    plays = [_replies(turn, errors) for turn in task.reference]
    asked: Counter[int] = Counter()

    def respond(messages: list[dict[str, Any]]) -> Reply:
        turn = min(sum(1 for m in messages if m.get("role") == "user"), len(plays)) - 1
        step = asked[turn]
        asked[turn] += 1
        if step >= len(plays[turn]):
            return Reply(text="(the reference has no more replies for this turn)")
        entry = plays[turn][step]
        return entry if isinstance(entry, Reply) else entry(messages)

    most = sum(len(replies) for replies in plays) + MAX_EXTRA_CALLS * len(plays)
    return Reference(scripted_model(Script([respond] * most)), errors)


def _replies(turn: RefTurn, errors: list[str]) -> list[Reply | Responder]:
    """A reference turn's model replies: its rounds of calls, then its answer."""
    rounds = [r for r in (turn.calls, turn.then) if r]
    calls: list[Reply | Responder] = [Reply(calls=tuple(Call(c.tool, c.args) for c in r)) for r in rounds]
    return [*calls, _answer(turn, errors) if rounds else Reply(text=turn.say)]


def _answer(turn: RefTurn, errors: list[str]) -> Responder:
    """The turn's answer, its placeholders filled from the results of the turn's calls (both rounds)."""
    count = len(turn.calls) + len(turn.then)

    def respond(messages: list[dict[str, Any]]) -> Reply:
        results = [json.loads(m["content"]) for m in messages if m.get("role") == "tool"][-count:]
        try:
            if len(results) != count:
                raise KeyError(f"expected {count} tool results, got {len(results)}")
            return Reply(text=fill(turn.say, results))
        except KeyError as error:  # a result without the field the reference quotes: the task is wrong
            errors.append(str(error))
            raise

    return respond


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
