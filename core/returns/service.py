"""Returns: authorise goods shipped on an order to come back, receive them (restock or scrap) and credit them.

An authorisation takes units of shipped order lines, at most what shipped minus what earlier, uncancelled
authorisations already took. It locks the order first, so two returns racing on the same line queue and the
second sees the first. Units are taken from the newest shipment of a line first (the goods most likely to
come back, and the window the policy judges is counted from that shipment's date).

Receiving an authorisation puts restocked units back on a shelf of the order's entity (a ledger row of its own
movement, valued at the line's unit cost; waiting backorders get them first), scraps the rest, and issues a
credit note against each invoice the units were billed on: returned units x net price, never more than that
invoice has not yet credited. The customer's receivables and credit exposure drop by the credit.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import clock
from core.actor import Actor, Permission
from core.audit import AuditContext, record_event
from core.documents import load_document
from core.errors import InvalidInput, InvalidState
from core.finance.models import CreditNote, Invoice
from core.finance.service import issue_credit_note
from core.masterdata.models import Customer, Warehouse
from core.masterdata.service import entity_codes, get_warehouse_in_scope, item_skus, warehouse_codes
from core.money import round_money
from core.numbering import INVOICE, RETURN_AUTHORISATION, SALES_ORDER, SHIPMENT
from core.returns.models import Disposition, ReturnAuthorisation, ReturnLine, ReturnStatus
from core.sales.models import SalesOrder, SalesOrderLine, Shipment, ShipmentLine
from core.sales.service import get_order
from core.stock.models import Bucket, Movement
from core.stock.service import check_quantity, open_posting
from core.text import require_storable

MAX_REASON = 500
MAX_LISTED = 50


@dataclass(frozen=True)
class ReturnRequest:
    """Units of one order line to take back, named by its line number or its SKU."""

    quantity: int
    line_no: int | None = None
    sku: str | None = None


# --- Authorise ---------------------------------------------------------------------


def authorise_return(
    session: Session, actor: Actor, *, order_number: str | int, lines: list[ReturnRequest], reason: str
) -> ReturnAuthorisation:
    """Authorise units shipped on an order to come back; never more than shipped minus already authorised."""
    actor.require(Permission.SELL)
    reason = _checked_reason(reason)
    if not lines:
        raise InvalidInput("name at least one line (or SKU) and the units coming back")
    order = get_order(session, actor, order_number=order_number, lock=True)  # returns on one order queue here
    rma = ReturnAuthorisation(
        entity_id=order.entity_id,
        customer_id=order.customer_id,
        order_id=order.id,
        currency=order.currency,
        status=ReturnStatus.AUTHORISED.value,
        reason=reason,
        created_by=actor.user_id,
        authorised_at=clock.now(),
    )
    asked: dict[int, int] = {}
    for request in lines:
        line = _order_line(session, order, request)
        check_quantity(request.quantity, f"units to return on line {line.line_no}")
        asked[line.line_no] = asked.get(line.line_no, 0) + request.quantity
    by_no = {ln.line_no: ln for ln in order.lines}
    for line_no, quantity in sorted(asked.items()):
        rma.lines.extend(_take_from_shipments(session, order, by_no[line_no], quantity))
    session.add(rma)
    session.flush()
    return rma


def _checked_reason(reason: str) -> str:
    require_storable(reason, "the return reason")
    text = reason.strip()
    if len(text) < 3:
        raise InvalidInput("say why the goods come back (damaged, wrong item, not needed, ...)")
    if len(text) > MAX_REASON:
        raise InvalidInput(f"the return reason may have at most {MAX_REASON} characters")
    return text


def _order_line(session: Session, order: SalesOrder, request: ReturnRequest) -> SalesOrderLine:
    """The order line a request names: by number, or by SKU when only one line carries it."""
    if request.line_no is not None:
        line = next((ln for ln in order.lines if ln.line_no == request.line_no), None)
        if line is None:
            raise InvalidInput(
                f"{order.number} has no line {request.line_no}; lines are {[ln.line_no for ln in order.lines]}"
            )
        return line
    if not request.sku or not request.sku.strip():
        raise InvalidInput("name the order line (its number) or the SKU coming back")
    skus = item_skus(session, item_ids=[ln.item_id for ln in order.lines])
    wanted = request.sku.strip().upper()
    matches = [ln for ln in order.lines if skus[ln.item_id].upper() == wanted]
    if not matches:
        raise InvalidInput(
            f"{order.number} has no line for {wanted}; it carries {', '.join(sorted(set(skus.values())))}"
        )
    if len(matches) > 1:
        numbers = ", ".join(str(ln.line_no) for ln in matches)
        raise InvalidInput(f"{order.number} carries {wanted} on lines {numbers}: say which line")
    return matches[0]


def _take_from_shipments(session: Session, order: SalesOrder, line: SalesOrderLine, quantity: int) -> list[ReturnLine]:
    """Return lines for `quantity` units of an order line, newest shipment first; refused beyond what is left."""
    if line.qty_shipped == 0:
        raise InvalidInput(f"line {line.line_no} of {order.number} has not shipped; only shipped units can come back")
    shipped = session.execute(
        select(ShipmentLine.id, ShipmentLine.quantity, Shipment.id, Shipment.shipped_on)
        .join(Shipment, Shipment.id == ShipmentLine.shipment_id)
        .where(ShipmentLine.order_line_id == line.id)
        .order_by(Shipment.shipped_on.desc(), Shipment.id.desc())
    ).all()
    taken = returned_by_shipment_line(session, [row[0] for row in shipped])
    left = sum(qty - taken.get(sl_id, 0) for sl_id, qty, _, _ in shipped)
    if quantity > left:
        already = sum(taken.values())
        raise InvalidInput(
            f"cannot return {quantity} on line {line.line_no} of {order.number}: {line.qty_shipped} shipped, "
            f"{already} already authorised or returned, {left} left to return"
        )
    invoices = dict(
        session.execute(
            select(Invoice.shipment_id, Invoice.id).where(Invoice.shipment_id.in_({row[2] for row in shipped}))
        ).all()
    )
    made = []
    for sl_id, qty, shipment_id, _ in shipped:
        take = min(quantity, qty - taken.get(sl_id, 0))
        if take <= 0:
            continue
        made.append(
            ReturnLine(
                order_line_id=line.id,
                shipment_line_id=sl_id,
                invoice_id=invoices.get(shipment_id),
                quantity=take,
                net_price=line.net_price,
                unit_cost=line.unit_cost,
            )
        )
        quantity -= take
        if quantity == 0:
            break
    return made


def returned_by_shipment_line(session: Session, shipment_line_ids: Iterable[int]) -> dict[int, int]:
    """Units of these shipment lines already authorised to come back (or back), cancelled returns aside."""
    ids = set(shipment_line_ids)
    if not ids:
        return {}
    rows = session.execute(
        select(ReturnLine.shipment_line_id, func.sum(ReturnLine.quantity))
        .join(ReturnAuthorisation, ReturnAuthorisation.id == ReturnLine.rma_id)
        .where(ReturnLine.shipment_line_id.in_(ids), ReturnAuthorisation.status != ReturnStatus.CANCELLED.value)
        .group_by(ReturnLine.shipment_line_id)
    ).all()
    return {sl_id: int(total) for sl_id, total in rows}


# --- Receive -----------------------------------------------------------------------


def receive_return(
    session: Session,
    actor: Actor,
    *,
    rma_number: str | int,
    disposition: str = Disposition.RESTOCK.value,
    warehouse: str | None = None,
    dispositions: dict[int, str] | None = None,
) -> list[CreditNote]:
    """Receive an authorised return: restock (into `warehouse`, else each line's own) or scrap each order line,
    and credit the units on the invoices they were billed on; returns the credit notes issued."""
    actor.require(Permission.MOVE_STOCK)
    rma = get_return(session, actor, rma_number=rma_number, lock=True)
    if rma.status != ReturnStatus.AUTHORISED:
        when = f" on {rma.received_at:%Y-%m-%d}" if rma.received_at else ""
        raise InvalidState(f"{rma.number} is {rma.status}{when}; only an authorised return can be received")
    order_lines = {ln.id: ln for ln in get_order(session, actor, order_number=rma.order_id).lines}
    plan = _dispositions(rma, order_lines, _disposition(disposition), dispositions or {})
    target = _restock_warehouse(session, actor, rma, warehouse) if warehouse else None
    restocked = [ln for ln in rma.lines if plan[order_lines[ln.order_line_id].line_no] is Disposition.RESTOCK]
    for line in rma.lines:
        line.disposition = plan[order_lines[line.order_line_id].line_no].value
        if line.disposition == Disposition.RESTOCK:
            line.warehouse_id = target.id if target else order_lines[line.order_line_id].warehouse_id
    if restocked:
        _restock(session, actor, rma, restocked, order_lines)
    notes = _credit(session, actor, rma)
    rma.status = (ReturnStatus.CREDITED if notes else ReturnStatus.RECEIVED).value
    rma.received_at = clock.now()
    rma.received_by = actor.user_id
    session.flush()
    return notes


def _disposition(code: str) -> Disposition:
    try:
        return Disposition(code.strip().casefold())
    except ValueError:
        raise InvalidInput(f"unknown disposition '{code}'; a returned line is restock or scrap") from None


def _dispositions(
    rma: ReturnAuthorisation,
    order_lines: dict[int, SalesOrderLine],
    default: Disposition,
    by_line: dict[int, str],
) -> dict[int, Disposition]:
    """The disposition of each order line on the return: the one named for it, else the default."""
    on_rma = {order_lines[ln.order_line_id].line_no for ln in rma.lines}
    unknown = sorted(set(by_line) - on_rma)
    if unknown:
        raise InvalidInput(f"{rma.number} does not return line(s) {unknown}; it returns lines {sorted(on_rma)}")
    return {no: _disposition(by_line[no]) if no in by_line else default for no in on_rma}


def _restock_warehouse(session: Session, actor: Actor, rma: ReturnAuthorisation, code: str) -> Warehouse:
    """A warehouse of the order's entity (returned goods stay in the books of the entity that sold them)."""
    warehouse = get_warehouse_in_scope(session, actor, code=code)
    if warehouse.entity_id != rma.entity_id:
        codes = ", ".join(
            session.scalars(select(Warehouse.code).where(Warehouse.entity_id == rma.entity_id).order_by(Warehouse.code))
        )
        raise InvalidInput(f"{warehouse.code} cannot take back {rma.number}; restock into one of {codes}")
    return warehouse


def _restock(
    session: Session,
    actor: Actor,
    rma: ReturnAuthorisation,
    lines: list[ReturnLine],
    order_lines: dict[int, SalesOrderLine],
) -> None:
    """Put the units back on hand (a ledger row per line); waiting backorders take them first."""
    keys = [(order_lines[ln.order_line_id].item_id, ln.warehouse_id or 0) for ln in lines]
    posting = open_posting(session, actor, keys, "return", rma.id)
    for line, key in zip(lines, keys, strict=True):
        posting.note = f"{rma.number}: {rma.reason} (unit cost {round_money(line.unit_cost)} {rma.currency})"
        posting.move(key, Bucket.ON_HAND, Movement.CUSTOMER_RETURN, line.quantity)
    posting.allocate_backorders(keys)


def _credit(session: Session, actor: Actor, rma: ReturnAuthorisation) -> list[CreditNote]:
    """One credit note per invoice the returned units were billed on, in invoice order (locked in that order)."""
    by_invoice: dict[int, Decimal] = {}
    for line in rma.lines:
        if line.invoice_id is not None:
            by_invoice[line.invoice_id] = by_invoice.get(line.invoice_id, Decimal(0)) + line.net_price * line.quantity
    notes = []
    for invoice_id in sorted(by_invoice):
        invoice = load_document(session, Invoice, invoice_id, kind=INVOICE, lock=True)
        amount = round_money(by_invoice[invoice_id])
        if amount > 0:
            notes.append(issue_credit_note(session, actor, invoice=invoice, amount=amount, source_id=rma.id))
    return notes


# --- Cancel ------------------------------------------------------------------------


def cancel_return(
    session: Session, actor: Actor, *, rma_number: str | int, reason: str, channel: str = "system"
) -> ReturnAuthorisation:
    """Withdraw an authorisation nothing was received on; its units may be authorised again. Audited."""
    actor.require(Permission.SELL)
    why = _checked_reason(reason)
    rma = get_return(session, actor, rma_number=rma_number, lock=True)
    if rma.status != ReturnStatus.AUTHORISED:
        raise InvalidState(f"{rma.number} is {rma.status}; only an authorised return can be cancelled")
    rma.status = ReturnStatus.CANCELLED.value
    record_event(
        session,
        AuditContext(actor_user_id=actor.user_id, channel=channel),
        action="return.cancelled",
        subject_type="return_authorisation",
        subject_id=rma.number,
        entity_id=rma.entity_id,
        data={"reason": why},
    )
    session.flush()
    return rma


# --- Reading -----------------------------------------------------------------------


def get_return(session: Session, actor: Actor, *, rma_number: str | int, lock: bool = False) -> ReturnAuthorisation:
    """The return authorisation with its lines, if its entity is in the actor's scope."""
    rma = load_document(
        session, ReturnAuthorisation, rma_number, kind=RETURN_AUTHORISATION, lock=lock, lines=ReturnAuthorisation.lines
    )
    actor.require_entity(rma.entity_id, f"return {rma.number}")
    return rma


def return_value(rma: ReturnAuthorisation) -> Decimal:
    """Units coming back at their net price: the credit the return will give."""
    return round_money(sum((Decimal(ln.net_price) * ln.quantity for ln in rma.lines), Decimal(0)))


def days_since_shipment(session: Session, rma: ReturnAuthorisation) -> int:
    """Days from the oldest shipment the return takes units of to today (the policy's return window)."""
    ids = [ln.shipment_line_id for ln in rma.lines]
    oldest = session.scalar(
        select(func.min(Shipment.shipped_on))
        .join(ShipmentLine, ShipmentLine.shipment_id == Shipment.id)
        .where(ShipmentLine.id.in_(ids))
    )
    return (clock.today() - oldest).days if oldest else 0


@dataclass(frozen=True)
class ReturnLineView:
    line_no: int
    sku: str
    quantity: int
    net_price: Decimal
    value: Decimal
    shipment: str
    shipped_on: date
    invoice: str | None
    disposition: str | None
    warehouse: str | None


@dataclass(frozen=True)
class CreditNoteView:
    number: str
    invoice: str
    amount: Decimal
    issued_on: date


@dataclass(frozen=True)
class ReturnView:
    """A return as a person reads it: what comes back from which order, what became of it, and the credit."""

    number: str
    order: str
    customer: str
    entity: str
    status: str
    reason: str
    currency: str
    authorised_at: datetime
    received_at: datetime | None
    lines: list[ReturnLineView] = field(default_factory=list)
    credit_notes: list[CreditNoteView] = field(default_factory=list)

    @property
    def units(self) -> int:
        return sum(ln.quantity for ln in self.lines)

    @property
    def value(self) -> Decimal:
        return round_money(sum((ln.value for ln in self.lines), Decimal(0)))

    @property
    def credited(self) -> Decimal:
        return round_money(sum((cn.amount for cn in self.credit_notes), Decimal(0)))


def return_status(session: Session, actor: Actor, *, rma_number: str | int) -> ReturnView:
    """One return: its lines (units, price, shipment, disposition), its credit notes, status and dates."""
    return _views(session, [get_return(session, actor, rma_number=rma_number)])[0]


def list_returns(
    session: Session, actor: Actor, *, status: str | None = None, order_number: str | int | None = None
) -> list[ReturnView]:
    """Returns in the actor's entities, newest first (at most 50), optionally of one status or one order."""
    query = select(ReturnAuthorisation).where(ReturnAuthorisation.entity_id.in_(actor.entity_ids))
    if status:
        try:
            query = query.where(ReturnAuthorisation.status == ReturnStatus(status.strip().lower()).value)
        except ValueError:
            raise InvalidInput(f"unknown status '{status}'; statuses are {', '.join(ReturnStatus)}") from None
    if order_number is not None:
        query = query.where(ReturnAuthorisation.order_id == get_order(session, actor, order_number=order_number).id)
    rmas = list(session.scalars(query.order_by(ReturnAuthorisation.id.desc()).limit(MAX_LISTED)))
    return _views(session, rmas)


def _views(session: Session, rmas: list[ReturnAuthorisation]) -> list[ReturnView]:
    if not rmas:
        return []
    lines = [ln for rma in rmas for ln in rma.lines]
    order_lines = {
        ol.id: ol
        for ol in session.scalars(
            select(SalesOrderLine).where(SalesOrderLine.id.in_({ln.order_line_id for ln in lines}))
        )
    }
    shipments = dict(
        session.execute(
            select(ShipmentLine.id, Shipment)
            .join(Shipment, Shipment.id == ShipmentLine.shipment_id)
            .where(ShipmentLine.id.in_({ln.shipment_line_id for ln in lines}))
        ).all()
    )
    skus = item_skus(session, item_ids={ol.item_id for ol in order_lines.values()})
    places = warehouse_codes(session, warehouse_ids={ln.warehouse_id for ln in lines if ln.warehouse_id})
    customers = dict(
        session.execute(select(Customer.id, Customer.code).where(Customer.id.in_({r.customer_id for r in rmas}))).all()
    )
    notes: dict[int, list[CreditNoteView]] = {}
    for cn in session.scalars(
        select(CreditNote).where(CreditNote.source_id.in_({r.id for r in rmas})).order_by(CreditNote.id)
    ):
        notes.setdefault(cn.source_id, []).append(
            CreditNoteView(cn.number, INVOICE.format(cn.invoice_id), round_money(cn.amount), cn.issued_on)
        )
    entities = entity_codes(session, {r.entity_id for r in rmas})
    return [
        ReturnView(
            number=rma.number,
            order=SALES_ORDER.format(rma.order_id),
            customer=customers.get(rma.customer_id, "?"),
            entity=entities.get(rma.entity_id, "?"),
            status=rma.status,
            reason=rma.reason,
            currency=rma.currency,
            authorised_at=rma.authorised_at,
            received_at=rma.received_at,
            lines=[
                ReturnLineView(
                    line_no=order_lines[ln.order_line_id].line_no,
                    sku=skus.get(order_lines[ln.order_line_id].item_id, "?"),
                    quantity=ln.quantity,
                    net_price=round_money(ln.net_price),
                    value=round_money(Decimal(ln.net_price) * ln.quantity),
                    shipment=SHIPMENT.format(shipments[ln.shipment_line_id].id),
                    shipped_on=shipments[ln.shipment_line_id].shipped_on,
                    invoice=INVOICE.format(ln.invoice_id) if ln.invoice_id else None,
                    disposition=ln.disposition,
                    warehouse=places.get(ln.warehouse_id) if ln.warehouse_id else None,
                )
                for ln in rma.lines
            ],
            credit_notes=notes.get(rma.id, []),
        )
        for rma in rmas
    ]


__all__ = [
    "ReturnRequest",
    "ReturnView",
    "authorise_return",
    "cancel_return",
    "days_since_shipment",
    "get_return",
    "list_returns",
    "receive_return",
    "return_status",
    "return_value",
]
