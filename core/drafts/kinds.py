"""The kinds of draft: a typed payload each, and the one function that carries it out.

`apply` runs the real core commands as the requester and reports what they did. Drafting
calls it inside a savepoint that is rolled back (the preview), approval calls it for real,
so what a manager approves is exactly what executes.
"""

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any, Literal

from pydantic import Field, model_validator
from sqlalchemy.orm import Session

from core.actor import Actor
from core.drafts.base import Applied, DraftPayload, HeldCase, Payload, Quantity, normalised, said_as
from core.drafts.masterdata import (
    CreditHoldDraft,
    CreditLimitChangeDraft,
    MasterDataChangeDraft,
    apply_credit_hold,
    apply_credit_limit_change,
    apply_master_data_change,
)
from core.drafts.order_actions import OrderCancelDraft, ReallocationDraft, apply_order_cancel, apply_reallocation
from core.drafts.order_changes import ExpediteDraft, SubstitutionDraft, apply_expedite, apply_substitution
from core.drafts.order_facts import entity_currency, order_applied
from core.drafts.payments import (
    CustomerPaymentDraft,
    PaymentReversalDraft,
    apply_customer_payment,
    apply_payment_reversal,
)
from core.drafts.returns import (
    ReturnAuthorisationDraft,
    ReturnReceiptDraft,
    apply_return_authorisation,
    apply_return_receipt,
)
from core.drafts.supplier_invoices import (
    SupplierInvoiceDraft,
    SupplierInvoiceReleaseDraft,
    apply_supplier_invoice,
    apply_supplier_invoice_release,
    current_tolerances,
)
from core.errors import InvalidInput
from core.exceptions import ExceptionType, assign_case, comment_case, get_case, resolve_case
from core.finance.service import credit_status, release_credit_hold
from core.masterdata.models import Item, Warehouse
from core.masterdata.service import item_skus, warehouse_codes
from core.money import format_money, round_money
from core.payables.service import rematch_after_receipt
from core.policy.facts import DraftKind
from core.purchasing.models import PurchaseOrder
from core.purchasing.service import (
    PurchaseLineRequest,
    create_purchase_order,
    get_purchase_order,
    receipt_variance,
    receive_purchase_order,
)
from core.sales.models import SalesOrderLine
from core.sales.pricing import round_percent
from core.sales.service import (
    LineRequest,
    change_order_line,
    confirm_order,
    create_order,
    get_order,
    override_line_price,
)
from core.shipping.carriers import split_carrier
from core.shipping.service import ShipmentDetails, ship_order
from core.stock.counts import describe, record_adjustment
from core.stock.models import REASON_WORDS, Reason
from core.transfers.models import Transfer
from core.transfers.service import (
    TransferLineRequest,
    create_transfer,
    get_transfer,
    plan_arrivals,
    receive_transfer,
    receiver_value,
    ship_transfer,
    transfer_value,
)


class OrderLineDraft(Payload):
    sku: str = Field(min_length=1, max_length=40)
    quantity: int = Quantity
    warehouse: str | None = Field(None, max_length=40)
    discount_pct: Decimal = Field(Decimal(0), ge=0, le=100)


class SalesOrderDraft(DraftPayload):
    customer: str = Field(min_length=1, max_length=160)
    lines: list[OrderLineDraft] = Field(min_length=1, max_length=200)
    requested_date: date | None = None
    allow_backorder: bool = False
    customer_reference: str = Field("", max_length=64)

    def subject(self) -> tuple[str, ...]:
        return normalised(self.customer)


class StockLineDraft(Payload):
    sku: str = Field(min_length=1, max_length=40)
    quantity: int = Quantity


class TransferDraft(DraftPayload):
    from_warehouse: str = Field(min_length=1, max_length=40)
    to_warehouse: str = Field(min_length=1, max_length=40)
    lines: list[StockLineDraft] = Field(min_length=1, max_length=200)
    expected_date: date | None = None

    def subject(self) -> tuple[str, ...]:
        return normalised(self.from_warehouse, self.to_warehouse)


