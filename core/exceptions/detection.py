"""`detect_exceptions`: one deterministic pass over the current state that raises each case once.

Each rule is one or two set-based queries. A rule's query already leaves out what has a case
(NOT EXISTS on the unique dedup key), so a repeated pass reads little and raises nothing; a
resolved or dismissed case keeps its key, so it is never raised again.

Credit holds and shortages come back: their cases are keyed to the episode. The first episode of a
condition ("credit_hold:customer:42") has the condition as its key, the n-th "...#n". A rule raises a
case when the condition holds and no episode of it is running; the pass first ends the episodes whose
condition is gone (hold released; line reserved, shipped or cancelled), resolving their open cases
with a note. A case a person dismissed mid-episode stays dismissed until the episode ends.

- shortage: a line of a confirmed or partly shipped order with a backorder, or promised later
  than the requested date while part of it is not reserved (a stale promise date on a line whose
  open quantity is fully reserved is not a shortage: it can ship now). High within 3 days.
- credit_hold: a customer on credit hold with at least one order on hold. One case per hold.
- price_deviation: an open line (draft, on hold, confirmed, partly shipped; not fully shipped)
  whose net price is below its unit cost (high) or whose discount is above 20% (medium).
- late_supplier: an open or partly received purchase order past its expected date. High when
  customers' backorders wait for it or it is more than 7 days late.
- invoice_mismatch: a supplier invoice on payment hold without its case (booking raises it at once; this
  catches invoices loaded in bulk). Medium, for the buyer.
- overdue_receivables: a customer with more than the limit open over 90 days past due is put on credit hold
  (core/exceptions/overdue.py).
- approval_overdue is raised by the approvals module through `raise_case`, not here.
"""

from collections.abc import Callable, Collection
from datetime import date, timedelta
from decimal import ROUND_DOWN, Decimal
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    and_,
    cast,
    exists,
    func,
    literal,
    null,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy.orm import InstrumentedAttribute, Session, selectinload

from core import clock
from core.exceptions.models import ExceptionCase, ExceptionType, Severity
from core.exceptions.overdue import detect_overdue_holds
from core.exceptions.routing import load_routing
from core.exceptions.service import (
    NewCase,
    cases_by_id,
    chunks,
    end_episodes,
    episode_key,
    next_episodes,
    raise_new,
)
from core.exceptions.suggestions import ShortLine, short_line_query, short_lines, suggest_for
from core.finance.service import open_order_value, open_receivables
from core.masterdata.models import Customer, Item, LegalEntity, Supplier, Warehouse
from core.money import format_money, round_money
from core.numbering import PURCHASE_ORDER, SALES_ORDER
from core.payables.matching import case_key, mismatch_case_of
from core.payables.models import InvoiceStatus, SupplierInvoice
from core.purchasing.models import PurchaseOrder, PurchaseOrderLine, PurchaseOrderStatus
from core.sales.models import OrderStatus, SalesOrder, SalesOrderLine
from core.stock.models import DemandSource, Reservation

URGENT_DAYS = 3
MAX_DISCOUNT_PCT = Decimal(20)
VERY_LATE_DAYS = 7
SHIPPING_STATUSES = (OrderStatus.CONFIRMED.value, OrderStatus.PARTIALLY_SHIPPED.value)
OPEN_ORDER_STATUSES = (OrderStatus.DRAFT.value, OrderStatus.ON_HOLD.value, *SHIPPING_STATUSES)
OPEN_PO_STATUSES = (PurchaseOrderStatus.OPEN.value, PurchaseOrderStatus.PARTIALLY_RECEIVED.value)

Scope = frozenset[int] | None


def dedup_key(case_type: ExceptionType, record: str, record_id: int) -> str:
    """The idempotency key of a case about one record, e.g. "shortage:sales_order_line:123"."""
    return f"{case_type.value}:{record}:{record_id}"


def _key_prefix(case_type: ExceptionType, record: str) -> str:
    return f"{case_type.value}:{record}:"


