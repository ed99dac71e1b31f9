"""The benchmark's figures as tables: printed with Rich, saved as JSON and as a markdown page.

Each table is built once as plain rows (`Grid`) and rendered twice, so the terminal and the
markdown page can never disagree.
"""

from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

from rich.console import Console

from evals.common.datasets import LoadRecord
from evals.common.measures import SELL, AtpResult, StatementReport, ThroughputResult
from evals.common.postgres import PgbenchResult
from evals.common.results import results_page, write_results
from evals.common.tables import Grid, Machine, latency_cells, to_rich

# --- What a run produced -----------------------------------------------------------------------


@dataclass(frozen=True)
class RunSettings:
    mode: str  # "full" or "quick"
    items: int
    pg_items: int
    history_months: int
    seed: int
    atp_lookups: int
    clients: int
    seconds: int
    kept: bool


@dataclass(frozen=True)
class BackendFigures:
    load: LoadRecord
    atp: tuple[AtpResult, ...]
    statements: StatementReport
    throughput: ThroughputResult


@dataclass(frozen=True)
class TargetCheck:
    target: str
    measured: str
    limit: str
    passed: bool


@dataclass(frozen=True)
class BenchRun:
    settings: RunSettings
    machine: Machine
    backends: tuple[BackendFigures, ...]
    pgbench: PgbenchResult
    orders_to_pgbench_ratio: float
    targets: tuple[TargetCheck, ...]
    wall_seconds: float


# --- Tables as plain rows ----------------------------------------------------------------------


def machine_grid(run: BenchRun) -> Grid:
    m, s = run.machine, run.settings
    rows = (
        ("date", m.date),
        ("cores", str(m.cores)),
        ("RAM", f"{m.ram_gb} GiB"),
        ("CPU", m.cpu),
        ("OS", m.os),
        ("Python", m.python),
        ("SQLite", m.sqlite),
        ("PostgreSQL", m.postgresql),
        ("SQLAlchemy", m.sqlalchemy),
        ("load average at the end (1 / 5 / 15 min)", m.load_average),
        ("mode", f"{s.mode}; seed {s.seed}; {s.clients} clients for {s.seconds} s; {s.atp_lookups} ATP look-ups"),
        ("run took", f"{run.wall_seconds:.0f} s"),
    )
    return Grid("Machine", ("", "value"), rows)


def datasets_grid(run: BenchRun) -> Grid:
    rows = tuple(
        (
            f.load.backend,
            f"{f.load.items:,}",
            str(f.load.history_months),
            f.load.generator,
            f"{f.load.seconds:.0f}",
            f"kept from {f.load.loaded_on}" if f.load.cached else "loaded now",
            f"{f.load.size_mb:,.0f}",
            ", ".join(f"{k} {v:,}" for k, v in f.load.summary.items() if isinstance(v, int)),
        )
        for f in run.backends
    )
    headers = ("backend", "items", "months", "generator", "load s", "source", "size MB", "generated")
    return Grid("Scale dataset (load = migrate + load_demo)", headers, rows)


def atp_grid(run: BenchRun) -> Grid:
    rows = tuple(
        (a.backend, a.variant, a.username, f"{a.latency.count:,}", *latency_cells(a.latency))
        for f in run.backends
        for a in f.atp
    )
    headers = ("backend", "look-up", "as", "calls", "p50 ms", "p95 ms", "mean ms", "max ms")
    return Grid("ATP latency (each call its own read transaction; warm-up excluded)", headers, rows)


def statements_grid(run: BenchRun) -> Grid:
    rows = tuple(
        (
            f.statements.backend,
            c.command,
            str(c.count),
            str(sum(s.executemany for s in c.statements)),
            (str(f.statements.recount) if c.command == SELL else ""),
        )
        for f in run.backends
        for c in f.statements.counts
    )
    headers = ("backend", "command (3-line order)", "statements", "of them executemany", "recount")
    return Grid("SQL statements per command (a DB-API executemany counts as 1)", headers, rows)


def throughput_grid(run: BenchRun) -> Grid:
    rows = tuple(
        (
            t.backend,
            str(t.clients),
            f"{t.seconds:.1f}",
            f"{t.orders_confirmed:,}",
            f"{t.orders_per_second:.1f}",
            *latency_cells(t.latency)[:2],
            str(t.retries),
            str(t.errors),
            f"{t.client_cpu_percent:.0f}%",
        )
        for t in (f.throughput for f in run.backends)
    )
    headers = (
        "backend",
        "clients",
        "seconds",
        "orders",
        "orders/s",
        "p50 ms",
        "p95 ms",
        "retries",
        "errors",
        "bench CPU",
    )
    return Grid("Orders created + confirmed (one command each)", headers, rows)


