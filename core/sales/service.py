"""Sales-order commands: create, confirm, ship (with invoice), change a line, cancel; and the order view."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import clock
from core.actor import Actor, Permission
from core.documents import load_document
from core.errors import InvalidInput, InvalidState
from core.finance.models import Invoice
from core.masterdata.models import Customer, Item, Warehouse
from core.masterdata.service import get_customer, get_items, require_active
from core.money import round_money
from core.numbering import INVOICE, SALES_ORDER, SALES_ORDER_LINE, SHIPMENT
from core.outbox.service import publish
from core.sales.charges import ChargeView, OrderMargin, charge_view, charges_of, order_margin
from core.sales.models import (
    OrderStatus,
    PriceSource,
    SalesOrder,
    SalesOrderLine,
    Shipment,
)
from core.sales.pricing import (
    margin,
    net_price,
    resolve_prices,
    standard_costs,
)
from core.stock.atp import Supply, earliest_date_for, free_stock
from core.stock.models import (
    DemandSource,
    IncomingSupply,
    StockBalance,
)
from core.stock.service import (
    Key,
    Posting,
    check_quantity,
    open_posting,
    reservations_for,
)

MAX_LINES = 200
OPEN_STATUSES = (OrderStatus.CONFIRMED, OrderStatus.PARTIALLY_SHIPPED)


@dataclass(frozen=True)
class LineRequest:
    sku: str
    quantity: int
    warehouse: str | None = None
    discount_pct: Decimal = Decimal(0)


# --- Create -------------------------------------------------------------------------


def create_order(
    session: Session,
    actor: Actor,
    *,
    customer: str,
    lines: Sequence[LineRequest],
    requested_date: date | None = None,
    customer_reference: str = "",
) -> SalesOrder:
    """A draft order priced for the customer, each line at a warehouse of the customer's entity."""
    actor.require(Permission.PLACE_ORDER)
    _check_lines(lines)
    today = clock.today()
    requested = requested_date or today
    if requested < today:
        raise InvalidInput(f"requested date {requested} is in the past")
    cust = get_customer(session, actor, code=customer)
    currency = cust.entity.base_currency
    items = get_items(session, skus=[line.sku for line in lines])
    require_active(session, list(items.values()), "sold")
    entity_warehouses = _entity_warehouses(session, cust.entity_id)
    stock = _stock_of(session, [i.id for i in items.values()], [w.id for w in entity_warehouses])
    prices = resolve_prices(session, customer=cust, items=list(items.values()), currency=currency, on=today)
    costs = standard_costs(session, items=list(items.values()), currency=currency, on=today)
    order = SalesOrder(
        entity_id=cust.entity_id,
        customer_id=cust.id,
        currency=currency,
        status=OrderStatus.DRAFT.value,
        order_date=today,
        requested_date=requested,
        customer_reference=customer_reference[:64],
        created_by=actor.user_id,
        created_at=clock.now(),
    )
    for line_no, request in enumerate(lines, start=1):
        item = items[request.sku]
        warehouse = _line_warehouse(request, item, entity_warehouses, stock, cust)
        price = prices[item.id]
        discount = Decimal(request.discount_pct)
        balance, supply = stock.get((item.id, warehouse.id), (None, []))
        order.lines.append(
            SalesOrderLine(
                line_no=line_no,
                item_id=item.id,
                warehouse_id=warehouse.id,
                quantity=request.quantity,
                unit_price=price.unit_price,
                price_source=price.source.value,
                discount_pct=discount,
                net_price=net_price(price.unit_price, discount),
                unit_cost=costs[item.id],
                promise_date=_promise_date(request.quantity, balance, supply, requested, today),
            )
        )
    session.add(order)
    session.flush()
    return order


def quoted_prices(session: Session, actor: Actor, *, customer: str, skus: Sequence[str]) -> dict[str, Decimal]:
    """The unit price (before any discount) each SKU would be sold at to this customer today, as `create_order`
    prices it: the contract price, the customer's price list, or the list price, in the entity's currency."""
    cust = get_customer(session, actor, code=customer)
    items = get_items(session, skus=list(skus))
    prices = resolve_prices(
        session, customer=cust, items=list(items.values()), currency=cust.entity.base_currency, on=clock.today()
    )
    return {sku: prices[item.id].unit_price for sku, item in items.items()}