class PurchaseLineDraft(StockLineDraft):
    unit_cost: Decimal | None = Field(None, ge=0)


class PurchaseOrderDraft(DraftPayload):
    supplier: str = Field(min_length=1, max_length=32)
    warehouse: str = Field(min_length=1, max_length=40)
    lines: list[PurchaseLineDraft] = Field(min_length=1, max_length=200)
    expected_date: date | None = None

    def subject(self) -> tuple[str, ...]:
        return normalised(self.supplier)


class OrderChangeDraft(DraftPayload):
    order_number: str = Field(min_length=1, max_length=24)
    line_no: int = Field(ge=1)
    quantity: int | None = Field(None, gt=0, le=1_000_000)
    warehouse: str | None = Field(None, max_length=40)
    requested_date: date | None = None
    allow_backorder: bool = False

    def subject(self) -> tuple[str, ...]:
        # two lines of one order changed at once are two changes
        return normalised(self.order_number, str(self.line_no))


class CreditHoldReleaseDraft(DraftPayload):
    customer: str = Field(min_length=1, max_length=160)
    reason: str = Field(min_length=3, max_length=500)

    def subject(self) -> tuple[str, ...]:
        return normalised(self.customer)


class PriceOverrideDraft(DraftPayload):
    order_number: str = Field(min_length=1, max_length=24)
    line_no: int = Field(ge=1)
    unit_price: Decimal = Field(ge=0)
    reason: str = Field(min_length=3, max_length=500)

    def subject(self) -> tuple[str, ...]:
        return normalised(self.order_number, str(self.line_no))


class ExceptionActionDraft(DraftPayload):
    case_number: str = Field(min_length=1, max_length=24)
    action: Literal["assign", "comment", "resolve", "dismiss"] = Field(
        json_schema_extra=said_as({"comment": ["note", "notes"], "assign": ["give", "hand", "reassign"]})
    )
    assignee: str | None = Field(None, max_length=64)
    text: str = Field("", max_length=2000)

    def subject(self) -> tuple[str, ...]:
        # "assign EX-3 to Wes and note the supplier's date" is two actions; "resolve it, no, dismiss it" is one.
        closing = self.action in ("resolve", "dismiss")
        return normalised(self.case_number, "close" if closing else self.action)


class ShipLineDraft(Payload):
    line_no: int = Field(ge=1)
    quantity: int = Quantity


# A shipment as people ask for it in words ("ship SO-1042 from DAL via UPS, tracking 1Z…"): the assistant's tool
# takes this much (no docstring: it would join the schema the model reads). Omitted `warehouse`: each line ships
# from where it is reserved; omitted `lines`: all that is reserved.
class ShipmentAsked(DraftPayload):
    order_number: str = Field(min_length=1, max_length=24)
    warehouse: str | None = Field(None, max_length=40)
    lines: list[ShipLineDraft] | None = Field(None, max_length=200)
    carrier: str | None = Field(None, max_length=40)
    service_level: str | None = Field(None, max_length=40)
    tracking_number: str | None = Field(None, max_length=64)

    @model_validator(mode="before")
    @classmethod
    def _service_level_apart(cls, data: Any) -> Any:
        """ "UPS Ground" is the carrier UPS with the service level Ground (`split_carrier`): the preview, the payload
        and the shipment say it alike."""
        if not isinstance(data, dict) or not isinstance(data.get("carrier"), str) or data.get("service_level"):
            return data
        carrier, service_level = split_carrier(data["carrier"], "")
        return {**data, "carrier": carrier, "service_level": service_level or None}

    def subject(self) -> tuple[str, ...]:
        return normalised(self.order_number, self.warehouse or "")


class ShipmentDraft(ShipmentAsked):  # with its packing details too (the API and the terminal give them)
    packages: int | None = Field(None, ge=1)
    weight_kg: float | None = Field(None, gt=0)


