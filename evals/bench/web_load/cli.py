"""`python -m evals.bench.web_load`: measure each configuration, print the tables, write the results."""

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

from evals.bench.web_load.figures import Settings, WebLoadRun
from evals.bench.web_load.load import measure_config
from evals.bench.web_load.local import local_model_reason, measure_local
from evals.bench.web_load.report import grids, ms_cells, save, targets_of
from evals.common.company import BUSINESS_DATE
from evals.common.results import RESULTS_DIR
from evals.common.tables import machine_facts, to_rich

# --- Command line -------------------------------------------------------------------------------


def parse_settings(argv: Sequence[str]) -> Settings:
    parser = argparse.ArgumentParser(prog="python -m evals.bench.web_load", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--users", type=int, default=50, help="concurrent staff users (default 50)")
    parser.add_argument("--turns", type=int, default=3, help="messages each user sends, in sequence (default 3)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="server worker counts (default 1 2)")
    parser.add_argument("--backend", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument(
        "--think-ms", type=int, nargs="+", default=[0], help="pause between a user's messages, per run (default 0)"
    )
    parser.add_argument("--local-model", action="store_true", help="also run the local model with a few users")
    parser.add_argument("--local-users", type=int, default=4, help="users at once on the local model (default 4)")
    parser.add_argument("--no-scripted", action="store_true", help="skip the scripted runs (with --local-model)")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="where the results go")
    args = parser.parse_args(argv)
    if args.users < 1 or args.turns < 1 or min(args.workers) < 1 or min(args.think_ms) < 0:
        parser.error("--users, --turns and --workers must be at least 1, --think-ms at least 0")
    return Settings(
        users=args.users,
        turns=args.turns,
        workers=tuple(args.workers),
        backend=args.backend,
        think_ms=tuple(args.think_ms),
        local_model=args.local_model,
        local_users=args.local_users,
        scripted=not args.no_scripted,
        out=str(args.out),
        command=" ".join([".venv/bin/python -m evals.bench.web_load", *argv]).strip(),
    )


def bench(run: Settings, console: Console) -> WebLoadRun:
    began = time.monotonic()
    os.environ.setdefault("ERP_TODAY", BUSINESS_DATE)  # the demo is built as of the business date
    configs = [measure_config(console, run, w, t) for t in run.think_ms for w in run.workers] if run.scripted else []
    for c in configs:
        console.log(
            f"{c.label}: {c.turns_answered}/{c.turns_sent} turns, answer p95 {ms_cells(c.answer, 'p95')[0]} ms,"
            f" {c.errors} errors"
        )
    local, skipped = None, None
    if run.local_model:
        skipped = local_model_reason()
        if skipped is None:
            local = measure_local(console, run)
        else:
            console.log(f"local model skipped: {skipped}")
    return WebLoadRun(
        settings=run,
        machine=machine_facts(),
        configs=configs,
        local=local,
        local_skipped=skipped,
        targets=targets_of(configs),
        wall_seconds=time.monotonic() - began,
    )


def main(argv: Sequence[str] | None = None) -> int:
    run = parse_settings(list(sys.argv[1:] if argv is None else argv))
    console = Console(width=None if sys.stdout.isatty() else 200)
    result = bench(run, console)
    for grid in grids(result):
        console.print(to_rich(grid))
    json_path, md_path = save(result, Path(run.out))
    console.print(f"saved {json_path} and {md_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