def _not_raised(case_type: ExceptionType, record: str, record_id: InstrumentedAttribute[int]) -> ColumnElement[bool]:
    """No case has been raised (ever) for this record: an index look-up on the unique key."""
    key = literal(_key_prefix(case_type, record), String) + cast(record_id, String)
    return ~exists().where(ExceptionCase.dedup_key == key)


def _condition(case_type: ExceptionType, record: str, record_id: InstrumentedAttribute[int]) -> ColumnElement[str]:
    return literal(_key_prefix(case_type, record), String) + cast(record_id, String)


def _no_running_episode(
    case_type: ExceptionType, record: str, record_id: InstrumentedAttribute[int]
) -> ColumnElement[bool]:
    """No episode of this record's condition is running (never raised, or every episode has ended)."""
    return ~exists().where(
        ExceptionCase.condition_key == _condition(case_type, record, record_id), ExceptionCase.ended_at.is_(None)
    )


def _in_scope(column: InstrumentedAttribute[int], scope: Scope) -> ColumnElement[bool]:
    return true() if scope is None else column.in_(scope)


def detect_exceptions(session: Session, *, entity_ids: Collection[int] | None = None) -> list[ExceptionCase]:
    """Raise every case the current state calls for and has not had yet (in `entity_ids`, or all); returns them."""
    rules = load_routing()
    scope: Scope = None if entity_ids is None else frozenset(entity_ids)
    end_episodes(session, ended_episodes(session, scope))
    found = [case for detector in DETECTORS for case in detector(session, scope)]
    return raise_new(session, found, rules)


# --- shortage -------------------------------------------------------------------------------------


def _is_short() -> ColumnElement[bool]:
    """A line of an order being shipped with open quantity that is backordered, or promised late and not all reserved
    (over `short_line_query`'s joins)."""
    open_quantity = SalesOrderLine.quantity - SalesOrderLine.qty_shipped
    reserved = func.coalesce(Reservation.quantity, 0)
    return and_(
        SalesOrder.status.in_(SHIPPING_STATUSES),
        open_quantity > 0,
        or_(
            Reservation.backordered > 0,
            and_(SalesOrderLine.promise_date > SalesOrder.requested_date, open_quantity > reserved),
        ),
    )


def detect_shortages(session: Session, scope: Scope) -> list[NewCase]:
    """Order lines that cannot be promised by their requested date."""
    query = short_line_query().where(
        _is_short(),
        _in_scope(SalesOrder.entity_id, scope),
        _no_running_episode(ExceptionType.SHORTAGE, "sales_order_line", SalesOrderLine.id),
    )
    lines = short_lines(session, query)
    if not lines:
        return []
    suggestions = suggest_for(session, lines)
    episodes = next_episodes(
        session, [dedup_key(ExceptionType.SHORTAGE, "sales_order_line", ln.line_id) for ln in lines]
    )
    today = clock.today()
    return [_shortage_case(line, suggestions[line.line_id], today, episodes) for line in lines]


def _ended_shortages(scope: Scope) -> Select[*tuple[Any, ...]]:
    """Running shortage episodes whose line is no longer short (reserved in full, shipped, or its order closed):
    (case id, order id, line no, order status, customer code: none)."""
    condition = _condition(ExceptionType.SHORTAGE, "sales_order_line", SalesOrderLine.id)
    still_short = short_line_query().with_only_columns(condition).where(_is_short()).order_by(None)
    return (
        select(
            ExceptionCase.id,
            SalesOrderLine.order_id,
            SalesOrderLine.line_no,
            SalesOrder.status,
            null().label("customer"),
        )
        .join(SalesOrderLine, ExceptionCase.condition_key == condition)
        .join(SalesOrder, SalesOrder.id == SalesOrderLine.order_id)
        .where(
            ExceptionCase.type == ExceptionType.SHORTAGE.value,
            ExceptionCase.ended_at.is_(None),
            ExceptionCase.condition_key.not_in(still_short),
            _in_scope(SalesOrder.entity_id, scope),
        )
    )


