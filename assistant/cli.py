"""The `erp-assistant` command: set up the database, load the demo company, ask the core questions."""

import secrets
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from assistant.chat_cli import chat
from assistant.console import CLI_CHANNEL, DEFAULT_USER, ask, console, fail, open_database
from assistant.eval_cli import evaluate
from assistant.gate_cli import drafts_app, exceptions_app, policy_check
from assistant.index_cli import index, update_index
from assistant.model_cli import model_app
from assistant.serve_cli import DEMO_LOGINS, logins_table, serve, start
from assistant.slack_cli import slack_app
from core import schema
from core.audit import AuditContext
from core.db import Database
from core.errors import ErpError
from core.exceptions import check_routing, detect_exceptions, load_routing
from core.masterdata.models import Item, LegalEntity, Warehouse
from core.numbering import SALES_ORDER
from core.sales.models import OrderStatus, SalesOrder
from core.settings import data_dir, database_url

app = typer.Typer(help="A conversational assistant over a deterministic ERP core.", no_args_is_help=True)


def _is_empty(db: Database) -> bool:
    return db.read(lambda s: s.scalar(select(func.count()).select_from(LegalEntity))) == 0


def _load_demo(db: Database, **config: Any) -> None:
    from core.demo import DemoConfig, load_demo

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
    ) as bar:
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


def _ensure_ready(db: Database, *, load: bool) -> bool:
    """Migrate to the newest schema; load the demo company into an empty database. True if loaded now."""
    schema.upgrade(db.engine)
    if load and _is_empty(db):
        _load_demo(db)
        return True
    return False


@app.command()
def migrate() -> None:
    """Bring the database schema to the newest version (Alembic)."""
    db = open_database()
    schema.upgrade(db.engine)
    console.print(f"schema at revision {schema.current_revision(db.engine)} on {db.engine.url.render_as_string()}")


@app.command()
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
    if _ensure_ready(db, load=True):
        _give_demo_passwords(db)
    else:
        console.print(f"database at {url.render_as_string()} already holds data; use --reset to start over")


def _give_demo_passwords(db: Database) -> None:
    """Give every demo user a new password, keep them in a private file, and show them."""
    from core.demo import assign_demo_passwords, write_demo_logins

    logins = assign_demo_passwords(db)
    path = data_dir() / DEMO_LOGINS
    write_demo_logins(path, logins, db)
    console.print(logins_table(db, logins, "Demo sign-ins"))
    console.print(f"saved in {path} (only you can read it); change one with `erp-assistant password USERNAME`")


@app.command()
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


@app.command()
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


@app.command()
def status() -> None:
    """What the database holds: entities, warehouses and counts."""
    db = open_database()
    if schema.current_revision(db.engine) is None:
        console.print("no database yet: run `erp-assistant init`")
        raise typer.Exit(code=1)
    _print_status(db)


def _print_status(db: Database) -> None:
    def query(session: Any) -> tuple[list[tuple[str, str, str, str]], int]:
        rows = session.execute(
            select(LegalEntity.code, LegalEntity.name, LegalEntity.base_currency, Warehouse.code)
            .join(Warehouse, Warehouse.entity_id == LegalEntity.id)
            .order_by(LegalEntity.code, Warehouse.code)
        ).all()
        return [tuple(r) for r in rows], session.scalar(select(func.count()).select_from(Item))

    rows, item_count = db.read(query)
    table = Table(title=f"ERP database: {db.engine.url.render_as_string()}")
    for column in ("entity", "name", "currency", "warehouse"):
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    console.print(table)
    console.print(f"{item_count:,} items")


@app.command()
def atp(
    sku: Annotated[str, typer.Argument(help="The item's SKU, e.g. V-200.")],
    user: Annotated[str, typer.Option(help="Act as this user (their entities only).")] = DEFAULT_USER,
    warehouse: Annotated[str | None, typer.Option(help="One warehouse code, e.g. DAL.")] = None,
    entity: Annotated[str | None, typer.Option(help="All warehouses of one entity, e.g. NA.")] = None,
    on: Annotated[str | None, typer.Option(help="Promise date (YYYY-MM-DD); default today.")] = None,
    quantity: Annotated[int | None, typer.Option(help="Also say when this many can be promised.")] = None,
) -> None:
    """Available-to-promise for an item, by warehouse, with how it was computed."""
    from core.stock.service import available_to_promise

    try:
        on_date = date.fromisoformat(on) if on else None
    except ValueError:
        console.print(f"[red]invalid_input[/red]: '{on}' is not a date; use YYYY-MM-DD")
        raise typer.Exit(code=1) from None
    report = ask(
        user,
        lambda s, actor: available_to_promise(
            s, actor, sku=sku, warehouse=warehouse, entity=entity, on_date=on_date, quantity=quantity
        ),
    )
    table = Table(title=f"{report.sku} {report.item_name}: available to promise on {report.on_date}")
    columns = [
        "warehouse",
        "entity",
        "on hand",
        "reserved",
        "backordered",
        "incoming by date",
        "ATP now",
        f"ATP {report.on_date}",
    ]
    if quantity:
        columns.append(f"date for {quantity}")
    for column in columns:
        table.add_column(column, justify="right" if column not in ("warehouse", "entity") else "left")
    for w in report.warehouses:
        incoming = ", ".join(f"{s.quantity} on {s.due_date}" for s in w.incoming) or "-"
        cells = [
            w.warehouse,
            w.entity,
            str(w.on_hand),
            str(w.reserved),
            str(w.backordered),
            incoming,
            str(w.available_now),
            str(w.available_on_date),
        ]
        if quantity:
            cells.append(str(w.earliest_date_for_quantity or "not covered"))
        table.add_row(*cells)
    console.print(table)
    console.print(f"total available on {report.on_date}: {report.total_available}")


