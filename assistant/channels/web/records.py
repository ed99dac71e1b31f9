"""A record named in an answer, as the widget shows it when the id is clicked.

Each kind is read through the core's own function for it, so scope rules apply unchanged.
"""

from collections.abc import Callable
from decimal import Decimal

from sqlalchemy.orm import Session

from assistant.channels.web.schemas import Fact, Record, RecordTable
from assistant.channels.web.views import case_detail, draft_card
from core.actor import Actor
from core.errors import NotFound
from core.finance.service import credit_status, get_credit_note, get_invoice, invoice_customer, invoice_open_amount
from core.masterdata.models import Item, Warehouse
from core.masterdata.service import get_item, item_skus, warehouse_codes
from core.money import format_money
from core.numbering import (
    CREDIT_NOTE,
    DRAFT,
    EXCEPTION_CASE,
    INVOICE,
    PAYMENT,
    PURCHASE_ORDER,
    RETURN_AUTHORISATION,
    SALES_ORDER,
    SALES_ORDER_LINE,
    SHIPMENT,
    STOCK_ADJUSTMENT,
    SUPPLIER_INVOICE,
    TRANSFER,
    DocumentKind,
    kind_of,
)
from core.payables.service import supplier_invoice_status
from core.purchasing.service import get_purchase_order
from core.receivables.service import payment_view
from core.returns.service import return_status
from core.sales.service import get_order_line, order_status
from core.shipping.service import shipment_status
from core.stock.counts import get_adjustment
from core.stock.service import available_to_promise
from core.transfers.service import get_transfer, transfer_side


def record(session: Session, actor: Actor, ref: str) -> Record:
    """The record `ref` names: a document number, a SKU or a customer code."""
    ref = ref.strip()
    kind = kind_of(ref)
    reader = READERS.get(kind) if kind is not None else None
    if reader is not None:
        return reader(session, actor, ref.upper())
    try:
        return _item(session, actor, ref)
    except NotFound as item_miss:
        try:
            return _customer(session, actor, ref)
        except NotFound:
            raise item_miss from None


def _sales_order(session: Session, actor: Actor, ref: str) -> Record:
    view = order_status(session, actor, order_number=ref)
    fields = [
        Fact(label="status", value=view.status.replace("_", " ")),
        Fact(label="customer", value=view.customer),
        Fact(label="entity", value=view.entity),
        Fact(label="requested", value=str(view.requested_date)),
        Fact(label="total", value=format_money(view.total, view.currency)),
    ]
    if view.hold_reason:
        fields.append(Fact(label="on hold", value=view.hold_reason))
    for charge in view.charges:
        what = f"{format_money(charge.amount, charge.currency)} via {charge.carrier}, {charge.treatment}"
        fields.append(Fact(label=f"{charge.kind} freight", value=f"{what} ({charge.reason})"))
    rows = [
        [
            str(ln.line_no),
            ln.sku,
            ln.warehouse,
            str(ln.quantity),
            str(ln.reserved),
            str(ln.backordered),
            str(ln.shipped),
        ]
        for ln in view.lines
    ]
    table = RecordTable(columns=["line", "SKU", "warehouse", "qty", "reserved", "backordered", "shipped"], rows=rows)
    return Record(ref=view.number, kind="sales_order", title=f"Sales order {view.number}", fields=fields, table=table)


def _order_line(session: Session, actor: Actor, ref: str) -> Record:
    line = get_order_line(session, actor, line_number=ref)
    order = _sales_order(session, actor, SALES_ORDER.format(line.order_id))
    mine = [row for row in order.table.rows if row[0] == str(line.line_no)] if order.table else []
    table = RecordTable(columns=order.table.columns, rows=mine) if order.table else None
    title = f"Line {line.line_no} of sales order {order.ref}"
    ref = SALES_ORDER_LINE.format(line.id)
    return Record(ref=ref, kind="sales_order_line", title=title, fields=order.fields, table=table)


