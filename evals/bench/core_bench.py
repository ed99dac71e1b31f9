"""The core benchmark: ATP latency, orders per second, SQL statements per order, and pgbench.

    .venv/bin/python -m evals.bench.core_bench [--items N] [--history-months M] [--clients 8]
        [--seconds S] [--quick] [--keep]

Loads the demo company at scale into SQLite and PostgreSQL, measures each, runs pgbench on the
same server, prints the figures and writes them to evals/results/. Every database it makes is
removed at the end, whatever happens, except the datasets `--keep` keeps in data/bench/ (and as
`erp_bench_<key>` on the server) to save loading them again.
"""

import argparse
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from core import settings
from core.db import Database
from evals.bench.report import BackendFigures, BenchRun, RunSettings, TargetCheck, print_run, save
from evals.common.datasets import DatasetSpec, LoadRecord, PostgresStore, SqliteStore, Store, dataset
from evals.common.measures import (
    ATP_USER,
    ATP_VARIANTS,
    ATP_WARMUP,
    SALES_ENTITY,
    SALES_USER,
    SELL,
    all_skus,
    measure_atp,
    measure_statements,
    measure_throughput,
    order_pool,
)
from evals.common.postgres import run_pgbench
from evals.common.results import RESULTS_DIR
from evals.common.tables import load_progress, machine

ATP_P50_TARGET_MS = 2.0
ATP_TARGET_ITEMS = 100_000
STATEMENT_TARGET = 25


@dataclass(frozen=True)
class Defaults:
    items: int
    history_months: int
    seconds: int
    lookups: int


FULL = Defaults(items=100_000, history_months=24, seconds=20, lookups=2_000)
QUICK = Defaults(items=2_000, history_months=2, seconds=5, lookups=200)


def parse_settings(argv: Sequence[str] | None) -> tuple[RunSettings, Path, bool]:
    """The run's settings, the results folder, and whether to list every statement."""
    parser = argparse.ArgumentParser(prog="python -m evals.bench.core_bench", description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, help=f"items in the demo company (default {FULL.items:,})")
    parser.add_argument("--pg-items", type=int, help="items on PostgreSQL when it should load less (default --items)")
    parser.add_argument("--history-months", type=int, help=f"months of history (default {FULL.history_months})")
    parser.add_argument("--clients", type=int, default=8, help="concurrent order clients (default 8)")
    parser.add_argument("--seconds", type=int, help=f"seconds of order load and of pgbench (default {FULL.seconds})")
    parser.add_argument("--lookups", type=int, help=f"timed ATP look-ups per shape (default {FULL.lookups:,})")
    parser.add_argument("--seed", type=int, default=7, help="seed of the demo company and of every random pick")
    parser.add_argument("--quick", action="store_true", help="a small run: 2,000 items, 2 months, 5 s, 200 look-ups")
    parser.add_argument("--keep", action="store_true", help="keep the loaded datasets in data/bench/ and reuse them")
    parser.add_argument("--listings", action="store_true", help="print every statement of a create + confirm")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR, help="where the results go")
    args = parser.parse_args(argv)
    base = QUICK if args.quick else FULL
    items = args.items or base.items
    run = RunSettings(
        mode="quick" if args.quick else "full",
        items=items,
        pg_items=args.pg_items or items,
        history_months=args.history_months or base.history_months,
        seed=args.seed,
        atp_lookups=args.lookups or base.lookups,
        clients=args.clients,
        seconds=args.seconds or base.seconds,
        kept=args.keep,
    )
    return run, args.results_dir, args.listings


# --- Measuring one backend --------------------------------------------------------------------


def take_measurements(console: Console, db: Database, load: LoadRecord, run: RunSettings) -> BackendFigures:
    """ATP latency, statements per order and orders per second on one prepared database, in that order."""
    skus = all_skus(db)
    atp = []
    for variant in ATP_VARIANTS:
        console.log(f"{db.dialect}: {run.atp_lookups:,} ATP look-ups, {variant.label}")
        warmup = min(ATP_WARMUP, run.atp_lookups)
        atp.append(
            measure_atp(
                db, variant, username=ATP_USER, skus=skus, lookups=run.atp_lookups, seed=run.seed, warmup=warmup
            )
        )
    pool = order_pool(db, entity=SALES_ENTITY)
    console.log(f"{db.dialect}: counting statements; {len(pool.skus):,} SKUs in stock in {pool.entity}")
    statements = measure_statements(db, username=SALES_USER, pool=pool, seed=run.seed)
    console.log(f"{db.dialect}: {run.clients} clients selling for {run.seconds} s")
    throughput = measure_throughput(
        db, username=SALES_USER, pool=pool, clients=run.clients, seconds=run.seconds, seed=run.seed
    )
    return BackendFigures(load, tuple(atp), statements, throughput)