def _ended_credit_holds(scope: Scope) -> Select[*tuple[Any, ...]]:
    """Running credit-hold episodes whose customer is off hold now: (case id, none, none, none, customer code)."""
    return (
        select(ExceptionCase.id, null(), null(), null(), Customer.code)
        .join(Customer, ExceptionCase.condition_key == _condition(ExceptionType.CREDIT_HOLD, "customer", Customer.id))
        .where(
            ExceptionCase.type == ExceptionType.CREDIT_HOLD.value,
            ExceptionCase.ended_at.is_(None),
            Customer.on_credit_hold.is_(False),
            _in_scope(Customer.entity_id, scope),
        )
    )


def ended_episodes(session: Session, scope: Scope) -> list[tuple[ExceptionCase, str]]:
    """Running episodes (shortage, credit hold) whose condition is gone, each with the note that closes it: one
    statement when none has ended, so a repeated pass stays cheap."""
    rows = session.execute(union_all(_ended_shortages(scope), _ended_credit_holds(scope))).all()
    if not rows:
        return []
    cases = {c.id: c for batch in chunks(sorted(r[0] for r in rows)) for c in session.scalars(cases_by_id(batch))}
    ended = []
    for case_id, order_id, line_no, status, customer in sorted(rows, key=lambda r: r[0]):
        if customer is not None:
            note = f"Credit hold over: {customer} is no longer on credit hold; the case closes with it."
        else:
            note = _shortage_over(SALES_ORDER.format(order_id), line_no, status)
        ended.append((cases[case_id], note))
    return ended


def _shortage_over(order: str, line_no: int, status: str) -> str:
    if status in SHIPPING_STATUSES:
        return f"Shortage over: {order} line {line_no} is reserved in full or shipped now; the case closes with it."
    return f"Shortage over: {order} is {status.replace('_', ' ')}, so line {line_no} no longer waits for stock."


def _shortage_case(
    line: ShortLine, suggestions: list[dict[str, Any]], today: date, episodes: dict[str, int]
) -> NewCase:
    condition = dedup_key(ExceptionType.SHORTAGE, "sales_order_line", line.line_id)
    promised = f"promised {line.promise_date}" if line.promise_date else "no promise date (no known supply covered it)"
    return NewCase(
        type=ExceptionType.SHORTAGE,
        entity_id=line.entity_id,
        dedup_key=episode_key(condition, episodes[condition]),
        condition_key=condition,
        severity=Severity.HIGH if line.requested_date <= today + timedelta(days=URGENT_DAYS) else Severity.MEDIUM,
        title=f"{line.order_number} line {line.line_no}: {line.short} {line.sku} short at {line.warehouse} "
        f"for {line.customer}",
        detail=(
            f"{line.customer} wants {line.open_quantity} {line.sku} from {line.warehouse} by {line.requested_date}; "
            f"{line.reserved} reserved, {line.backordered} backordered; {promised}."
        ),
        related={
            **line.identity(),
            "open_quantity": line.open_quantity,
            "reserved": line.reserved,
            "backordered": line.backordered,
            "short": line.short,
            "requested_date": line.requested_date.isoformat(),
            "promise_date": line.promise_date.isoformat() if line.promise_date else None,
        },
        suggestions=suggestions,
    )


# --- credit_hold ----------------------------------------------------------------------------------