def _shipment(session: Session, actor: Actor, ref: str) -> Record:
    view = shipment_status(session, actor, shipment_number=ref)
    travel = [
        ("carrier", view.carrier),
        ("service level", view.service_level),
        ("tracking", view.tracking_number),
        ("packages", str(view.packages or "")),
        ("weight", f"{view.weight_kg:,.1f} kg" if view.weight_kg else ""),
    ]
    fields = [
        Fact(label="order", value=view.order),
        Fact(label="from", value=view.warehouse),
        Fact(label="shipped on", value=str(view.shipped_on)),
        Fact(label="status", value=f"{view.latest[0]} {view.latest[1]:%Y-%m-%d %H:%M}"),
        *(Fact(label=label, value=value) for label, value in travel if value),
        *([Fact(label="invoice", value=view.invoice)] if view.invoice else []),
    ]
    rows = [[str(ln.line_no), ln.sku, str(ln.quantity)] for ln in view.lines]
    rows += [[m, "", f"{at:%Y-%m-%d %H:%M}"] for m, at in view.milestones]
    table = RecordTable(columns=["line / milestone", "SKU", "quantity / time"], rows=rows)
    return Record(ref=view.number, kind="shipment", title=f"Shipment {view.number}", fields=fields, table=table)


def _invoice(session: Session, actor: Actor, ref: str) -> Record:
    invoice = get_invoice(session, actor, invoice_number=ref)
    customer = invoice_customer(session, invoice)
    source = (
        [Fact(label="previous system's number", value=invoice.external_ref or "")]
        if invoice.order_id is None or invoice.shipment_id is None
        else [
            Fact(label="order", value=SALES_ORDER.format(invoice.order_id)),
            Fact(label="shipment", value=SHIPMENT.format(invoice.shipment_id)),
        ]
    )
    fields = [
        Fact(label="customer", value=f"{customer.code} {customer.name}"),
        *source,
        Fact(label="amount", value=format_money(invoice.amount, invoice.currency)),
        Fact(label="open", value=format_money(invoice_open_amount(session, invoice), invoice.currency)),
        Fact(label="issued", value=str(invoice.issued_on)),
        Fact(label="due", value=str(invoice.due_on)),
    ]
    return Record(ref=invoice.number, kind="invoice", title=f"Invoice {invoice.number}", fields=fields)


def _transfer(session: Session, actor: Actor, ref: str) -> Record:
    transfer = get_transfer(session, actor, transfer_number=ref)
    places = warehouse_codes(session, warehouse_ids=[transfer.from_warehouse_id, transfer.to_warehouse_id])
    skus = item_skus(session, item_ids=[ln.item_id for ln in transfer.lines])
    side = transfer_side(transfer, actor)  # a receiver sees its own books' figures, not the sender's
    fields = [
        Fact(label="status", value=transfer.status.replace("_", " ")),
        Fact(label="from", value=places.get(transfer.from_warehouse_id, "?")),
        Fact(label="to", value=places.get(transfer.to_warehouse_id, "?")),
        Fact(label="expected", value=str(transfer.expected_date)),
        Fact(label="value", value=format_money(side.value, side.currency)),
    ]
    rows = [
        [skus.get(ln.item_id, "?"), str(ln.quantity), format_money(side.unit_prices[ln.id], side.currency)]
        for ln in transfer.lines
    ]
    table = RecordTable(columns=["SKU", "quantity", "unit price"], rows=rows)
    return Record(ref=transfer.number, kind="transfer", title=f"Transfer {transfer.number}", fields=fields, table=table)


def _purchase_order(session: Session, actor: Actor, ref: str) -> Record:
    order = get_purchase_order(session, actor, po_number=ref)
    places = warehouse_codes(session, warehouse_ids=[order.warehouse_id])
    skus = item_skus(session, item_ids=[ln.item_id for ln in order.lines])
    fields = [
        Fact(label="status", value=order.status.replace("_", " ")),
        Fact(label="warehouse", value=places.get(order.warehouse_id, "?")),
        Fact(label="ordered", value=str(order.order_date)),
        Fact(label="expected", value=str(order.expected_date)),
    ]
    rows = [[skus.get(ln.item_id, "?"), str(ln.quantity), str(ln.qty_received)] for ln in order.lines]
    table = RecordTable(columns=["SKU", "ordered", "received"], rows=rows)
    return Record(
        ref=order.number, kind="purchase_order", title=f"Purchase order {order.number}", fields=fields, table=table
    )


