"""Substituting an order line's item with an approved substitute (the item_substitutes table).

Only an approved substitute of the line's item may replace it; anything else is refused with the approved ones
named. The line's claim moves with it: the old item's reservation is given back (waiting backorders take it),
the substitute is reserved at the line's warehouse, refused when short unless backorders are allowed.

Price: by default the customer keeps the agreed unit price and discount (they pay what they agreed; the cost
changes to the substitute's, so the margin moves); `keep_price=False` prices the substitute for the customer as
a new line would be (contract, price list, list price) with the line's discount kept.

A line that has partly shipped is split: the shipped units stay on it with the old item, and the open units move
to a new line with the substitute. A line that has shipped in full has nothing left to substitute.
"""

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import clock
from core.actor import Actor, Permission
from core.errors import InvalidInput, InvalidState, NotASubstitute
from core.masterdata.models import Customer, Item, ItemSubstitute
from core.masterdata.service import get_item
from core.sales.models import OrderStatus, SalesOrder, SalesOrderLine
from core.sales.pricing import net_price, resolve_prices, standard_costs
from core.sales.service import OPEN_STATUSES, _promise_date, _stock_of, get_order
from core.stock.models import DemandSource
from core.stock.service import open_posting, reservations_for

CHANGEABLE = (OrderStatus.DRAFT, OrderStatus.ON_HOLD, *OPEN_STATUSES)


@dataclass(frozen=True)
class LinePrice:
    """What one unit of a line sells and costs for, in the order's currency."""

    sku: str
    unit_price: Decimal
    net_price: Decimal
    unit_cost: Decimal


@dataclass(frozen=True)
class Substitution:
    order: SalesOrder
    line: SalesOrderLine  # the line that now carries the substitute (a new one when the old one had shipped)
    quantity: int  # units substituted
    before: LinePrice
    after: LinePrice
    split_from: int | None  # the partly shipped line the open units left, if any


def approved_substitutes(session: Session, item_id: int) -> list[Item]:
    """The active items approved to replace `item_id`, in their priority order."""
    return list(
        session.scalars(
            select(Item)
            .join(ItemSubstitute, ItemSubstitute.substitute_id == Item.id)
            .where(ItemSubstitute.item_id == item_id, Item.active.is_(True))
            .order_by(ItemSubstitute.priority, Item.sku)
        )
    )


def _check_substitute(session: Session, old: Item, new: Item) -> None:
    if new.id == old.id:
        raise InvalidInput(f"the line already carries {old.sku}; name the substitute to put on it")
    approved = approved_substitutes(session, old.id)
    if new.id in {i.id for i in approved}:
        return
    names = [i.sku for i in approved]
    allowed = f"approved substitutes are {', '.join(names)}" if names else f"{old.sku} has no approved substitutes"
    raise NotASubstitute(f"{new.sku} is not an approved substitute for {old.sku}; {allowed}", suggestions=names)


def substitute_line(
    session: Session,
    actor: Actor,
    *,
    order_number: str | int,
    line_no: int,
    sku: str,
    keep_price: bool = True,
    allow_backorder: bool = False,
) -> Substitution:
    """Put an approved substitute on a line's open units; the reservation and the cost follow, the price as asked."""
    actor.require(Permission.SELL)
    order = get_order(session, actor, order_number=order_number, lock=True)
    if order.status not in CHANGEABLE:
        raise InvalidState(f"{order.number} is {order.status.replace('_', ' ')}; its lines can no longer change")
    line = next((ln for ln in order.lines if ln.line_no == line_no), None)
    if line is None:
        raise InvalidInput(f"{order.number} has no line {line_no}; lines are {[ln.line_no for ln in order.lines]}")
    if line.open_quantity == 0:
        raise InvalidState(f"line {line_no} of {order.number} has shipped in full; there is nothing to substitute")
    old, new = session.get(Item, line.item_id), get_item(session, sku=sku)
    assert old is not None
    _check_substitute(session, old, new)
    before = LinePrice(old.sku, Decimal(line.unit_price), Decimal(line.net_price), Decimal(line.unit_cost))
    target, split_from = _line_for_open_units(session, order, line, new)
    _reprice(session, order, target, new, keep_price)
    if order.status in OPEN_STATUSES:
        _move_claim(session, actor, order, line, target, allow_backorder)
    else:
        stock = _stock_of(session, [new.id], [target.warehouse_id])
        balance, supply = stock.get((new.id, target.warehouse_id), (None, []))
        target.promise_date = _promise_date(target.quantity, balance, supply, order.requested_date, clock.today())
    session.flush()
    after = LinePrice(new.sku, Decimal(target.unit_price), Decimal(target.net_price), Decimal(target.unit_cost))
    return Substitution(order, target, target.quantity, before, after, split_from)


def _line_for_open_units(
    session: Session, order: SalesOrder, line: SalesOrderLine, new: Item
) -> tuple[SalesOrderLine, int | None]:
    """The line itself, or (partly shipped) a new line for its open units, the old one cut to what shipped."""
    if not line.qty_shipped:
        line.item_id = new.id
        return line, None
    open_units = line.open_quantity
    line.quantity = line.qty_shipped
    split = SalesOrderLine(
        line_no=max(ln.line_no for ln in order.lines) + 1,
        item_id=new.id,
        warehouse_id=line.warehouse_id,
        quantity=open_units,
        unit_price=line.unit_price,
        price_source=line.price_source,
        discount_pct=line.discount_pct,
        net_price=line.net_price,
        unit_cost=line.unit_cost,
        promise_date=line.promise_date,
    )
    order.lines.append(split)
    session.flush()
    return split, line.line_no


def _reprice(session: Session, order: SalesOrder, line: SalesOrderLine, new: Item, keep_price: bool) -> None:
    """The substitute's cost always; its price for the customer unless the agreed price is kept."""
    today = clock.today()
    line.unit_cost = standard_costs(session, items=[new], currency=order.currency, on=today)[new.id]
    if keep_price:
        return
    customer = session.get(Customer, order.customer_id)
    assert customer is not None
    price = resolve_prices(session, customer=customer, items=[new], currency=order.currency, on=today)[new.id]
    line.unit_price = price.unit_price
    line.price_source = price.source.value
    line.net_price = net_price(price.unit_price, Decimal(line.discount_pct))


def _move_claim(
    session: Session,
    actor: Actor,
    order: SalesOrder,
    old_line: SalesOrderLine,
    target: SalesOrderLine,
    allow_backorder: bool,
) -> None:
    """Give back the old item's claim on the open units (backorders waiting there take it), claim the substitute."""
    claim = reservations_for(session, DemandSource.SALES_ORDER_LINE, [old_line.id]).get(old_line.id)
    new_key = (target.item_id, target.warehouse_id)
    old_keys = [(claim.item_id, claim.warehouse_id)] if claim is not None else []
    posting = open_posting(session, actor, [*old_keys, new_key], "sales_order", order.id)
    if claim is not None:
        posting.release(claim)
        posting.allocate_backorders(old_keys)
    if claim is not None and target is old_line:
        claim.item_id = target.item_id
        posting.extend(claim, target.quantity, allow_backorder=allow_backorder)
        new_claim = claim
    else:
        new_claim = posting.reserve(
            new_key, DemandSource.SALES_ORDER_LINE, target.id, target.quantity, allow_backorder=allow_backorder
        )
    target.promise_date = max(order.requested_date, clock.today()) if new_claim.backordered == 0 else None