def detect_credit_holds(session: Session, scope: Scope) -> list[NewCase]:
    """Customers on credit hold with orders waiting on the hold."""
    held = session.execute(
        select(
            Customer.id,
            Customer.code,
            Customer.name,
            Customer.entity_id,
            Customer.credit_limit,
            Customer.credit_hold_reason,
            LegalEntity.base_currency,
            SalesOrder.id.label("order_id"),
            SalesOrder.requested_date,
        )
        .join(SalesOrder, SalesOrder.customer_id == Customer.id)
        .join(LegalEntity, LegalEntity.id == Customer.entity_id)
        .where(
            Customer.on_credit_hold.is_(True),
            SalesOrder.status == OrderStatus.ON_HOLD.value,
            _in_scope(Customer.entity_id, scope),
            _no_running_episode(ExceptionType.CREDIT_HOLD, "customer", Customer.id),
        )
        .order_by(Customer.id, SalesOrder.id)
    ).all()
    if not held:
        return []
    values = _order_values(session, [row.order_id for row in held])
    by_customer: dict[int, list[Any]] = {}
    for row in held:
        by_customer.setdefault(row.id, []).append(row)
    episodes = next_episodes(session, [dedup_key(ExceptionType.CREDIT_HOLD, "customer", c) for c in by_customer])
    today = clock.today()
    return [_credit_case(session, rows, values, today, episodes) for rows in by_customer.values()]


def _order_values(session: Session, order_ids: list[int]) -> dict[int, Decimal]:
    values: dict[int, Decimal] = {}
    for batch in chunks(order_ids):
        for order_id, value in session.execute(
            select(SalesOrderLine.order_id, func.sum(SalesOrderLine.quantity * SalesOrderLine.net_price))
            .where(SalesOrderLine.order_id.in_(batch))
            .group_by(SalesOrderLine.order_id)
        ):
            values[order_id] = round_money(value)
    return values


def _credit_case(
    session: Session, rows: list[Any], values: dict[int, Decimal], today: date, episodes: dict[str, int]
) -> NewCase:
    first = rows[0]
    condition = dedup_key(ExceptionType.CREDIT_HOLD, "customer", first.id)
    orders = [SALES_ORDER.format(row.order_id) for row in rows]
    held_value = sum((values.get(row.order_id, Decimal(0)) for row in rows), Decimal(0))
    urgent = any(row.requested_date <= today + timedelta(days=URGENT_DAYS) for row in rows)
    ccy = first.base_currency
    return NewCase(
        type=ExceptionType.CREDIT_HOLD,
        entity_id=first.entity_id,
        dedup_key=episode_key(condition, episodes[condition]),
        condition_key=condition,
        severity=Severity.HIGH if urgent else Severity.MEDIUM,
        title=f"{first.code} on credit hold: {len(orders)} order(s) worth {format_money(held_value, ccy)} held",
        detail=(
            f"{first.name} ({first.code}) is on credit hold ({first.credit_hold_reason or 'no reason given'}); "
            f"held: {', '.join(orders)}."
        ),
        related={
            "customer": first.code,
            "sales_orders": orders,
            "held_value": str(held_value),
            "currency": ccy,
            "hold_reason": first.credit_hold_reason,
        },
        suggestions=[_credit_status(session, first, held_value)],
    )


def _credit_status(session: Session, customer: Any, held_value: Decimal) -> dict[str, Any]:
    """Exposure against the limit; read per customer, and only for a new case (holds are few)."""
    receivables = open_receivables(session, customer.id)
    orders = open_order_value(session, customer.id)
    exposure = receivables + orders
    limit = round_money(customer.credit_limit)
    after = exposure + held_value
    ccy = customer.base_currency
    used = f"{(after / limit * 100).quantize(Decimal(1))}% of it" if limit > 0 else "no limit set"
    return {
        "kind": "credit_status",
        "text": (
            f"exposure {exposure} {ccy} (receivables {receivables}, confirmed orders {orders}) against a limit of "
            f"{limit}; releasing the held orders would make it {after} {ccy}, {used}"
        ),
        "customer": customer.code,
        "currency": ccy,
        "credit_limit": str(limit),
        "open_receivables": str(receivables),
        "open_orders": str(orders),
        "exposure": str(exposure),
        "exposure_if_released": str(after),
    }


# --- price_deviation ------------------------------------------------------------------------------