class PurchaseReceiptDraft(DraftPayload):
    po_number: str = Field(min_length=1, max_length=24, description="e.g. PO-77")
    # A plain list (empty: all still open), not optional, so its SKUs and counts are checked like any line's.
    lines: list[StockLineDraft] = Field(
        default_factory=list, max_length=200, description="what arrived; omit for all still open"
    )
    close_short: bool = Field(False, description="the rest will not come: close the PO")

    def subject(self) -> tuple[str, ...]:
        return normalised(self.po_number)


class ArrivalLineDraft(Payload):
    sku: str | None = Field(None, max_length=40, description="omit if the transfer has one SKU")
    quantity: int = Field(ge=0, le=1_000_000)


class TransferMoveDraft(DraftPayload):
    transfer_number: str = Field(min_length=1, max_length=24, description="e.g. TR-12")
    action: Literal["ship", "receive"]
    received: list[ArrivalLineDraft] = Field(
        default_factory=list, max_length=200, description="units that arrived, if fewer than shipped"
    )
    damaged: list[ArrivalLineDraft] = Field(default_factory=list, max_length=200, description="units arrived damaged")

    def subject(self) -> tuple[str, ...]:
        return normalised(self.transfer_number, self.action)


class StockAdjustmentDraft(DraftPayload):
    sku: str = Field(min_length=1, max_length=40)
    warehouse: str = Field(min_length=1, max_length=40)
    counted: int | None = Field(None, ge=0, le=1_000_000, description="units on the shelf")
    quantity: int | None = Field(None, gt=0, le=1_000_000, description="units lost or found")
    reason: Reason | None = Field(None, json_schema_extra=said_as(REASON_WORDS))
    note: str = Field("", max_length=500)

    def subject(self) -> tuple[str, ...]:
        return normalised(self.sku, self.warehouse)


def apply_sales_order(session: Session, actor: Actor, payload: SalesOrderDraft) -> Applied:
    """Create the order and confirm it (reserving stock)."""
    before = credit_status(session, actor, customer=payload.customer)
    order = create_order(
        session,
        actor,
        customer=payload.customer,
        lines=[LineRequest(ln.sku, ln.quantity, ln.warehouse, ln.discount_pct) for ln in payload.lines],
        requested_date=payload.requested_date,
        customer_reference=payload.customer_reference,
    )
    confirm_order(session, actor, order_number=order.id, allow_backorder=payload.allow_backorder)
    total = sum((ln.net_amount for ln in order.lines), Decimal(0))
    parts = ", ".join(f"{ln.quantity} x {sku.sku}" for ln, sku in zip(order.lines, payload.lines, strict=True))
    summary = f"Sales order for {before.customer} {before.name}: {parts}; {format_money(total, order.currency)}"
    applied = order_applied(session, actor, order, summary)
    applied.facts["exposure_before"] = before.exposure
    return applied


def apply_transfer(session: Session, actor: Actor, payload: TransferDraft) -> Applied:
    """Create the transfer (stock reserved at the source, incoming at the destination)."""
    transfer = create_transfer(
        session,
        actor,
        from_warehouse=payload.from_warehouse,
        to_warehouse=payload.to_warehouse,
        lines=[TransferLineRequest(ln.sku, ln.quantity) for ln in payload.lines],
        expected_date=payload.expected_date,
    )
    value = transfer_value(transfer)
    parts = ", ".join(f"{ln.quantity} x {ln.sku}" for ln in payload.lines)
    intercompany = transfer.from_entity_id != transfer.to_entity_id
    summary = (
        f"{'Intercompany transfer' if intercompany else 'Transfer'} {payload.from_warehouse.upper()} → "
        f"{payload.to_warehouse.upper()}: {parts}; {format_money(value, transfer.from_currency)}; "
        f"expected {transfer.expected_date}"
    )
    return Applied(
        result_ref=transfer.number,
        entity_id=transfer.from_entity_id,
        counterparty_entity_id=transfer.to_entity_id if intercompany else None,
        currency=transfer.from_currency,
        amount=value,
        summary=summary,
        quantity=sum(ln.quantity for ln in transfer.lines),
        keys=[(ln.item_id, w) for ln in transfer.lines for w in (transfer.from_warehouse_id, transfer.to_warehouse_id)],
        facts={"intercompany": intercompany},
    )