def _draft(session: Session, actor: Actor, ref: str) -> Record:
    card = draft_card(session, actor, ref)
    fields = [
        Fact(label="status", value=card.status.replace("_", " ")),
        Fact(label="summary", value=card.summary),
        Fact(label="decision", value=card.explanation),
        Fact(label="value", value=format_money(card.amount, card.currency)),
        Fact(label="requested by", value=card.requester),
    ]
    if card.waiting_for:
        fields.append(Fact(label="waiting for", value=", ".join(card.waiting_for)))
    if card.result_ref:
        fields.append(Fact(label="executed as", value=card.result_ref))
    table = RecordTable(columns=["change"], rows=[[line] for line in card.diff]) if card.diff else None
    return Record(
        ref=card.number,
        kind="draft",
        title=f"Draft {card.number} ({card.kind.replace('_', ' ')})",
        fields=fields,
        table=table,
        link=f"/inbox#{card.number}",
    )


def _exception(session: Session, actor: Actor, ref: str) -> Record:
    case = case_detail(session, actor, ref)
    fields = [
        Fact(label="status", value=case.status),
        Fact(label="type", value=case.type.replace("_", " ")),
        Fact(label="entity", value=case.entity),
        Fact(label="owner", value=case.owner or case.owner_role or "unassigned"),
        Fact(label="due", value=f"{case.sla_due_at:%Y-%m-%d %H:%M}"),
        Fact(label="detail", value=case.detail),
    ]
    return Record(ref=case.number, kind="exception", title=case.title, fields=fields, link=f"/exceptions#{case.number}")


def _adjustment(session: Session, actor: Actor, ref: str) -> Record:
    adjustment = get_adjustment(session, actor, number=ref)
    item, warehouse = session.get(Item, adjustment.item_id), session.get(Warehouse, adjustment.warehouse_id)
    assert item is not None and warehouse is not None
    counted = [] if adjustment.counted is None else [Fact(label="counted", value=f"{adjustment.counted:,}")]
    fields = [
        Fact(label="reason", value=adjustment.reason),
        *counted,
        Fact(label="on the books before", value=f"{adjustment.book_quantity:,}"),
        Fact(label="change", value=f"{adjustment.quantity:+,d}"),
        Fact(label="value at standard cost", value=format_money(Decimal(adjustment.value), adjustment.currency)),
        Fact(label="posted", value=f"{adjustment.posted_at:%Y-%m-%d %H:%M}"),
    ]
    if adjustment.backordered:
        fields.append(Fact(label="reserved units backordered", value=f"{adjustment.backordered:,}"))
    title = f"{adjustment.number} — {item.sku} @ {warehouse.code}"
    return Record(ref=adjustment.number, kind="stock_adjustment", title=title, fields=fields)


def _return(session: Session, actor: Actor, ref: str) -> Record:
    view = return_status(session, actor, rma_number=ref)
    fields = [
        Fact(label="status", value=view.status),
        Fact(label="order", value=view.order),
        Fact(label="customer", value=view.customer),
        Fact(label="reason", value=view.reason),
        Fact(label="value", value=format_money(view.value, view.currency)),
        Fact(label="authorised", value=f"{view.authorised_at:%Y-%m-%d %H:%M}"),
    ]
    if view.received_at:
        fields.append(Fact(label="received", value=f"{view.received_at:%Y-%m-%d %H:%M}"))
    fields += [
        Fact(label="credit note", value=f"{cn.number}: {format_money(cn.amount, view.currency)} on {cn.invoice}")
        for cn in view.credit_notes
    ]
    rows = [
        [str(ln.line_no), ln.sku, str(ln.quantity), ln.shipment, ln.disposition or "awaited", ln.warehouse or ""]
        for ln in view.lines
    ]
    table = RecordTable(columns=["line", "SKU", "qty", "shipment", "disposition", "warehouse"], rows=rows)
    title = f"Return {view.number}"
    return Record(ref=view.number, kind="return_authorisation", title=title, fields=fields, table=table)


def _credit_note(session: Session, actor: Actor, ref: str) -> Record:
    note = get_credit_note(session, actor, number=ref)
    fields = [
        Fact(label="invoice", value=INVOICE.format(note.invoice_id)),
        Fact(label="return", value=RETURN_AUTHORISATION.format(note.source_id)),
        Fact(label="amount", value=format_money(Decimal(note.amount), note.currency)),
        Fact(label="issued", value=str(note.issued_on)),
    ]
    return Record(ref=note.number, kind="credit_note", title=f"Credit note {note.number}", fields=fields)


