"""Commands that set up and look after the database: migrate, init, seed, status, passwords, the audit chain."""

import secrets
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import TaskID
from rich.table import Table
from sqlalchemy.engine import make_url

from assistant.channels.terminal.console import CLI_CHANNEL, console, fail, progress_bar
from assistant.cli.serve import DEMO_LOGINS, logins_table
from core import schema
from core.audit import AuditContext
from core.db import Database, open_database
from core.errors import ErpError
from core.exceptions import detect_exceptions
from core.masterdata.service import has_entities, item_count, sites
from core.settings import data_dir, database_url


def _is_empty(db: Database) -> bool:
    return not db.read(has_entities)


def _load_demo(db: Database, **config: Any) -> None:
    from core.demo import DemoConfig, load_demo

    with progress_bar() as bar:
        tasks: dict[str, TaskID] = {}

        def progress(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(phase, total=total)
            bar.update(tasks[phase], completed=done, total=total)

        summary = load_demo(db, DemoConfig(**config), progress=progress)
    table = Table(title="Demo company loaded")
    table.add_column("what")
    table.add_column("count", justify="right")
    for name in (
        "entities",
        "warehouses",
        "items",
        "customers",
        "suppliers",
        "users",
        "sales_orders",
        "open_orders",
        "purchase_orders",
        "transfers",
        "ledger_rows",
    ):
        table.add_row(name.replace("_", " "), f"{getattr(summary, name):,}")
    # Today's shortages, credit holds, price deviations and late suppliers, so the board is not empty.
    table.add_row("exception cases", f"{len(db.run(lambda s: detect_exceptions(s))):,}")
    console.print(table)
    users = Table(title="Demo users (act as one with --user)")
    for column in ("username", "roles", "entities"):
        users.add_column(column)
    for row in summary.demo_users:
        users.add_row(*row)
    console.print(users)


def ensure_ready(db: Database, *, load: bool) -> bool:
    """Migrate to the newest schema; load the demo company into an empty database. True if loaded now."""
    schema.upgrade(db.engine)
    if load and _is_empty(db):
        _load_demo(db)
        return True
    return False


def migrate() -> None:
    """Bring the database schema to the newest version (Alembic)."""
    db = open_database()
    schema.upgrade(db.engine)
    console.print(f"schema at revision {schema.current_revision(db.engine)} on {db.engine.url.render_as_string()}")


def init(
    reset: Annotated[bool, typer.Option(help="Delete an existing SQLite database first.")] = False,
) -> None:
    """Create the database (migrations) and load the demo company if it is empty."""
    url = make_url(database_url())
    if reset:
        if url.get_backend_name() != "sqlite" or not url.database:
            console.print("[red]--reset only deletes a SQLite file; drop a PostgreSQL database yourself[/red]")
            raise typer.Exit(code=2)
        for suffix in ("", "-wal", "-shm"):
            Path(url.database + suffix).unlink(missing_ok=True)
    db = open_database()
    if ensure_ready(db, load=True):
        give_demo_passwords(db)
    else:
        console.print(f"database at {url.render_as_string()} already holds data; use --reset to start over")


def give_demo_passwords(db: Database) -> None:
    """Give every demo user a new password, keep them in a private file, and show them."""
    from core.demo import assign_demo_passwords, write_demo_logins

    logins = assign_demo_passwords(db)
    path = data_dir() / DEMO_LOGINS
    write_demo_logins(path, logins, db)
    console.print(logins_table(db, logins, "Demo sign-ins"))
    console.print(f"saved in {path} (only you can read it); change one with `erp-assistant password USERNAME`")


def password(
    username: Annotated[str, typer.Argument(help="Whose password to set, e.g. sam.")],
    new_password: Annotated[
        str | None, typer.Option("--password", help="The new password (8 to 256 characters); generated if left out.")
    ] = None,
) -> None:
    """Set a user's password for signing in; their open browser sessions end."""
    from core.identity import set_password

    db = open_database()
    if schema.current_revision(db.engine) is None:
        console.print("no database yet: run `erp-assistant init`")
        raise typer.Exit(code=1)
    chosen = new_password or secrets.token_urlsafe(12)
    cli = AuditContext(actor_user_id=None, channel=CLI_CHANNEL)
    try:
        db.run(lambda s: set_password(s, username=username, password=chosen, audit=cli))
    except ErpError as error:
        raise fail(error) from None
    shown = f": {chosen}" if new_password is None else ""
    console.print(f"password set for {username}{shown}", highlight=False)


def seed(
    items: Annotated[int, typer.Option(min=10, max=200_000, help="Number of items.")] = 500,
    customers: Annotated[int, typer.Option(min=10, max=100_000, help="Number of customers.")] = 150,
    history_months: Annotated[int, typer.Option(min=1, max=60, help="Months of order history.")] = 12,
    seed_value: Annotated[int, typer.Option("--seed", help="Random seed; the same seed gives the same company.")] = 7,
) -> None:
    """Load a generated company into an empty database (e.g. --items 100000 --history-months 24 for scale)."""
    db = open_database()
    schema.upgrade(db.engine)
    if not _is_empty(db):
        console.print(
            "[red]the database already holds data[/red]; "
            "run `erp-assistant init --reset` or point ERP_DATABASE_URL elsewhere"
        )
        raise typer.Exit(code=1)
    _load_demo(db, items=items, customers=customers, history_months=history_months, seed=seed_value)


def status() -> None:
    """What the database holds: entities, warehouses and counts."""
    db = open_database()
    if schema.current_revision(db.engine) is None:
        console.print("no database yet: run `erp-assistant init`")
        raise typer.Exit(code=1)
    print_status(db)


def print_status(db: Database) -> None:
    places, items = db.read(lambda s: (sites(s), item_count(s)))
    table = Table(title=f"ERP database: {db.engine.url.render_as_string()}")
    for column in ("entity", "name", "currency", "warehouse"):
        table.add_column(column)
    for site in places:
        table.add_row(site.entity, site.entity_name, site.currency, site.warehouse)
    console.print(table)
    console.print(f"{items:,} items")


def audit_verify() -> None:
    """Verify the audit log's hash chain; exit 1 and name the first broken link if it is broken."""
    from core.audit import verify_chain

    db = open_database()
    if schema.current_revision(db.engine) is None:
        console.print("no database yet: run `erp-assistant init`")
        raise typer.Exit(code=1)
    report = db.read(verify_chain)
    if not report.ok:
        console.print(
            f"audit chain BROKEN at seq {report.first_broken_seq}: {report.reason}", style="red", markup=False
        )
        raise typer.Exit(code=1)
    console.print(f"audit chain intact: {report.events} events", markup=False)
