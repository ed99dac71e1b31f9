"""How the core grows with the catalogue: load time, database size, peak memory and query times, 10k to 100k items.

    .venv/bin/python -m evals.hardening.scale [--items 10000,30000,100000] [--backends sqlite,postgresql]
        [--history-months 24] [--lookups 300] [--orders 100] [--kpi-calls 5] [--out evals/results]

For each size and backend, a fresh process loads the core benchmark's scale dataset
(`evals.common.datasets`: the demo company with N items and 24 months of history, seed 7) into a new
database and times, on it, what `evals.common.measures` times for the core benchmark: ATP look-ups
(three shapes), then sales orders created and confirmed one after another, then the KPI report
(`entity_kpis`, over its default 90 days and over a year) as a manager of every entity. Each run
has its own process so that its peak memory (VmHWM, reset between the load and the queries) is its
own. PostgreSQL runs use scratch databases on the local server (dropped afterwards); the server's
own memory is not in the figures. Results: evals/results/hardening-scale-latest.{md,json}.
"""

import argparse
import multiprocessing
import os
import queue
import random
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import timedelta
from multiprocessing.queues import Queue
from pathlib import Path
from typing import Any

from rich.console import Console

from core import clock
from core.db import Database
from core.masterdata.service import load_actor
from core.reporting.service import entity_kpis
from evals.common.company import BUSINESS_DATE
from evals.common.datasets import DatasetSpec, PostgresStore, Progress, SqliteStore, Store, dataset
from evals.common.measures import (
    ATP_USER,
    ATP_VARIANTS,
    ATP_WARMUP,
    SALES_ENTITY,
    SALES_USER,
    Latency,
    all_skus,
    confirm_command,
    create_command,
    measure_atp,
    order_pool,
    random_order,
    summarize,
    timed,
    timed_run,
)
from evals.common.results import RESULTS_DIR, results_page, write_results
from evals.common.tables import Grid, load_progress, machine_facts, to_rich

DEFAULT_ITEMS = (10_000, 30_000, 100_000)
PROGRESS_EVERY_S = 0.25  # the child forwards a stage's progress at most this often
KPI_USER = ATP_USER  # a manager over every entity: the widest report
YEAR = timedelta(days=364)


@dataclass(frozen=True)
class Job:
    """One size on one backend, as the child process receives it."""

    backend: str
    items: int
    history_months: int
    seed: int
    lookups: int
    orders: int
    kpi_calls: int
    workdir: str  # where SQLite files go
    pg_database: str  # the scratch database's name on PostgreSQL


@dataclass(frozen=True)
class QueryTimes:
    query: str
    latency: Latency  # wall time per call
    cpu_ms: float  # this process's CPU time per call: on a shared CPU, less swayed by other work than wall time


@dataclass(frozen=True)
class ScalePoint:
    backend: str
    items: int
    history_months: int
    load_s: float  # migrate + load_demo
    load_cpu_s: float  # this process's CPU time for it: less swayed than wall time by other work (not PostgreSQL's)
    size_mb: float
    generated: dict[str, Any]  # what load_demo made (orders, ledger rows, ...)
    baseline_rss_mb: float  # the process before loading (imports done)
    load_peak_rss_mb: float  # peak while loading
    query_peak_rss_mb: float  # peak while querying (reset after the load)
    peak_reset: bool  # False where /proc/self/clear_refs could not reset the peak: query peak includes the load
    queries: list[QueryTimes]
    wall_s: float  # the whole run of this point: load, queries, clean-up
    load_average: float  # the machine's 1-minute load average when the point finished (2 cores)

    def p50(self, query: str) -> float:
        return self.times(query).latency.p50_ms

    def cpu_ms(self, query: str) -> float:
        return self.times(query).cpu_ms

    def times(self, query: str) -> QueryTimes:
        return next(q for q in self.queries if q.query == query)


# --- Memory of this process -----------------------------------------------------------------------


