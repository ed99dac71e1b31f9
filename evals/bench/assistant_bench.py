"""Assistant benchmark: per-turn overhead, the local model's full turn, and the prompt's size.

    python -m evals.bench.assistant_bench [--turns 200] [--local-turns 6] [--no-local]

- Overhead: a full turn (model -> tool -> model, checkpointed) with the scripted model, whose
  replies cost nothing, on the demo company in SQLite. Target: p50 <= 20 ms.
- Local model: full turns for stock questions with the default local model, after the prompt
  prefix is warm. Target: p50 <= 6 s on 2 cores. Also counts how many picked the right tool.
- Prompt size: system prompt + persona + tool schemas, by litellm's token counter. Target <= 3,000.
Results go to evals/results/assistant_bench-latest.md.
"""

import argparse
import json
import os
import tempfile
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from assistant.agent import Assistant, TurnResult
from assistant.conversations import open_checkpointer
from assistant.llm.gateway import litellm
from assistant.llm.scripted import Call, Reply, Script, scripted_model
from assistant.llm.settings import ModelSettings, model_settings
from assistant.prompts import Persona, persona_prompt, system_prompt
from core import schema
from core.actor import Actor
from core.db import Database
from core.masterdata.service import load_actor
from evals.common.measures import Latency, summarize
from evals.common.tables import machine
from tools import default_registry

RESULTS = Path(__file__).resolve().parents[1] / "results" / "assistant_bench-latest.md"
STOCK_QUESTIONS = [
    ("How many V-200 do we have in Atlanta?", "V-200"),
    ("what's available of V-200 at DAL", "V-200"),
    ("Can we promise 40 V-200 by Friday?", "V-200"),
    ("stock of V-220 in Dallas", "V-220"),
    ("is there any V-200 left in ATL today?", "V-200"),
    ("how much V-220 can I sell from Atlanta", "V-220"),
]


@dataclass
class Figures:
    overhead: Latency | None = None
    overhead_tool_ms: float = 0.0
    local: Latency | None = None
    local_warm_up_s: float = 0.0
    local_right_tool: str = ""
    local_answers: list[str] | None = None
    prompt_tokens: int = 0
    prompt_only_tokens: int = 0
    schema_json_tokens: int = 0


def demo_database(folder: Path) -> Database:
    """The demo company in a fresh SQLite file."""
    os.environ.setdefault("ERP_TODAY", "2026-11-20")
    from core.demo import DemoConfig, load_demo

    db = Database.from_url(f"sqlite:///{folder / 'erp.db'}")
    schema.upgrade(db.engine)
    load_demo(db, DemoConfig())
    return db


