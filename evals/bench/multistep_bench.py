"""Multi-step turns with the local model: does one message get its whole tool sequence, and how fast?

    .venv/bin/python -m evals.bench.multistep_bench [--rule one,note-called] [--limit K] [--only multi|single]
        [--subset 0,5]

Runs the real agent (`assistant.Assistant`, the local model through litellm, the tools) on the demo company
over the dev set (evals/datasets/multistep_dev.yaml: requests that need two to four tool calls, and
single-step ones that must stop after one), once per step rule (`assistant.llm.local.steps.RULES`), each
request on a fresh copy of the demo company. It prints and saves, per rule: the completed-sequence rate
(multi-step and single-step apart), repeated calls (run by the agent's guard, or answered by the local model
in place of a repeat), steps per turn, and p50/p90 seconds per turn and for turns that made two tool calls.
`--subset 0,5` runs each rule once per arm on the same requests: 0 offers every tool (the cached prefix), N at
most N tools chosen per request (ERP_LOCAL_TOOL_SUBSET=N, `assistant.tool_offer`); a run's name is then
`rule+subsetN`, and prompt tokens per call and the share reused from the context are reported too.
Results: evals/results/multistep_bench-latest.md and .json. The dev set is for tuning; the scenario tasks
(evals/tasks/) are the test set.
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped, unused-ignore]

from evals.bench.local_model_bench import _cpu, _model, percentile
from evals.bench.phrasings import _plain, matches

DATASET = Path(__file__).resolve().parents[1] / "datasets" / "multistep_dev.yaml"
RESULTS = Path(__file__).resolve().parents[1] / "results"
TEMPLATE_DIR = Path("data") / "bench" / "multistep"  # the demo company and its search index, kept between runs
DEFAULT_RULES = "one"
TIMEOUT_S = 300.0  # per model call: on a machine busy with other work a call can take minutes


@dataclass(frozen=True)
class Step:
    tool: str
    args: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Request:
    text: str
    user: str
    steps: tuple[Step, ...]  # the expected tool calls, in order; none: an answer without tools
    any_order: bool = False  # the steps may come in any order

    @property
    def multi(self) -> bool:
        return len(self.steps) > 1


def load(path: Path = DATASET) -> list[Request]:
    rows = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [
        Request(
            text=str(r["text"]),
            user=str(r.get("user", "sam")),
            steps=tuple(Step(s["tool"], _plain(s.get("args") or {})) for s in r.get("steps") or []),
            any_order=bool(r.get("any_order", False)),
        )
        for r in rows
    ]


def completed(request: Request, made: Sequence[tuple[str, dict[str, Any]]]) -> bool:
    """Whether the calls made are the expected sequence: the same number, each the expected tool with the
    expected arguments (others may be there too), in order unless the request says any order."""
    if len(made) != len(request.steps):
        return False
    if not request.any_order:
        return all(_fits(s, m) for s, m in zip(request.steps, made, strict=True))
    left = list(made)
    for step in request.steps:
        match = next((m for m in left if _fits(step, m)), None)
        if match is None:
            return False
        left.remove(match)
    return True


def covered(request: Request, made: Sequence[tuple[str, dict[str, Any]]]) -> bool:
    """Whether every expected call was made, in order, extra calls allowed between them (a looser view)."""
    if request.any_order:
        return all(any(_fits(s, m) for m in made) for s in request.steps)
    position = 0
    for call in made:
        if position < len(request.steps) and _fits(request.steps[position], call):
            position += 1
    return position == len(request.steps)


def _fits(step: Step, call: tuple[str, dict[str, Any]]) -> bool:
    return step.tool == call[0] and matches(step.args, call[1])


@dataclass
class Outcome:
    rule: str
    text: str
    multi: bool
    expected: list[str]
    made: list[str]
    completed: bool
    covered: bool
    repeats: int  # repeated calls the agent refused to run again, plus those the local model answered instead
    steps: int  # model calls
    tool_calls: int
    seconds: float
    stopped: str | None
    answer: str
    prompt_tokens: int = 0  # over the turn's model calls
    cached_tokens: int = 0  # of those, reused from the context


def run_rule(
    rule: str,
    requests: Sequence[Request],
    template: Path,
    work: Path,
    search: Any,
    on_turn: Callable[[list[Outcome]], None] = lambda _: None,
    subset: int | None = None,
) -> list[Outcome]:
    from assistant.agent import REPEATED_CALL, Assistant
    from assistant.conversations import open_checkpointer
    from assistant.llm.local import steps
    from assistant.llm.settings import ModelSettings, model_settings
    from core.db import Database
    from core.masterdata.service import load_actor
    from core.settings import override_settings

    steps.RULE = steps.RULES[rule]
    name = run_name(rule, subset)
    out = []
    for n, request in enumerate(requests, start=1):
        copy = work / f"{name}-{n}.db"
        shutil.copyfile(template, copy)
        db = Database.from_url(f"sqlite:///{copy}")
        try:
            checkpointer = open_checkpointer("sqlite://", sqlite_path=work / f"{name}-{n}-conversations.db")
            settings = ModelSettings(
                model="local/qwen2.5-coder-1.5b",
                retries=0,
                max_steps=model_settings().max_steps,
                timeout_s=TIMEOUT_S,
                tool_subset=subset,
            )
            assistant = Assistant(db, checkpointer, channel="eval", settings=settings, search=search)
            actor = db.read(partial(load_actor, username=request.user))
            answered_before = steps.TALLY.repeats_answered
            began = time.perf_counter()
            with override_settings(local_tool_subset=subset):  # the provider's examples follow the same setting
                result = assistant.turn(actor, request.text)
            seconds = time.perf_counter() - began
            state = assistant.graph.get_state({"configurable": {"thread_id": result.conversation_id}}).values
            refused = sum(1 for m in state.get("messages", []) if m.get("content") == REPEATED_CALL)
        finally:
            db.dispose()
        made = [(t.name, t.arguments) for t in result.tools]
        outcome = Outcome(
            rule=name,
            text=request.text,
            multi=request.multi,
            expected=[f"{s.tool} {json.dumps(s.args)}" for s in request.steps],
            made=[f"{name} {json.dumps(args)}" for name, args in made],
            completed=completed(request, made),
            covered=covered(request, made),
            repeats=refused + steps.TALLY.repeats_answered - answered_before,
            steps=result.usage.model_calls,
            tool_calls=len(made),
            seconds=seconds,
            stopped=result.stopped,
            answer=result.answer,
            prompt_tokens=result.usage.prompt_tokens,
            cached_tokens=result.usage.cached_tokens,
        )
        mark = "ok " if outcome.completed else ("cov" if outcome.covered else "NO ")
        calls = " -> ".join(name for name, _ in made) or "(no tool)"
        print(f"{name:>18} {n:3} {mark} {seconds:5.1f}s {request.text[:56]:56} {calls}", flush=True)
        out.append(outcome)
        on_turn(out)
    return out


def summary(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    """The figures of one rule's run."""
    multi = [o for o in outcomes if o.multi]
    single = [o for o in outcomes if not o.multi]
    seconds = [o.seconds for o in outcomes]
    two_tool = [o.seconds for o in outcomes if o.tool_calls == 2]
    calls = sum(o.steps for o in outcomes)
    return {
        "multi_completed": f"{sum(o.completed for o in multi)}/{len(multi)}",
        "multi_completed_rate": _rate(sum(o.completed for o in multi), len(multi)),
        "multi_covered_rate": _rate(sum(o.covered for o in multi), len(multi)),
        "single_completed": f"{sum(o.completed for o in single)}/{len(single)}",
        "single_completed_rate": _rate(sum(o.completed for o in single), len(single)),
        "repeated_calls": sum(o.repeats for o in outcomes),
        "step_limit_stops": sum(1 for o in outcomes if o.stopped == "step_limit"),
        "steps_per_turn": round(sum(o.steps for o in outcomes) / max(len(outcomes), 1), 2),
        "tool_calls_per_turn": round(sum(o.tool_calls for o in outcomes) / max(len(outcomes), 1), 2),
        "turn_p50_s": round(percentile(seconds, 50), 2),
        "turn_p90_s": round(percentile(seconds, 90), 2),
        "two_tool_turns": len(two_tool),
        "two_tool_p50_s": round(percentile(two_tool, 50), 2),
        "two_tool_p90_s": round(percentile(two_tool, 90), 2),
        "prompt_tokens_per_call": round(sum(o.prompt_tokens for o in outcomes) / max(calls, 1)),
        "cached_share": _rate(sum(o.cached_tokens for o in outcomes), sum(o.prompt_tokens for o in outcomes)),
    }