def measure_backend(
    console: Console, store: Store, spec: DatasetSpec, run: RunSettings, cache_dir: Path | None
) -> BackendFigures:
    """Load (or reuse) the dataset on one backend and take every measurement on it."""
    console.log(f"{store.backend}: preparing {spec.items:,} items, {spec.history_months} months")
    with (
        load_progress(console, store.backend) as progress,
        dataset(store, spec, cache_dir=cache_dir, pool_size=run.clients + 2, progress=progress) as (db, load),
    ):
        how = f"kept from {load.loaded_on}, when it loaded" if load.cached else "loaded"
        console.log(f"{store.backend}: dataset ready ({how} in {load.seconds:.0f} s)")
        return take_measurements(console, db, load, run)


# --- Targets and the whole run --------------------------------------------------------------------


def atp_targets(run: RunSettings, figures: BackendFigures) -> list[TargetCheck]:
    scale = "" if run.items >= ATP_TARGET_ITEMS else f" (below the target scale of {ATP_TARGET_ITEMS:,})"
    return [
        TargetCheck(
            target=f"ATP p50 on SQLite, {run.items:,} items{scale}, {a.variant}",
            measured=f"{a.latency.p50_ms:.2f} ms",
            limit=f"< {ATP_P50_TARGET_MS:g} ms",
            passed=a.latency.p50_ms < ATP_P50_TARGET_MS,
        )
        for a in figures.atp
    ]


def statement_target(figures: BackendFigures) -> TargetCheck:
    count = figures.statements.count_of(SELL)
    return TargetCheck(
        target=f"statements per confirmed 3-line order (create + confirm), {figures.load.backend}",
        measured=str(count),
        limit=f"<= {STATEMENT_TARGET}",
        passed=count <= STATEMENT_TARGET,
    )


def check_targets(run: RunSettings, backends: Sequence[BackendFigures]) -> tuple[TargetCheck, ...]:
    sqlite = next(f for f in backends if f.load.backend == "sqlite")
    return (*atp_targets(run, sqlite), *(statement_target(f) for f in backends))


def bench(console: Console, run: RunSettings) -> BenchRun:
    """Measure both backends and pgbench; every scratch database is gone when this returns or raises."""
    started = time.monotonic()
    kept_dir = settings.data_dir() / "bench"
    specs = {
        "sqlite": DatasetSpec(run.items, run.history_months, run.seed),
        "postgresql": DatasetSpec(run.pg_items, run.history_months, run.seed),
    }
    with tempfile.TemporaryDirectory(prefix="core_bench-") as workdir:
        stores: tuple[Store, ...] = (SqliteStore(Path(workdir), kept_dir), PostgresStore())
        cache_dir = kept_dir if run.kept else None
        backends = tuple(measure_backend(console, s, specs[s.backend], run, cache_dir) for s in stores)
    console.log(f"pgbench: {run.clients} clients for {run.seconds} s")
    pgbench = run_pgbench(seconds=run.seconds, clients=run.clients)
    orders = next(f.throughput for f in backends if f.load.backend == "postgresql")
    return BenchRun(
        settings=run,
        machine=machine(),
        backends=backends,
        pgbench=pgbench,
        orders_to_pgbench_ratio=orders.orders_per_second / pgbench.tps,
        targets=check_targets(run, backends),
        wall_seconds=time.monotonic() - started,
    )


def main(argv: Sequence[str] | None = None) -> int:
    run, results_dir, listings = parse_settings(argv)
    console = Console()
    result = bench(console, run)
    over = any(f.statements.count_of(SELL) > STATEMENT_TARGET for f in result.backends)
    print_run(console, result, listings=listings or over)
    json_path, md_path = save(result, results_dir, listings=listings or over)
    console.print(f"saved {json_path} and {md_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