def pgbench_grid(run: BenchRun) -> Grid:
    p = run.pgbench
    postgres_orders = next(f.throughput for f in run.backends if f.throughput.backend == "postgresql")
    rows = (
        ("pgbench", p.version),
        ("workload", f"TPC-B-like, scale {p.scale}, {p.clients} clients, {p.threads} threads, {p.seconds} s"),
        ("tps", f"{p.tps:,.1f}"),
        ("our orders/s on PostgreSQL", f"{postgres_orders.orders_per_second:.1f}"),
        ("orders/s ÷ pgbench tps", f"{run.orders_to_pgbench_ratio:.3f}"),
    )
    return Grid("pgbench on the same server, same run", ("", "value"), rows)


def targets_grid(run: BenchRun) -> Grid:
    rows = tuple((t.target, t.measured, t.limit, "PASS" if t.passed else "FAIL") for t in run.targets)
    return Grid("Targets", ("target", "measured", "limit", "result"), rows)


def origins_grid(report: StatementReport) -> Grid:
    """Where the statements of one create + confirm come from, grouped by the core code that sent them."""
    sell = next(c for c in report.counts if c.command == SELL)
    tally = Counter((s.origin, s.sql.split(" ")[0] + " " + _table_of(s.sql)) for s in sell.statements)
    rows = tuple((origin, what, str(n)) for (origin, what), n in tally.items())
    title = f"{report.backend}: statements of one create + confirm by origin ({sell.count}; customer {report.customer})"
    return Grid(title, ("core code (innermost frame)", "statement", "count"), rows)


def listing_grid(report: StatementReport) -> Grid:
    """Every statement of one create + confirm, in order, with the core call path behind it."""
    sell = next(c for c in report.counts if c.command == SELL)
    rows = tuple(
        (str(n), s.call_path, s.sql[:140] + ("…" if len(s.sql) > 140 else ""))
        for n, s in enumerate(sell.statements, start=1)
    )
    return Grid(f"{report.backend}: every statement of one create + confirm", ("#", "core call path", "SQL"), rows)


def _table_of(sql: str) -> str:
    words = sql.replace(",", " ").split()
    upper = [w.upper() for w in words]
    for keyword in ("INTO", "UPDATE", "FROM"):
        if keyword in upper[:-1]:
            return words[upper.index(keyword) + 1]
    return ""


def grids(run: BenchRun, *, listings: bool) -> list[Grid]:
    """All tables of a run; with `listings`, also every statement of a create + confirm."""
    made = [
        targets_grid(run),
        atp_grid(run),
        statements_grid(run),
        throughput_grid(run),
        pgbench_grid(run),
        datasets_grid(run),
        machine_grid(run),
    ]
    made += [origins_grid(f.statements) for f in run.backends]
    if listings:
        made += [listing_grid(f.statements) for f in run.backends]
    return made


# --- Rendering and saving ---------------------------------------------------------------------


def print_run(console: Console, run: BenchRun, *, listings: bool) -> None:
    for grid in grids(run, listings=listings):
        console.print(to_rich(grid))


def method(run: BenchRun) -> str:
    """How the figures were taken, in a few lines for the markdown page."""
    s = run.settings
    atp_user = run.backends[0].atp[0].username
    return "\n".join(
        [
            "How these figures were taken (`python -m evals.bench.core_bench`; every figure is in the JSON file):",
            "",
            f"- Dataset: `core.demo.load_demo` (seed {s.seed}), {s.items:,} items on SQLite and {s.pg_items:,} on"
            f" PostgreSQL, {s.history_months} months of history; each run measures a fresh copy.",
            f"- ATP: {s.atp_lookups:,} timed `available_to_promise` calls per shape on SKUs drawn with seed {s.seed},"
            f" each in its own `db.read`, as `{atp_user}` (every entity in scope, so all warehouses are listed);"
            " a warm-up of up to 50 calls is not timed.",
            "- Statements: `before_cursor_execute` events around one command; a DB-API executemany is one"
            " statement. SQLite's `BEGIN IMMEDIATE` goes through the cursor and is counted; PostgreSQL's implicit"
            " BEGIN and both COMMITs are not statements the hook sees. The recount repeats create + confirm on the"
            " same state, rolled back.",
            f"- Orders: {s.clients} threads, each creating and confirming a 3-line order (random customer not on credit"
            f" hold, random in-stock SKUs, `allow_backorder=True`) in one `db.run`, for {s.seconds} s; latency"
            " includes retries. 'bench CPU' is the benchmark process's CPU time over wall time (100% = one core).",
            f"- pgbench: `pgbench -i -s 1`, then `-c {run.pgbench.clients} -j {run.pgbench.threads}"
            f" -T {run.pgbench.seconds}` on a scratch database on the same server, right after the order load.",
        ]
    )


def markdown_page(run: BenchRun, *, listings: bool) -> str:
    heading = f"# Core benchmark ({run.settings.mode}), {run.machine.date}"
    return results_page(heading, method(run), grids(run, listings=listings))


def save(run: BenchRun, results_dir: Path, *, listings: bool) -> tuple[Path, Path]:
    """Write `core_bench-latest.json` and `.md` (with `-quick` in quick mode); git keeps the earlier runs."""
    stem = "core_bench" if run.settings.mode == "full" else f"core_bench-{run.settings.mode}"
    return write_results(results_dir, stem, asdict(run), markdown_page(run, listings=listings))
