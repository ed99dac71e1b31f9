"""The import benchmark: N items (and their frame: 2 entities, 6 warehouses) as CSV into a fresh SQLite database.

    nice -n 19 .venv/bin/python -m evals.bench.import_bench [--items 100000] [--results-dir evals/results]

Generates the files in a temporary folder, imports them with `core.imports` as the CLI does (one transaction,
no search index), then imports the same files again (every record unchanged), and prints the seconds per phase
and in total. The target (issue 20): 100,000 items with their stock in 6 warehouses in at most 60 s on SQLite.
Writes evals/results/import-bench.md and .json.

The files are the items and their opening stock (`opening_stock.csv`, one row per item and warehouse: 600,000
rows for 100,000 items), imported by the call `erp-assistant import run FOLDER` makes (`import_master_data`,
without the terminal's progress bars): one transaction for the master data and the opening stock.
"""

import argparse
import csv
import json
import os
import random
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from core import schema
from core.db import Database
from core.imports import ImportReport, Problems, import_master_data, read_files, setup_actor
from evals.common.results import RESULTS_DIR
from evals.common.tables import Grid, machine_facts, to_markdown, to_rich

TARGET_S = 60.0
ENTITIES = (("NA", "Northwind America", "USD", "US"), ("EU", "Northwind Europe", "EUR", "DE"))
WAREHOUSES = (
    ("DAL", "Dallas", "NA"),
    ("ATL", "Atlanta", "NA"),
    ("RNO", "Reno", "NA"),
    ("HAM", "Hamburg", "EU"),
    ("LYS", "Lyon", "EU"),
    ("MIL", "Milan", "EU"),
)
CATEGORIES = ("valves", "pumps", "fittings", "filters", "hoses", "gauges", "seals", "tools")


@dataclass(frozen=True)
class BenchCompany:
    """What the generated files hold, for generators added later (opening stock) to refer to."""

    skus: list[str]
    warehouses: list[str]


def opening_stock_file(folder: Path, company: BenchCompany, seed: int = 11) -> None:
    """Every item on hand in every warehouse (1 to 500 units at a cost of 1 to 500): `opening_stock.csv`."""
    rng = random.Random(seed)
    rows = [
        (warehouse, sku, rng.randint(1, 500), f"{rng.uniform(1, 500):.2f}")
        for sku in company.skus
        for warehouse in company.warehouses
    ]
    _write(folder / "opening_stock.csv", ("warehouse", "sku", "quantity", "unit_cost"), rows)


# Generators of further files: (folder, company) -> None.
EXTRA_FILES: list[Callable[[Path, BenchCompany], None]] = [opening_stock_file]