def apply_purchase_order(session: Session, actor: Actor, payload: PurchaseOrderDraft) -> Applied:
    """Create the purchase order (its lines become dated incoming supply)."""
    order = create_purchase_order(
        session,
        actor,
        supplier=payload.supplier,
        warehouse=payload.warehouse,
        lines=[PurchaseLineRequest(ln.sku, ln.quantity, ln.unit_cost) for ln in payload.lines],
        expected_date=payload.expected_date,
    )
    value = round_money(sum((ln.unit_cost * ln.quantity for ln in order.lines), Decimal(0)))
    parts = ", ".join(f"{ln.quantity} x {ln.sku}" for ln in payload.lines)
    summary = (
        f"Purchase order to {payload.supplier.upper()} into {payload.warehouse.upper()}: {parts}; "
        f"{format_money(value, order.currency)}; expected {order.expected_date}"
    )
    return Applied(
        result_ref=order.number,
        entity_id=order.entity_id,
        currency=order.currency,
        amount=value,
        summary=summary,
        quantity=sum(ln.quantity for ln in order.lines),
        keys=[(ln.item_id, order.warehouse_id) for ln in order.lines],
    )


def apply_order_change(session: Session, actor: Actor, payload: OrderChangeDraft) -> Applied:
    """Change one line's quantity or warehouse, or the requested date; reservations follow."""
    order = get_order(session, actor, order_number=payload.order_number)
    old = next((ln for ln in order.lines if ln.line_no == payload.line_no), None)
    old_key = [(old.item_id, old.warehouse_id)] if old else []
    line = change_order_line(
        session,
        actor,
        order_number=payload.order_number,
        line_no=payload.line_no,
        quantity=payload.quantity,
        warehouse=payload.warehouse,
        requested_date=payload.requested_date,
        allow_backorder=payload.allow_backorder,
    )
    changes = [
        f"quantity → {payload.quantity}" if payload.quantity else "",
        f"warehouse → {payload.warehouse.upper()}" if payload.warehouse else "",
        f"requested date → {payload.requested_date}" if payload.requested_date else "",
    ]
    summary = f"Change {order.number} line {line.line_no}: {', '.join(c for c in changes if c)}"
    applied = order_applied(session, actor, order, summary)
    applied.keys = sorted(set(applied.keys) | set(old_key))
    return applied


def apply_credit_hold_release(session: Session, actor: Actor, payload: CreditHoldReleaseDraft) -> Applied:
    """Take the customer off credit hold; held orders return to draft."""
    before = credit_status(session, actor, customer=payload.customer)
    customer = release_credit_hold(session, actor, customer=payload.customer, reason=payload.reason)
    return Applied(
        result_ref=customer.code,
        entity_id=customer.entity_id,
        currency=before.currency,
        amount=before.exposure,
        summary=f"Release the credit hold on {customer.code} {customer.name}: {payload.reason}",
        effects=[f"{customer.code}: credit hold on → off; its held orders go back to draft"],
        facts={
            "customer": customer.code,
            "customer_on_hold": True,
            "credit_limit": before.credit_limit,
            "exposure_before": before.exposure,
            "exposure_after": before.exposure,
        },
    )