def _supplier_invoice(session: Session, actor: Actor, ref: str) -> Record:
    view = supplier_invoice_status(session, actor, invoice_number=ref)
    status = {"approved": "approved for payment", "on_hold": "on payment hold"}.get(view.status, view.status)
    fields = [
        Fact(label="status", value=status),
        Fact(label="supplier", value=f"{view.supplier} (invoice {view.supplier_ref})"),
        Fact(label="purchase order", value=view.po),
        Fact(label="total", value=format_money(view.total, view.currency)),
        Fact(label="open", value=format_money(view.open_amount, view.currency)),
        Fact(label="invoice date", value=str(view.invoice_date)),
        Fact(label="due", value=str(view.due_date)),
    ]
    if view.case:
        fields.append(Fact(label="case", value=f"{view.case} ({view.case_status})"))
    if view.released_by:
        fields.append(Fact(label="released by", value=f"{view.released_by}: {view.release_reason}"))
    rows = [
        [str(ln.line_no), ln.sku, str(ln.quantity), str(ln.unit_price), str(ln.po_price), str(ln.received),
         str(ln.billed_before), ln.result]
        for ln in view.lines
    ]  # fmt: skip
    columns = ["PO line", "SKU", "qty", "price", "PO price", "received", "billed before", "match"]
    title = f"Supplier invoice {view.number}"
    return Record(
        ref=view.number,
        kind="supplier_invoice",
        title=title,
        fields=fields,
        table=RecordTable(columns=columns, rows=rows),
    )


def _payment(session: Session, actor: Actor, ref: str) -> Record:
    view = payment_view(session, actor, payment_number=ref)
    fields = [
        Fact(label="customer", value=view.customer),
        Fact(label="amount", value=format_money(view.amount, view.currency)),
        Fact(label="received", value=str(view.received_on)),
        Fact(label="bank reference", value=view.bank_reference),
        Fact(label="applied", value=format_money(view.applied, view.currency)),
        Fact(label="on account", value=format_money(view.unapplied, view.currency)),
        Fact(label="status", value=view.status),
    ]
    rows = [
        [a.invoice, format_money(a.amount, view.currency), str(a.applied_on), "reversed" if a.reversed else ""]
        for a in view.applications
    ]
    table = RecordTable(columns=["invoice", "amount", "applied on", ""], rows=rows)
    return Record(ref=view.number, kind="payment", title=f"Payment {view.number}", fields=fields, table=table)


def _item(session: Session, actor: Actor, ref: str) -> Record:
    item = get_item(session, sku=ref)
    report = available_to_promise(session, actor, sku=item.sku)
    fields = [
        Fact(label="name", value=item.name),
        Fact(label="category", value=item.category),
        Fact(label="available now (your entities)", value=f"{sum(w.available_now for w in report.warehouses):,}"),
    ]
    rows = [
        [w.warehouse, str(w.on_hand), str(w.reserved), str(w.available_now), str(sum(s.quantity for s in w.incoming))]
        for w in report.warehouses
    ]
    table = RecordTable(columns=["warehouse", "on hand", "reserved", "available", "incoming"], rows=rows)
    return Record(ref=item.sku, kind="item", title=f"{item.sku} — {item.name}", fields=fields, table=table)


def _customer(session: Session, actor: Actor, ref: str) -> Record:
    status = credit_status(session, actor, customer=ref)
    fields = [
        Fact(label="name", value=status.name),
        Fact(label="entity", value=status.entity),
        Fact(label="credit limit", value=format_money(status.credit_limit, status.currency)),
        Fact(label="exposure", value=format_money(status.exposure, status.currency)),
        Fact(label="credit hold", value=(status.hold_reason or "yes") if status.on_hold else "no"),
    ]
    return Record(ref=status.customer, kind="customer", title=f"Customer {status.customer}", fields=fields)


READERS: dict[DocumentKind, Callable[[Session, Actor, str], Record]] = {
    SALES_ORDER: _sales_order,
    SALES_ORDER_LINE: _order_line,
    SHIPMENT: _shipment,
    INVOICE: _invoice,
    PURCHASE_ORDER: _purchase_order,
    TRANSFER: _transfer,
    DRAFT: _draft,
    EXCEPTION_CASE: _exception,
    STOCK_ADJUSTMENT: _adjustment,
    RETURN_AUTHORISATION: _return,
    CREDIT_NOTE: _credit_note,
    SUPPLIER_INVOICE: _supplier_invoice,
    PAYMENT: _payment,
}
