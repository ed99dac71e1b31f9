"""`erp-assistant planning`: run exception detection and the planning analyses now, and see the recorded runs.

The service runs them on its schedule (ERP_PLANNING_EVERY_MINUTES / ERP_PLANNING_AT); this is the same run on
demand, and like a scheduled one it is skipped while another worker is running them.
"""

import getpass
from typing import Annotated

import typer
from rich.table import Table

from assistant.channels.terminal.console import console, fail
from core.db import open_database
from core.errors import ErpError
from core.planning.models import PlanningRun, Trigger
from core.planning.runner import analysis_names, entity_ids_of, recent_runs, run_planning

ONLY_HELP = f"Run only this analysis (repeatable): {', '.join(analysis_names())}."
planning_app = typer.Typer(help="The planning analyses: run them now, list past runs.", no_args_is_help=True)


@planning_app.command("run")
def run_command(
    only: Annotated[list[str] | None, typer.Option("--only", help=ONLY_HELP)] = None,
    entity: Annotated[
        list[str] | None, typer.Option("--entity", help="Only this legal entity, e.g. NA (repeatable); default all.")
    ] = None,
) -> None:
    """Run detection and the planning analyses now: their findings become cases (never twice), and cases whose
    finding is gone are closed with the reason. Prints what each analysis raised, refreshed and closed."""
    db = open_database()
    try:
        scope = db.read(lambda s: entity_ids_of(s, entity)) if entity else None
        outcome = run_planning(db, trigger=Trigger.CLI, requested_by=getpass.getuser(), entity_ids=scope, only=only)
    except ErpError as error:
        raise fail(error) from None
    if outcome.run is None:
        console.print(f"[yellow]not run[/]: {outcome.skipped}", highlight=False)
        raise typer.Exit(code=2)
    show_run(outcome.run)
    if outcome.run.errors:
        raise typer.Exit(code=1)


@planning_app.command("runs")
def runs_command(limit: Annotated[int, typer.Option(min=1, max=200, help="How many, newest first.")] = 10) -> None:
    """The latest runs: when, why (schedule, cli, api and by whom), how long, and the counts."""
    runs = open_database().read(lambda s: recent_runs(s, limit=limit))
    if not runs:
        console.print("no planning run yet")
        return
    table = Table(title="Planning runs")
    for column in ("run", "trigger", "by", "started", "seconds", "status", "raised", "refreshed", "closed", "failed"):
        table.add_column(column)
    for run in runs:
        totals = {k: sum(int(a.get(k) or 0) for a in run.counts.values()) for k in ("raised", "refreshed", "closed")}
        table.add_row(
            str(run.id),
            run.trigger + (" (scoped)" if run.scope is not None else ""),
            run.requested_by or "-",
            f"{run.started_at:%Y-%m-%d %H:%M:%S}",
            f"{run.seconds:.2f}" if run.seconds is not None else "-",
            run.status,
            str(totals["raised"]),
            str(totals["refreshed"]),
            str(totals["closed"]),
            ", ".join(str(e.get("analysis") or "run") for e in run.errors) or "-",
        )
    console.print(table)


def show_run(run: PlanningRun) -> None:
    """One run: each analysis's counts and time, and the error of any that failed."""
    table = Table(title=f"Planning run {run.id} ({run.trigger}, as of {run.as_of}): {run.seconds or 0:.2f} s")
    for column in ("analysis", "raised", "refreshed", "closed", "kept", "seconds", "error"):
        table.add_column(column)
    for name, a in run.counts.items():
        table.add_row(
            name,
            str(a["raised"]),
            str(a["refreshed"]),
            str(a["closed"]),
            str(a["kept"]),
            f"{a['seconds']:.2f}",
            a["error"] or "",
        )
    console.print(table)