def detect_price_deviations(session: Session, scope: Scope) -> list[NewCase]:
    """Open lines sold below cost or with a discount above the limit."""
    rows = session.execute(
        select(
            SalesOrderLine.id,
            SalesOrderLine.line_no,
            SalesOrderLine.order_id,
            SalesOrderLine.unit_price,
            SalesOrderLine.discount_pct,
            SalesOrderLine.net_price,
            SalesOrderLine.unit_cost,
            SalesOrderLine.price_source,
            SalesOrder.entity_id,
            SalesOrder.currency,
            SalesOrder.status,
            Customer.code.label("customer"),
            Item.sku,
        )
        .join(SalesOrder, SalesOrder.id == SalesOrderLine.order_id)
        .join(Customer, Customer.id == SalesOrder.customer_id)
        .join(Item, Item.id == SalesOrderLine.item_id)
        .where(
            SalesOrder.status.in_(OPEN_ORDER_STATUSES),
            SalesOrderLine.qty_shipped < SalesOrderLine.quantity,
            or_(
                SalesOrderLine.net_price < SalesOrderLine.unit_cost,
                SalesOrderLine.discount_pct > MAX_DISCOUNT_PCT,
            ),
            _in_scope(SalesOrder.entity_id, scope),
            _not_raised(ExceptionType.PRICE_DEVIATION, "sales_order_line", SalesOrderLine.id),
        )
        .order_by(SalesOrderLine.id)
    ).all()
    return [_price_case(row) for row in rows]


def _price_case(row: Any) -> NewCase:
    unit, net, cost = (Decimal(row.unit_price), Decimal(row.net_price), Decimal(row.unit_cost))
    discount = Decimal(f"{Decimal(row.discount_pct).normalize():f}")  # 25.0000 -> 25, never 6E+1
    below_cost = net < cost
    order, ccy = SALES_ORDER.format(row.order_id), row.currency
    problems = []
    if below_cost:
        problems.append(f"net price {round_money(net)} {ccy} is below cost {round_money(cost)}")
    if discount > MAX_DISCOUNT_PCT:
        problems.append(f"discount {discount}% is above {MAX_DISCOUNT_PCT}%")
    return NewCase(
        type=ExceptionType.PRICE_DEVIATION,
        entity_id=row.entity_id,
        dedup_key=dedup_key(ExceptionType.PRICE_DEVIATION, "sales_order_line", row.id),
        severity=Severity.HIGH if below_cost else Severity.MEDIUM,
        title=f"{order} line {row.line_no}: {row.sku} for {row.customer}: {'; '.join(problems)}",
        detail=(
            f"{order} ({row.status}) line {row.line_no} sells {row.sku} to {row.customer} at {round_money(unit)} "
            f"{ccy} ({row.price_source}) less {discount}% = {round_money(net)}; unit cost {round_money(cost)}."
        ),
        related={
            "sales_order": order,
            "sales_order_line": row.id,
            "line_no": row.line_no,
            "customer": row.customer,
            "sku": row.sku,
            "currency": ccy,
            "unit_price": str(unit),
            "discount_pct": str(discount),
            "net_price": str(net),
            "unit_cost": str(cost),
        },
        suggestions=_price_suggestions(unit, cost, discount, below_cost, ccy),
    )


def _price_suggestions(
    unit: Decimal, cost: Decimal, discount: Decimal, below_cost: bool, ccy: str
) -> list[dict[str, Any]]:
    found = []
    if below_cost:
        break_even = ((1 - cost / unit) * 100).quantize(Decimal("0.1"), ROUND_DOWN) if unit > 0 else Decimal(0)
        found.append(
            {
                "kind": "price_floor",
                "text": f"a net price of at least {round_money(cost)} {ccy} avoids a loss "
                f"(at most {max(break_even, Decimal(0))}% off {round_money(unit)})",
                "min_net_price": str(cost),
                "max_discount_pct": str(max(break_even, Decimal(0))),
            }
        )
    if discount > MAX_DISCOUNT_PCT:
        capped = round_money(unit * (100 - MAX_DISCOUNT_PCT) / 100)
        found.append(
            {
                "kind": "discount_limit",
                "text": f"at the {MAX_DISCOUNT_PCT}% limit the net price would be {capped} {ccy}",
                "discount_pct": str(MAX_DISCOUNT_PCT),
                "net_price": str(capped),
            }
        )
    return found


