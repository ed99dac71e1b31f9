"""`erp-assistant serve`: the web service (API, chat widget, approvals inbox) under uvicorn."""

import os
from typing import Annotated

import typer
from rich.table import Table

from assistant.channels.terminal.console import console
from core.db import Database
from core.settings import data_dir, database_url

DEMO_LOGINS = "demo-logins.txt"


def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on; 0.0.0.0 to serve other machines.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
    workers: Annotated[
        int, typer.Option(min=1, max=64, help="Worker processes (each loads its own model); use PostgreSQL for >1.")
    ] = 1,
) -> None:
    """Serve the web product: the chat widget on a demo intranet page, the approvals inbox, the exceptions
    board and the API."""
    from sqlalchemy.engine import make_url

    if workers > 1 and make_url(database_url()).get_backend_name() == "sqlite":
        console.print("[yellow]several workers on SQLite serialize every write; use PostgreSQL (ERP_DATABASE_URL)[/]")
    _migrate()
    start(host=host, port=port, workers=workers, logins=True)


def _migrate() -> None:
    """Bring the schema and the conversation store up to date once, before any worker starts."""
    from assistant.conversations import open_checkpointer
    from core import schema
    from core.db import open_database

    db = open_database()
    try:
        schema.upgrade(db.engine)
    finally:
        db.dispose()
    open_checkpointer()


def start(*, host: str, port: int, workers: int, logins: bool) -> None:
    """Say where the product is (and the demo sign-ins, unless just shown), then run uvicorn."""
    import uvicorn

    from core.outbox.delivery import DEFAULT_WEBHOOKS_EVERY_SECONDS
    from core.planning.schedule import DEFAULT_EVERY_MINUTES

    # The served product runs the planning analyses hourly unless told otherwise (tests build the app without this).
    os.environ.setdefault("ERP_PLANNING_EVERY_MINUTES", str(DEFAULT_EVERY_MINUTES))
    # ... and delivers webhooks (a pass every few seconds; with no subscription it only sequences the events).
    os.environ.setdefault("ERP_WEBHOOKS_EVERY_SECONDS", str(DEFAULT_WEBHOOKS_EVERY_SECONDS))
    _print_welcome(host, port, logins)
    uvicorn.run(
        "assistant.channels.web.app:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=True,
        log_level="info",
    )


def _print_welcome(host: str, port: int, logins: bool) -> None:
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    base = f"http://{shown}:{port}"
    console.print(f"\n[bold]ERP assistant[/] on {base}", highlight=False)
    console.print(f"  {base}/demo        the intranet page with the chat widget (bottom right)", highlight=False)
    console.print(f"  {base}/inbox       the approvals inbox (managers)", highlight=False)
    console.print(f"  {base}/exceptions  the exceptions board", highlight=False)
    console.print(f"  {base}/docs        the API (OpenAPI)", highlight=False)
    if logins:
        show_demo_logins()


def logins_table(db: Database, logins: dict[str, str], title: str) -> Table:
    """The demo users with their roles, entities and passwords."""
    from core.demo import demo_logins
    from core.demo.logins import COLUMNS

    table = Table(title=title)
    for column in COLUMNS:
        table.add_column(column)
    for login in demo_logins(db, logins):
        table.add_row(*login.cells())
    return table


def show_demo_logins() -> None:
    """The demo users' sign-ins, if `init` (or the first `run`) wrote them."""
    from core.db import open_database
    from core.demo import read_demo_logins

    path = data_dir() / DEMO_LOGINS
    if not path.exists():
        console.print("to sign in, give a user a password: .venv/bin/erp-assistant password USERNAME")
        return
    db = open_database()
    try:
        console.print(logins_table(db, read_demo_logins(path), f"Demo sign-ins (kept in {path})"))
    finally:
        db.dispose()
