"""Documents open in the previous system, taken over so they behave exactly as the core's own: open purchase
orders (dated incoming supply), open sales orders (confirmed and reserved, backordered where stock is short) and
open receivables (invoices still owed, which payments settle).

Orders are made by the core's own commands (`create_purchase_order`, `create_order`, `override_line_price`,
`confirm_order`), with their validation; an import is an administrator's setup act, so the write gate's policy
is not asked, and the load is audited instead. The few facts only the old system knows are set afterwards: its
document number (`external_ref`, the key a re-import finds the document by), dates already past (a late order
is late), and what a purchase order has already received (the opening stock holds those units, so nothing is
posted for them).

Loading again changes nothing. A document found with other figures is refused with the reason (it has had a life
here: change it with the core's commands), except an opening invoice nothing has been paid or credited on, whose
amount and dates are corrected.
"""

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import clock
from core.actor import Actor
from core.errors import CurrencyMismatch, ErpError, InvalidInput, NotFound
from core.finance.models import Invoice
from core.imports.opening import Change, Outcome, record_load, require_importer
from core.masterdata.models import Customer, Item, Supplier, Warehouse
from core.money import round_money, round_unit_price
from core.purchasing.models import PurchaseOrder, PurchaseOrderStatus
from core.purchasing.service import PurchaseLineRequest, create_purchase_order
from core.receivables.sums import ZERO, applied_by_invoice, credited_by_invoice
from core.sales.models import SalesOrder
from core.sales.service import LineRequest, confirm_order, create_order, override_line_price
from core.stock.models import SupplySource
from core.stock.service import check_quantity, incoming_for, open_posting
from core.text import require_storable

MAX_REF = 64
T = TypeVar("T")


# --- Shared ------------------------------------------------------------------------------------------------


def _get(session: Session, model: type[T], id_: int, kind: str) -> T:
    record = session.get(model, id_)
    if record is None:
        raise NotFound(kind, str(id_))
    return record


@contextmanager
def _about(ref: str) -> Iterator[None]:
    """A refusal names the document it is about (the old system's number), keeping its type."""
    try:
        yield
    except ErpError as error:
        error.message = f"{ref}: {error.message}"
        error.args = (error.message,)
        error.details.setdefault("external_ref", ref)
        raise


def _checked_refs(refs: Sequence[str], kind: str) -> None:
    seen: set[str] = set()
    for ref in refs:
        if not ref or not ref.strip() or len(ref) > MAX_REF:
            raise InvalidInput(f"each {kind} needs its number in the previous system (1 to {MAX_REF} characters)")
        require_storable(ref, f"the {kind} number")
        if ref in seen:
            raise InvalidInput(f"{kind} {ref} is given twice; give each document once")
        seen.add(ref)


def _skus(session: Session, item_ids: Sequence[int]) -> dict[int, str]:
    found: dict[int, str] = {
        i: sku for i, sku in session.execute(select(Item.id, Item.sku).where(Item.id.in_(set(item_ids))))
    }
    missing = sorted(set(item_ids) - set(found))
    if missing:
        raise NotFound("item", str(missing[0]))
    return found


def _load(
    session: Session,
    actor: Actor,
    kind: str,
    documents: Sequence[T],
    ref_of: Callable[[T], str],
    one: Callable[[T, Outcome[str]], None],
) -> Outcome[str]:
    require_importer(actor)
    _checked_refs([ref_of(d) for d in documents], kind.replace("_", " "))
    outcome: Outcome[str] = Outcome(kind)
    for document in documents:
        with _about(ref_of(document)):
            one(document, outcome)
    session.flush()
    record_load(session, actor, outcome)
    return outcome


# --- Open purchase orders ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OpenPurchaseLine:
    item_id: int
    quantity: int  # ordered
    received: int  # already received in the previous system: in its opening stock, not posted again
    unit_price: Decimal  # in the supplier's currency


@dataclass(frozen=True)
class OpenPurchaseOrder:
    external_ref: str
    supplier_id: int
    warehouse_id: int
    expected_date: date
    lines: Sequence[OpenPurchaseLine]
    order_date: date | None = None  # today if not given


