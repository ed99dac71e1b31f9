"""Draft kinds for what staff do to an order after it is placed: cancel its open rest, re-allocate its stock.

The preview says what each would release or move and which waiting backorders the freed units fill.
"""

from pydantic import Field
from sqlalchemy.orm import Session

from core.actor import Actor
from core.drafts.base import Applied, DraftPayload, normalised
from core.masterdata.models import Customer
from core.money import format_money
from core.sales.cancellation import cancel_open_rest
from core.sales.reallocation import reallocate_stock


class OrderCancelDraft(DraftPayload):
    order_number: str = Field(min_length=1, max_length=24)
    line_no: int | None = Field(None, ge=1, description="omit to cancel all that is open")
    reason: str = Field(min_length=3, max_length=500)

    def subject(self) -> tuple[str, ...]:
        return normalised(self.order_number, str(self.line_no or ""))


class ReallocationDraft(DraftPayload):
    order_number: str = Field(min_length=1, max_length=24, description="the order that gives reserved units")
    line_no: int | None = Field(None, ge=1)
    to_order: str = Field(min_length=1, max_length=24, description="the order whose backorder gets them")
    to_line_no: int | None = Field(None, ge=1)
    quantity: int | None = Field(None, gt=0, le=1_000_000, description="omit: all the target waits for")
    reason: str = Field("", max_length=500)

    def subject(self) -> tuple[str, ...]:
        return normalised(self.order_number, self.to_order)


def apply_order_cancel(session: Session, actor: Actor, payload: OrderCancelDraft) -> Applied:
    """Cancel one line's open rest or the order's; reserved units go to waiting backorders by priority."""
    done = cancel_open_rest(
        session, actor, order_number=payload.order_number, line_no=payload.line_no, reason=payload.reason
    )
    order = done.order
    parts = ", ".join(f"{ln.units} x {ln.sku} @ {ln.warehouse} (line {ln.line_no})" for ln in done.lines)
    effects = [
        f"{order.number} line {ln.line_no}: "
        + ", ".join(
            p
            for p in (
                f"{ln.released} reserved units released" if ln.released else "",
                f"{ln.dropped} backordered units no longer awaited" if ln.dropped else "",
            )
            if p
        )
        for ln in done.lines
        if ln.released or ln.dropped
    ]
    if order.status != done.status_before:
        effects.insert(0, f"{order.number}: status {done.status_before} → {order.status}")
    effects += [fill.describe() for fill in done.fills]
    customer = session.get(Customer, order.customer_id)
    return Applied(
        result_ref=order.number,
        entity_id=order.entity_id,
        currency=order.currency,
        amount=done.value,
        summary=f"Cancel on {order.number}: {parts}; {format_money(done.value, order.currency)} ({payload.reason})",
        quantity=done.units,
        keys=done.keys,
        facts={"customer": customer.code if customer else None},
        effects=effects,
    )


def apply_reallocation(session: Session, actor: Actor, payload: ReallocationDraft) -> Applied:
    """Move reserved units from one order's line to another's backorder (same item, warehouse and entity)."""
    moved = reallocate_stock(
        session,
        actor,
        from_order=payload.order_number,
        to_order=payload.to_order,
        from_line=payload.line_no,
        to_line=payload.to_line_no,
        quantity=payload.quantity,
    )
    source, target = moved.source, moved.target
    customer = session.get(Customer, source.customer_id)
    why = f" ({payload.reason})" if payload.reason else ""
    return Applied(
        result_ref=target.number,
        entity_id=source.entity_id,
        currency=source.currency,
        amount=moved.value,
        summary=f"Re-allocate {moved.describe()}; {format_money(moved.value, source.currency)} of "
        f"{source.number} waits again{why}",
        quantity=moved.units,
        facts={"customer": customer.code if customer else None},
        effects=[
            f"{source.number} line {moved.source_line}: {moved.units} reserved → backordered",
            f"{target.number} line {moved.target_line}: {moved.units} backordered → reserved",
        ],
    )


__all__ = ["OrderCancelDraft", "ReallocationDraft", "apply_order_cancel", "apply_reallocation"]