def _status_mb(name: str) -> float:
    """A `Vm*` line of /proc/self/status, in MiB (0 where there is no /proc)."""
    try:
        lines = Path("/proc/self/status").read_text().splitlines()
    except OSError:
        return 0.0
    for line in lines:
        if line.startswith(name + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def rss_mb() -> float:
    return _status_mb("VmRSS")


def peak_rss_mb() -> float:
    return _status_mb("VmHWM")


def reset_peak_rss() -> bool:
    """Start the peak (VmHWM) again from the current RSS; False where the kernel does not allow it."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


# --- What one point measures (in the child process) -----------------------------------------------


def atp_times(db: Database, job: Job, report: Progress) -> list[QueryTimes]:
    skus = all_skus(db)
    made = []
    for done, variant in enumerate(ATP_VARIANTS):
        report("ATP look-ups", done, len(ATP_VARIANTS))
        warmup = min(ATP_WARMUP, job.lookups)
        cpu = time.process_time()
        result = measure_atp(
            db, variant, username=ATP_USER, skus=skus, lookups=job.lookups, seed=job.seed, warmup=warmup
        )
        cpu_ms = (time.process_time() - cpu) * 1000 / (job.lookups + warmup)
        made.append(QueryTimes(f"ATP {variant.label}", result.latency, cpu_ms))
    report("ATP look-ups", len(ATP_VARIANTS), len(ATP_VARIANTS))
    return made


def order_times(db: Database, job: Job, report: Progress) -> list[QueryTimes]:
    """Orders created then confirmed one after another (one command each), each step timed apart."""
    actor = db.read(lambda s: load_actor(s, username=SALES_USER))
    pool = order_pool(db, entity=SALES_ENTITY)
    rng = random.Random(job.seed)
    created, confirmed, cpu = [], [], {"create": 0.0, "confirm": 0.0}
    for done in range(job.orders):
        report("orders", done, job.orders)
        started = time.process_time()
        seconds, order_id = timed_run(db, create_command(actor, random_order(rng, pool)))
        created.append(seconds)
        between = time.process_time()
        confirmed.append(timed_run(db, confirm_command(actor, order_id))[0])
        cpu["create"] += between - started
        cpu["confirm"] += time.process_time() - between
    report("orders", job.orders, job.orders)
    return [
        QueryTimes("order create", summarize(created), cpu["create"] * 1000 / job.orders),
        QueryTimes("order confirm", summarize(confirmed), cpu["confirm"] * 1000 / job.orders),
    ]


def kpi_times(db: Database, job: Job, report: Progress) -> list[QueryTimes]:
    """The KPI report as a manager of every entity: its default 90 days, and the last year."""
    actor = db.read(lambda s: load_actor(s, username=KPI_USER))
    year_ago = clock.today() - YEAR
    shapes: list[tuple[str, Callable[[], object]]] = [
        ("KPIs 90 days", lambda: db.read(lambda s: entity_kpis(s, actor))),
        ("KPIs 1 year", lambda: db.read(lambda s: entity_kpis(s, actor, since=year_ago))),
    ]
    made = []
    for label, call in shapes:
        call()  # warm-up
        runs = []
        cpu = time.process_time()
        for done in range(job.kpi_calls):
            report(label, done, job.kpi_calls)
            runs.append(timed(call)[0])
        cpu_ms = (time.process_time() - cpu) * 1000 / job.kpi_calls
        report(label, job.kpi_calls, job.kpi_calls)
        made.append(QueryTimes(label, summarize(runs), cpu_ms))
    return made


def store_of(job: Job) -> Store:
    if job.backend == "postgresql":
        return PostgresStore(work=job.pg_database)
    return SqliteStore(Path(job.workdir), Path(job.workdir))


def measure_point(job: Job, report: Progress) -> ScalePoint:
    """Load the dataset fresh, then time the queries; the database is gone afterwards."""
    began = time.monotonic()
    spec = DatasetSpec(job.items, job.history_months, job.seed)
    baseline = rss_mb()
    reset_peak_rss()
    cpu = time.process_time()
    with dataset(store_of(job), spec, cache_dir=None, pool_size=2, progress=report) as (db, load):
        load_cpu = time.process_time() - cpu
        load_peak = peak_rss_mb()
        was_reset = reset_peak_rss()
        queries = [*atp_times(db, job, report), *order_times(db, job, report), *kpi_times(db, job, report)]
        query_peak = peak_rss_mb()
    return ScalePoint(
        backend=job.backend,
        items=job.items,
        history_months=job.history_months,
        load_s=load.seconds,
        load_cpu_s=load_cpu,
        size_mb=load.size_mb,
        generated={k: v for k, v in load.summary.items() if isinstance(v, int)},
        baseline_rss_mb=baseline,
        load_peak_rss_mb=load_peak,
        query_peak_rss_mb=query_peak,
        peak_reset=was_reset,
        queries=queries,
        wall_s=time.monotonic() - began,
        load_average=os.getloadavg()[0],
    )


def throttled(send: Callable[[tuple[Any, ...]], None]) -> Progress:
    """A progress callback that forwards each stage at most every PROGRESS_EVERY_S, and always its end."""
    last: dict[str, float] = {}

    def report(stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        if done >= total or now - last.get(stage, 0.0) >= PROGRESS_EVERY_S:
            last[stage] = now
            send(("progress", stage, done, total))

    return report


def child_main(job: Job, messages: "Queue[tuple[Any, ...]]") -> None:
    """The child process: measure one point and send it back (or the traceback)."""
    try:
        point = measure_point(job, throttled(messages.put))
        messages.put(("done", point))
    except BaseException:  # the parent reports it; a child must never die silently
        messages.put(("failed", traceback.format_exc()))


# --- The parent: one child per point, with a progress bar -----------------------------------------


def run_point(job: Job, console: Console) -> ScalePoint:
    """Measure one point in a fresh process, drawing its progress here."""
    context = multiprocessing.get_context("spawn")
    messages: Queue[tuple[Any, ...]] = context.Queue()
    child = context.Process(target=child_main, args=(job, messages), name=f"scale-{job.backend}-{job.items}")
    child.start()
    try:
        with load_progress(console, f"{job.backend} {job.items:,} items") as report:
            return _receive(child, messages, report)
    finally:
        child.join(timeout=60)
        if child.is_alive():
            child.terminate()


def _receive(child: Any, messages: "Queue[tuple[Any, ...]]", report: Progress) -> ScalePoint:
    while True:
        try:
            kind, *rest = messages.get(timeout=1.0)
        except queue.Empty:
            if not child.is_alive():
                raise RuntimeError(f"the measuring process exited ({child.exitcode}) without a result") from None
            continue
        if kind == "progress":
            report(*rest)
        elif kind == "done":
            point: ScalePoint = rest[0]
            return point
        else:
            raise RuntimeError(f"the measuring process failed:\n{rest[0]}")


# --- Report -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScaleSettings:
    items: tuple[int, ...]
    backends: tuple[str, ...]
    history_months: int
    seed: int
    lookups: int
    orders: int
    kpi_calls: int
    command: str


@dataclass(frozen=True)
class ScaleRun:
    settings: ScaleSettings
    machine: dict[str, Any]
    points: list[ScalePoint]
    failed: list[str]  # points that did not finish, with why
    pending: list[str]  # points not measured yet (the report is saved after every point)
    wall_seconds: float


def _rows(cells: Sequence[str]) -> tuple[tuple[str, ...], ...]:
    return tuple((cell,) for cell in cells)


def _n(value: float) -> str:
    return f"{value:,.0f}"


def load_grid(points: Sequence[ScalePoint]) -> Grid:
    rows = tuple(
        (
            p.backend,
            f"{p.items:,}",
            str(p.history_months),
            f"{p.load_s:,.1f}",
            f"{p.load_cpu_s:,.1f}",
            _n(p.size_mb),
            f"{p.generated.get('ledger_rows', 0):,}",
            f"{p.generated.get('sales_orders', 0):,}",
            _n(p.baseline_rss_mb),
            _n(p.load_peak_rss_mb),
            _n(p.query_peak_rss_mb) + ("" if p.peak_reset else " (not reset)"),
            f"{p.wall_s:,.0f}",
            f"{p.load_average:.1f}",
        )
        for p in points
    )
    headers = (
        "backend",
        "items",
        "months",
        "load s",
        "load CPU s",
        "size MB",
        "ledger rows",
        "sales orders",
        "RSS before MB",
        "peak RSS load MB",
        "peak RSS queries MB",
        "point took s",
        "load avg",
    )
    return Grid("Load, size and memory (memory: the loading and querying Python process)", headers, rows)


def query_names(points: Sequence[ScalePoint]) -> list[str]:
    return list(dict.fromkeys(q.query for p in points for q in p.queries))


def query_grid(points: Sequence[ScalePoint]) -> Grid:
    names = query_names(points)
    rows = tuple(
        (
            p.backend,
            f"{p.items:,}",
            *(
                f"{q.latency.p50_ms:.2f} / {q.latency.p95_ms:.2f} ({q.cpu_ms:.2f})"
                for name in names
                for q in p.queries
                if q.query == name
            ),
        )
        for p in points
    )
    title = "Query times: wall p50 / p95 ms (this process's CPU ms per call); each call its own transaction"
    return Grid(title, ("backend", "items", *names), rows)


def growth_rows(points: Sequence[ScalePoint], backend: str) -> list[tuple[str, ...]]:
    """Largest over smallest run of one backend, for each figure, beside the growth in items."""
    mine = sorted((p for p in points if p.backend == backend), key=lambda p: p.items)
    if len(mine) < 2:
        return []
    small, large = mine[0], mine[-1]
    scale = f"x{large.items / small.items:.1f}"
    figures: list[tuple[str, float, float]] = [
        ("load s", small.load_s, large.load_s),
        ("load CPU s (this process)", small.load_cpu_s, large.load_cpu_s),
        ("size MB", small.size_mb, large.size_mb),
        ("peak RSS load MB", small.load_peak_rss_mb, large.load_peak_rss_mb),
    ]
    for name in query_names(mine):
        figures += [(f"{name} p50 ms", small.p50(name), large.p50(name))]
        figures += [(f"{name} CPU ms", small.cpu_ms(name), large.cpu_ms(name))]
    return [(backend, name, f"{a:,.2f}", f"{b:,.2f}", f"x{b / a:.2f}" if a else "-", scale) for name, a, b in figures]


def growth_grid(points: Sequence[ScalePoint]) -> Grid:
    rows = tuple(row for backend in dict.fromkeys(p.backend for p in points) for row in growth_rows(points, backend))
    headers = ("backend", "figure", "smallest run", "largest run", "grew", "items grew")
    return Grid("Growth from the smallest to the largest run", headers, rows)


def grids(run: ScaleRun) -> list[Grid]:
    made = [load_grid(run.points), query_grid(run.points), growth_grid(run.points)]
    if run.failed:
        made.append(Grid("Points that did not finish", ("point and why",), _rows(run.failed)))
    if run.pending:
        made.append(Grid("Not measured yet (the run is still going, or was stopped)", ("point",), _rows(run.pending)))
    facts = tuple((k, str(v)) for k, v in run.machine.items())
    made.append(Grid("Machine", ("", "value"), (*facts, ("run took", f"{run.wall_seconds:.0f} s"))))
    return made


def method(run: ScaleRun) -> str:
    s = run.settings
    return "\n".join(
        [
            f"Command: `{s.command}`",
            "",
            "- Dataset: the core benchmark's scale dataset (`evals.common.datasets`, `core.demo.load_demo`,"
            f" seed {s.seed}, {s.history_months} months of history), loaded fresh for each point;"
            " load = migrate + load_demo; size = the SQLite file after a WAL checkpoint, or `pg_database_size`.",
            "- Load CPU s: the loading process's own CPU time (on PostgreSQL the server's work is not in it);"
            " 'load avg' is the machine's 1-minute load average as the point finished: the CPU is shared, and"
            " wall times and latencies grow with it.",
            "- Memory: VmHWM of the process that loads and queries (one fresh process per point); the peak is reset"
            " (/proc/self/clear_refs) between the load and the queries. PostgreSQL's own memory is not included.",
            f"- ATP: {s.lookups} look-ups per shape as `{ATP_USER}` (all warehouses), after a warm-up of up to"
            f" {ATP_WARMUP}, via `evals.common.measures.measure_atp`.",
            f"- Orders: {s.orders} 3-line orders for `{SALES_USER}` ({SALES_ENTITY}), each created then confirmed"
            " (`allow_backorder=True`), one command each, one after another.",
            f"- KPIs: `entity_kpis` as `{KPI_USER}` (every entity), {s.kpi_calls} timed calls after one warm-up,"
            " over the default 90 days and over the last year.",
        ]
    )


def markdown_page(run: ScaleRun) -> str:
    heading = f"# Hardening: scale, {run.machine.get('date', '')}"
    return results_page(heading, method(run), grids(run))


def save(run: ScaleRun, out: Path) -> tuple[Path, Path]:
    """Write the run's results under `out`."""
    return write_results(out, "hardening-scale", asdict(run), markdown_page(run))


# --- Command line -------------------------------------------------------------------------------------


def _sizes(text: str) -> tuple[int, ...]:
    sizes = tuple(int(part.replace("_", "")) for part in text.split(",") if part.strip())
    if not sizes or min(sizes) < 100:
        raise argparse.ArgumentTypeError("give item counts of at least 100, separated by commas")
    return tuple(sorted(set(sizes)))


def _backends(text: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    if not names or not set(names) <= {"sqlite", "postgresql"}:
        raise argparse.ArgumentTypeError("backends are sqlite and/or postgresql, separated by commas")
    return names


def parse_settings(argv: Sequence[str]) -> tuple[ScaleSettings, Path]:
    parser = argparse.ArgumentParser(prog="python -m evals.hardening.scale", description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=_sizes, default=DEFAULT_ITEMS, help="item counts (default 10000,30000,100000)")
    parser.add_argument("--backends", type=_backends, default=("sqlite", "postgresql"), help="default both")
    parser.add_argument("--history-months", type=int, default=24, help="months of history (default 24)")
    parser.add_argument("--seed", type=int, default=7, help="seed of the dataset and the random picks")
    parser.add_argument("--lookups", type=int, default=300, help="timed ATP look-ups per shape (default 300)")
    parser.add_argument("--orders", type=int, default=100, help="orders created and confirmed (default 100)")
    parser.add_argument("--kpi-calls", type=int, default=5, help="timed KPI reports per period (default 5)")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="where the results go")
    args = parser.parse_args(argv)
    if min(args.lookups, args.orders, args.kpi_calls) < 1 or args.history_months < 1:
        parser.error("--lookups, --orders, --kpi-calls and --history-months must be at least 1")
    command = " ".join(["python -m evals.hardening.scale", *argv])
    settings = ScaleSettings(
        args.items, args.backends, args.history_months, args.seed, args.lookups, args.orders, args.kpi_calls, command
    )
    return settings, args.out


def jobs(settings: ScaleSettings, workdir: Path) -> list[Job]:
    """Every point, the smallest size first, SQLite before PostgreSQL at each size."""
    return [
        Job(
            backend=backend,
            items=items,
            history_months=settings.history_months,
            seed=settings.seed,
            lookups=settings.lookups,
            orders=settings.orders,
            kpi_calls=settings.kpi_calls,
            workdir=str(workdir),
            pg_database=f"erp_hardening_scale_{os.getpid()}",
        )
        for items in settings.items
        for backend in settings.backends
    ]


def _label(job: Job) -> str:
    return f"{job.backend} {job.items:,} items"


def measure(settings: ScaleSettings, console: Console, out: Path) -> ScaleRun:
    """Every point in turn; the report is saved after each, so a run stopped early keeps what it measured."""
    began = time.monotonic()
    points: list[ScalePoint] = []
    failed: list[str] = []
    with tempfile.TemporaryDirectory(prefix="hardening-scale-") as workdir:
        todo = jobs(settings, Path(workdir))
        for index, job in enumerate(todo):
            console.log(f"{_label(job)}, {job.history_months} months")
            try:
                point = run_point(job, console)
                points.append(point)
                console.log(f"{_label(job)}: loaded in {point.load_s:,.0f} s, took {point.wall_s:,.0f} s")
            except RuntimeError as error:  # one failed point must not lose the others' figures
                console.log(f"[red]{_label(job)} failed[/]: {error}")
                failed.append(f"{_label(job)}: {str(error).splitlines()[-1]}")
            pending = [_label(j) for j in todo[index + 1 :]]
            save(ScaleRun(settings, machine_facts(), points, failed, pending, time.monotonic() - began), out)
    return ScaleRun(settings, machine_facts(), points, failed, [], time.monotonic() - began)


def main(argv: Sequence[str] | None = None) -> int:
    settings, out = parse_settings(list(sys.argv[1:] if argv is None else argv))
    os.environ.setdefault("ERP_TODAY", BUSINESS_DATE)  # the dataset is built as of the business date
    console = Console(width=None if sys.stdout.isatty() else 200)
    run = measure(settings, console, out)
    for grid in grids(run):
        console.print(to_rich(grid))
    json_path, md_path = save(run, out)
    console.print(f"saved {json_path} and {md_path}")
    return 0 if not run.failed else 1


if __name__ == "__main__":
    raise SystemExit(main())
