"""Why a local turn takes the seconds it does: the model's speed at each depth of its context, and what the prefix
every call shares is made of.

    .venv/bin/python -m evals.bench.context_speed [--output DIR] [--flash-attention]

It loads the configured GGUF model as the product does (`Engine.load`, the product's thread choice) and times
prompt processing (a batch of PREFILL tokens) and generation (GENERATE tokens, one at a time) with the context
already holding 0, 1,000, ... tokens: the position a call's new tokens are evaluated at is the length of the prompt
before them, and the shared prefix (system prompt, output note and every tool's schema) puts every call of a turn
deep in the context. It then counts the prefix's tokens by part with the model's tokenizer. Writes
evals/results/context_speed-latest.md, or with `--flash-attention` (llama.cpp's flash attention, which the product
leaves off) context_speed-flash-attention.md. Run it on a quiet machine: the seconds measure any other load too.
"""

import argparse
import json
import os
import platform
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from assistant.llm.local.model import Engine
from assistant.llm.local.prompt import conversation, prompt_tool
from assistant.llm.local.threads import threads
from assistant.llm.weights import model_path
from assistant.prompts import system_prompt
from tools import default_registry

RESULTS = Path(__file__).resolve().parents[1] / "results"
DEPTHS = (0, 1000, 2500, 4000, 5500, 7700)
PREFILL = 400  # a call's new tokens after tool results are 100-1,200
GENERATE = 40  # a tool call or a short answer
FILLER = "Order SO-2259 line 1 is short 18 A-180 at ATL for LONESTAR3; the case EX-2 is open and due today. "


@dataclass(frozen=True)
class Speed:
    depth: int
    prefill_tps: float
    generate_tps: float


def speeds(engine: Engine) -> list[Speed]:
    """Tokens per second of prompt processing and of generation with the context holding `depth` tokens."""
    llama = engine.llama
    text = engine.tokenize(FILLER * (2 + (max(DEPTHS) + PREFILL + GENERATE) // 20))
    out = []
    for depth in DEPTHS:
        llama.reset()
        if depth:
            llama.eval(text[:depth])
        began = time.perf_counter()
        llama.eval(text[depth : depth + PREFILL])
        prefill = time.perf_counter() - began
        began = time.perf_counter()
        for token in text[depth + PREFILL : depth + PREFILL + GENERATE]:
            llama.eval([token])
        generate = time.perf_counter() - began
        out.append(Speed(depth, PREFILL / prefill, GENERATE / generate))
    return out


def prefix_parts(engine: Engine) -> dict[str, int]:
    """The shared prefix's tokens by part: the system prompt, the output note, each tool's schema, and the whole
    prefix as the chat template renders it."""
    tools = default_registry().schemas()
    messages, shared = conversation([{"role": "system", "content": system_prompt()}], tools)
    parts = {
        "whole prefix (as rendered)": len(engine.prefix(messages[:shared], tools)),
        "system prompt": len(engine.tokenize(system_prompt())),
        "output note with examples": len(engine.tokenize(messages[shared - 1]["content"])),
        f"{len(tools)} tool schemas": 0,
    }
    sizes = {t["function"]["name"]: len(engine.tokenize(json.dumps(prompt_tool(t)))) for t in tools}
    parts[f"{len(tools)} tool schemas"] = sum(sizes.values())
    for name, size in sorted(sizes.items(), key=lambda kv: -kv[1])[:5]:
        parts[f"  of which {name}"] = size
    return parts


def page(rows: list[Speed], parts: dict[str, int], used: tuple[int, int], load: str) -> str:
    lines = [
        "# Local model speed by context depth",
        "",
        f"{datetime.now():%Y-%m-%d %H:%M}; {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
        f"load average before {load}; threads (generate, prompt) {used}. Model: `{model_path().name}`.",
        "Command: `python -m evals.bench.context_speed`",
        "",
        f"| tokens already in the context | prompt processing, tokens/s ({PREFILL}-token batch) "
        f"| generation, tokens/s ({GENERATE} tokens) |",
        "|---|---|---|",
        *(f"| {r.depth:,} | {r.prefill_tps:.0f} | {r.generate_tps:.1f} |" for r in rows),
        "",
        "| the prefix every call shares | tokens |",
        "|---|---|",
        *(f"| {name} | {count:,} |" for name, count in parts.items()),
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument(
        "--flash-attention", action="store_true", help="load with llama.cpp's flash attention (the product's is off)"
    )
    args = parser.parse_args()
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3]) if Path("/proc/loadavg").exists() else "?"
    used = threads()
    engine = Engine.load(
        model_path(), *used, max(DEPTHS) + PREFILL + GENERATE + 256, flash_attention=args.flash_attention
    )
    text = page(speeds(engine), prefix_parts(engine), used, load)
    if args.flash_attention:
        text = text.replace(
            "Command: `python -m evals.bench.context_speed`",
            "Command: `python -m evals.bench.context_speed --flash-attention`",
        )
    args.output.mkdir(parents=True, exist_ok=True)
    name = "context_speed-flash-attention.md" if args.flash_attention else "context_speed-latest.md"
    (args.output / name).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