def load_open_purchase_orders(session: Session, actor: Actor, orders: Sequence[OpenPurchaseOrder]) -> Outcome[str]:
    """Create each open purchase order (by the purchasing service: dated incoming supply for what is still to come)
    unless one with its number exists; returns per number what happened and the PO number."""
    return _load(
        session,
        actor,
        "open_purchase_orders",
        orders,
        lambda o: o.external_ref,
        lambda o, out: _purchase(session, actor, o, out),
    )


def _purchase(session: Session, actor: Actor, order: OpenPurchaseOrder, outcome: Outcome[str]) -> None:
    supplier = _get(session, Supplier, order.supplier_id, "supplier")
    warehouse = _get(session, Warehouse, order.warehouse_id, "warehouse")
    skus = _skus(session, [line.item_id for line in order.lines])
    _check_purchase_lines(order, skus)
    existing = session.scalars(
        select(PurchaseOrder).where(
            PurchaseOrder.entity_id == warehouse.entity_id, PurchaseOrder.external_ref == order.external_ref
        )
    ).first()
    if existing is not None:
        actor.require_entity(existing.entity_id, f"purchase order {existing.number}")
        _judge_existing(outcome, order.external_ref, existing.number, _purchase_differences(existing, order))
        return
    today = clock.today()
    created = create_purchase_order(
        session,
        actor,
        supplier=supplier.code,
        warehouse=warehouse.code,
        lines=[
            PurchaseLineRequest(skus[ln.item_id], ln.quantity, round_unit_price(Decimal(ln.unit_price)))
            for ln in order.lines
        ],
        expected_date=max(order.expected_date, today),
    )
    created.external_ref = order.external_ref
    created.order_date = _not_after_today(order.order_date or today, "order date")
    _keep_past_expected_date(session, created, order.expected_date)
    _count_as_received(session, actor, created, order)
    outcome.note(order.external_ref, Change.CREATED)
    outcome.numbers[order.external_ref] = created.number


def _check_purchase_lines(order: OpenPurchaseOrder, skus: dict[int, str]) -> None:
    if not order.lines:
        raise InvalidInput("a purchase order needs at least one line")
    for line in order.lines:
        sku = skus[line.item_id]
        check_quantity(line.quantity, f"quantity of {sku}")
        if isinstance(line.received, bool) or not isinstance(line.received, int) or line.received < 0:
            raise InvalidInput(f"quantity received of {sku} must be 0 or a whole number of units, got {line.received}")
        if line.received > line.quantity:
            raise InvalidInput(
                f"{line.received} of {sku} received is more than the {line.quantity} ordered; "
                "load the order with what is still to come"
            )
        if not Decimal(line.unit_price).is_finite() or Decimal(line.unit_price) < 0:
            raise InvalidInput(f"unit price of {sku} must be a number of 0 or more, got {line.unit_price}")
    if all(line.received == line.quantity for line in order.lines):
        raise InvalidInput("every line is fully received: the order is not open; leave it out of the open orders")


def _not_after_today(day: date, what: str) -> date:
    if day > clock.today():
        raise InvalidInput(f"{what} {day} is in the future; today is {clock.today()}")
    return day


def _keep_past_expected_date(session: Session, order: PurchaseOrder, expected: date) -> None:
    """An order the old system expected before today is late here too: its supply counts from that date."""
    if expected >= order.expected_date:
        return
    order.expected_date = expected
    for supply in incoming_for(session, SupplySource.PURCHASE_ORDER_LINE, [ln.id for ln in order.lines]).values():
        supply.due_date = expected


def _count_as_received(session: Session, actor: Actor, order: PurchaseOrder, source: OpenPurchaseOrder) -> None:
    """What arrived before the move is in the opening stock: it stops being incoming, with no ledger receipt."""
    if not any(line.received for line in source.lines):
        return
    keys = [(ln.item_id, order.warehouse_id) for ln in order.lines]
    posting = open_posting(session, actor, keys, "purchase_order", order.id)
    supply = incoming_for(session, SupplySource.PURCHASE_ORDER_LINE, [ln.id for ln in order.lines])
    for line, wanted in zip(order.lines, source.lines, strict=True):
        if wanted.received:
            line.qty_received = wanted.received
            posting.reduce_incoming(supply[line.id], wanted.received)
    order.status = PurchaseOrderStatus.PARTIALLY_RECEIVED.value
    session.flush()