# --- late_supplier --------------------------------------------------------------------------------


def detect_late_suppliers(session: Session, scope: Scope) -> list[NewCase]:
    """Purchase orders past their expected date with goods still to come."""
    today = clock.today()
    orders = session.execute(
        select(
            PurchaseOrder.id,
            PurchaseOrder.entity_id,
            PurchaseOrder.expected_date,
            PurchaseOrder.status,
            PurchaseOrder.warehouse_id,
            Supplier.code.label("supplier"),
            Supplier.name.label("supplier_name"),
            Warehouse.code.label("warehouse"),
        )
        .join(Supplier, Supplier.id == PurchaseOrder.supplier_id)
        .join(Warehouse, Warehouse.id == PurchaseOrder.warehouse_id)
        .where(
            PurchaseOrder.status.in_(OPEN_PO_STATUSES),
            PurchaseOrder.expected_date < today,
            _in_scope(PurchaseOrder.entity_id, scope),
            _not_raised(ExceptionType.LATE_SUPPLIER, "purchase_order", PurchaseOrder.id),
        )
        .order_by(PurchaseOrder.id)
    ).all()
    if not orders:
        return []
    lines = _open_po_lines(session, [o.id for o in orders])
    waiting = _waiting_demand(session, lines, {o.id: o.warehouse_id for o in orders})
    return [_late_case(order, lines.get(order.id, []), waiting, today) for order in orders]


def _open_po_lines(session: Session, order_ids: list[int]) -> dict[int, list[Any]]:
    lines: dict[int, list[Any]] = {}
    for batch in chunks(order_ids):
        for row in session.execute(
            select(
                PurchaseOrderLine.order_id,
                PurchaseOrderLine.item_id,
                Item.sku,
                (PurchaseOrderLine.quantity - PurchaseOrderLine.qty_received).label("open_quantity"),
            )
            .join(Item, Item.id == PurchaseOrderLine.item_id)
            .where(PurchaseOrderLine.order_id.in_(batch), PurchaseOrderLine.qty_received < PurchaseOrderLine.quantity)
            .order_by(PurchaseOrderLine.id)
        ):
            lines.setdefault(row.order_id, []).append(row)
    return lines


def _waiting_demand(
    session: Session, lines: dict[int, list[Any]], warehouse_of: dict[int, int]
) -> dict[tuple[int, int], list[tuple[str, int]]]:
    """Backordered sales-order lines per (item, warehouse) the late orders would serve: [(SO number, units)]."""
    keys = {(ln.item_id, warehouse_of[po_id]) for po_id, rows in lines.items() for ln in rows}
    if not keys:
        return {}
    waiting: dict[tuple[int, int], list[tuple[str, int]]] = {}
    for batch in chunks(sorted({item for item, _ in keys})):
        for item_id, warehouse_id, backordered, order_id in session.execute(
            select(Reservation.item_id, Reservation.warehouse_id, Reservation.backordered, SalesOrderLine.order_id)
            .join(
                SalesOrderLine,
                and_(
                    Reservation.source_type == DemandSource.SALES_ORDER_LINE.value,
                    SalesOrderLine.id == Reservation.source_id,
                ),
            )
            .where(
                Reservation.backordered > 0,
                Reservation.item_id.in_(batch),
                Reservation.warehouse_id.in_({w for _, w in keys}),
            )
            .order_by(Reservation.id)
        ):
            if (item_id, warehouse_id) in keys:
                waiting.setdefault((item_id, warehouse_id), []).append((SALES_ORDER.format(order_id), backordered))
    return waiting