def apply_price_override(session: Session, actor: Actor, payload: PriceOverrideDraft) -> Applied:
    """Set a negotiated unit price on an order line."""
    order = get_order(session, actor, order_number=payload.order_number)
    line = next((ln for ln in order.lines if ln.line_no == payload.line_no), None)
    resolved = Decimal(line.unit_price) if line is not None else Decimal(0)
    changed = override_line_price(
        session, actor, order_number=payload.order_number, line_no=payload.line_no, unit_price=payload.unit_price
    )
    summary = (
        f"Price override on {order.number} line {changed.line_no}: {format_money(resolved, order.currency)} → "
        f"{format_money(payload.unit_price, order.currency)} ({payload.reason})"
    )
    applied = order_applied(session, actor, order, summary)
    if resolved > 0:
        applied.facts["max_discount_pct"] = round_percent((resolved - payload.unit_price) / resolved * 100)
    return applied


def apply_exception_action(session: Session, actor: Actor, payload: ExceptionActionDraft) -> Applied:
    """Assign, comment on, resolve or dismiss an exception case."""
    case = get_case(session, actor, case_number=payload.case_number)
    status_before, owner_before = case.status, case.owner_user_id
    if payload.action == "assign":
        if not payload.assignee:
            raise InvalidInput("say who to assign the case to (assignee)")
        assign_case(session, actor, case_number=case.id, assignee=payload.assignee)
        what = f"assign to {payload.assignee}"
    elif payload.action == "comment":
        comment_case(session, actor, case_number=case.id, text=payload.text)
        what = "comment"
    else:
        resolve_case(session, actor, case_number=case.id, resolution=payload.text, dismiss=payload.action == "dismiss")
        what = payload.action
    session.refresh(case)
    effects = [f"{case.number}: status {status_before} → {case.status}"] if case.status != status_before else []
    if case.owner_user_id != owner_before:
        effects.append(f"{case.number}: assigned to {payload.assignee}")
    if payload.action == "comment":
        effects.append(f"{case.number}: a comment is added")
    return Applied(
        result_ref=case.number,
        entity_id=case.entity_id,
        currency=entity_currency(session, case.entity_id),
        amount=Decimal(0),
        summary=f"{case.number} ({case.title}): {what}" + (f": {payload.text}" if payload.text else ""),
        effects=effects,
    )


def apply_shipment(session: Session, actor: Actor, payload: ShipmentDraft) -> Applied:
    """Ship the order (all reserved, or the lines named) from a warehouse, invoicing what ships."""
    shipments = ship_order(
        session,
        actor,
        order_number=payload.order_number,
        quantities=_ship_quantities(payload.lines or []),
        warehouse=payload.warehouse,
        details=ShipmentDetails(
            carrier=payload.carrier or "",
            service_level=payload.service_level or "",
            tracking_number=payload.tracking_number or "",
            packages=payload.packages,
            weight_kg=None if payload.weight_kg is None else Decimal(str(payload.weight_kg)),
        ),
    )
    order = get_order(session, actor, order_number=payload.order_number)
    by_id = {ln.id: ln for ln in order.lines}
    shipped = [
        (sh.warehouse_id or by_id[s.order_line_id].warehouse_id, by_id[s.order_line_id], s.quantity)
        for sh in shipments
        for s in sh.lines
    ]
    value = round_money(sum((line.net_price * qty for _, line, qty in shipped), Decimal(0)))
    travel = ", ".join(
        w
        for w in (
            payload.carrier,
            payload.service_level,
            payload.tracking_number and f"tracking {payload.tracking_number}",
        )
        if w
    )
    numbers = ", ".join(sh.number for sh in shipments)
    return Applied(
        result_ref=numbers if len(numbers) <= 32 else order.number,
        entity_id=order.entity_id,
        currency=order.currency,
        amount=value,
        summary=f"Ship {order.number} {_shipped_words(session, shipped)}"
        + (f" via {travel}" if travel else "")
        + f"; invoice {format_money(value, order.currency)}",
        quantity=sum(qty for _, _, qty in shipped),
        keys=sorted({(line.item_id, w) for source, line, _ in shipped for w in (source, line.warehouse_id)}),
        effects=[f"{order.number}: status → {order.status.replace('_', ' ')}"],
    )


