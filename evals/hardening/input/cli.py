"""`python -m evals.hardening.input`: run it, print the tables, write the results."""

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

from evals.common.results import RESULTS_DIR, write_results
from evals.common.tables import to_rich
from evals.hardening.input.generated import Budget
from evals.hardening.input.report import figures, grids, markdown_page
from evals.hardening.input.run import measure

STEM = "hardening-input"


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """The command line: examples per operation, the backend, where the results go."""
    parser = argparse.ArgumentParser(prog="python -m evals.hardening.input", description=__doc__.splitlines()[0])
    # 100 a mode missed `{"days": true}` taken as 1 day, which 400 found; 300 takes about 7 minutes on 2 cores.
    parser.add_argument("--examples", type=int, default=300, help="requests per operation and mode (default 300)")
    parser.add_argument("--known-examples", type=int, default=20, help="requests per real id (default 20)")
    parser.add_argument("--sign-in-examples", type=int, default=25, help="for POST /api/session (hashes a password)")
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite", help="default sqlite")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="where the results go")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the hostile-input part of `make hardening`; non-zero when anything was not refused as it must be."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(arguments)
    budget = Budget(args.examples, args.known_examples, {"POST /api/session": args.sign_in_examples})
    console = Console(width=None if sys.stdout.isatty() else 160)
    command = " ".join(["python -m evals.hardening.input", *arguments])
    run = measure(args.backend, budget, console, command)
    for grid in grids(run)[:2]:  # the tables of bad inputs are long: they are in the markdown page
        console.print(to_rich(grid))
    for problem in run.reports:
        console.print(problem, markup=False)
    paths = write_results(args.out, STEM, figures(run), markdown_page(run))
    console.log(f"{run.failures} failures in {run.seconds:.0f} s; wrote {', '.join(str(p) for p in paths)}")
    return 0 if run.failures == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
