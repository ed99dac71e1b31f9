"""`make hardening`: the long reliability and security runs, one after the other, with a summary.

Each part writes its own figures to `evals/results/hardening-<part>-latest.md` (and `.json`); this
runs them in turn and writes `evals/results/hardening-latest.md`, which says which passed.
"""

import argparse
import importlib
import sys
import time
from collections.abc import Sequence
from datetime import datetime

from evals.common.results import RESULTS_DIR

PARTS = {
    "concurrency": "16 workers on scarce items on PostgreSQL: no oversell, one execution per draft, audit intact",
    "crash": "SIGKILL in the middle of an approval: executed or pending, never half",
    "faults": "PostgreSQL restarted under load; the model timing out or failing mid-turn",
    "access": "role x entity x action matrix through the tools and the API, against the policy",
    "injection": "a model obeying injected instructions, every channel and record text: no unauthorised effect or leak",
    "input": "schemathesis on every operation; bad inputs through the tools and the API refused, nothing changed",
    "scale": "10k to 100k items: load time, size, memory, ATP / order / KPI times",
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.hardening", description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=list(PARTS), default=list(PARTS), help="run only these parts")
    parser.add_argument(
        "--scale-items", help="item counts for the scale part (default 10000,30000,100000: about an hour on 2 cores)"
    )
    args = parser.parse_args(argv)
    part_args = {"scale": ["--items", args.scale_items] if args.scale_items else []}
    rows = []
    for part in args.only:
        print(f"\n=== hardening: {part} ({PARTS[part]}) ===", flush=True)
        started = time.perf_counter()
        code = importlib.import_module(f"evals.hardening.{part}").main(part_args.get(part, []))
        rows.append((part, code, time.perf_counter() - started))
    _summary(rows, " ".join(argv if argv is not None else sys.argv[1:]))
    return max((code for _, code, _ in rows), default=0)


def _summary(rows: list[tuple[str, int, float]], arguments: str) -> None:
    command = f"python -m evals.hardening {arguments}".strip()
    lines = [
        f"# Hardening runs, {datetime.now():%Y-%m-%d %H:%M}",
        "",
        f"`make hardening` (`{command}`), one part after the other; each part's figures are in its own file.",
        "",
        "| part | what | result | minutes | figures |",
        "| --- | --- | --- | --- | --- |",
        *[
            f"| {part} | {PARTS[part]} | {'pass' if code == 0 else f'FAIL (exit {code})'} | {seconds / 60:.1f} "
            f"| [hardening-{part}-latest.md](hardening-{part}-latest.md) |"
            for part, code, seconds in rows
        ],
    ]
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / "hardening-latest.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    raise SystemExit(main())