def overhead(db: Database, actor: Actor, folder: Path, turns: int) -> tuple[Latency, float]:
    """Full scripted turns: everything but the model's own thinking."""

    def answer(messages: list[dict[str, Any]]) -> Reply:
        result = json.loads(messages[-1]["content"])
        return Reply(text=f"{result.get('total_available', '?')} available.")

    call = Call("check_availability", {"sku": "V-200", "warehouse": "ATL"})
    script = Script([Reply(calls=(call,)), answer] * (turns + 5))
    settings = ModelSettings(model=scripted_model(script), retries=0)
    assistant = Assistant(db, open_checkpointer("sqlite://", sqlite_path=folder / "c.db"), settings=settings)
    conversation = assistant.turn(actor, "warm up").conversation_id
    times, tool_ms = [], []
    for _ in range(turns):
        started = time.perf_counter()
        result = assistant.turn(actor, "How many V-200 in Atlanta?", conversation_id=conversation)
        times.append(time.perf_counter() - started)
        tool_ms.append(sum(t.ms for t in result.tools))
        if len(times) % 20 == 0:
            conversation = assistant.turn(actor, "new", conversation_id=None).conversation_id
    return summarize(times), sorted(tool_ms)[len(tool_ms) // 2]


def local_turns(db: Database, actor: Actor, folder: Path, count: int, figures: Figures) -> None:
    """Stock questions through the real local model, each in a new conversation, after warm-up."""
    from assistant.llm.local import warm_up

    settings = model_settings()
    assistant = Assistant(db, open_checkpointer("sqlite://", sqlite_path=folder / "local.db"), settings=settings)
    started = time.perf_counter()
    warm_up(assistant.system, assistant.tools_for(actor.roles))
    figures.local_warm_up_s = time.perf_counter() - started
    times, right, answers = [], 0, []
    for question, sku in STOCK_QUESTIONS[:count]:
        started = time.perf_counter()
        result: TurnResult = assistant.turn(actor, question)
        times.append(time.perf_counter() - started)
        used = [t for t in result.tools if t.name == "check_availability"]
        right += bool(used and str(used[0].arguments.get("sku", "")).upper().replace(" ", "") == sku)
        answers.append(f"{question} → {result.answer} ({times[-1]:.1f} s, {[t.name for t in result.tools]})")
        print(answers[-1], flush=True)
    figures.local = summarize(times)
    figures.local_right_tool = f"{right}/{len(times)}"
    figures.local_answers = answers


def prompt_size(figures: Figures) -> None:
    llm = litellm()
    schemas = default_registry().schemas()
    messages = [
        {"role": "system", "content": system_prompt()},
        {"role": "system", "content": persona_prompt(Persona("sam", "sales_rep", "NA", date(2026, 11, 20)))},
    ]
    figures.prompt_only_tokens = llm.token_counter(model="gpt-4o", messages=messages)
    figures.prompt_tokens = llm.token_counter(model="gpt-4o", messages=messages, tools=schemas)
    figures.schema_json_tokens = llm.token_counter(model="gpt-4o", text=json.dumps(schemas))


def report(figures: Figures, args: argparse.Namespace) -> str:
    m = machine()
    lines = [
        "# Assistant benchmark — latest run",
        "",
        f"Machine: {m.cpu}, {m.cores} cores; Python {m.python}; load average {m.load_average}; run {m.date}.",
        "`python -m evals.bench.assistant_bench` writes this file.",
        "",
        "| Figure | Value | Target |",
        "|---|---|---|",
    ]
    if figures.overhead:
        o = figures.overhead
        lines.append(
            f"| Per-turn overhead, scripted model (model → tool → model, checkpointed), {o.count} turns | "
            f"p50 {o.p50_ms:.1f} ms, p95 {o.p95_ms:.1f} ms (of which the tool: {figures.overhead_tool_ms:.1f} ms) "
            f"| p50 ≤ 20 ms: {'pass' if o.p50_ms <= 20 else 'FAIL'} |"
        )
    if figures.local:
        lo = figures.local
        threads = os.environ.get("ERP_LOCAL_THREADS", "default")
        lines.append(
            f"| Local model full turn, stock question ({lo.count} turns, {threads} "
            f"threads) | p50 {lo.p50_ms / 1000:.1f} s, p95 {lo.p95_ms / 1000:.1f} s; right tool and SKU "
            f"{figures.local_right_tool} | p50 ≤ 6 s: {'pass' if lo.p50_ms <= 6000 else 'FAIL'} |"
        )
        lines.append(f"| Local model warm-up (load + prompt prefix) | {figures.local_warm_up_s:.1f} s | — |")
    lines += [
        f"| System prompt + persona + tool schemas (litellm token_counter, tools=) | {figures.prompt_tokens:,} tokens "
        f"| ≤ 3,000: {'pass' if figures.prompt_tokens <= 3000 else 'FAIL'} |",
        f"| … of which the two system messages | {figures.prompt_only_tokens:,} tokens | — |",
        f"| The tool schemas as raw JSON text (a stricter count) | {figures.schema_json_tokens:,} tokens | — |",
    ]
    if figures.local_answers:
        lines += ["", "## Local model turns", "", *[f"- {a}" for a in figures.local_answers]]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--local-turns", type=int, default=len(STOCK_QUESTIONS))
    parser.add_argument("--no-local", action="store_true")
    args = parser.parse_args()
    figures = Figures()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        db = demo_database(folder)
        actor = db.read(lambda s: load_actor(s, username="sam"))
        figures.overhead, figures.overhead_tool_ms = overhead(db, actor, folder, args.turns)
        print(f"overhead p50 {figures.overhead.p50_ms:.1f} ms p95 {figures.overhead.p95_ms:.1f} ms", flush=True)
        prompt_size(figures)
        if not args.no_local:
            local_turns(db, actor, folder, args.local_turns, figures)
    text = report(figures, args)
    RESULTS.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
