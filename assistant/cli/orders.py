"""Order actions from the terminal, each through the write gate: cancel an order's open rest or a line,
re-allocate reserved stock between orders, substitute a line's item, expedite freight; and the backorder queue
in the order stock will reach it."""

from decimal import Decimal, InvalidOperation
from typing import Annotated

import typer
from rich.table import Table

from assistant.channels.terminal.console import DEFAULT_USER, ask, console, fail
from assistant.cli.gate import draft_and_confirm
from core.errors import InvalidInput
from core.money import format_money
from core.policy.facts import DraftKind
from core.sales.charges import ChargeView
from core.stock.priority import backorder_queue

orders_app = typer.Typer(
    help="Act on placed sales orders through the write gate: cancel, re-allocate, substitute, expedite; the backorder"
    " queue.",
    no_args_is_help=True,
)
User = Annotated[str, typer.Option(help="Act as this user.")]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="Confirm the preview without being asked.")]
ORDER = Annotated[str, typer.Argument(help="The sales order, e.g. SO-1042.")]


@orders_app.command()
def cancel(
    order: ORDER,
    reason: Annotated[str, typer.Option(help="Why it is cancelled (kept with the draft and its audit).")],
    line: Annotated[int | None, typer.Option(help="Cancel only this line's open rest.")] = None,
    user: User = DEFAULT_USER,
    yes: Yes = False,
) -> None:
    """Cancel what is still open on the order (or one line): shipped units stay, reserved units go to the waiting
    backorders by priority. Above the policy's value a manager approves."""
    draft_and_confirm(DraftKind.ORDER_CANCEL, {"order_number": order, "line_no": line, "reason": reason}, user, yes)


@orders_app.command()
def reallocate(
    order: Annotated[str, typer.Argument(help="The order that gives reserved units, e.g. SO-1042.")],
    to_order: Annotated[str, typer.Argument(help="The order whose backorder gets them, e.g. SO-1077.")],
    quantity: Annotated[int | None, typer.Option(help="Units to move (default: all the other line waits for).")] = None,
    line: Annotated[int | None, typer.Option(help="The giving order's line, if more than one fits.")] = None,
    to_line: Annotated[int | None, typer.Option(help="The receiving order's line, if more than one fits.")] = None,
    reason: Annotated[str, typer.Option(help="Why the allocation is overridden.")] = "",
    user: User = DEFAULT_USER,
    yes: Yes = False,
) -> None:
    """Move reserved units of an item at a warehouse from one confirmed order to another's backorder (same item,
    warehouse and entity): a manager's word, or sales asks a manager."""
    body = {
        "order_number": order,
        "to_order": to_order,
        "quantity": quantity,
        "line_no": line,
        "to_line_no": to_line,
        "reason": reason,
    }
    draft_and_confirm(DraftKind.REALLOCATION, body, user, yes)


@orders_app.command()
def backorders(
    sku: Annotated[str | None, typer.Option(help="One item, e.g. V-200.")] = None,
    warehouse: Annotated[str | None, typer.Option(help="One warehouse, e.g. DAL.")] = None,
    user: User = DEFAULT_USER,
) -> None:
    """Claims waiting for stock, in the order stock will reach them: customers by tier (A first), then age;
    transfers after customers. `#` is the place in its item's queue at its warehouse."""
    queue = ask(user, lambda s, actor: backorder_queue(s, actor, sku=sku, warehouse=warehouse))
    table = Table(title="Backorders by priority")
    for column in ("#", "sku", "warehouse", "tier", "placed", "customer", "waiting for", "units", "reserved"):
        table.add_column(column, justify="right" if column in ("#", "units", "reserved") else "left")
    for b in queue:
        table.add_row(
            str(b.position),
            b.sku,
            b.warehouse,
            b.tier or "-",
            b.placed.isoformat(),
            b.customer or "(transfer)",
            b.document,
            str(b.backordered),
            str(b.reserved),
        )
    console.print(table)
    if not queue:
        console.print("Nothing is waiting for stock in your warehouses.", highlight=False)


@orders_app.command()
def substitute(
    order: ORDER,
    line: Annotated[int, typer.Option(help="The order line's number.")],
    sku: Annotated[str, typer.Option(help="The approved substitute's SKU, e.g. V-220.")],
    reprice: Annotated[
        bool, typer.Option(help="Price the substitute for the customer (default: the agreed price is kept).")
    ] = False,
    backorder: Annotated[bool, typer.Option(help="Backorder what cannot be reserved instead of refusing.")] = False,
    user: User = DEFAULT_USER,
    yes: Yes = False,
) -> None:
    """Put an approved substitute on a line's open units: the preview shows item, unit price and margin before →
    after; once you confirm, the policy executes it or holds it for a manager (thin margin, backorder)."""
    body = {"order_number": order, "line_no": line, "sku": sku, "keep_price": not reprice, "allow_backorder": backorder}
    draft_and_confirm(DraftKind.SUBSTITUTION, body, user, yes)


@orders_app.command()
def expedite(
    order: ORDER,
    amount: Annotated[str, typer.Option(help="The freight charge in the order's currency, e.g. 120.00.")],
    carrier: Annotated[str, typer.Option(help="e.g. FedEx.")],
    reason: Annotated[str, typer.Option(help="Why it is expedited.")],
    billed: Annotated[
        bool, typer.Option(help="Bill it to the customer on the next invoice (default: absorbed as a cost).")
    ] = False,
    shipment: Annotated[str | None, typer.Option(help="One of the order's shipments, e.g. SH-12.")] = None,
    user: User = DEFAULT_USER,
    yes: Yes = False,
) -> None:
    """Charge expedited freight on an order: the preview shows the order's margin before → after; once you confirm,
    the policy executes it or holds it for a manager (a large charge, or a margin left below the floor)."""
    try:
        value = Decimal(amount)
    except InvalidOperation:
        raise fail(InvalidInput(f"--amount is money as a number, e.g. 120.00; got '{amount}'")) from None
    body: dict[str, object] = {
        "order_number": order,
        "amount": str(value),
        "carrier": carrier,
        "reason": reason,
        "billed": billed,
        "shipment": shipment,
    }
    draft_and_confirm(DraftKind.EXPEDITE, body, user, yes)


def print_charges(charges: list[ChargeView]) -> None:
    """An order's charges (expedited freight), if it has any, as a table."""
    if not charges:
        return
    table = Table(title="Charges")
    for column in ("kind", "amount", "carrier", "how", "shipment", "on", "reason"):
        table.add_column(column)
    for c in charges:
        money = format_money(c.amount, c.currency)
        table.add_row(c.kind, money, c.carrier, c.treatment, c.shipment or "-", str(c.charged_on), c.reason)
    console.print(table)