def _purchase_differences(existing: PurchaseOrder, order: OpenPurchaseOrder) -> list[str]:
    had = [(ln.item_id, ln.quantity) for ln in existing.lines]
    wanted = [(ln.item_id, ln.quantity) for ln in order.lines]
    differences = []
    if (existing.supplier_id, existing.warehouse_id) != (order.supplier_id, order.warehouse_id):
        differences.append("supplier or warehouse")
    if had != wanted:
        differences.append("lines")
    return differences


def _judge_existing(outcome: Outcome[str], ref: str, number: str, differences: list[str]) -> None:
    outcome.numbers[ref] = number
    if not differences:
        outcome.note(ref, Change.UNCHANGED)
        return
    outcome.note(
        ref,
        Change.REFUSED,
        f"already loaded as {number} with other {' and '.join(differences)}; it lives here now: change it with "
        f"the product's own commands, not by importing it again",
    )


# --- Open sales orders ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OpenSalesLine:
    item_id: int
    quantity: int  # still to ship
    unit_price: Decimal | None = None  # the customer's price (contract, price list, list price) if not given
    warehouse_id: int | None = None  # where this line ships from, if not the order's warehouse


@dataclass(frozen=True)
class OpenSalesOrder:
    external_ref: str
    customer_id: int
    warehouse_id: int
    order_date: date
    requested_date: date
    lines: Sequence[OpenSalesLine]
    customer_reference: str = ""


def load_open_sales_orders(session: Session, actor: Actor, orders: Sequence[OpenSalesOrder]) -> Outcome[str]:
    """Create and confirm each open sales order as the core does (priced, reserved, backordered where stock is
    short, held if the customer is on credit hold) unless one with its number exists."""
    return _load(
        session,
        actor,
        "open_sales_orders",
        orders,
        lambda o: o.external_ref,
        lambda o, out: _sale(session, actor, o, out),
    )


def _sale(session: Session, actor: Actor, order: OpenSalesOrder, outcome: Outcome[str]) -> None:
    customer = _get(session, Customer, order.customer_id, "customer")
    warehouse = _get(session, Warehouse, order.warehouse_id, "warehouse")
    skus = _skus(session, [line.item_id for line in order.lines])
    existing = session.scalars(
        select(SalesOrder).where(
            SalesOrder.entity_id == customer.entity_id, SalesOrder.external_ref == order.external_ref
        )
    ).first()
    if existing is not None:
        actor.require_entity(existing.entity_id, f"sales order {existing.number}")
        _judge_existing(outcome, order.external_ref, existing.number, _sale_differences(existing, order))
        return
    today = clock.today()
    order_date = _not_after_today(order.order_date, "order date")
    if order.requested_date < order_date:
        raise InvalidInput(f"requested date {order.requested_date} is before the order date {order_date}")
    created = create_order(
        session,
        actor,
        customer=customer.code,
        lines=[
            LineRequest(skus[ln.item_id], ln.quantity, warehouse=_line_warehouse(session, ln, warehouse))
            for ln in order.lines
        ],
        requested_date=max(order.requested_date, today),
        customer_reference=order.customer_reference,
    )
    for line_no, line in enumerate(order.lines, start=1):
        if line.unit_price is not None:
            override_line_price(session, actor, order_number=created.id, line_no=line_no, unit_price=line.unit_price)
    confirm_order(session, actor, order_number=created.id, allow_backorder=True)
    created.external_ref = order.external_ref
    created.order_date = order_date
    created.requested_date = order.requested_date
    outcome.note(order.external_ref, Change.CREATED)
    outcome.numbers[order.external_ref] = created.number


def _line_warehouse(session: Session, line: OpenSalesLine, order_warehouse: Warehouse) -> str:
    if line.warehouse_id is None or line.warehouse_id == order_warehouse.id:
        return order_warehouse.code
    return _get(session, Warehouse, line.warehouse_id, "warehouse").code