def _rate(part: int, whole: int) -> float:
    return round(part / whole, 3) if whole else 0.0


FIGURES = (
    ("multi-step completed (exact sequence)", "multi_completed"),
    ("multi-step: every expected call made (extras allowed)", "multi_covered_rate"),
    ("single-step completed (one call, then the answer)", "single_completed"),
    ("repeated calls (none ran twice: refused by the agent, or answered in their place)", "repeated_calls"),
    ("turns stopped by the step cap", "step_limit_stops"),
    ("steps (model calls) per turn", "steps_per_turn"),
    ("tool calls per turn", "tool_calls_per_turn"),
    ("turn p50 / p90 s", "turn"),
    ("2-tool turn p50 / p90 s (count)", "two_tool"),
    ("prompt tokens per model call (mean)", "prompt_tokens_per_call"),
    ("share of prompt tokens reused from the context", "cached_share"),
)


def page(runs: dict[str, list[Outcome]], context: dict[str, str]) -> str:
    figures = {rule: summary(outcomes) for rule, outcomes in runs.items()}
    lines = [
        "# Multi-step turns with the local model",
        "",
        f"{context['when']}; {context['cpu']}, {context['cores']} cores; load average {context['load_before']} "
        f"before, {context['load_after']} after. Seconds are wall-clock: on a machine shared with other work (a "
        "load average above the core count) they measure the load as much as the model.",
        f"Model: `{context['model']}`; step cap (ERP_ASSISTANT_MAX_STEPS) {context['max_steps']}.",
        f"Command: `{context['command']}`",
        f"Dev set: evals/datasets/multistep_dev.yaml ({context['multi']} multi-step, {context['single']} "
        "single-step requests), each on a fresh copy of the demo company, through the whole agent.",
        "",
        "| figure | " + " | ".join(f"`{r}`" for r in figures) + " |",
        "|---|" + "---|" * len(figures),
    ]
    for label, key in FIGURES:
        cells = []
        for f in figures.values():
            if key == "turn":
                cells.append(f"{f['turn_p50_s']:.1f} / {f['turn_p90_s']:.1f}")
            elif key == "two_tool":
                cells.append(f"{f['two_tool_p50_s']:.1f} / {f['two_tool_p90_s']:.1f} ({f['two_tool_turns']})")
            elif key in ("multi_covered_rate", "cached_share"):
                cells.append(f"{f[key]:.0%}")
            else:
                cells.append(str(f[key]))
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    for rule, outcomes in runs.items():
        lines += ["", f"## Rule `{rule}`", "", "| ok | s | steps | request | expected | made | answer |"]
        lines.append("|---|---|---|---|---|---|---|")
        for o in outcomes:
            mark = "yes" if o.completed else ("covered" if o.covered else "**no**")
            lines.append(
                f"| {mark} | {o.seconds:.1f} | {o.steps} | {_cell(o.text)} | {_cell('; '.join(o.expected) or '-')} "
                f"| {_cell('; '.join(o.made) or '-')} | {_cell(o.answer[:160])} |"
            )
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def prepare(folder: Path) -> tuple[Path, Any]:
    """The demo company and its search index, built once in `folder` and reused."""
    from evals.scenarios.runner import demo_search, demo_template

    template = demo_template(folder / "demo.db")
    return template, demo_search(template)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m evals.bench.multistep_bench", description=(__doc__ or "").splitlines()[0]
    )
    parser.add_argument("--rule", default=DEFAULT_RULES, help="step rules to compare, comma-separated")
    parser.add_argument("--limit", type=int, help="only the first K requests of each kind")
    parser.add_argument("--only", choices=("multi", "single"), help="only multi-step or single-step requests")
    parser.add_argument("--output", type=Path, default=RESULTS, help="the folder the results go to")
    parser.add_argument("--subset", help="arms, comma-separated: 0 every tool, N at most N tools per request")
    parser.add_argument("--stem", default="multistep_bench", help="the results' file name stem")
    parser.add_argument(
        "--merge", type=Path, nargs="+", help="no model: one page from these runs' JSON files (rules in their order)"
    )
    args = parser.parse_args(argv)
    if args.merge:
        together, contexts = merged(args.merge)
        print(save(together, contexts, args.output, args.stem).split("\n## ")[0])
        return 0
    os.environ.setdefault("ERP_TODAY", "2026-11-20")

    from assistant.llm import local
    from assistant.llm.local import steps
    from assistant.llm.settings import model_settings
    from assistant.prompts import system_prompt

    reason = local.unavailable_reason()
    if reason:
        print(reason, file=sys.stderr)
        return 1
    rules = [r.strip() for r in args.rule.split(",") if r.strip()]
    unknown = [r for r in rules if r not in steps.RULES]
    if unknown:
        print(f"unknown rules {unknown}; known: {sorted(steps.RULES)}", file=sys.stderr)
        return 1
    requests = chosen(load(), args.only, args.limit)
    local.register()
    template, search = prepare(TEMPLATE_DIR)
    from evals.scenarios.runner import role_prefixes

    for tools in role_prefixes(template, [r.user for r in requests]):  # not timed: a server warms them at start
        warm = local.warm_up(system_prompt(), tools)
        print(f"prefix of {warm.tokens:,} tokens ready in {warm.seconds:.1f}s ({warm.source})", flush=True)
    context = {
        "when": f"{datetime.now():%Y-%m-%d %H:%M}",
        "cpu": _cpu(),
        "cores": str(os.cpu_count()),
        "load_before": _load(),
        "model": _model(),
        "max_steps": str(model_settings().max_steps),
        "command": "python -m evals.bench.multistep_bench " + " ".join(sys.argv[1:] if argv is None else argv),
        "multi": str(sum(r.multi for r in requests)),
        "single": str(sum(not r.multi for r in requests)),
    }
    runs: dict[str, list[Outcome]] = {}
    arms = [int(n) or None for n in args.subset.split(",")] if args.subset else [None]
    with tempfile.TemporaryDirectory(prefix="erp-multistep-") as work:
        for rule, subset in [(r, a) for r in rules for a in arms]:
            name = run_name(rule, subset) if args.subset else rule

            def saved(so_far: list[Outcome], name: str = name) -> None:  # a long run stopped keeps what it did
                context["load_after"] = _load()
                save({**runs, name: so_far}, context, args.output, args.stem)

            runs[name] = run_rule(rule, requests, template, Path(work), search, on_turn=saved, subset=subset)
            print(json.dumps({name: summary(runs[name])}, indent=1), flush=True)
        text = save(runs, context, args.output, args.stem)
    print(text.split("\n## ")[0])
    print(f"written to {args.output / args.stem}-latest.md and .json")
    return 0


