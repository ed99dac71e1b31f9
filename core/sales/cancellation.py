"""Cancelling what is still open on a sales order: one line, or the order's whole unshipped rest.

What shipped stays shipped (and invoiced). A line that shipped in part keeps its shipped units as its
quantity; a line that shipped nothing leaves the order, unless nothing on the order shipped and every line
goes: then the order itself is cancelled and keeps its lines as the record of what was ordered. The claims
of what is cancelled go back (backordered units dropped, reserved units freed), and the freed units go to
the waiting backorders at once, in priority order (core.stock.priority). An order whose remaining lines
have all shipped is invoiced in full.
"""

from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy.orm import Session

from core.actor import Actor, Permission
from core.errors import InvalidInput, InvalidState
from core.masterdata.service import item_skus, warehouse_codes
from core.money import round_money
from core.sales.models import OrderStatus, SalesOrder, SalesOrderLine
from core.sales.service import OPEN_STATUSES, get_order
from core.stock.models import DemandSource, Reservation
from core.stock.service import Fill, Key, open_posting, reservations_for
from core.text import require_storable

CANCELLABLE = (OrderStatus.DRAFT, OrderStatus.ON_HOLD, *OPEN_STATUSES)
MAX_REASON = 500


@dataclass(frozen=True)
class CancelledLine:
    """The open rest of one line that is cancelled: its units, what was reserved or waiting for them, its value."""

    line_no: int
    sku: str
    warehouse: str
    units: int
    released: int  # reserved units given back to the warehouse
    dropped: int  # backordered units no longer waited for
    value: Decimal


@dataclass(frozen=True)
class Cancellation:
    order: SalesOrder
    status_before: str
    lines: list[CancelledLine]
    keys: list[Key]  # the stock positions whose claims went back
    fills: list[Fill] = field(default_factory=list)

    @property
    def units(self) -> int:
        return sum(line.units for line in self.lines)

    @property
    def value(self) -> Decimal:
        return round_money(sum((line.value for line in self.lines), Decimal(0)))


def cancel_open_rest(
    session: Session, actor: Actor, *, order_number: str | int, line_no: int | None = None, reason: str
) -> Cancellation:
    """Cancel the unshipped rest of one line (`line_no`) or of the whole order; freed stock refills backorders."""
    actor.require(Permission.SELL)
    reason = _checked_reason(reason)
    order = get_order(session, actor, order_number=order_number, lock=True)
    if order.status not in CANCELLABLE:
        raise InvalidState(f"{order.number} is {order.status.replace('_', ' ')}; nothing on it can be cancelled")
    targets = _targets(order, line_no)
    status_before = order.status
    claims = reservations_for(session, DemandSource.SALES_ORDER_LINE, [ln.id for ln in targets])
    labels = _labels(session, targets)
    cancelled = []
    keys = [(ln.item_id, ln.warehouse_id) for ln in targets]
    posting = open_posting(session, actor, keys, "sales_order", order.id) if order.status in OPEN_STATUSES else None
    for line in targets:
        claim = claims.get(line.id)
        released, dropped = (claim.quantity, claim.backordered) if claim else (0, 0)
        if posting is not None and claim is not None:
            posting.release(claim)
        cancelled.append(
            CancelledLine(
                line_no=line.line_no,
                sku=labels[line.id][0],
                warehouse=labels[line.id][1],
                units=line.open_quantity,
                released=released,
                dropped=dropped,
                value=round_money(line.net_price * line.open_quantity),
            )
        )
    whole = len(targets) == len(order.lines) and not any(ln.qty_shipped for ln in order.lines)
    if whole:
        order.status = OrderStatus.CANCELLED.value
    else:
        _shorten(session, order, targets, claims)
    fills = posting.allocate_backorders(keys) if posting is not None else []
    session.flush()
    return Cancellation(order=order, status_before=status_before, lines=cancelled, keys=sorted(set(keys)), fills=fills)


def _checked_reason(reason: str) -> str:
    text = (reason or "").strip()
    require_storable(text, "the reason")
    if len(text) < 3:
        raise InvalidInput("say why it is cancelled (a reason of at least 3 characters)")
    if len(text) > MAX_REASON:
        raise InvalidInput(f"the reason may have at most {MAX_REASON} characters")
    return text


def _targets(order: SalesOrder, line_no: int | None) -> list[SalesOrderLine]:
    """The lines whose open rest goes: the one named, or every line with something open."""
    if line_no is None:
        open_lines = [ln for ln in order.lines if ln.open_quantity > 0]
        if not open_lines:
            raise InvalidState(f"{order.number} has nothing left open to cancel")
        return open_lines
    line = next((ln for ln in order.lines if ln.line_no == line_no), None)
    if line is None:
        raise InvalidInput(f"{order.number} has no line {line_no}; lines are {[ln.line_no for ln in order.lines]}")
    if line.open_quantity == 0:
        raise InvalidState(
            f"line {line_no} of {order.number} has shipped in full ({line.qty_shipped}); nothing is open"
        )
    return [line]


def _shorten(
    session: Session, order: SalesOrder, targets: list[SalesOrderLine], claims: dict[int, Reservation]
) -> None:
    """Lines keep what shipped; a line that shipped nothing leaves the order (with its empty claim)."""
    for line in targets:
        if line.qty_shipped:
            line.quantity = line.qty_shipped
            continue
        claim = claims.get(line.id)
        if claim is not None:
            session.delete(claim)
        order.lines.remove(line)
    if order.status in OPEN_STATUSES and all(ln.qty_shipped == ln.quantity for ln in order.lines):
        order.status = OrderStatus.INVOICED.value


def _labels(session: Session, lines: list[SalesOrderLine]) -> dict[int, tuple[str, str]]:
    skus = item_skus(session, item_ids=[ln.item_id for ln in lines])
    codes = warehouse_codes(session, warehouse_ids=[ln.warehouse_id for ln in lines])
    return {ln.id: (skus[ln.item_id], codes[ln.warehouse_id]) for ln in lines}
