"""Overriding allocation: reserved units of an item at a warehouse move from one open order's line to another's.

The ranking (core.stock.priority) decides who gets stock by itself; a person overrides it here, as a gated
draft. The source line's units become backordered (it waits again, in its place in the queue), the target
line's backorder shrinks by as many: the warehouse's reserved and backordered totals do not change, and no
stock moves, so no ledger row is written. Both orders are locked (in id order, the way every command locks an
order before its stock) and then the balance, so a shipment or a cancellation of either waits for this.
"""

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy.orm import Session

from core.actor import Actor, Permission
from core.errors import InvalidInput, InvalidState
from core.masterdata.service import item_skus, warehouse_codes
from core.money import round_money
from core.numbering import SALES_ORDER
from core.sales.models import SalesOrder, SalesOrderLine
from core.sales.service import OPEN_STATUSES, get_order
from core.stock.models import DemandSource, Reservation
from core.stock.service import check_quantity, open_posting, reservations_for


@dataclass(frozen=True)
class Reallocation:
    """What moved: `units` of `sku` at `warehouse`, reserved for `source` (an order line), now for `target`."""

    source: SalesOrder
    source_line: int
    target: SalesOrder
    target_line: int
    sku: str
    warehouse: str
    units: int
    value: Decimal  # the units at the source line's net price: the sale that now waits

    def describe(self) -> str:
        return (
            f"{self.units} x {self.sku} @ {self.warehouse} reserved for {self.source.number} line {self.source_line} "
            f"go to {self.target.number} line {self.target_line}"
        )


def reallocate_stock(
    session: Session,
    actor: Actor,
    *,
    from_order: str | int,
    to_order: str | int,
    from_line: int | None = None,
    to_line: int | None = None,
    quantity: int | None = None,
) -> Reallocation:
    """Move reserved units from one open order's line to another's backordered line (same item and warehouse)."""
    actor.require(Permission.SELL)
    source, target = _locked_pair(session, actor, from_order, to_order)
    claims = reservations_for(
        session, DemandSource.SALES_ORDER_LINE, [ln.id for o in (source, target) for ln in o.lines]
    )
    give, take = _lines(source, target, claims, from_line, to_line)
    giving, taking = claims[give.id], claims[take.id]
    units = quantity if quantity is not None else min(giving.quantity, taking.backordered)
    check_quantity(units, "units to re-allocate")
    if units > giving.quantity:
        raise InvalidInput(
            f"{source.number} line {give.line_no} has only {giving.quantity} reserved; {units} cannot move from it"
        )
    if units > taking.backordered:
        raise InvalidInput(
            f"{target.number} line {take.line_no} waits for only {taking.backordered}; it does not need {units}"
        )
    open_posting(session, actor, [(give.item_id, give.warehouse_id)], "sales_order", source.id)
    giving.quantity -= units
    giving.backordered += units
    taking.backordered -= units
    taking.quantity += units
    session.flush()
    sku = item_skus(session, item_ids=[give.item_id])[give.item_id]
    warehouse = warehouse_codes(session, warehouse_ids=[give.warehouse_id])[give.warehouse_id]
    return Reallocation(
        source=source,
        source_line=give.line_no,
        target=target,
        target_line=take.line_no,
        sku=sku,
        warehouse=warehouse,
        units=units,
        value=round_money(give.net_price * units),
    )


def _locked_pair(
    session: Session, actor: Actor, from_order: str | int, to_order: str | int
) -> tuple[SalesOrder, SalesOrder]:
    """Both orders, open, of one entity, locked in id order (two re-allocations between them cannot deadlock)."""
    ids = SALES_ORDER.parse(from_order), SALES_ORDER.parse(to_order)
    if ids[0] == ids[1]:
        raise InvalidInput(f"{SALES_ORDER.format(ids[0])} is both the source and the target; name two orders")
    locked = {i: get_order(session, actor, order_number=i, lock=True) for i in sorted(ids)}
    source, target = locked[ids[0]], locked[ids[1]]
    for order in (source, target):
        if order.status not in OPEN_STATUSES:
            raise InvalidState(
                f"{order.number} is {order.status.replace('_', ' ')}; only a confirmed order's reservations move"
            )
    if source.entity_id != target.entity_id:
        raise InvalidInput(f"{source.number} and {target.number} belong to different entities; stock stays in its own")
    return source, target


def _lines(
    source: SalesOrder,
    target: SalesOrder,
    claims: dict[int, Reservation],
    from_line: int | None,
    to_line: int | None,
) -> tuple[SalesOrderLine, SalesOrderLine]:
    """The source line (reserved units) and the target line (waiting for them): named, or the one pair that fits."""
    give = _named(source, from_line) if from_line is not None else None
    take = _named(target, to_line) if to_line is not None else None
    pairs = [
        (g, t)
        for g in ([give] if give else source.lines)
        for t in ([take] if take else target.lines)
        if (g.item_id, g.warehouse_id) == (t.item_id, t.warehouse_id)
    ]
    if not pairs:
        raise InvalidInput(
            f"{source.number}{_line(give)} and {target.number}{_line(take)} share no item at the same warehouse; "
            "stock moves only between lines of the same item and warehouse"
        )
    for line, order in ((give, source), (take, target)):
        if line is not None and line.open_quantity == 0:
            raise InvalidState(f"line {line.line_no} of {order.number} has shipped in full")
    fitting = [
        (g, t)
        for g, t in pairs
        if g.open_quantity and t.open_quantity and claims[g.id].quantity > 0 and claims[t.id].backordered > 0
    ]
    if len(fitting) == 1:
        return fitting[0]
    if not fitting:
        g, t = pairs[0]
        if claims[g.id].quantity == 0:
            raise InvalidInput(f"{source.number} line {g.line_no} has nothing reserved to give")
        raise InvalidInput(f"{target.number} line {t.line_no} is not waiting for stock; it does not need any")
    choices = ", ".join(f"line {g.line_no} → line {t.line_no}" for g, t in fitting)
    raise InvalidInput(f"more than one pair of lines fits ({choices}); name the lines")


def _named(order: SalesOrder, line_no: int) -> SalesOrderLine:
    line = next((ln for ln in order.lines if ln.line_no == line_no), None)
    if line is None:
        raise InvalidInput(f"{order.number} has no line {line_no}; lines are {[ln.line_no for ln in order.lines]}")
    return line


def _line(line: SalesOrderLine | None) -> str:
    return f" line {line.line_no}" if line else ""