def run_name(rule: str, subset: int | None) -> str:
    """A run's name: the step rule, and the tool subset when one is offered."""
    return f"{rule}+subset{subset}" if subset else rule


def save(runs: dict[str, list[Outcome]], context: dict[str, str], folder: Path, stem: str) -> str:
    """Write the page and the JSON of the rules run so far; returns the page."""
    context.setdefault("load_after", _load())
    text = page(runs, context)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{stem}-latest.md").write_text(text, encoding="utf-8")
    data = {
        "context": context,
        "summary": {rule: summary(o) for rule, o in runs.items()},
        "turns": {rule: [asdict(x) for x in o] for rule, o in runs.items()},
    }
    (folder / f"{stem}-latest.json").write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    return text


def merged(paths: Sequence[Path]) -> tuple[dict[str, list[Outcome]], dict[str, str]]:
    """The rules of several runs, as one run: each run's context is kept in the commands and load figures."""
    runs: dict[str, list[Outcome]] = {}
    contexts = []
    for path in paths:
        data = json.loads(path.read_text(encoding="utf-8"))
        contexts.append(data["context"])
        for rule, turns in data["turns"].items():
            runs[rule] = [rejudged(Outcome(**t)) for t in turns]
    context = {**contexts[0]}
    context["command"] = "`; `".join(c["command"] for c in contexts)
    context["load_before"] = ", ".join(c["load_before"] for c in contexts)
    context["load_after"] = ", ".join(c.get("load_after", "?") for c in contexts)
    context["when"] = ", ".join(c["when"] for c in contexts)
    return runs, context


def rejudged(outcome: Outcome, requests: Sequence[Request] | None = None) -> Outcome:
    """The outcome judged against the dev set as it is now (a corrected expectation applies to every run alike)."""
    request = next((r for r in requests or load() if r.text == outcome.text), None)
    if request is None:
        return outcome
    made = [(m.split(" ", 1)[0], json.loads(m.split(" ", 1)[1])) for m in outcome.made]
    outcome.expected = [f"{s.tool} {json.dumps(s.args)}" for s in request.steps]
    outcome.completed, outcome.covered = completed(request, made), covered(request, made)
    return outcome


def chosen(requests: list[Request], only: str | None, limit: int | None) -> list[Request]:
    multi = [r for r in requests if r.multi]
    single = [r for r in requests if not r.multi]
    if limit:
        multi, single = multi[:limit], single[:limit]
    return (multi if only != "single" else []) + (single if only != "multi" else [])


if __name__ == "__main__":
    raise SystemExit(main())