def _check_lines(lines: Sequence[LineRequest]) -> None:
    if not lines:
        raise InvalidInput("an order needs at least one line")
    if len(lines) > MAX_LINES:
        raise InvalidInput(f"an order may have at most {MAX_LINES} lines, got {len(lines)}")
    for line in lines:
        check_quantity(line.quantity, f"quantity of {line.sku}")
        net_price(Decimal(1), Decimal(line.discount_pct))


def _entity_warehouses(session: Session, entity_id: int) -> list[Warehouse]:
    return list(session.scalars(select(Warehouse).where(Warehouse.entity_id == entity_id).order_by(Warehouse.code)))


StockView = dict[Key, tuple[StockBalance | None, list[Supply]]]


def _stock_of(session: Session, item_ids: list[int], warehouse_ids: list[int]) -> StockView:
    """Balances and open dated supply for these items and warehouses, in two queries."""
    balances = {
        (b.item_id, b.warehouse_id): b
        for b in session.scalars(
            select(StockBalance).where(
                StockBalance.item_id.in_(item_ids),
                StockBalance.warehouse_id.in_(warehouse_ids),
            )
        )
    }
    supply: dict[Key, list[Supply]] = {}
    for row in session.execute(
        select(
            IncomingSupply.item_id,
            IncomingSupply.warehouse_id,
            IncomingSupply.due_date,
            IncomingSupply.quantity,
        ).where(
            IncomingSupply.item_id.in_(item_ids),
            IncomingSupply.warehouse_id.in_(warehouse_ids),
            IncomingSupply.quantity > 0,
        )
    ):
        supply.setdefault((row.item_id, row.warehouse_id), []).append(Supply(row.due_date, row.quantity, ""))
    keys = set(balances) | set(supply)
    return {k: (balances.get(k), supply.get(k, [])) for k in keys}


def _line_warehouse(
    request: LineRequest,
    item: Item,
    warehouses: list[Warehouse],
    stock: StockView,
    customer: Customer,
) -> Warehouse:
    """The named warehouse (it must belong to the customer's entity), else the one with most free stock."""
    if request.warehouse:
        wanted = request.warehouse.strip().upper()
        for warehouse in warehouses:
            if wanted in (warehouse.code.upper(), warehouse.city.upper()):
                return warehouse
        codes = ", ".join(w.code for w in warehouses)
        raise InvalidInput(
            f"warehouse '{request.warehouse}' does not ship for {customer.entity.code}; "
            f"customer {customer.code} is served from {codes}"
        )
    if not warehouses:
        raise InvalidState(f"entity {customer.entity.code} has no warehouse")

    def free(warehouse: Warehouse) -> int:
        balance = stock.get((item.id, warehouse.id), (None, []))[0]
        return free_stock(balance.on_hand, balance.reserved, balance.backordered) if balance else 0

    return max(warehouses, key=free)


def _promise_date(
    quantity: int,
    balance: StockBalance | None,
    supply: list[Supply],
    requested: date,
    today: date,
) -> date | None:
    if balance is None:
        earliest = earliest_date_for(quantity, 0, 0, 0, supply, today)
    else:
        earliest = earliest_date_for(
            quantity,
            balance.on_hand,
            balance.reserved,
            balance.backordered,
            supply,
            today,
        )
    return None if earliest is None else max(earliest, requested)


# --- Look-up ------------------------------------------------------------------------


def get_order(session: Session, actor: Actor, *, order_number: str | int, lock: bool = False) -> SalesOrder:
    """The order with its lines, if it lies in the actor's scope (`lock`: for a command that changes it)."""
    order = load_document(session, SalesOrder, order_number, kind=SALES_ORDER, lock=lock, lines=SalesOrder.lines)
    actor.require_entity(order.entity_id, f"sales order {order.number}")
    return order


def get_order_line(session: Session, actor: Actor, *, line_number: str | int) -> SalesOrderLine:
    """An order line by its own number ("SOL-88"), if its order lies in the actor's scope."""
    line = load_document(session, SalesOrderLine, line_number, kind=SALES_ORDER_LINE, lock=False)
    get_order(session, actor, order_number=line.order_id)
    return line


