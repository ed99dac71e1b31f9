"""`python -m evals.hardening.injection`: run the catalogue, print progress, write the results."""

import argparse
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from evals.common.company import BUSINESS_DATE, add_company_options, company_label, demo_company
from evals.common.results import write_results
from evals.hardening.injection.report import as_data, cell_mark, markdown_page
from evals.hardening.injection.run import CellResult, run_catalogue

STEM = "hardening-injection"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m evals.hardening.injection", description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    add_company_options(parser)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("ERP_TODAY", BUSINESS_DATE)
    company = {"items": args.demo_items, "months": args.demo_months, "seed": args.seed, "keep": args.keep}
    with (
        tempfile.TemporaryDirectory(prefix="erp-injection-") as folder,
        demo_company(args.backend, **company, pool_size=8) as db,
    ):
        run = run_catalogue(db, Path(folder), label=company_label(args), backend=args.backend, progress=_print_progress)
    page = markdown_page(run)
    print(page)
    paths = write_results(args.results_dir, STEM, as_data(run), page)
    print(f"wrote {', '.join(str(p) for p in paths)}")
    return 0 if run.passed else 1


def _print_progress(cell: CellResult) -> None:
    print(f"{cell.attack} / {cell.channel} / {cell.delivery}: {cell_mark(cell)} ({cell.seconds:.1f} s)", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
