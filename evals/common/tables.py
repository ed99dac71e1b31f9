"""Figures as tables: each built once as plain rows (`Grid`) and rendered twice, with Rich and as markdown,
so the terminal and the markdown page can never disagree; the machine the figures were taken on; progress bars."""

import os
import platform
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy
from rich.console import Console
from rich.progress import Progress, TaskID
from rich.table import Table

from evals.common import postgres
from evals.common.measures import Latency


@dataclass(frozen=True)
class Machine:
    date: str
    cores: int
    ram_gb: float
    cpu: str
    os: str
    python: str
    sqlite: str
    postgresql: str
    sqlalchemy: str
    load_average: str  # 1, 5 and 15 minutes, at the end of the run: other work on the machine shows here


def _cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def machine() -> Machine:
    """The machine and the software versions the figures were measured with."""
    return Machine(
        date=datetime.now().isoformat(timespec="seconds"),
        cores=os.cpu_count() or 0,
        ram_gb=round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        cpu=_cpu_model(),
        os=platform.platform(),
        python=platform.python_version(),
        sqlite=sqlite3.sqlite_version,
        postgresql=postgres.server_version(),
        sqlalchemy=sqlalchemy.__version__,
        load_average=" / ".join(f"{load:.2f}" for load in os.getloadavg()),
    )


@dataclass(frozen=True)
class Grid:
    title: str
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


def ms(value: float) -> str:
    return f"{value:.2f}"


def latency_cells(latency: Latency | None) -> tuple[str, ...]:
    if latency is None:
        return ("-", "-", "-", "-")
    return (ms(latency.p50_ms), ms(latency.p95_ms), ms(latency.mean_ms), ms(latency.max_ms))


def to_rich(grid: Grid) -> Table:
    table = Table(title=grid.title, title_justify="left")
    for header in grid.headers:
        table.add_column(header, overflow="fold")
    for row in grid.rows:
        table.add_row(*(_styled(cell) for cell in row))
    return table


def _styled(cell: str) -> str:
    return {"PASS": "[bold green]PASS[/]", "FAIL": "[bold red]FAIL[/]"}.get(cell, cell.replace("[", r"\["))


def to_markdown(grid: Grid) -> str:
    def line(cells: tuple[str, ...]) -> str:
        return "| " + " | ".join(cell.replace("|", r"\|") for cell in cells) + " |"

    return "\n".join(
        [f"### {grid.title}", "", line(grid.headers), line(tuple("---" for _ in grid.headers))]
        + [line(row) for row in grid.rows]
    )


def machine_facts() -> dict[str, Any]:
    """The machine, as the other benchmarks record it (without PostgreSQL's version if it is not up)."""
    try:
        return asdict(machine())
    except Exception as error:  # SQLite-only runs do not need the server
        return {
            "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "cores": os.cpu_count() or 0,
            "python": platform.python_version(),
            "os": platform.platform(),
            "postgresql": f"unavailable ({type(error).__name__})",
            "load_average": " / ".join(f"{load:.2f}" for load in os.getloadavg()),
        }


@contextmanager
def load_progress(console: Console, backend: str) -> Iterator[Callable[[str, int, int], None]]:
    """A progress callback for `load_demo` that draws one bar per stage."""
    tasks: dict[str, TaskID] = {}
    with Progress(console=console, transient=True) as bars:

        def report(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bars.add_task(f"{backend}: {stage}", total=total)
            bars.update(tasks[stage], completed=done, total=total)

        yield report
