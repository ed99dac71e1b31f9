"""`python -m evals.hardening.faults`: run both parts, print the tables, write the results."""

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

from evals.common.company import BUSINESS_DATE
from evals.common.results import RESULTS_DIR
from evals.common.tables import machine_facts, to_rich
from evals.hardening.faults.model import run_model_faults
from evals.hardening.faults.report import FaultsRun, grids, save
from evals.hardening.faults.restart import RestartSettings, run_restart

# --- Command line -------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m evals.hardening.faults", description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=float, default=4.0, help="seconds of load before the outage (default 4)")
    parser.add_argument("--outage", type=float, default=4.0, help="seconds the cluster stays down (default 4)")
    parser.add_argument("--after", type=float, default=10.0, help="seconds of load after it is back (default 10)")
    parser.add_argument(
        "--stop-modes",
        nargs="+",
        choices=("fast", "immediate"),
        default=["fast", "immediate"],
        help="immediate: a crash",
    )
    parser.add_argument("--skip-restart", action="store_true", help="only the model faults")
    parser.add_argument("--skip-model", action="store_true", help="only the PostgreSQL restart")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="where the results go")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(list(sys.argv[1:] if argv is None else argv))
    os.environ.setdefault("ERP_TODAY", BUSINESS_DATE)
    console = Console(width=None if sys.stdout.isatty() else 200)
    began = time.monotonic()
    modes = [] if args.skip_restart else args.stop_modes
    restarts = [run_restart(RestartSettings(args.before, args.outage, args.after, stop_mode=m), console) for m in modes]
    faults = [] if args.skip_model else run_model_faults(console)
    command = " ".join(["python -m evals.hardening.faults", *(argv if argv is not None else sys.argv[1:])])
    run = FaultsRun(machine_facts(), restarts, faults, time.monotonic() - began, command.strip())
    for grid in grids(run):
        console.print(to_rich(grid))
    json_path, md_path = save(run, args.out)
    console.print(f"saved {json_path} and {md_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
