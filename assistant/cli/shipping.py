"""Fulfilment from the terminal: ship an order through the write gate, see where it stands, record milestones."""

from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated

import typer
from rich.table import Table

from assistant.channels.terminal.console import DEFAULT_USER, act, ask, console, fail
from assistant.cli.gate import draft_and_confirm
from assistant.cli.orders import print_charges
from core.errors import InvalidInput

shipping_app = typer.Typer(help="Ship sales orders, follow shipments, record milestones.", no_args_is_help=True)
User = Annotated[str, typer.Option(help="Act as this user.")]


@shipping_app.command("ship")
def ship(
    order: Annotated[str, typer.Argument(help="Order number, e.g. SO-1042.")],
    warehouse: Annotated[
        str | None, typer.Option(help="Warehouse it leaves from; default: where each line is reserved.")
    ] = None,
    line: Annotated[
        list[str] | None, typer.Option(help="LINE=UNITS, e.g. --line 1=10 (repeat); default: all that is reserved.")
    ] = None,
    carrier: Annotated[str, typer.Option(help="e.g. UPS.")] = "",
    service: Annotated[str, typer.Option(help="Service level, e.g. Ground.")] = "",
    tracking: Annotated[str, typer.Option(help="The carrier's tracking number.")] = "",
    packages: Annotated[int | None, typer.Option(help="Number of packages.")] = None,
    weight: Annotated[str | None, typer.Option(help="Weight in kg, e.g. 12.5.")] = None,
    user: User = DEFAULT_USER,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Confirm the preview without being asked.")] = False,
) -> None:
    """Ship a confirmed order (a `shipment` draft): preview, confirm, then the policy executes it or holds it."""
    body: dict[str, object] = {
        "order_number": order,
        "warehouse": warehouse,
        "lines": [_ship_line(text) for text in line or []],
        "carrier": carrier,
        "service_level": service,
        "tracking_number": tracking,
        "packages": packages,
        "weight_kg": _weight(weight),
    }
    draft_and_confirm("shipment", {k: v for k, v in body.items() if v is not None}, user, yes)


def _ship_line(text: str) -> dict[str, int]:
    number, _, units = text.partition("=")
    if not (number.strip().isdigit() and units.strip().isdigit()):
        raise fail(InvalidInput(f"--line takes LINE=UNITS, e.g. 1=10; got '{text}'"))
    return {"line_no": int(number), "quantity": int(units)}


def _weight(text: str | None) -> str | None:
    if text is None:
        return None
    try:
        return str(Decimal(text))
    except InvalidOperation:
        raise fail(InvalidInput(f"--weight is kilograms as a number, e.g. 12.5; got '{text}'")) from None


@shipping_app.command("status")
def status(
    order: Annotated[str, typer.Argument(help="Order number, e.g. SO-1042.")], user: User = DEFAULT_USER
) -> None:
    """Where an order stands: each line's shipped, reserved, backordered and open units, and its shipments."""
    from core.shipping.service import fulfilment_status

    view = ask(user, lambda s, actor: fulfilment_status(s, actor, order_number=order))
    console.print(
        f"[bold]{view.order.number}[/bold] {view.order.customer} — {view.order.status.replace('_', ' ')}; "
        f"{view.open_units} units open, {view.backordered_units} backordered",
        highlight=False,
    )
    lines = Table()
    for column in ("line", "SKU", "wh", "ordered", "shipped", "reserved", "backordered", "open"):
        lines.add_column(column)
    for ln in view.order.lines:
        cells = (ln.quantity, ln.shipped, ln.reserved, ln.backordered, ln.quantity - ln.shipped)
        lines.add_row(str(ln.line_no), ln.sku, ln.warehouse, *(str(c) for c in cells))
    console.print(lines)
    shipments = Table()
    for column in ("shipment", "from", "shipped", "carrier", "tracking", "latest", "lines"):
        shipments.add_column(column)
    for s in view.shipments:
        step, at = s.latest
        carried = ", ".join(f"{ln.quantity} x {ln.sku} (line {ln.line_no})" for ln in s.lines)
        travel = " ".join(part for part in (s.carrier, s.service_level) if part) or "-"
        latest = f"{step} {at:%Y-%m-%d %H:%M}"
        shipments.add_row(s.number, s.warehouse, str(s.shipped_on), travel, s.tracking_number or "-", latest, carried)
    if view.shipments:
        console.print(shipments)
    print_charges(view.charges)


@shipping_app.command("milestone")
def milestone(
    shipment: Annotated[str, typer.Argument(help="Shipment number, e.g. SH-31.")],
    step: Annotated[str, typer.Argument(help="picked, packed or delivered.")],
    at: Annotated[str | None, typer.Option(help="When it happened: YYYY-MM-DDTHH:MM (UTC); default now.")] = None,
    user: User = DEFAULT_USER,
) -> None:
    """Record that a shipment was picked, packed or delivered."""
    from core.shipping.service import record_milestone

    try:
        when = datetime.fromisoformat(at) if at else None
    except ValueError:
        raise fail(InvalidInput(f"--at is a time like 2026-11-20T14:30; got '{at}'")) from None
    act(
        user,
        lambda s, actor: record_milestone(s, actor, shipment_number=shipment, milestone=step, at=when, channel="cli"),
    )
    console.print(f"{shipment.upper()}: {step} recorded", highlight=False)
