"""Draft kinds that change an order after it is placed: substitute a line's item, charge expedited freight.

Each preview shows what changes on the order (item, unit price, margin before → after) and the facts the policy
judges: the order's own (order_facts) and its margin after the change, net of absorbed charges.
"""

from decimal import Decimal

from pydantic import Field
from sqlalchemy.orm import Session

from core.actor import Actor
from core.drafts.base import Applied, DraftPayload, normalised
from core.drafts.order_facts import order_applied
from core.money import format_money
from core.sales.charges import charges_of, order_margin
from core.sales.expedite import MAX_CHARGE, charge_expedite
from core.sales.models import SalesOrder
from core.sales.pricing import margin
from core.sales.service import get_order
from core.sales.substitution import LinePrice, substitute_line


class SubstitutionDraft(DraftPayload):
    order_number: str = Field(min_length=1, max_length=24)
    line_no: int = Field(ge=1, le=10_000)
    sku: str = Field(min_length=1, max_length=40, description="the approved substitute")
    keep_price: bool = Field(True, description="false: the substitute's own price for the customer")
    allow_backorder: bool = False

    def subject(self) -> tuple[str, ...]:
        return normalised(self.order_number, str(self.line_no))


class ExpediteDraft(DraftPayload):
    order_number: str = Field(min_length=1, max_length=24)
    amount: Decimal = Field(gt=0, le=MAX_CHARGE, description="in the order's currency")
    carrier: str = Field(min_length=1, max_length=40)
    reason: str = Field(min_length=3, max_length=500)
    billed: bool = Field(False, description="true: on the customer's next invoice; false: absorbed as cost")
    shipment: str | None = Field(None, max_length=24, description="e.g. SH-12, if for one shipment")

    def subject(self) -> tuple[str, ...]:
        return normalised(self.order_number)


def _margin_pct(session: Session, order: SalesOrder) -> Decimal:
    return order_margin(order.lines, charges_of(session, order.id)).margin_pct


def _unit(price: LinePrice, currency: str, quantity: int) -> str:
    pct = margin(price.net_price, price.unit_cost, quantity)[1]
    return f"{format_money(price.net_price, currency)} (margin {pct}%)"


def apply_substitution(session: Session, actor: Actor, payload: SubstitutionDraft) -> Applied:
    """Put the approved substitute on the line's open units; reservation, cost and (if asked) price follow."""
    order = get_order(session, actor, order_number=payload.order_number)
    old_keys = [(ln.item_id, ln.warehouse_id) for ln in order.lines]
    margin_before = _margin_pct(session, order)
    done = substitute_line(
        session,
        actor,
        order_number=order.id,
        line_no=payload.line_no,
        sku=payload.sku,
        keep_price=payload.keep_price,
        allow_backorder=payload.allow_backorder,
    )
    ccy, qty = order.currency, done.quantity
    priced = "agreed price kept" if payload.keep_price else "priced for the customer"
    summary = (
        f"Substitute {done.after.sku} for {done.before.sku} on {order.number} line {payload.line_no} ({qty} units, "
        f"{priced}): unit price {_unit(done.before, ccy, qty)} → {_unit(done.after, ccy, qty)}"
    )
    applied = order_applied(session, actor, order, summary)
    margin_after = _margin_pct(session, order)
    split = f" (shipped units stay on line {done.split_from})" if done.split_from else ""
    applied.effects = [
        f"{order.number} line {done.line.line_no}: {done.before.sku} → {done.after.sku}{split}",
        f"{order.number}: margin {margin_before}% → {margin_after}%",
    ]
    applied.keys = sorted(set(applied.keys) | set(old_keys))
    applied.facts["margin_after_pct"] = margin_after
    return applied


def apply_expedite(session: Session, actor: Actor, payload: ExpediteDraft) -> Applied:
    """Charge expedited freight on the order: absorbed (a cost) or billed on its next invoice."""
    order = get_order(session, actor, order_number=payload.order_number)
    margin_before = _margin_pct(session, order)
    charge = charge_expedite(
        session,
        actor,
        order_number=order.id,
        amount=payload.amount,
        carrier=payload.carrier,
        reason=payload.reason,
        billed=payload.billed,
        shipment=payload.shipment,
    )
    margin_after = _margin_pct(session, order)
    how = "billed to the customer on the next invoice" if charge.billed else "absorbed"
    on = f" for {payload.shipment.strip().upper()}" if payload.shipment else ""
    amount = format_money(Decimal(charge.amount), charge.currency)
    applied = order_applied(
        session,
        actor,
        order,
        f"Expedited freight on {order.number}{on}: {amount} via {charge.carrier}, {how} ({charge.reason})",
    )
    applied.amount = Decimal(charge.amount)
    applied.quantity = 0
    applied.keys = []
    applied.effects = [f"{order.number}: margin {margin_before}% → {margin_after}%"]
    applied.facts["margin_after_pct"] = margin_after
    return applied
