"""One draft tool for what staff do to an order after it is placed: cancel, substitute, expedite, re-allocate.

Each action is its own draft kind in the core (its own payload, policy rules, REST route and command); the
model sees them as one tool with an `action`, so the prompt pays for one schema instead of four. The tool
only translates the words into the kind's payload; the core checks everything.
"""

from collections.abc import Callable
from decimal import Decimal
from typing import Any, ClassVar, Literal

from pydantic import Field
from sqlalchemy.orm import Session

from core.drafts.service import draft_action
from core.errors import InvalidInput
from core.policy.facts import DraftKind
from tools.context import ToolContext
from tools.drafts import DRAFT_NOTE, draft_result
from tools.outcome import DraftResult
from tools.registry import Tool, ToolArgs

Action = Literal["cancel", "substitute", "expedite", "reallocate"]


class OrderActionAsked(ToolArgs):
    REASON_FOR: ClassVar[frozenset[str]] = frozenset({"cancel", "expedite", "reallocate"})  # not in the schema

    order_number: str = Field(min_length=1, max_length=24, description="e.g. SO-1042")
    action: Action
    line_no: int | None = Field(None, ge=1, description="the line; omit to cancel the whole order")
    sku: str | None = Field(None, max_length=40, description="substitute: the item to put on the line")
    quantity: int | None = Field(None, gt=0, le=1_000_000, description="reallocate: units to move")
    to_order: str | None = Field(None, max_length=24, description="reallocate: the order that gets the stock")
    amount: Decimal | None = Field(None, gt=0, le=Decimal(1_000_000), description="expedite: freight charge")
    carrier: str | None = Field(None, max_length=40)
    reason: str = Field("", max_length=500)


def _given(value: Any, what: str, action: str) -> Any:
    """A field the action needs, or a refusal that says which (the model asks the user for it)."""
    if value is None or value == "":
        raise InvalidInput(f"to {action} an order, say {what}")
    return value


def _substitute(a: OrderActionAsked) -> dict[str, Any]:
    # The agreed price is kept (the core's default): the preview shows the margin it leaves.
    sku = _given(a.sku, "the substitute's SKU", "substitute on")
    return {"order_number": a.order_number, "line_no": _given(a.line_no, "which line", "substitute on"), "sku": sku}


def _expedite(a: OrderActionAsked) -> dict[str, Any]:
    # Absorbed (the core's default): billing the customer is for the API and the terminal.
    return {
        "order_number": a.order_number,
        "amount": str(_given(a.amount, "the freight amount", "expedite")),
        "carrier": _given(a.carrier, "the carrier", "expedite"),
        "reason": _given(a.reason.strip(), "why it is expedited", "expedite"),
    }


# For each action: the draft kind it makes and its payload from the tool's arguments (the fields it uses).
Translation = Callable[[OrderActionAsked], dict[str, Any]]
ACTIONS: dict[str, tuple[DraftKind, Translation]] = {
    "substitute": (DraftKind.SUBSTITUTION, _substitute),
    "expedite": (DraftKind.EXPEDITE, _expedite),
    "cancel": (
        DraftKind.ORDER_CANCEL,
        lambda a: {"order_number": a.order_number, "line_no": a.line_no, "reason": a.reason},
    ),
    "reallocate": (
        DraftKind.REALLOCATION,
        lambda a: {
            "order_number": a.order_number,
            "line_no": a.line_no,
            "to_order": a.to_order or "",
            "quantity": a.quantity,
            "reason": a.reason,
        },
    ),
}


def draft_order_action(session: Session, ctx: ToolContext, args: OrderActionAsked) -> DraftResult:
    """The action as a draft of its own kind, previewed and unconfirmed."""
    if args.action not in ACTIONS:
        raise InvalidInput(f"'{args.action}' is not an order action here", suggestions=sorted(ACTIONS))
    kind, payload = ACTIONS[args.action]
    draft = draft_action(session, ctx.request(), confirmed=False, kind=kind, payload=payload(args))
    return draft_result(session, draft)


TOOLS = [
    Tool(
        "draft_order_action",
        "Draft an action on a placed sales order: cancel a line or all still open (reason); reallocate reserved"
        " units to another order's backorder (to_order); substitute a line's item (line_no, sku: an approved"
        " substitute); expedite (amount, carrier, reason: expedited freight)." + DRAFT_NOTE,
        OrderActionAsked,
        draft_order_action,
        writes=True,
    ),
]