def _ship_quantities(lines: list[ShipLineDraft]) -> dict[int, int] | None:
    """Units by line number (None: all that is reserved); a line named twice is refused, not added up."""
    quantities: dict[int, int] = {}
    for line in lines:
        if line.line_no in quantities:
            raise InvalidInput(f"line {line.line_no} is named twice; give its quantity once")
        quantities[line.line_no] = line.quantity
    return quantities or None


def _shipped_words(session: Session, shipped: list[tuple[int, SalesOrderLine, int]]) -> str:
    """ "from DAL: 30 x V-200 (line 1); from ATL: 5 x V-220 (line 2)"."""
    codes = warehouse_codes(session, warehouse_ids=[source for source, _, _ in shipped])
    skus = item_skus(session, item_ids=[line.item_id for _, line, _ in shipped])
    by_source: dict[int, list[str]] = {}
    for source, line, qty in shipped:
        by_source.setdefault(source, []).append(f"{qty} x {skus[line.item_id]} (line {line.line_no})")
    return "; ".join(f"from {codes[source]}: {', '.join(parts)}" for source, parts in by_source.items())


def apply_purchase_receipt(session: Session, actor: Actor, payload: PurchaseReceiptDraft) -> Applied:
    """Receive goods against a purchase order; the policy judges an over-receipt or a short close."""
    quantities = _units_by_sku([(ln.sku, ln.quantity) for ln in payload.lines]) if payload.lines else None
    order = get_purchase_order(session, actor, po_number=payload.po_number)
    status_before, value_before = order.status, _received_value(order)
    planned = quantities or _open_units(session, order)
    received_before = {ln.id: ln.qty_received for ln in order.lines}
    order = receive_purchase_order(
        session,
        actor,
        po_number=payload.po_number,
        quantities=quantities,
        allow_over_receipt=True,  # the gate below decides whether the variance stands
        close_short=payload.close_short,
    )
    touched = [ln.id for ln in order.lines if ln.qty_received != received_before[ln.id]]
    variance = receipt_variance(session, order, closed=payload.close_short, received=touched)
    released = rematch_after_receipt(session, actor, order, current_tolerances())
    where = warehouse_codes(session, warehouse_ids=[order.warehouse_id]).get(order.warehouse_id, "?")
    parts = ", ".join(f"{q} x {sku}" for sku, q in planned.items())
    summary = f"Receive on {order.number} into {where}: {parts or 'nothing'}" + (
        "; close the rest short" if payload.close_short else ""
    )
    effects = [f"{order.number}: status {status_before} → {order.status}"] if order.status != status_before else []
    effects += [f"{order.number}: {line}" for line in variance.lines]
    effects += [f"{inv.number}: matched again on this receipt, approved for payment" for inv in released]
    return Applied(
        result_ref=order.number,
        entity_id=order.entity_id,
        currency=order.currency,
        amount=round_money(_received_value(order) - value_before),
        summary=summary,
        quantity=sum(planned.values()),
        keys=[(ln.item_id, order.warehouse_id) for ln in order.lines],
        facts={"over_receipt_pct": variance.over_pct, "under_receipt_pct": variance.under_pct},
        effects=effects,
        held_case=HeldCase(
            ExceptionType.RECEIPT_VARIANCE,
            f"{order.number} received outside tolerance",
            "; ".join(variance.lines),
            {"purchase_order": order.number},
        )
        if variance.lines
        else None,
    )


def _units_by_sku(lines: list[tuple[str, int]]) -> dict[str, int]:
    """Units per SKU; a SKU named twice ("20 V-200 ... and 5 more V-200") counts once, summed."""
    units: dict[str, int] = {}
    for sku, quantity in lines:
        key = sku.strip().upper()
        units[key] = units.get(key, 0) + quantity
    return units


def _received_value(order: PurchaseOrder) -> Decimal:
    return sum((Decimal(ln.unit_cost) * ln.qty_received for ln in order.lines), Decimal(0))