def first_held_order(session: Session) -> str | None:
    """The number of the oldest order on hold, if any (the demo suggests asking why it is held)."""
    held = session.scalars(
        select(SalesOrder).where(SalesOrder.status == OrderStatus.ON_HOLD.value).order_by(SalesOrder.id).limit(1)
    ).first()
    return held.number if held is not None else None


def _line_keys(order: SalesOrder) -> list[Key]:
    return [(line.item_id, line.warehouse_id) for line in order.lines]


def _labels(session: Session, order: SalesOrder) -> dict[Key, tuple[str, str]]:
    item_ids = {line.item_id for line in order.lines}
    wh_ids = {line.warehouse_id for line in order.lines}
    skus = {r.id: r.sku for r in session.execute(select(Item.id, Item.sku).where(Item.id.in_(item_ids)))}
    codes = {
        r.id: r.code for r in session.execute(select(Warehouse.id, Warehouse.code).where(Warehouse.id.in_(wh_ids)))
    }
    return {(i, w): (skus[i], codes[w]) for i in item_ids for w in wh_ids}


def _posting(
    session: Session,
    actor: Actor,
    order: SalesOrder,
    keys: list[Key],
) -> Posting:
    return open_posting(session, actor, keys, "sales_order", order.id)


# --- Confirm ------------------------------------------------------------------------


def confirm_order(
    session: Session,
    actor: Actor,
    *,
    order_number: str | int,
    allow_backorder: bool = False,
) -> SalesOrder:
    """Reserve stock for every line; a line short of stock is refused (or backordered if allowed).

    A customer on credit hold puts the order on hold instead, with the reason, and reserves nothing.
    """
    actor.require(Permission.PLACE_ORDER)
    order = get_order(session, actor, order_number=order_number, lock=True)
    if order.status not in (OrderStatus.DRAFT, OrderStatus.ON_HOLD):
        raise InvalidState(f"{order.number} is {order.status}; only a draft or held order can be confirmed")
    customer = session.get(Customer, order.customer_id)
    assert customer is not None
    if customer.on_credit_hold:
        order.status = OrderStatus.ON_HOLD.value
        order.hold_reason = (
            f"customer {customer.code} is on credit hold: {customer.credit_hold_reason or 'no reason given'}"
        )
        session.flush()
        return order
    posting = _posting(session, actor, order, _line_keys(order))
    for line in order.lines:
        posting.reserve(
            (line.item_id, line.warehouse_id),
            DemandSource.SALES_ORDER_LINE,
            line.id,
            line.quantity,
            allow_backorder=allow_backorder,
        )
    order.status = OrderStatus.CONFIRMED.value
    order.hold_reason = None
    session.flush()
    publish(
        session,
        type="sales_order.confirmed",
        document_type="sales_order",
        document_number=order.number,
        entity_id=order.entity_id,
        payload={
            "order": order.number,
            "customer": customer.code,
            "currency": order.currency,
            "total": round_money(sum((line.net_price * line.quantity for line in order.lines), Decimal(0))),
            "lines": len(order.lines),
            "units": sum(line.quantity for line in order.lines),
            "requested_date": order.requested_date,
        },
    )
    return order


# --- Change and cancel ---------------------------------------------------------------


def change_order_line(
    session: Session,
    actor: Actor,
    *,
    order_number: str | int,
    line_no: int,
    quantity: int | None = None,
    warehouse: str | None = None,
    requested_date: date | None = None,
    allow_backorder: bool = False,
) -> SalesOrderLine:
    """Change a line's quantity, warehouse or the order's requested date; reservations follow."""
    actor.require(Permission.SELL)
    order = get_order(session, actor, order_number=order_number, lock=True)
    if order.status not in (OrderStatus.DRAFT, OrderStatus.ON_HOLD, *OPEN_STATUSES):
        raise InvalidState(f"{order.number} is {order.status} and can no longer change")
    line = next((ln for ln in order.lines if ln.line_no == line_no), None)
    if line is None:
        raise InvalidInput(f"{order.number} has no line {line_no}; lines are {[ln.line_no for ln in order.lines]}")
    if quantity is None and warehouse is None and requested_date is None:
        raise InvalidInput("say what to change: quantity, warehouse or requested date")
    if requested_date is not None:
        if requested_date < clock.today():
            raise InvalidInput(f"requested date {requested_date} is in the past")
        order.requested_date = requested_date
    if warehouse is not None:
        _move_line(session, actor, order, line, warehouse, allow_backorder)
    if quantity is not None:
        _resize_line(session, actor, order, line, quantity, allow_backorder)
    session.flush()
    return line