def _write(path: Path, header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(header)
        writer.writerows(rows)


def write_files(folder: Path, items: int, seed: int = 7) -> BenchCompany:
    """The frame and `items` items as CSV files in `folder`."""
    rng = random.Random(seed)
    _write(folder / "entities.csv", ("code", "name", "base_currency", "country"), ENTITIES)
    _write(folder / "warehouses.csv", ("code", "name", "entity", "city"), [(c, n, e, n) for c, n, e in WAREHOUSES])
    # The admin the opening balances are recorded in the name of (the first import runs as the setup actor).
    _write(
        folder / "users.csv", ("username", "display_name", "email", "roles"), [("admin", "Admin", "a@x.test", "admin")]
    )
    skus = [f"BX-{n:06d}" for n in range(1, items + 1)]
    rows = []
    for sku in skus:
        category = rng.choice(CATEGORIES)
        cost = round(rng.uniform(1, 500), 2)
        rows.append((sku, f"{category[:-1].title()} {sku}", category, f"{cost:.2f}", f"{cost * 1.6:.2f}", "EA",
                     f"Generated {category} item {sku}", "yes"))  # fmt: skip
    header = ("sku", "name", "category", "standard_cost", "list_price", "uom", "description", "active")
    _write(folder / "items.csv", header, rows)
    company = BenchCompany(skus, [w[0] for w in WAREHOUSES])
    for extra in EXTRA_FILES:
        extra(folder, company)
    return company


class PhaseClock:
    """Seconds per import phase, from the progress callback: a phase runs from its first report to its last."""

    def __init__(self) -> None:
        self.started: dict[str, float] = {}
        self.ended: dict[str, float] = {}

    def __call__(self, phase: str, done: int, total: int) -> None:
        now = time.perf_counter()
        self.started.setdefault(phase, now)
        self.ended[phase] = now

    def seconds(self, began: float) -> list[tuple[str, float]]:
        """Each phase's share: from the previous phase's end (or `began`) to its own end."""
        out, previous = [], began
        for phase in sorted(self.ended, key=self.ended.__getitem__):
            out.append((phase, self.ended[phase] - previous))
            previous = self.ended[phase]
        return out


def timed_import(db: Database, folder: Path) -> tuple[ImportReport, list[tuple[str, float]], float]:
    """Read and import `folder`; the report, seconds per phase, and the total."""
    clock = PhaseClock()
    began = time.perf_counter()
    problems = Problems()
    tables = read_files([folder], problems)
    clock("read files", 1, 1)
    report = import_master_data(db, setup_actor(), tables, problems, progress=clock)
    total = time.perf_counter() - began
    if not report.ok:
        raise SystemExit(f"the generated files have problems: {report.problems[:3]}")
    return report, clock.seconds(began), total


def run(items: int) -> dict[str, object]:
    load_at_start = " / ".join(f"{load:.2f}" for load in os.getloadavg())
    with tempfile.TemporaryDirectory() as folder:
        files = Path(folder) / "files"
        files.mkdir()
        started = time.perf_counter()
        write_files(files, items)
        generate_s = time.perf_counter() - started
        db = Database.from_url(f"sqlite:///{Path(folder) / 'erp.db'}")
        schema.upgrade(db.engine)
        first, first_phases, first_total = timed_import(db, files)
        again, again_phases, again_total = timed_import(db, files)
        db.dispose()
    return {
        "items": items,
        "generate_s": round(generate_s, 2),
        "first": {
            "total_s": round(first_total, 2),
            "phases": [(p, round(s, 2)) for p, s in first_phases],
            "counts": first.counts(),
        },
        "again": {
            "total_s": round(again_total, 2),
            "phases": [(p, round(s, 2)) for p, s in again_phases],
            "counts": again.counts(),
        },
        "target_s": TARGET_S,
        "extra_files": [f.__name__ for f in EXTRA_FILES],
        "machine": machine_facts(),
        "load_at_start": load_at_start,
        "niceness": os.nice(0),
    }


def grids(result: dict[str, object]) -> list[Grid]:
    out = []
    for run_name, title in (("first", "First import (all created)"), ("again", "Same files again (all unchanged)")):
        figures = result[run_name]
        assert isinstance(figures, dict)
        rows = tuple((phase, f"{seconds:.2f}") for phase, seconds in figures["phases"])
        rows += (("total", f"{figures['total_s']:.2f}"),)
        out.append(Grid(f"{title}: seconds per phase", ("phase", "seconds"), rows))
    return out


def page(result: dict[str, object]) -> str:
    first = result["first"]
    assert isinstance(first, dict)
    verdict = "within" if first["total_s"] <= TARGET_S else "OVER"
    machine = result["machine"]
    assert isinstance(machine, dict)
    head = (
        f"# Import benchmark\n\n{result['items']:,} items (with 2 entities and 6 warehouses), CSV into a fresh "
        "SQLite database: "
        f"**{first['total_s']:.1f} s** ({verdict} the {TARGET_S:.0f} s target), with the opening stock of every "
        f"item in every warehouse ({first['counts'].get('opening_stock', {}).get('created', 0):,} rows; "
        f"extra files {result['extra_files'] or 'none'}).\n\n"
        f"Machine: {machine.get('cores')} cores, {machine.get('cpu', '')}, load {result.get('load_at_start')} at the "
        f"start and {machine.get('load_average')} at the end (1, 5, 15 min); "
        f"niceness {result.get('niceness', 0)} (19: beside other work). `python -m evals.bench.import_bench --items N`."
    )
    return "\n\n".join([head, *(to_markdown(g) for g in grids(result))]) + "\n"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--items", type=int, default=100_000, help="items to generate and import")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR, help="where the results go")
    args = parser.parse_args(argv)
    result = run(args.items)
    console = Console()
    for grid in grids(result):
        console.print(to_rich(grid))
    args.results_dir.mkdir(parents=True, exist_ok=True)
    (args.results_dir / "import-bench.json").write_text(json.dumps(result, indent=1, default=str) + "\n")
    (args.results_dir / "import-bench.md").write_text(page(result))
    console.print(f"wrote {args.results_dir / 'import-bench.md'}")


if __name__ == "__main__":
    main()
