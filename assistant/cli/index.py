"""`erp-assistant index`: build or update the search index of items and policy documents."""

import time
from collections.abc import Callable
from typing import Annotated

import typer
from rich.progress import Progress
from rich.table import Table

from assistant.channels.terminal.console import console, progress_bar
from core.db import Database, open_database
from tools.search import SearchIndex, SyncReport, open_search_index


def index(
    rebuild: Annotated[bool, typer.Option(help="Drop the index and embed everything again.")] = False,
) -> None:
    """Embed new and changed items and policy passages into the search index (Chroma); remove deleted ones."""
    update_index(open_database(), rebuild=rebuild)


def update_index(db: Database, *, rebuild: bool = False) -> SearchIndex:
    """Bring the index up to date with the database and the policy documents, showing progress."""
    search = open_search_index()
    if rebuild:
        search.reset()
    started = time.perf_counter()
    with progress_bar() as bar:
        items = search.sync_items(db, progress=_bar(bar, "items"))
        documents = search.sync_documents(progress=_bar(bar, "policy passages"))
    _print(items, documents, time.perf_counter() - started, search.embedder.name)
    return search


def _bar(bar: Progress, label: str) -> Callable[[int, int], None]:
    task = bar.add_task(label, total=None)

    def progress(done: int, total: int) -> None:
        bar.update(task, completed=done if total else 1, total=total or 1)

    return progress


def _print(items: SyncReport, documents: SyncReport, seconds: float, embedder: str) -> None:
    table = Table(title=f"Search index updated in {seconds:.1f} s ({embedder})")
    for column in ("collection", "added", "updated", "removed", "unchanged"):
        table.add_column(column, justify="left" if column == "collection" else "right")
    for name, report in (("items", items), ("documents", documents)):
        table.add_row(name, *(f"{n:,}" for n in (report.added, report.updated, report.removed, report.unchanged)))
    console.print(table)
