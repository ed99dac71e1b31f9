"""Receiving and moving stock from the terminal: receive a purchase order, ship or receive a transfer.

Each command drafts the change through the write gate (kinds po_receipt and transfer_move), shows the
preview and confirms it as `drafts new` does; the policy then executes it or holds it for approval.
"""

from typing import Annotated, Any

import typer

from assistant.channels.terminal.console import DEFAULT_USER, fail
from assistant.cli.gate import draft_and_confirm
from core.errors import InvalidInput
from core.policy.facts import DraftKind

transfers_app = typer.Typer(
    help="Ship a transfer from its source or receive it at its destination.", no_args_is_help=True
)
User = Annotated[str, typer.Option(help="Act as this user.")]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="Confirm the preview without being asked.")]
Lines = Annotated[list[str] | None, typer.Option("--line", help="SKU=UNITS that arrived, e.g. V-200=40; repeat")]


def receive(
    po_number: Annotated[str, typer.Argument(help="e.g. PO-77")],
    line: Lines = None,
    close_short: Annotated[
        bool, typer.Option(help="Close the order after this receipt: the rest will not come.")
    ] = False,
    user: User = DEFAULT_USER,
    yes: Yes = False,
) -> None:
    """Receive goods against a purchase order (everything still open, or --line SKU=UNITS); beyond the policy's
    tolerances the receipt waits for a manager and opens a case."""
    body: dict[str, Any] = {"po_number": po_number, "close_short": close_short}
    if line:
        body["lines"] = [_count(text, sku_required=True) for text in line]
    draft_and_confirm(DraftKind.PO_RECEIPT.value, body, user, yes)


@transfers_app.command("ship")
def ship(
    transfer_number: Annotated[str, typer.Argument(help="e.g. TR-12")], user: User = DEFAULT_USER, yes: Yes = False
) -> None:
    """Ship an open transfer from its source warehouse, as a user of the sending entity."""
    draft_and_confirm(DraftKind.TRANSFER_MOVE.value, {"transfer_number": transfer_number, "action": "ship"}, user, yes)


@transfers_app.command("receive")
def receive_transfer(
    transfer_number: Annotated[str, typer.Argument(help="e.g. TR-12")],
    received: Annotated[list[str] | None, typer.Option("--received", help="SKU=UNITS that arrived, if not all")] = None,
    damaged: Annotated[
        list[str] | None, typer.Option("--damaged", help="SKU=UNITS damaged (or UNITS for a one-SKU transfer)")
    ] = None,
    user: User = DEFAULT_USER,
    yes: Yes = False,
) -> None:
    """Receive a transfer at its destination, as a user of the receiving entity; short or damaged units open a case."""
    body = {
        "transfer_number": transfer_number,
        "action": "receive",
        "received": [_count(text) for text in received or []],
        "damaged": [_count(text) for text in damaged or []],
    }
    draft_and_confirm(DraftKind.TRANSFER_MOVE.value, body, user, yes)


def _count(text: str, *, sku_required: bool = False) -> dict[str, Any]:
    """ "V-200=40" as {"sku": "V-200", "quantity": 40}; "2" as {"quantity": 2} where a SKU may be left out."""
    sku, equals, units = text.rpartition("=")
    if not units.strip().isdigit() or (equals and not sku.strip()) or (sku_required and not equals):
        expected = "SKU=UNITS" if sku_required else "SKU=UNITS or UNITS"
        raise fail(InvalidInput(f"'{text}' is not {expected}, e.g. V-200=40"))
    return {"sku": sku.strip(), "quantity": int(units)} if equals else {"quantity": int(units)}
