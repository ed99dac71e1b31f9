"""Fulfilment for the model: where an order stands (shipments, tracking, milestones, what is open), and
drafting a shipment."""

from datetime import date

from pydantic import BaseModel
from sqlalchemy.orm import Session

from core.actor import Permission
from core.drafts.kinds import ShipmentAsked
from core.money import format_money
from core.policy.facts import DraftKind
from core.shipping.service import ShipmentView, fulfilment_status
from tools import facts as fact
from tools.context import ToolContext
from tools.drafts import DRAFT_NOTE, drafter
from tools.orders import OrderArgs
from tools.registry import Tool

MAX_LINES = 30
MAX_SHIPMENTS = 10
MAX_SHIPMENT_FACTS = 5


class FulfilmentLine(BaseModel):
    line: int
    sku: str
    warehouse: str
    quantity: int
    shipped: int
    reserved: int
    backordered: int


class ShipmentItem(BaseModel):
    shipment: str
    warehouse: str
    shipped_on: date
    carrier: str | None = None
    tracking_number: str | None = None
    milestone: str  # the furthest reached, with its time
    lines: list[str]


class FulfilmentResult(BaseModel):
    order: str
    status: str
    open_units: int
    backordered_units: int
    lines: list[FulfilmentLine]
    shipments: list[ShipmentItem]
    charges: list[str] = []  # expedited freight: amount, carrier, absorbed or billed
    facts: list[str] = []


def _shipment_item(view: ShipmentView) -> ShipmentItem:
    step, at = view.latest
    travel = " ".join(part for part in (view.carrier, view.service_level) if part)
    return ShipmentItem(
        shipment=view.number,
        warehouse=view.warehouse,
        shipped_on=view.shipped_on,
        carrier=travel or None,
        tracking_number=view.tracking_number or None,
        milestone=f"{step} {at:%Y-%m-%d %H:%M}",
        lines=[f"{ln.quantity} x {ln.sku} (line {ln.line_no})" for ln in view.lines],
    )


def _fulfilment_facts(result: FulfilmentResult) -> list[str]:
    """The order's status and what is left, each line's progress, and each recent shipment's milestone."""
    order = result.order
    left = f"{fact.units(result.open_units)}, {result.backordered_units} backordered"
    status = fact.status_words(result.status)
    out = [fact.figure(order, fact.STATUS, status), fact.figure(order, fact.LEFT_TO_SHIP, left)]
    out += [
        f"{order} line {ln.line} {ln.sku} at {ln.warehouse}: {fact.units(ln.quantity)} ordered, {ln.shipped} shipped, "
        f"{ln.reserved} {fact.RESERVED}, {ln.backordered} {fact.BACKORDERED}."
        for ln in result.lines[:5]
    ]
    for s in result.shipments[-MAX_SHIPMENT_FACTS:]:
        travel = f" via {s.carrier}" if s.carrier else ""
        tracking = f", tracking {s.tracking_number}" if s.tracking_number else ""
        out.append(f"{s.shipment} from {s.warehouse}{travel}{tracking}: {', '.join(s.lines)}.")
        out.append(fact.figure(s.shipment, fact.MILESTONE, s.milestone))
    out += [f"{order} charge: {charge}." for charge in result.charges]
    return out


def get_fulfilment(session: Session, ctx: ToolContext, args: OrderArgs) -> FulfilmentResult:
    """An order's fulfilment: lines shipped, reserved, backordered; shipments with tracking and milestones."""
    view = fulfilment_status(session, ctx.actor, order_number=args.order_number)
    lines = [
        FulfilmentLine(
            line=ln.line_no,
            sku=ln.sku,
            warehouse=ln.warehouse,
            quantity=ln.quantity,
            shipped=ln.shipped,
            reserved=ln.reserved,
            backordered=ln.backordered,
        )
        for ln in view.order.lines[:MAX_LINES]
    ]
    result = FulfilmentResult(
        order=view.order.number,
        status=view.order.status,
        open_units=view.open_units,
        backordered_units=view.backordered_units,
        lines=lines,
        shipments=[_shipment_item(s) for s in view.shipments[-MAX_SHIPMENTS:]],
        charges=[
            f"{c.kind} {format_money(c.amount, c.currency)} via {c.carrier}, {c.treatment} ({c.reason})"
            for c in view.charges[-MAX_SHIPMENTS:]
        ],
    )
    return result.model_copy(update={"facts": _fulfilment_facts(result)})


TOOLS = [
    Tool(
        "get_fulfilment",
        "Where a sales order is: each line's shipped, reserved and backordered units, and its shipments with "
        "warehouse, carrier, tracking number and latest milestone (picked, packed, shipped, delivered).",
        OrderArgs,
        get_fulfilment,
    ),
    Tool(
        "draft_shipment",
        "Draft shipping a sales order from a warehouse (all reserved, or the lines and units given), with carrier "
        "and tracking number." + DRAFT_NOTE,
        ShipmentAsked,
        drafter(DraftKind.SHIPMENT),
        writes=True,
        needs=Permission.SHIP,
    ),
]
