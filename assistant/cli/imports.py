"""`erp-assistant import`: bring your own company from CSV and XLSX files, write the files' templates, list the
kinds. The checks, the transaction and who may import are the core's (`core.imports`); this only reads the
terminal's arguments, shows progress, and prints the report."""

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress, TaskID
from rich.table import Table

from assistant.channels.terminal.console import CLI_CHANNEL, console, fail, progress_bar
from core import schema
from core.db import Database, open_database
from core.errors import ErpError, NotFound
from core.imports import ImportReport, Problems, import_master_data, importing_actor, read_files
from core.imports.export import export_company
from core.imports.kinds import KINDS, kind_named
from core.imports.spec import Kind
from core.imports.templates import reference_markdown, template_csv

import_app = typer.Typer(
    help="Import master data from CSV or XLSX files (an admin's setup act), and write their templates.",
    no_args_is_help=True,
)


@import_app.command("run")
def run(
    paths: Annotated[list[Path], typer.Argument(help="Files, or folders of KIND.csv / KIND.xlsx files.")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Report what would change; write nothing.")] = False,
    no_index: Annotated[
        bool, typer.Option("--no-index", help="Do not update the assistant's item search index afterwards.")
    ] = False,
    user: Annotated[
        str | None,
        typer.Option(
            "--as",
            "--user",
            help="The admin to import as (default: the only active admin; none while the database has no users).",
        ),
    ] = None,
) -> None:
    """Check every file and, if nothing is wrong, create or update the records in one transaction. Re-running the
    same files changes nothing; any problem and nothing is written (exit 1)."""
    db = open_database()
    schema.upgrade(db.engine)
    problems = Problems()
    try:
        actor = db.read(lambda s: importing_actor(s, username=user))
        tables = read_files(paths, problems)
        with progress_bar() as bar:
            report = import_master_data(
                db, actor, tables, problems, dry_run=dry_run, progress=_phases(bar), channel=CLI_CHANNEL
            )
    except ErpError as error:
        raise fail(error) from None
    show_report(report)
    if not report.ok:
        raise typer.Exit(code=1)
    if report.applied and report.changed and not no_index:
        _update_index(db)


def _phases(bar: Progress) -> Callable[[str, int, int], None]:
    tasks: dict[str, TaskID] = {}

    def progress(phase: str, done: int, total: int) -> None:
        if phase not in tasks:
            tasks[phase] = bar.add_task(phase, total=total)
        bar.update(tasks[phase], completed=done, total=total)

    return progress


def show_report(report: ImportReport) -> None:
    """The counts per kind, what history refused, and every problem with where it is and what to fix."""
    verb = "would be" if report.dry_run or not report.ok else "were"
    counts = Table(title=f"Import ({'dry run' if report.dry_run else 'checked'}): records that {verb} …")
    for column in ("kind", "created", "updated", "unchanged", "refused"):
        counts.add_column(column, justify="left" if column == "kind" else "right")
    for k in report.kinds:
        counts.add_row(k.kind, *(f"{n:,}" for n in (k.created, k.updated, k.unchanged, len(k.refused))))
    console.print(counts)
    refused = [(k.kind, r) for k in report.kinds for r in k.refused]
    if refused:
        table = Table(title="Changes history forbids (kept as they were)")
        for column in ("kind", "record", "column", "why"):
            table.add_column(column)
        for kind, r in refused:
            table.add_row(kind, r.key, r.column, r.reason)
        console.print(table)
    if report.ok:
        done = "nothing written (dry run)" if report.dry_run else f"{report.changed:,} records created or updated"
        console.print(f"[green]no problems[/green]: {done}", highlight=False)
        return
    _show_problems(report)


def _show_problems(report: ImportReport) -> None:
    table = Table(title=f"{report.problem_count:,} problems: nothing was written")
    for column in ("file", "row", "column", "what to fix"):
        table.add_column(column, overflow="fold")
    for p in report.problems:
        table.add_row(p.file, str(p.row or ""), p.column, p.message)
    console.print(table)
    hidden = report.problem_count - len(report.problems)
    if hidden:
        console.print(f"… and {hidden:,} more; fix these and run again", highlight=False)


def _update_index(db: Database) -> None:
    from tools.search import open_search_index  # loads the embedding model: only when the index is updated

    console.print(
        "Updating the assistant's item search index: embedding many items takes minutes "
        "(skip it with --no-index and run `erp-assistant index` later)."
    )
    with progress_bar() as bar:
        task = bar.add_task("index items", total=None)
        report = open_search_index().sync_items(
            db, progress=lambda done, total: bar.update(task, completed=done, total=total or 1)
        )
    console.print(f"search index: {report.added:,} added, {report.updated:,} updated, {report.removed:,} removed")


@import_app.command("template")
def template(
    kind: Annotated[str, typer.Argument(help="A kind (see `erp-assistant import kinds`), or 'all'.")],
    out: Annotated[Path, typer.Option(help="The folder to write KIND.csv into.")] = Path("."),
) -> None:
    """Write KIND.csv with the header and one example row, and show what each column takes."""
    chosen = _kinds(kind)
    out.mkdir(parents=True, exist_ok=True)
    for k in chosen:
        path = out / f"{k.name}.csv"
        path.write_text(template_csv(k), encoding="utf-8")
        if len(chosen) == 1:
            console.print(_columns_table(k))
        console.print(f"wrote {path}", highlight=False)


def _kinds(name: str) -> list[Kind]:
    if name == "all":
        return list(KINDS)
    found = kind_named(name)
    if found is None:
        raise fail(NotFound("kind of import file", name, [k.name for k in KINDS]))
    return [found]


def _columns_table(kind: Kind) -> Table:
    table = Table(title=f"{kind.name}: {kind.doc}")
    for column in ("column", "required", "type", "example", "meaning"):
        table.add_column(column, overflow="fold")
    for c in kind.columns:
        table.add_row(c.name, "required" if c.required else "optional", c.type, c.example, c.doc)
    return table


@import_app.command("kinds")
def kinds() -> None:
    """The kinds of import file, in the order they load."""
    table = Table(title="Kinds of import file, in load order")
    for column in ("kind", "key", "refers to", "what it holds"):
        table.add_column(column, overflow="fold")
    for k in KINDS:
        table.add_row(k.name, ", ".join(k.key), ", ".join(k.depends), k.doc)
    console.print(table)


@import_app.command("reference")
def reference(
    out: Annotated[Path | None, typer.Option(help="Write the markdown here (e.g. docs/import.md).")] = None,
) -> None:
    """The markdown reference of every import file's columns (docs/import.md is its output)."""
    text = reference_markdown()
    if out is None:
        console.print(text, markup=False, highlight=False)
        return
    out.write_text(text, encoding="utf-8")
    console.print(f"wrote {out}", highlight=False)


@import_app.command("export")
def export(
    folder: Annotated[Path, typer.Argument(help="The folder to write KIND.csv into (created if missing).")],
    user: Annotated[
        str | None, typer.Option("--as", "--user", help="The admin to export as (default: the only active admin).")
    ] = None,
) -> None:
    """Write the company's master data and opening balances as the import's own files (one CSV per kind), so that
    `import run FOLDER` loads them into an empty database. Users are written without passwords; stock is valued at
    standard cost; transfers, drafts and history are not carried (docs/import.md)."""
    db = open_database()
    try:
        files = db.read(lambda s: export_company(s, importing_actor(s, username=user)))
    except ErpError as error:
        raise fail(error) from None
    folder.mkdir(parents=True, exist_ok=True)
    for exported in files:
        (folder / exported.name).write_text(exported.text, encoding="utf-8")
        console.print(f"wrote {folder / exported.name}: {exported.rows:,} rows", highlight=False)
    console.print("users have no passwords in the files: set them with `erp-assistant password USERNAME`")