def _move_line(
    session: Session,
    actor: Actor,
    order: SalesOrder,
    line: SalesOrderLine,
    code: str,
    allow_backorder: bool,
) -> None:
    if line.qty_shipped:
        raise InvalidState(f"line {line.line_no} of {order.number} has shipped; its warehouse is fixed")
    warehouses = _entity_warehouses(session, order.entity_id)
    target = next(
        (w for w in warehouses if code.strip().upper() in (w.code.upper(), w.city.upper())),
        None,
    )
    if target is None:
        raise InvalidInput(
            f"warehouse '{code}' does not ship for this order's entity; use {', '.join(w.code for w in warehouses)}"
        )
    if target.id == line.warehouse_id:
        return
    old_key, new_key = (line.item_id, line.warehouse_id), (line.item_id, target.id)
    line.warehouse_id = target.id
    if order.status != OrderStatus.CONFIRMED:
        return
    posting = _posting(session, actor, order, [old_key, new_key])
    claim = reservations_for(session, DemandSource.SALES_ORDER_LINE, [line.id])[line.id]
    wanted = claim.quantity + claim.backordered
    posting.release(claim)
    claim.warehouse_id = target.id
    posting.extend(claim, wanted, allow_backorder=allow_backorder)
    posting.allocate_backorders([old_key])


def _resize_line(
    session: Session,
    actor: Actor,
    order: SalesOrder,
    line: SalesOrderLine,
    quantity: int,
    allow_backorder: bool,
) -> None:
    check_quantity(quantity, "new quantity")
    if quantity < line.qty_shipped:
        raise InvalidInput(f"line {line.line_no} already shipped {line.qty_shipped}; the quantity cannot go below that")
    delta = quantity - line.quantity
    line.quantity = quantity
    if order.status not in OPEN_STATUSES or delta == 0:
        return
    key = (line.item_id, line.warehouse_id)
    posting = _posting(session, actor, order, [key])
    claim = reservations_for(session, DemandSource.SALES_ORDER_LINE, [line.id])[line.id]
    if delta > 0:
        posting.extend(claim, delta, allow_backorder=allow_backorder)
    else:
        posting.release(claim, -delta)
        posting.allocate_backorders([key])
    if all(ln.qty_shipped == ln.quantity for ln in order.lines):
        order.status = OrderStatus.INVOICED.value


def cancel_order(session: Session, actor: Actor, *, order_number: str | int) -> SalesOrder:
    """Cancel an order that has not shipped; its reservations go back (to waiting backorders first)."""
    actor.require(Permission.SELL)
    order = get_order(session, actor, order_number=order_number, lock=True)
    if order.status == OrderStatus.PARTIALLY_SHIPPED:
        raise InvalidState(f"{order.number} has partly shipped; reduce the open lines' quantities instead")
    if order.status not in (
        OrderStatus.DRAFT,
        OrderStatus.ON_HOLD,
        OrderStatus.CONFIRMED,
    ):
        raise InvalidState(f"{order.number} is {order.status} and cannot be cancelled")
    if order.status == OrderStatus.CONFIRMED:
        keys = _line_keys(order)
        posting = _posting(session, actor, order, keys)
        for claim in reservations_for(session, DemandSource.SALES_ORDER_LINE, [ln.id for ln in order.lines]).values():
            posting.release(claim)
        posting.allocate_backorders(keys)
    order.status = OrderStatus.CANCELLED.value
    session.flush()
    return order


# --- The order as a person reads it ----------------------------------------------------