@app.command()
def order(
    number: Annotated[str, typer.Argument(help="Order number, e.g. SO-1042.")],
    user: Annotated[str, typer.Option(help="Act as this user.")] = DEFAULT_USER,
) -> None:
    """A sales order: status, hold reason, lines with reservations and shipments."""
    from core.sales.service import order_status

    view = ask(user, lambda s, actor: order_status(s, actor, order_number=number))
    console.print(
        f"[bold]{view.number}[/bold] {view.customer} ({view.entity}) — {view.status}; "
        f"requested {view.requested_date}; total {view.total:,.2f} {view.currency}"
    )
    if view.hold_reason:
        console.print(f"[yellow]on hold:[/yellow] {view.hold_reason}")
    table = Table()
    for column in (
        "line",
        "SKU",
        "wh",
        "qty",
        "reserved",
        "backordered",
        "shipped",
        "net price",
        "source",
        "margin %",
        "promise",
    ):
        table.add_column(column)
    for ln in view.lines:
        table.add_row(
            str(ln.line_no),
            ln.sku,
            ln.warehouse,
            str(ln.quantity),
            str(ln.reserved),
            str(ln.backordered),
            str(ln.shipped),
            f"{ln.net_price:,.2f}",
            ln.price_source,
            str(ln.margin_pct),
            str(ln.promise_date or "-"),
        )
    console.print(table)
    if view.shipments:
        console.print("shipments: " + ", ".join(view.shipments) + "; invoices: " + ", ".join(view.invoices))


@app.command()
def credit(
    customer: Annotated[str, typer.Argument(help="Customer code or name, e.g. ACME.")],
    user: Annotated[str, typer.Option(help="Act as this user.")] = DEFAULT_USER,
) -> None:
    """A customer's credit: limit, open receivables, open orders, exposure, hold."""
    from core.finance.service import credit_status

    status = ask(user, lambda s, actor: credit_status(s, actor, customer=customer))
    hold = f"; [red]ON HOLD[/red]: {status.hold_reason}" if status.on_hold else ""
    console.print(
        f"[bold]{status.customer}[/bold] {status.name} ({status.entity}): "
        f"limit {status.credit_limit:,.2f} {status.currency}; receivables {status.open_receivables:,.2f} "
        f"+ open orders {status.open_orders:,.2f} = exposure {status.exposure:,.2f}; "
        f"available {status.available:,.2f}{hold}"
    )


@app.command("audit-verify")
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


@app.command()
def run(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
) -> None:
    """Run the product: prepare the database (demo company and sign-ins on first run) and the search index,
    then serve the web app (chat widget, approvals inbox, exceptions board) on http://HOST:PORT."""
    policy_check()  # a broken policy or routing file stops the product before it serves anyone
    db = open_database()
    fresh = _ensure_ready(db, load=True)
    if fresh:
        _give_demo_passwords(db)
    try:
        db.read(lambda s: check_routing(s, load_routing()))
    except ErpError as error:
        raise fail(error) from None
    _print_status(db)
    update_index(db)
    held = db.read(
        lambda s: s.scalars(
            select(SalesOrder.id).where(SalesOrder.status == OrderStatus.ON_HOLD.value).limit(1)
        ).first()
    )
    console.print("Sign in as any demo user (each sees only their own entities); in the chat, try:")
    console.print("  how many V-200 can we promise by Friday? · draft a transfer of 40 V-200 from DAL to ATL", end="")
    console.print(f" · why is {SALES_ORDER.format(held)} on hold?" if held is not None else "")
    console.print("A terminal chat works too: .venv/bin/erp-assistant chat --user sam")
    db.dispose()
    start(host=host, port=port, workers=1, logins=not fresh)


app.add_typer(drafts_app, name="drafts")
app.add_typer(exceptions_app, name="exceptions")
app.command("policy-check")(policy_check)
app.add_typer(model_app, name="model")
app.command()(chat)
app.command()(index)
app.command()(serve)
app.command("eval")(evaluate)
app.add_typer(slack_app, name="slack")


if __name__ == "__main__":
    app()
