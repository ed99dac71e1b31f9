"""Returns (RMA) from the terminal: authorise and receive a return through the write gate, read one or a list."""

from typing import Annotated

import typer
from rich.table import Table

from assistant.channels.terminal.console import DEFAULT_USER, ask, console, fail
from assistant.cli.gate import draft_and_confirm
from core.errors import InvalidInput
from core.money import format_money
from core.policy.facts import DraftKind
from core.returns.service import ReturnView, list_returns, return_status

returns_app = typer.Typer(help="Authorise and receive customer returns (RMA), with their credit notes.")
User = Annotated[str, typer.Option(help="Act as this user.")]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="Confirm the preview without being asked.")]
RMA = Annotated[str, typer.Argument(help="The return's number, e.g. RMA-7.")]


@returns_app.command()
def create(
    order: Annotated[str, typer.Argument(help="The order the goods shipped on, e.g. SO-1042.")],
    line: Annotated[
        list[str], typer.Option(help="LINE=UNITS or SKU=UNITS, e.g. --line 1=3 or --line V-200=3 (repeat).")
    ],
    reason: Annotated[str, typer.Option(help="Why the goods come back, e.g. damaged.")],
    user: User = DEFAULT_USER,
    yes: Yes = False,
) -> None:
    """Authorise a return of shipped units (a `return_authorisation` draft): within the policy's return window and
    value it executes on your confirmation; an old shipment or a large credit waits for a manager."""
    body = {"order_number": order, "lines": [_return_line(text) for text in line], "reason": reason}
    draft_and_confirm(DraftKind.RETURN_AUTHORISATION, body, user=user, yes=yes)


def _return_line(text: str) -> dict[str, object]:
    what, _, units = text.partition("=")
    if not what.strip() or not units.strip().isdigit():
        raise fail(InvalidInput(f"--line takes LINE=UNITS or SKU=UNITS, e.g. 1=3 or V-200=3; got '{text}'"))
    named: dict[str, object] = {"line_no": int(what)} if what.strip().isdigit() else {"sku": what.strip()}
    return named | {"quantity": int(units)}


@returns_app.command()
def receive(
    rma: RMA,
    disposition: Annotated[str, typer.Option(help="restock or scrap, for every line not named by --line.")] = "restock",
    warehouse: Annotated[
        str | None, typer.Option(help="Restock into this warehouse of the order's entity; default each line's own.")
    ] = None,
    line: Annotated[
        list[str] | None, typer.Option(help="LINE=restock|scrap for one order line, e.g. --line 2=scrap (repeat).")
    ] = None,
    user: User = DEFAULT_USER,
    yes: Yes = False,
) -> None:
    """The goods of an authorised return arrived (a `return_receipt` draft): restock or scrap them and credit the
    invoices they were billed on, once you confirm."""
    body: dict[str, object] = {
        "rma_number": rma,
        "disposition": disposition.strip().lower(),
        "lines": [_disposition_line(text) for text in line or []],
    }
    if warehouse:
        body["warehouse"] = warehouse
    draft_and_confirm(DraftKind.RETURN_RECEIPT, body, user=user, yes=yes)


def _disposition_line(text: str) -> dict[str, object]:
    number, _, disposition = text.partition("=")
    if not number.strip().isdigit() or disposition.strip().lower() not in ("restock", "scrap"):
        raise fail(InvalidInput(f"--line takes LINE=restock or LINE=scrap, e.g. 2=scrap; got '{text}'"))
    return {"line_no": int(number), "disposition": disposition.strip().lower()}


@returns_app.command()
def status(rma: RMA, user: User = DEFAULT_USER) -> None:
    """One return: its lines (units, shipment, disposition), its credit notes, status and dates."""
    view = ask(user, lambda s, actor: return_status(s, actor, rma_number=rma))
    received = f", received {view.received_at:%Y-%m-%d %H:%M}" if view.received_at else ""
    console.print(
        f"[bold]{view.number}[/bold] {view.customer} on {view.order} — {view.status}; {view.units} units, "
        f"{format_money(view.value, view.currency)}; authorised {view.authorised_at:%Y-%m-%d %H:%M}{received}; "
        f"reason: {view.reason}",
        highlight=False,
    )
    lines = Table()
    for column in ("line", "SKU", "qty", "value", "shipment", "invoice", "disposition", "warehouse"):
        lines.add_column(column)
    for ln in view.lines:
        lines.add_row(
            str(ln.line_no),
            ln.sku,
            str(ln.quantity),
            format_money(ln.value, view.currency),
            f"{ln.shipment} ({ln.shipped_on})",
            ln.invoice or "-",
            ln.disposition or "awaited",
            ln.warehouse or "-",
        )
    console.print(lines)
    for cn in view.credit_notes:
        console.print(
            f"credit note {cn.number}: {format_money(cn.amount, view.currency)} on {cn.invoice}, {cn.issued_on}",
            highlight=False,
        )


@returns_app.command("list")
def list_command(
    status: Annotated[str | None, typer.Option(help="authorised, received, credited or cancelled.")] = None,
    order: Annotated[str | None, typer.Option(help="Only the returns of this order, e.g. SO-1042.")] = None,
    user: User = DEFAULT_USER,
) -> None:
    """Returns in your entities, newest first (at most 50)."""
    views: list[ReturnView] = ask(user, lambda s, actor: list_returns(s, actor, status=status, order_number=order))
    table = Table(title="Returns")
    for column in ("RMA", "order", "customer", "status", "units", "value", "credited", "authorised"):
        table.add_column(column)
    for v in views:
        table.add_row(
            v.number,
            v.order,
            v.customer,
            v.status,
            str(v.units),
            format_money(v.value, v.currency),
            format_money(v.credited, v.currency),
            f"{v.authorised_at:%Y-%m-%d}",
        )
    console.print(table)
