"""Purchase-order commands: create (dated incoming supply), receive into stock, cancel."""

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy.orm import Session

from core import clock
from core.actor import Actor, Permission
from core.documents import load_document
from core.errors import InvalidInput, InvalidState
from core.masterdata.models import LegalEntity
from core.masterdata.service import (
    convert,
    exchange_rate,
    get_items,
    get_supplier,
    get_warehouse_in_scope,
    item_skus,
    require_active,
    warehouse_codes,
)
from core.numbering import PURCHASE_ORDER
from core.outbox.service import publish
from core.purchasing.models import PurchaseOrder, PurchaseOrderLine, PurchaseOrderStatus
from core.sales.pricing import GROUP_CURRENCY, round_percent
from core.stock.models import Bucket, IncomingSupply, Movement, SupplySource
from core.stock.service import Posting, check_quantity, incoming_for, open_posting


@dataclass(frozen=True)
class PurchaseLineRequest:
    sku: str
    quantity: int
    unit_cost: Decimal | None = None  # supplier currency; standard cost if not given


def create_purchase_order(
    session: Session,
    actor: Actor,
    *,
    supplier: str,
    warehouse: str,
    lines: Sequence[PurchaseLineRequest],
    expected_date: date | None = None,
) -> PurchaseOrder:
    """Order from a supplier into a warehouse of the supplier's entity; lines become dated incoming."""
    actor.require(Permission.BUY)
    if not lines:
        raise InvalidInput("a purchase order needs at least one line")
    for request in lines:
        check_quantity(request.quantity, f"quantity of {request.sku}")
        if request.unit_cost is not None and Decimal(request.unit_cost) < 0:
            raise InvalidInput(f"unit cost of {request.sku} cannot be negative")
    vendor = get_supplier(session, code=supplier, suggest_for=actor)
    wh = get_warehouse_in_scope(session, actor, code=warehouse)
    if vendor.entity_id != wh.entity_id:
        raise InvalidInput(
            f"supplier {vendor.code} supplies {_entity_code(session, vendor.entity_id)}, "
            f"but warehouse {wh.code} belongs to {wh.entity.code}"
        )
    today = clock.today()
    expected = expected_date or today + timedelta(days=vendor.lead_time_days)
    if expected < today:
        raise InvalidInput(f"expected date {expected} is in the past")
    items = get_items(session, skus=[request.sku for request in lines])
    require_active(session, list(items.values()), "bought")
    rate = exchange_rate(session, from_currency=GROUP_CURRENCY, to_currency=vendor.currency, on=today)
    order = PurchaseOrder(
        entity_id=wh.entity_id,
        supplier_id=vendor.id,
        warehouse_id=wh.id,
        currency=vendor.currency,
        status=PurchaseOrderStatus.OPEN.value,
        order_date=today,
        expected_date=expected,
        created_by=actor.user_id,
        created_at=clock.now(),
    )
    for request in lines:
        item = items[request.sku]
        cost = (
            Decimal(request.unit_cost) if request.unit_cost is not None else convert(Decimal(item.standard_cost), rate)
        )
        order.lines.append(PurchaseOrderLine(item_id=item.id, quantity=request.quantity, unit_cost=cost))
    session.add(order)
    session.flush()
    posting = open_posting(
        session,
        actor,
        [(ln.item_id, wh.id) for ln in order.lines],
        "purchase_order",
        order.id,
    )
    for line in order.lines:
        posting.add_incoming(
            (line.item_id, wh.id),
            SupplySource.PURCHASE_ORDER_LINE,
            line.id,
            line.quantity,
            expected,
        )
    session.flush()
    return order


def _entity_code(session: Session, entity_id: int) -> str:
    entity = session.get(LegalEntity, entity_id)
    return entity.code if entity else str(entity_id)


def get_purchase_order(session: Session, actor: Actor, *, po_number: str | int, lock: bool = False) -> PurchaseOrder:
    """The purchase order with its lines, if its entity is in scope."""
    order = load_document(session, PurchaseOrder, po_number, kind=PURCHASE_ORDER, lock=lock, lines=PurchaseOrder.lines)
    actor.require_entity(order.entity_id, f"purchase order {order.number}")
    return order


def receive_purchase_order(
    session: Session,
    actor: Actor,
    *,
    po_number: str | int,
    quantities: dict[str, int] | None = None,
    allow_over_receipt: bool = False,
    close_short: bool = False,
) -> PurchaseOrder:
    """Receive goods (all that is open, or `quantities` by SKU) into stock; backorders there get them first.

    More than is open is refused unless `allow_over_receipt` (the receipt draft's gate judged the variance);
    `close_short` closes the order after this receipt, so what did not arrive is no longer incoming.
    """
    actor.require(Permission.RECEIVE)
    order = get_purchase_order(session, actor, po_number=po_number, lock=True)
    if order.status not in RECEIVABLE:
        raise InvalidState(f"{order.number} is {order.status}; nothing more can be received against it")
    plan = _receipt_plan(session, order, quantities, allow_over_receipt=allow_over_receipt)
    keys = [(ln.item_id, order.warehouse_id) for ln in order.lines]
    posting = open_posting(session, actor, keys, "purchase_order", order.id)
    supply = incoming_for(session, SupplySource.PURCHASE_ORDER_LINE, [ln.id for ln in order.lines])
    for line, quantity in plan:
        posting.move((line.item_id, order.warehouse_id), Bucket.ON_HAND, Movement.RECEIPT, quantity)
        _reduce_supply(posting, supply.get(line.id), quantity)
        line.qty_received += quantity
    if close_short:
        for line in order.lines:
            _reduce_supply(posting, supply.get(line.id), line.open_quantity)
    posting.allocate_backorders(keys)
    order.status = _status_after_receipt(order, closed=close_short).value
    session.flush()
    _publish_received(session, order, plan)
    return order


