"""How well code routes a request's look-up parts (assistant/routing.py), measured against every eval task's
reference calls, on the demo company, without a model.

Each task's every wording and turn is linked as its user would send it; the reference's rounds of calls are then
played in order, and before each round the route is compared with the round's tools:

- routed right: the route narrows the choice and holds a tool of the reference's round (a round of two calls is
  made one call a round);
- routed wrong: it narrows to tools without them (the model could not make the right call);
- cut short: it says "answer now" while the reference still has a round to make;
- free: the step rule decides (no narrowing);
- after the last round: "answer now" (right), free, or a look-up still demanded (an extra call).

    python -m evals.bench.routing_bench
"""

import argparse
import json
import tempfile
from collections import Counter
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from assistant.llm.local.steps import WRITE_PREFIXES
from assistant.routing import Route, next_route, parts_of
from core.actor import Actor
from core.db import Database
from core.masterdata.mentions import Linked, link_mentions
from core.masterdata.service import load_actor
from evals.common.results import write_results
from evals.scenarios.cli import TASKS
from evals.scenarios.runner import demo_template
from evals.scenarios.task import RefCall, Task, load_tasks
from tools import default_registry

TODAY = date(2026, 11, 20)
RESULTS = Path(__file__).resolve().parents[1] / "results"


def _messages(text: str, rounds: list[list[RefCall]]) -> list[dict[str, Any]]:
    """The user's message and the reference's rounds so far, each call answered with a plain result."""
    messages: list[dict[str, Any]] = [{"role": "user", "content": text}]
    for r, calls in enumerate(rounds):
        ids = [f"c{r}_{i}" for i in range(len(calls))]
        listed = [
            {"id": i, "type": "function", "function": {"name": c.tool, "arguments": json.dumps(c.args)}}
            for i, c in zip(ids, calls, strict=True)
        ]
        messages.append({"role": "assistant", "content": "", "tool_calls": listed})
        messages += [
            {"role": "tool", "tool_call_id": i, "name": c.tool, "content": "{}"}
            for i, c in zip(ids, calls, strict=True)
        ]
    return messages


def _verdict(route: Route, calls: list[RefCall] | None) -> str:
    if calls is None:  # after the reference's last round
        if route.answer_only or route.tools is None:
            return "end: answer now" if route.answer_only else "end: free"
        return "end: drafts offered" if all(t.startswith(WRITE_PREFIXES) for t in route.tools) else "end: extra look-up"
    if route.answer_only:
        return "cut short"
    if route.tools is None:
        return "free"
    return "routed right" if any(c.tool in route.tools for c in calls) else "routed wrong"  # a round's calls in turn


def measure(db: Database, tasks: list[Task]) -> tuple[Counter[str], list[str]]:
    registry = default_registry()
    tally: Counter[str] = Counter()
    wrong: list[str] = []
    for task in tasks:
        actor = _actor(db, task.user)
        link = _linker(db, actor)
        for wording in range(1 + len(task.rephrased)):
            for turn, text in enumerate(task.wording(wording)):
                if turn >= len(task.reference):
                    continue
                rounds = task.reference[turn].rounds
                linked = link(text)
                parts = parts_of(registry, actor.roles, linked)
                for r in range(len(rounds) + 1):
                    verdict = _verdict(
                        next_route(parts, _messages(text, rounds[:r])), rounds[r] if r < len(rounds) else None
                    )
                    tally[verdict] += 1
                    if verdict in ("routed wrong", "cut short", "end: extra look-up"):
                        route = next_route(parts, _messages(text, rounds[:r]))
                        wrong.append(f"{task.id} w{wording} t{turn} r{r}: {verdict}: {text!r} -> {route}")
    return tally, wrong


def _actor(db: Database, username: str) -> Actor:
    return db.read(lambda s: load_actor(s, username=username))


def _linker(db: Database, actor: Actor) -> Callable[[str], Linked]:
    return lambda text: db.read(lambda s: link_mentions(s, actor, text, TODAY))


def main() -> None:
    argparse.ArgumentParser(description=__doc__.split("\n")[0]).parse_args()
    with tempfile.TemporaryDirectory() as work:
        template = demo_template(Path(work) / "demo.db")
        db = Database.from_url(f"sqlite:///{template}")
        tally, wrong = measure(db, load_tasks(TASKS))
    rounds = sum(tally.values())
    lines = [
        "# Routing of look-up parts, against the eval tasks' reference calls",
        "",
        "Command: `python -m evals.bench.routing_bench`",
        "",
        "| verdict | rounds | share |",
        "| --- | --- | --- |",
        *[f"| {k} | {n} | {n / rounds:.1%} |" for k, n in sorted(tally.items())],
        "",
        "Wrong routes, cut-short turns and extra look-ups:",
        "",
        *[f"- {w}" for w in wrong],
    ]
    name = "routing_bench"
    print("\n".join(lines[: 12 + len(tally)]))
    print(f"{len(wrong)} wrong; saved {write_results(RESULTS, name, dict(tally), chr(10).join(lines))}")


if __name__ == "__main__":
    main()
