"""Sales-order status and customer credit, for the model."""

from datetime import date
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from core.finance.service import credit_status
from core.sales.service import order_status
from tools import facts as fact
from tools.brief import Brief
from tools.context import ToolContext
from tools.registry import Tool, ToolArgs


class OrderArgs(ToolArgs):
    order_number: str = Field(min_length=1, max_length=24, description="e.g. SO-1042")


class OrderLineView(BaseModel):
    line: int
    sku: str
    warehouse: str
    quantity: int
    reserved: int
    backordered: int
    shipped: int
    net_price: Decimal
    promise_date: date | None


class OrderResult(BaseModel):
    order: str
    status: str
    customer: str
    entity: str
    currency: str
    total: Decimal
    requested_date: date
    hold_reason: str | None = None
    lines: list[OrderLineView]
    shipments: list[str]
    invoices: list[str]
    facts: list[str] = []


MAX_LINE_FACTS = 5


def _order_facts(order: OrderResult) -> list[str]:
    """The order's status (with why it is held), its shipments and invoices, total, requested date, and each line's
    quantities."""
    held = f" ({order.hold_reason})" if order.hold_reason else ""
    out = [fact.figure(order.order, fact.STATUS, fact.status_words(order.status) + held)]
    out += [fact.figure(order.order, "shipments", ", ".join(order.shipments))] if order.shipments else []
    out += [fact.figure(order.order, "invoices", ", ".join(order.invoices))] if order.invoices else []
    out += [
        fact.figure(order.order, fact.TOTAL, fact.money(order.total, order.currency)),
        fact.figure(order.order, "requested date", order.requested_date.isoformat()),
    ]
    return out + [_line_fact(order.order, ln) for ln in order.lines[:MAX_LINE_FACTS]]


LINE_STATED = ("warehouse", "quantity", "reserved", "backordered", "shipped", "promise_date")  # by `_line_fact`


def _order_brief(data: dict[str, Any]) -> Brief:
    """What the order's facts state: the hold reason, total and requested date, and when they state every line (at
    most `MAX_LINE_FACTS`), each line's warehouse and quantities; the lines' SKUs and prices stay."""
    every_line = len(data.get("lines") or []) <= MAX_LINE_FACTS
    return {"hold_reason": (), "total": (), "requested_date": ()} | ({"lines": LINE_STATED} if every_line else {})


def _line_fact(order: str, ln: OrderLineView) -> str:
    promised = f"; promised {ln.promise_date}" if ln.promise_date else ""
    return (
        f"{order} line {ln.line} {ln.sku} at {ln.warehouse}: {fact.units(ln.quantity)} ordered, {ln.reserved} "
        f"{fact.RESERVED}, {ln.backordered} {fact.BACKORDERED}, {ln.shipped} shipped{promised}."
    )


def get_order_status(session: Session, ctx: ToolContext, args: OrderArgs) -> OrderResult:
    """An order's status, hold reason, lines with reservations and shipments."""
    view = order_status(session, ctx.actor, order_number=args.order_number)
    lines = [
        OrderLineView(
            line=ln.line_no,
            sku=ln.sku,
            warehouse=ln.warehouse,
            quantity=ln.quantity,
            reserved=ln.reserved,
            backordered=ln.backordered,
            shipped=ln.shipped,
            net_price=ln.net_price,
            promise_date=ln.promise_date,
        )
        for ln in view.lines[:50]
    ]
    result = OrderResult(
        order=view.number,
        status=view.status,
        customer=view.customer,
        entity=view.entity,
        currency=view.currency,
        total=view.total,
        requested_date=view.requested_date,
        hold_reason=view.hold_reason,
        lines=lines,
        shipments=view.shipments[:20],
        invoices=view.invoices[:20],
    )
    return result.model_copy(update={"facts": _order_facts(result)})


class CustomerArgs(ToolArgs):
    customer: str = Field(min_length=1, max_length=160, description="customer code (ACME) or exact name")


class CreditResult(BaseModel):
    customer: str
    name: str
    entity: str
    currency: str
    credit_limit: Decimal
    open_receivables: Decimal
    open_orders: Decimal
    exposure: Decimal
    available: Decimal
    on_hold: bool
    hold_reason: str | None = None
    note: str | None = None  # the customer's standing note, as typed by staff
    how_computed: str = "exposure = open receivables + confirmed orders not yet invoiced"
    facts: list[str] = []


def _credit_facts(c: CreditResult) -> list[str]:
    """The hold, what is left, the limit, exposure, receivables and open orders, each a sentence: the order a person
    asks in ("are they on hold, how much is left?"), which a recap of the first few keeps."""
    hold = f"is on {fact.CREDIT_HOLD}" + (f" ({c.hold_reason})" if c.hold_reason else "")
    return [
        fact.state(c.customer, hold if c.on_hold else f"is not on {fact.CREDIT_HOLD}"),
        fact.figure(c.customer, fact.CREDIT_AVAILABLE, fact.money(c.available, c.currency)),
        fact.figure(c.customer, fact.CREDIT_LIMIT, fact.money(c.credit_limit, c.currency)),
        fact.figure(c.customer, fact.EXPOSURE, fact.money(c.exposure, c.currency)),
        fact.figure(c.customer, fact.OPEN_RECEIVABLES, fact.money(c.open_receivables, c.currency)),
        fact.figure(c.customer, fact.OPEN_ORDERS, fact.money(c.open_orders, c.currency)),
    ]


def get_customer_credit(session: Session, ctx: ToolContext, args: CustomerArgs) -> CreditResult:
    """A customer's credit limit, exposure and hold."""
    c = credit_status(session, ctx.actor, customer=args.customer)
    result = CreditResult(
        customer=c.customer,
        name=c.name,
        entity=c.entity,
        currency=c.currency,
        credit_limit=c.credit_limit,
        open_receivables=c.open_receivables,
        open_orders=c.open_orders,
        exposure=c.exposure,
        available=c.available,
        on_hold=c.on_hold,
        hold_reason=c.hold_reason,
        note=c.note or None,
    )
    return result.model_copy(update={"facts": _credit_facts(result)})


TOOLS = [
    Tool(
        "get_order_status",
        "One sales order: status, why it is on hold, each line's reserved, backordered and shipped quantities, "
        "promise dates, shipments and invoices. Use for 'where is SO-1042' or 'why is SO-1042 on hold'.",
        OrderArgs,
        get_order_status,
        brief=_order_brief,
    ),
    Tool(
        "get_customer_credit",
        "A customer's credit: limit, open receivables, open orders, exposure, what is left, and any credit "
        "hold with its reason, and the customer's standing note. Amounts are in the customer's entity currency.",
        CustomerArgs,
        get_customer_credit,
        brief=dict.fromkeys(
            ("credit_limit", "open_receivables", "open_orders", "exposure", "available", "on_hold", "hold_reason"), ()
        ),
    ),
]