def _publish_received(session: Session, order: PurchaseOrder, plan: list[tuple[PurchaseOrderLine, int]]) -> None:
    skus = item_skus(session, item_ids=[line.item_id for line, _ in plan])
    publish(
        session,
        type="purchase_order.received",
        document_type="purchase_order",
        document_number=order.number,
        entity_id=order.entity_id,
        payload={
            "purchase_order": order.number,
            "warehouse": warehouse_codes(session, warehouse_ids=[order.warehouse_id]).get(order.warehouse_id),
            "received": [{"sku": skus.get(line.item_id), "quantity": qty} for line, qty in plan],
            "status": order.status,
        },
    )


RECEIVABLE = (PurchaseOrderStatus.OPEN, PurchaseOrderStatus.PARTIALLY_RECEIVED)


def _reduce_supply(posting: Posting, supply: IncomingSupply | None, quantity: int) -> None:
    """Arrived (or will never arrive): no longer incoming; an over-receipt takes only what was still due."""
    if supply is not None and min(quantity, supply.quantity) > 0:
        posting.reduce_incoming(supply, min(quantity, supply.quantity))


def _status_after_receipt(order: PurchaseOrder, *, closed: bool) -> PurchaseOrderStatus:
    if all(ln.open_quantity == 0 for ln in order.lines):
        return PurchaseOrderStatus.RECEIVED
    return PurchaseOrderStatus.CLOSED if closed else PurchaseOrderStatus.PARTIALLY_RECEIVED


@dataclass(frozen=True)
class ReceiptVariance:
    """How far a receipt strays from the order, line by line: the largest over- and under-receipt in percent."""

    over_pct: Decimal
    under_pct: Decimal
    lines: list[str]  # "V-200: 55 received of 50 ordered (+10.0%)"


def receipt_variance(
    session: Session, order: PurchaseOrder, *, closed: bool, received: Collection[int] | None = None
) -> ReceiptVariance:
    """Over-receipt on the lines just received (`received` line ids; all lines by default), under-receipt only where
    the order is closed short (else the rest stays due): an over-receipt approved once is not judged again."""
    skus = item_skus(session, item_ids=[ln.item_id for ln in order.lines])
    over, under, lines = Decimal(0), Decimal(0), []
    for line in order.lines:
        gap = line.qty_received - line.quantity
        judged = (gap > 0 and (received is None or line.id in received)) or (gap < 0 and closed)
        if not judged:
            continue
        pct = round_percent(Decimal(abs(gap)) * 100 / line.quantity)
        over, under = (max(over, pct), under) if gap > 0 else (over, max(under, pct))
        sign = "+" if gap > 0 else "-"
        lines.append(f"{skus[line.item_id]}: {line.qty_received} received of {line.quantity} ordered ({sign}{pct}%)")
    return ReceiptVariance(over_pct=over, under_pct=under, lines=lines)


def _receipt_plan(
    session: Session, order: PurchaseOrder, quantities: dict[str, int] | None, *, allow_over_receipt: bool
) -> list[tuple[PurchaseOrderLine, int]]:
    if quantities is None:
        return [(ln, ln.open_quantity) for ln in order.lines if ln.open_quantity > 0]
    if not quantities:
        raise InvalidInput("name at least one SKU to receive")
    items = get_items(session, skus=list(quantities))
    plan = []
    for sku, quantity in quantities.items():
        check_quantity(quantity, f"quantity of {sku} received")
        item = items[sku]
        lines = [ln for ln in order.lines if ln.item_id == item.id]
        if not lines:
            raise InvalidInput(f"{order.number} has no line for {item.sku}")
        line = next((ln for ln in lines if ln.open_quantity > 0), lines[-1])
        if quantity > line.open_quantity and not allow_over_receipt:
            raise InvalidInput(
                f"cannot receive {quantity} {item.sku} on {order.number}: only {line.open_quantity} still open; "
                "receiving more is an over-receipt, which needs a receipt draft the policy lets through"
            )
        plan.append((line, quantity))
    return plan


def cancel_purchase_order(session: Session, actor: Actor, *, po_number: str | int) -> PurchaseOrder:
    """Cancel a purchase order nothing has been received against; its incoming supply disappears."""
    actor.require(Permission.BUY)
    order = get_purchase_order(session, actor, po_number=po_number, lock=True)
    if order.status != PurchaseOrderStatus.OPEN:
        raise InvalidState(f"{order.number} is {order.status}; only an open, unreceived order can be cancelled")
    keys = [(ln.item_id, order.warehouse_id) for ln in order.lines]
    posting = open_posting(session, actor, keys, "purchase_order", order.id)
    for supply in incoming_for(session, SupplySource.PURCHASE_ORDER_LINE, [ln.id for ln in order.lines]).values():
        posting.reduce_incoming(supply, supply.quantity)
    order.status = PurchaseOrderStatus.CANCELLED.value
    session.flush()
    return order