def _open_units(session: Session, order: PurchaseOrder) -> dict[str, int]:
    skus = item_skus(session, item_ids=[ln.item_id for ln in order.lines])
    return _units_by_sku([(skus[ln.item_id], ln.open_quantity) for ln in order.lines if ln.open_quantity])


def apply_transfer_move(session: Session, actor: Actor, payload: TransferMoveDraft) -> Applied:
    """Ship a transfer from its source (as the sender) or receive it at its destination (as the receiver)."""
    if payload.action == "ship":
        if payload.received or payload.damaged:
            raise InvalidInput("received and damaged units are for a receipt; a shipment sends every line")
        return _shipped(session, ship_transfer(session, actor, transfer_number=payload.transfer_number))
    transfer = get_transfer(session, actor, transfer_number=payload.transfer_number)
    received = _arrival_counts(session, transfer, payload.received)
    damaged = _arrival_counts(session, transfer, payload.damaged)
    receive_transfer(session, actor, transfer_number=transfer.id, received=received, damaged=damaged)
    arrivals = plan_arrivals(session, transfer, received, damaged)
    where = warehouse_codes(session, warehouse_ids=[transfer.to_warehouse_id]).get(transfer.to_warehouse_id, "?")
    parts = ", ".join(
        f"{a.good} x {a.sku}" + (f" ({a.short} short, {a.damaged} damaged)" if a.short or a.damaged else "")
        for a in arrivals
    )
    lost = sum(a.short + a.damaged for a in arrivals)
    intercompany = transfer.from_entity_id != transfer.to_entity_id
    return Applied(
        result_ref=transfer.number,
        entity_id=transfer.to_entity_id,
        counterparty_entity_id=transfer.from_entity_id if intercompany else None,
        currency=transfer.to_currency,
        amount=receiver_value(transfer),
        summary=f"Receive {transfer.number} at {where}: {parts}",
        quantity=sum(a.good for a in arrivals),
        keys=[(ln.item_id, transfer.to_warehouse_id) for ln in transfer.lines],
        facts={"intercompany": intercompany, "discrepancy_units": lost},
        effects=[f"{transfer.number}: status in_transit → received"]
        + ([f"{transfer.number}: a discrepancy case opens for {lost} units short or damaged"] if lost else []),
    )


def _shipped(session: Session, transfer: Transfer) -> Applied:
    places = warehouse_codes(session, warehouse_ids=[transfer.from_warehouse_id, transfer.to_warehouse_id])
    skus = item_skus(session, item_ids=[ln.item_id for ln in transfer.lines])
    parts = ", ".join(f"{ln.quantity} x {skus[ln.item_id]}" for ln in transfer.lines)
    intercompany = transfer.from_entity_id != transfer.to_entity_id
    value = transfer_value(transfer)
    effects = [f"{transfer.number}: status open → in_transit"]
    if intercompany:
        booked = format_money(value, transfer.from_currency)
        effects.append(f"{transfer.number}: intercompany due-from and due-to of {booked} posted")
    return Applied(
        result_ref=transfer.number,
        entity_id=transfer.from_entity_id,
        counterparty_entity_id=transfer.to_entity_id if intercompany else None,
        currency=transfer.from_currency,
        amount=value,
        summary=(
            f"Ship {transfer.number} {places[transfer.from_warehouse_id]} → {places[transfer.to_warehouse_id]}: "
            f"{parts}; {format_money(value, transfer.from_currency)}"
        ),
        quantity=sum(ln.quantity for ln in transfer.lines),
        keys=[(ln.item_id, w) for ln in transfer.lines for w in (transfer.from_warehouse_id, transfer.to_warehouse_id)],
        facts={"intercompany": intercompany, "discrepancy_units": 0},
        effects=effects,
    )


def _arrival_counts(session: Session, transfer: Transfer, lines: list[ArrivalLineDraft]) -> dict[str, int]:
    """Units by SKU; a line without a SKU means the transfer's only SKU."""
    skus = sorted(set(item_skus(session, item_ids=[ln.item_id for ln in transfer.lines]).values()))
    named = []
    for line in lines:
        if line.sku is None and len(skus) > 1:
            raise InvalidInput(f"{transfer.number} carries {', '.join(skus)}: say which SKU")
        named.append((line.sku or skus[0], line.quantity))
    return _units_by_sku(named)