def _late_case(
    order: Any, lines: list[Any], waiting: dict[tuple[int, int], list[tuple[str, int]]], today: date
) -> NewCase:
    number, days_late = PURCHASE_ORDER.format(order.id), (today - order.expected_date).days
    suggestions = []
    for line in lines:
        claims = waiting.get((line.item_id, order.warehouse_id), [])
        if not claims:
            continue
        units = sum(n for _, n in claims)
        orders = sorted({so for so, _ in claims}, key=SALES_ORDER.parse)
        suggestions.append(
            {
                "kind": "waiting_orders",
                "text": f"{', '.join(orders)} wait for {units} {line.sku} backordered at {order.warehouse}; "
                f"{line.open_quantity} are still to come on {number}",
                "sku": line.sku,
                "warehouse": order.warehouse,
                "backordered": units,
                "sales_orders": orders,
            }
        )
    outstanding = ", ".join(f"{ln.open_quantity} {ln.sku}" for ln in lines) or "nothing"
    return NewCase(
        type=ExceptionType.LATE_SUPPLIER,
        entity_id=order.entity_id,
        dedup_key=dedup_key(ExceptionType.LATE_SUPPLIER, "purchase_order", order.id),
        severity=Severity.HIGH if suggestions or days_late > VERY_LATE_DAYS else Severity.MEDIUM,
        title=f"{number} from {order.supplier} is {days_late} day(s) late into {order.warehouse}",
        detail=(
            f"{order.supplier_name} ({order.supplier}) was expected to deliver {number} to {order.warehouse} on "
            f"{order.expected_date}; it is {order.status.replace('_', ' ')}, still to come: {outstanding}."
        ),
        related={
            "purchase_order": number,
            "supplier": order.supplier,
            "warehouse": order.warehouse,
            "expected_date": order.expected_date.isoformat(),
            "days_late": days_late,
            "open_lines": [{"sku": ln.sku, "open_quantity": ln.open_quantity} for ln in lines],
        },
        suggestions=suggestions,
    )


# --- invoice mismatch -----------------------------------------------------------------------------


def detect_invoice_mismatches(session: Session, scope: Scope) -> list[NewCase]:
    """Supplier invoices on payment hold that have never had their case (a few statements for any number)."""
    held = session.scalars(
        select(SupplierInvoice)
        .options(selectinload(SupplierInvoice.lines))
        .where(
            SupplierInvoice.status == InvoiceStatus.ON_HOLD.value,
            _in_scope(SupplierInvoice.entity_id, scope),
            _not_raised(ExceptionType.INVOICE_MISMATCH, "supplier_invoice", SupplierInvoice.id),
        )
        .order_by(SupplierInvoice.id)
    ).all()
    if not held:
        return []
    orders = {
        o.id: o
        for o in session.scalars(
            select(PurchaseOrder)
            .options(selectinload(PurchaseOrder.lines))
            .where(PurchaseOrder.id.in_({i.po_id for i in held}))
        )
    }
    skus = dict(
        session.execute(
            select(Item.id, Item.sku).where(Item.id.in_({ln.item_id for o in orders.values() for ln in o.lines}))
        ).all()
    )
    suppliers = dict(
        session.execute(select(Supplier.id, Supplier.code).where(Supplier.id.in_({i.supplier_id for i in held}))).all()
    )
    cases = []
    for invoice in held:
        case = mismatch_case_of(invoice, orders[invoice.po_id], skus, suppliers[invoice.supplier_id])
        cases.append(
            NewCase(
                type=ExceptionType.INVOICE_MISMATCH,
                entity_id=invoice.entity_id,
                dedup_key=case_key(invoice.id),
                severity=Severity.MEDIUM,
                title=case.title,
                detail=case.detail,
                related=case.related,
            )
        )
    return cases


DETECTORS: tuple[Callable[[Session, Scope], list[NewCase]], ...] = (
    detect_shortages,
    detect_credit_holds,
    detect_price_deviations,
    detect_late_suppliers,
    detect_overdue_holds,
    detect_invoice_mismatches,  # last: cases it adds take numbers after the others'
)