def _sale_differences(existing: SalesOrder, order: OpenSalesOrder) -> list[str]:
    differences = []
    if existing.customer_id != order.customer_id:
        differences.append("customer")
    had = [(ln.item_id, ln.warehouse_id, ln.quantity) for ln in existing.lines]
    if had != [(ln.item_id, ln.warehouse_id or order.warehouse_id, ln.quantity) for ln in order.lines]:
        differences.append("lines")
    return differences


# --- Open receivables ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OpenInvoice:
    external_ref: str  # the invoice's number in the previous system
    customer_id: int
    issued_on: date
    due_on: date
    amount: Decimal  # still open, in the customer's entity currency
    currency: str


def load_open_invoices(session: Session, actor: Actor, invoices: Sequence[OpenInvoice]) -> Outcome[str]:
    """Record each invoice still open in the previous system as an opening invoice of its customer: owed, aged,
    in credit exposure, DSO and collections, and settled by payments like any other."""
    return _load(
        session,
        actor,
        "open_invoices",
        invoices,
        lambda i: i.external_ref,
        lambda i, out: _invoice(session, actor, i, out),
    )


def _invoice(session: Session, actor: Actor, source: OpenInvoice, outcome: Outcome[str]) -> None:
    customer = _get(session, Customer, source.customer_id, "customer")
    actor.require_entity(customer.entity_id, f"customer {customer.code}")
    currency = customer.entity.base_currency
    if source.currency.strip().upper() != currency:
        raise CurrencyMismatch(
            f"{customer.code} is invoiced in {currency} ({customer.entity.code}); give the open amount in {currency}, "
            f"not in {source.currency.strip().upper()}"
        )
    amount = round_money(Decimal(source.amount))
    if amount <= 0:
        raise InvalidInput(f"the open amount must be positive, got {amount}; leave paid invoices out")
    _not_after_today(source.issued_on, "invoice date")
    if source.due_on < source.issued_on:
        raise InvalidInput(f"due date {source.due_on} is before the invoice date {source.issued_on}")
    existing = session.scalars(
        select(Invoice).where(Invoice.entity_id == customer.entity_id, Invoice.external_ref == source.external_ref)
    ).first()
    if existing is None:
        invoice = Invoice(
            entity_id=customer.entity_id,
            customer_id=customer.id,
            currency=currency,
            amount=amount,
            cost=ZERO,
            issued_on=source.issued_on,
            due_on=source.due_on,
            external_ref=source.external_ref,
        )
        session.add(invoice)
        session.flush()
        outcome.note(source.external_ref, Change.CREATED)
        outcome.numbers[source.external_ref] = invoice.number
        return
    outcome.numbers[source.external_ref] = existing.number
    _update_invoice(session, existing, source, amount, outcome)


def _update_invoice(
    session: Session, invoice: Invoice, source: OpenInvoice, amount: Decimal, outcome: Outcome[str]
) -> None:
    """Same figures: unchanged. Other figures on an invoice nothing has settled yet: corrected. Else refused."""
    wanted = (source.customer_id, amount, source.issued_on, source.due_on)
    if (invoice.customer_id, round_money(invoice.amount), invoice.issued_on, invoice.due_on) == wanted:
        outcome.note(source.external_ref, Change.UNCHANGED)
        return
    if invoice.shipment_id is not None or invoice.customer_id != source.customer_id:
        outcome.note(source.external_ref, Change.REFUSED, f"{invoice.number} is another customer's or document's")
        return
    settled = applied_by_invoice(session, [invoice.id]).get(invoice.id, ZERO) + credited_by_invoice(
        session, [invoice.id]
    ).get(invoice.id, ZERO)
    if settled > 0:
        outcome.note(
            source.external_ref,
            Change.REFUSED,
            f"{invoice.number} has {settled} {invoice.currency} paid or credited here since it was loaded; "
            "correct it with a payment, a reversal or a credit note",
        )
        return
    invoice.amount, invoice.issued_on, invoice.due_on = amount, source.issued_on, source.due_on
    outcome.note(source.external_ref, Change.UPDATED)


__all__ = [
    "OpenInvoice",
    "OpenPurchaseLine",
    "OpenPurchaseOrder",
    "OpenSalesLine",
    "OpenSalesOrder",
    "load_open_invoices",
    "load_open_purchase_orders",
    "load_open_sales_orders",
]