def apply_stock_adjustment(session: Session, actor: Actor, payload: StockAdjustmentDraft) -> Applied:
    """Post a count or a write-off or find, valued at standard cost; short reserved units become backorders."""
    adjustment = record_adjustment(
        session,
        actor,
        sku=payload.sku,
        warehouse=payload.warehouse,
        reason=payload.reason,
        counted=payload.counted,
        quantity=payload.quantity,
        note=payload.note,
    )
    item, warehouse = session.get(Item, adjustment.item_id), session.get(Warehouse, adjustment.warehouse_id)
    assert item is not None and warehouse is not None
    return Applied(
        result_ref=adjustment.number,
        entity_id=adjustment.entity_id,
        currency=adjustment.currency,
        amount=abs(Decimal(adjustment.value)),
        summary=describe(adjustment, item.sku, warehouse.code),
        quantity=abs(adjustment.quantity),
        keys=[(adjustment.item_id, adjustment.warehouse_id)],
        facts={"shortage": adjustment.backordered > 0},
    )


Applier = Callable[[Session, Actor, Any], Applied]
KINDS: dict[DraftKind, tuple[type[DraftPayload], Applier]] = {
    DraftKind.SALES_ORDER: (SalesOrderDraft, apply_sales_order),
    DraftKind.TRANSFER: (TransferDraft, apply_transfer),
    DraftKind.PURCHASE_ORDER: (PurchaseOrderDraft, apply_purchase_order),
    DraftKind.ORDER_CHANGE: (OrderChangeDraft, apply_order_change),
    DraftKind.CREDIT_HOLD_RELEASE: (CreditHoldReleaseDraft, apply_credit_hold_release),
    DraftKind.PRICE_OVERRIDE: (PriceOverrideDraft, apply_price_override),
    DraftKind.EXCEPTION_ACTION: (ExceptionActionDraft, apply_exception_action),
    DraftKind.SHIPMENT: (ShipmentDraft, apply_shipment),
    DraftKind.PO_RECEIPT: (PurchaseReceiptDraft, apply_purchase_receipt),
    DraftKind.TRANSFER_MOVE: (TransferMoveDraft, apply_transfer_move),
    DraftKind.STOCK_ADJUSTMENT: (StockAdjustmentDraft, apply_stock_adjustment),
    DraftKind.SUBSTITUTION: (SubstitutionDraft, apply_substitution),
    DraftKind.EXPEDITE: (ExpediteDraft, apply_expedite),
    DraftKind.ORDER_CANCEL: (OrderCancelDraft, apply_order_cancel),
    DraftKind.REALLOCATION: (ReallocationDraft, apply_reallocation),
    DraftKind.RETURN_AUTHORISATION: (ReturnAuthorisationDraft, apply_return_authorisation),
    DraftKind.RETURN_RECEIPT: (ReturnReceiptDraft, apply_return_receipt),
    DraftKind.MASTER_DATA_CHANGE: (MasterDataChangeDraft, apply_master_data_change),
    DraftKind.CREDIT_LIMIT_CHANGE: (CreditLimitChangeDraft, apply_credit_limit_change),
    DraftKind.CREDIT_HOLD: (CreditHoldDraft, apply_credit_hold),
    DraftKind.SUPPLIER_INVOICE: (SupplierInvoiceDraft, apply_supplier_invoice),
    DraftKind.SUPPLIER_INVOICE_RELEASE: (SupplierInvoiceReleaseDraft, apply_supplier_invoice_release),
    DraftKind.CUSTOMER_PAYMENT: (CustomerPaymentDraft, apply_customer_payment),
    DraftKind.PAYMENT_REVERSAL: (PaymentReversalDraft, apply_payment_reversal),
}
