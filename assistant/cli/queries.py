"""Commands that ask the core as a user: available-to-promise, an order, a customer's credit."""

from datetime import date, timedelta
from typing import Annotated

import typer
from rich.table import Table

from assistant.channels.terminal.console import DEFAULT_USER, ask, console


def atp(
    sku: Annotated[str, typer.Argument(help="The item's SKU, e.g. V-200.")],
    user: Annotated[str, typer.Option(help="Act as this user (their entities only).")] = DEFAULT_USER,
    warehouse: Annotated[str | None, typer.Option(help="One warehouse code, e.g. DAL.")] = None,
    entity: Annotated[str | None, typer.Option(help="All warehouses of one entity, e.g. NA.")] = None,
    on: Annotated[
        str | None, typer.Option(help="Promise date: YYYY-MM-DD, or +N for N days from today; default today.")
    ] = None,
    quantity: Annotated[int | None, typer.Option(help="Also say when this many can be promised.")] = None,
) -> None:
    """Available-to-promise for an item, by warehouse, with how it was computed."""
    from core.stock.service import available_to_promise

    on_date = _promise_date(on)
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


def _promise_date(on: str | None) -> date | None:
    """`--on` as a date: ISO, or "+N" days from the business date (so an example works on any day)."""
    from core import clock

    if not on:
        return None
    try:
        if on.startswith("+") and on[1:].isdigit():
            return clock.today() + timedelta(days=int(on[1:]))
        return date.fromisoformat(on)
    except (ValueError, OverflowError):
        console.print(f"[red]invalid_input[/red]: '{on}' is not a date; use YYYY-MM-DD or +N (days from today)")
        raise typer.Exit(code=1) from None


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
    if view.charges and view.margin is not None:
        from assistant.cli.orders import print_charges

        print_charges(view.charges)
        console.print(f"order margin after charges: {view.margin.margin_pct}%", highlight=False)


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