@dataclass(frozen=True)
class LineView:
    line_no: int
    sku: str
    warehouse: str
    quantity: int
    reserved: int
    backordered: int
    shipped: int
    unit_price: Decimal
    price_source: str
    discount_pct: Decimal
    net_price: Decimal
    net_amount: Decimal
    margin: Decimal
    margin_pct: Decimal
    promise_date: date | None


@dataclass(frozen=True)
class OrderView:
    number: str
    status: str
    customer: str
    entity: str
    currency: str
    order_date: date
    requested_date: date
    hold_reason: str | None
    lines: list[LineView]
    shipments: list[str]
    invoices: list[str]
    charges: list[ChargeView] = field(default_factory=list)
    margin: OrderMargin | None = None  # the order's lines less absorbed charges

    @property
    def total(self) -> Decimal:
        return sum((line.net_amount for line in self.lines), Decimal(0))


def order_status(session: Session, actor: Actor, *, order_number: str | int) -> OrderView:
    """Everything about an order a person asks: lines, reservations, shipments, invoices, hold."""
    order = get_order(session, actor, order_number=order_number)
    customer = session.get(Customer, order.customer_id)
    assert customer is not None
    claims = reservations_for(session, DemandSource.SALES_ORDER_LINE, [ln.id for ln in order.lines])
    labels = _labels(session, order)
    lines = []
    for line in order.lines:
        claim = claims.get(line.id)
        amount, pct = margin(line.net_price, line.unit_cost, line.quantity)
        lines.append(
            LineView(
                line_no=line.line_no,
                sku=labels[(line.item_id, line.warehouse_id)][0],
                warehouse=labels[(line.item_id, line.warehouse_id)][1],
                quantity=line.quantity,
                reserved=claim.quantity if claim else 0,
                backordered=claim.backordered if claim else 0,
                shipped=line.qty_shipped,
                unit_price=line.unit_price,
                price_source=line.price_source,
                discount_pct=line.discount_pct,
                net_price=line.net_price,
                net_amount=line.net_amount,
                margin=amount,
                margin_pct=pct,
                promise_date=line.promise_date,
            )
        )
    shipments = [SHIPMENT.format(i) for i in session.scalars(select(Shipment.id).where(Shipment.order_id == order.id))]
    invoices = [INVOICE.format(i) for i in session.scalars(select(Invoice.id).where(Invoice.order_id == order.id))]
    charges = charges_of(session, order.id)
    return OrderView(
        number=order.number,
        status=order.status,
        customer=f"{customer.code} {customer.name}",
        entity=customer.entity.code,
        currency=order.currency,
        order_date=order.order_date,
        requested_date=order.requested_date,
        hold_reason=order.hold_reason,
        lines=lines,
        shipments=shipments,
        invoices=invoices,
        charges=[charge_view(c) for c in charges],
        margin=order_margin(order.lines, charges),
    )


__all__ = [
    "LineRequest",
    "cancel_order",
    "change_order_line",
    "confirm_order",
    "create_order",
    "first_held_order",
    "get_order",
    "get_order_line",
    "order_status",
    "override_line_price",
]


def override_line_price(
    session: Session, actor: Actor, *, order_number: str | int, line_no: int, unit_price: Decimal
) -> SalesOrderLine:
    """Set a negotiated price on a line that has not been invoiced (no discount on top of it)."""
    actor.require(Permission.SELL)
    price = Decimal(unit_price)
    if price < 0:
        raise InvalidInput(f"a price cannot be negative, got {price}")
    order = get_order(session, actor, order_number=order_number, lock=True)
    if order.status not in (OrderStatus.DRAFT, OrderStatus.ON_HOLD, *OPEN_STATUSES):
        raise InvalidState(f"{order.number} is {order.status}; its prices are final")
    line = next((ln for ln in order.lines if ln.line_no == line_no), None)
    if line is None:
        raise InvalidInput(f"{order.number} has no line {line_no}; lines are {[ln.line_no for ln in order.lines]}")
    if line.qty_invoiced:
        raise InvalidState(f"line {line_no} of {order.number} is already invoiced at {line.net_price}")
    line.unit_price = price
    line.discount_pct = Decimal(0)
    line.net_price = net_price(price, Decimal(0))
    line.price_source = PriceSource.OVERRIDE.value
    session.flush()
    return line
