"""Accounts payable: book a supplier's invoice against a purchase order, match it three ways, and see what is owed.

Booking records what the supplier bills (its reference is unique per supplier; the currency is the PO's). Each
line is matched: the billed unit price against the PO line's, the billed units against the units received and not
yet billed by earlier invoices, within the policy's tolerances. An invoice whose every line matches is approved for
payment; one with a mismatch is booked all the same (the liability exists and its due date runs) but on payment
hold, with an `invoice_mismatch` case for the buyer carrying the figures. A held invoice is approved later either
by matching it again once more goods arrived, or by a person other than its booker (a gated release).

Booking locks the purchase order first, so two invoices against the same PO queue and the second sees what the
first billed. Payment runs are out of scope: the open amount of an invoice is its total less what was paid (0).
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import clock
from core.actor import Actor, Permission
from core.audit import AuditContext, record_event
from core.documents import load_document
from core.errors import CurrencyMismatch, DuplicateDocument, InvalidInput, InvalidState, PermissionDenied
from core.exceptions import ExceptionCase, ExceptionType, raise_case, settle_caused_case
from core.finance.ageing import BUCKETS, bucket_of
from core.masterdata.models import LegalEntity, Supplier
from core.masterdata.service import (
    convert,
    entity_codes,
    exchange_rate,
    get_entity,
    get_supplier,
    item_skus,
    usernames,
)
from core.money import format_money, round_money, round_unit_price
from core.numbering import PURCHASE_ORDER, SUPPLIER_INVOICE
from core.payables.matching import case_key, describe_line, describe_lines, mismatch_case, po_line_no
from core.payables.models import InvoiceStatus, MatchResult, SupplierInvoice, SupplierInvoiceLine
from core.policy.rules import Tolerances
from core.purchasing.models import PurchaseOrder, PurchaseOrderLine, PurchaseOrderStatus
from core.purchasing.service import get_purchase_order
from core.sales.pricing import round_percent
from core.stock.service import check_quantity
from core.text import require_storable

MAX_REF = 40
MAX_REASON = 500
MAX_LISTED = 50
DEFAULT_TERMS_DAYS = 30
DUE_WINDOW_DAYS = 7  # "due this week": today and the six days after


@dataclass(frozen=True)
class InvoiceLineRequest:
    """Units of one PO line billed at a unit price; the line named by its number on the PO or by its SKU."""

    quantity: int
    unit_price: Decimal
    line_no: int | None = None
    sku: str | None = None


# --- Book ------------------------------------------------------------------------------


def book_supplier_invoice(
    session: Session,
    actor: Actor,
    *,
    po_number: str | int,
    supplier_ref: str,
    lines: Sequence[InvoiceLineRequest],
    tolerances: Tolerances,
    supplier: str | None = None,
    currency: str | None = None,
    invoice_date: date | None = None,
    due_date: date | None = None,
    open_case: bool = True,
) -> SupplierInvoice:
    """Book a supplier's invoice against a PO and match each line; approved for payment, or on hold with a case
    (`open_case` False leaves the case to the next exception detection, as a bulk load does)."""
    actor.require(Permission.BOOK_SUPPLIER_INVOICE)
    ref = _checked_ref(supplier_ref)
    if not lines:
        raise InvalidInput("name at least one line: the PO line (or SKU), the units billed and the unit price")
    order = get_purchase_order(session, actor, po_number=po_number, lock=True)  # invoices on one PO queue here
    if order.status == PurchaseOrderStatus.CANCELLED:
        raise InvalidState(f"{order.number} was cancelled; nothing can be billed against it")
    vendor = _supplier_of(session, order, supplier)
    _check_currency(order, currency)
    _refuse_duplicate(session, vendor, ref)
    billed_on = invoice_date or clock.today()
    if billed_on > clock.today():
        raise InvalidInput(f"the invoice date {billed_on} is in the future; give the date printed on the invoice")
    due = due_date or billed_on + timedelta(days=vendor.payment_terms_days or DEFAULT_TERMS_DAYS)
    if due < billed_on:
        raise InvalidInput(f"the due date {due} is before the invoice date {billed_on}")
    invoice = SupplierInvoice(
        entity_id=order.entity_id,
        supplier_id=vendor.id,
        po_id=order.id,
        supplier_ref=ref,
        currency=order.currency,
        invoice_date=billed_on,
        due_date=due,
        status=InvoiceStatus.ON_HOLD.value,
        total=Decimal(0),
        amount_paid=Decimal(0),
        booked_by=actor.user_id,
        booked_at=clock.now(),
        release_reason="",
    )
    for po_line, request in _billed_lines(session, order, lines):
        invoice.lines.append(
            SupplierInvoiceLine(
                po_line_id=po_line.id,
                quantity=request.quantity,
                unit_price=round_unit_price(Decimal(request.unit_price)),
                po_price=Decimal(po_line.unit_cost),
                received=0,
                billed_before=0,
                price_variance_pct=Decimal(0),
                result=MatchResult.MATCHED.value,
            )
        )
    invoice.total = invoice_total(invoice)
    session.add(invoice)
    session.flush()  # its id orders it after the invoices billed before it
    _match(session, invoice, order, tolerances)
    if invoice.status == InvoiceStatus.ON_HOLD and open_case:
        _raise_mismatch_case(session, invoice, order)
    session.flush()
    return invoice


def _checked_ref(text: str) -> str:
    require_storable(text, "the supplier's invoice reference")
    ref = " ".join(text.split()).upper()
    if not ref:
        raise InvalidInput("give the supplier's invoice number (its reference on the invoice)")
    if len(ref) > MAX_REF:
        raise InvalidInput(f"the supplier's invoice reference may have at most {MAX_REF} characters")
    return ref


def _supplier_of(session: Session, order: PurchaseOrder, named: str | None) -> Supplier:
    # Locked (after the PO): two clerks booking the same reference on two of its POs queue, the second sees it.
    vendor = session.get(Supplier, order.supplier_id, with_for_update=True)
    assert vendor is not None
    if named and named.strip():
        other = get_supplier(session, code=named)
        if other.id != vendor.id:
            raise InvalidInput(
                f"{order.number} was placed with {vendor.code}, not {other.code}; book {other.code}'s invoice "
                f"against one of its own purchase orders"
            )
    return vendor


def _check_currency(order: PurchaseOrder, currency: str | None) -> None:
    if currency and currency.strip().upper() != order.currency:
        raise CurrencyMismatch(
            f"{order.number} is in {order.currency}; an invoice against it must be in {order.currency} too, "
            f"not {currency.strip().upper()}: ask the supplier for an invoice in the order's currency",
            expected=order.currency,
            given=currency.strip().upper(),
        )


def _refuse_duplicate(session: Session, vendor: Supplier, ref: str) -> None:
    booked = session.scalars(
        select(SupplierInvoice).where(SupplierInvoice.supplier_id == vendor.id, SupplierInvoice.supplier_ref == ref)
    ).first()
    if booked is not None:
        raise DuplicateDocument(
            f"{vendor.code}'s invoice {ref} is already booked as {booked.number} "
            f"({format_money(Decimal(booked.total), booked.currency)}, {booked.invoice_date}); a supplier's invoice "
            "is booked once",
            invoice=booked.number,
        )


def _billed_lines(
    session: Session, order: PurchaseOrder, requests: Sequence[InvoiceLineRequest]
) -> list[tuple[PurchaseOrderLine, InvoiceLineRequest]]:
    """Each request with the PO line it bills; a PO line billed twice on one invoice is refused, not added up."""
    skus = item_skus(session, item_ids=[ln.item_id for ln in order.lines])
    seen: set[int] = set()
    billed = []
    for request in requests:
        line = _po_line(order, skus, request)
        no = po_line_no(order, line)
        check_quantity(request.quantity, f"units billed on line {no}")
        if Decimal(request.unit_price) < 0:
            raise InvalidInput(f"the unit price billed on line {no} cannot be negative")
        if line.id in seen:
            raise InvalidInput(f"line {no} of {order.number} ({skus[line.item_id]}) is billed twice; give it once")
        seen.add(line.id)
        billed.append((line, request))
    return billed


def _po_line(order: PurchaseOrder, skus: dict[int, str], request: InvoiceLineRequest) -> PurchaseOrderLine:
    if request.line_no is not None:
        if not 1 <= request.line_no <= len(order.lines):
            raise InvalidInput(f"{order.number} has lines 1 to {len(order.lines)}, not {request.line_no}")
        return order.lines[request.line_no - 1]
    if not request.sku or not request.sku.strip():
        raise InvalidInput("name the PO line (its number) or the SKU billed")
    wanted = request.sku.strip().upper()
    matches = [ln for ln in order.lines if skus[ln.item_id].upper() == wanted]
    if not matches:
        raise InvalidInput(
            f"{order.number} has no line for {wanted}; it orders {', '.join(sorted(set(skus.values())))}"
        )
    if len(matches) > 1:
        numbers = ", ".join(str(po_line_no(order, ln)) for ln in matches)
        raise InvalidInput(f"{order.number} orders {wanted} on lines {numbers}: say which line")
    return matches[0]


def invoice_total(invoice: SupplierInvoice) -> Decimal:
    """Units billed at their unit prices, to the cent."""
    return round_money(sum((Decimal(ln.unit_price) * ln.quantity for ln in invoice.lines), Decimal(0)))


# --- Three-way match ---------------------------------------------------------------------


def _match(session: Session, invoice: SupplierInvoice, order: PurchaseOrder, tolerances: Tolerances) -> None:
    """Match every line on today's receipts and the invoices booked before this one; set the invoice's status."""
    po_lines = {ln.id: ln for ln in order.lines}
    before = billed_before(session, invoice)
    for line in invoice.lines:
        po_line = po_lines[line.po_line_id]
        line.received = po_line.qty_received
        line.billed_before = before.get(line.po_line_id, 0)
        line.po_price = Decimal(po_line.unit_cost)
        line.price_variance_pct = _variance_pct(Decimal(line.unit_price), Decimal(po_line.unit_cost))
        line.result = _line_result(line, tolerances).value
    matched = all(ln.result == MatchResult.MATCHED for ln in invoice.lines)
    invoice.status = (InvoiceStatus.APPROVED if matched else InvoiceStatus.ON_HOLD).value
    invoice.approved_at = clock.now() if matched else None


def billed_before(session: Session, invoice: SupplierInvoice) -> dict[int, int]:
    """Units of this invoice's PO lines that invoices booked before it bill (held or approved alike)."""
    rows = session.execute(
        select(SupplierInvoiceLine.po_line_id, func.sum(SupplierInvoiceLine.quantity))
        .where(
            SupplierInvoiceLine.po_line_id.in_({ln.po_line_id for ln in invoice.lines}),
            SupplierInvoiceLine.invoice_id < invoice.id,
        )
        .group_by(SupplierInvoiceLine.po_line_id)
    ).all()
    return {po_line_id: int(total) for po_line_id, total in rows}


def _variance_pct(billed: Decimal, ordered: Decimal) -> Decimal:
    if ordered == 0:
        return Decimal(0) if billed == 0 else Decimal(100)
    return round_percent((billed - ordered) * 100 / ordered)


def _line_result(line: SupplierInvoiceLine, tolerances: Tolerances) -> MatchResult:
    """Nothing received first, then units beyond what is left to bill, then the price."""
    if line.received == 0:
        return MatchResult.NOT_RECEIVED
    # Cumulative: the tolerance lets the PO line's invoices together bill that many units beyond receipts, once.
    if line.billed_before + line.quantity > line.received + tolerances.invoice_quantity_units:
        return MatchResult.OVER_BILLED
    if line.price_variance_pct > tolerances.invoice_price_pct:
        return MatchResult.PRICE_OVER
    return MatchResult.MATCHED


def unbilled(line: SupplierInvoiceLine) -> int:
    """Units received and not billed by an earlier invoice: what this line may bill."""
    return max(0, line.received - line.billed_before)


def over_billed_units(invoice: SupplierInvoice) -> int:
    """Units the invoice bills beyond what was received and not yet billed, over all its lines."""
    return sum(max(0, ln.quantity - unbilled(ln)) for ln in invoice.lines)


def largest_price_variance(invoice: SupplierInvoice) -> Decimal:
    """The largest percentage by which a billed unit price exceeds the PO's (0 when none does)."""
    return max((Decimal(ln.price_variance_pct) for ln in invoice.lines), default=Decimal(0)).max(Decimal(0))


def mismatched_lines(invoice: SupplierInvoice) -> int:
    return sum(1 for ln in invoice.lines if ln.result != MatchResult.MATCHED)


def _raise_mismatch_case(session: Session, invoice: SupplierInvoice, order: PurchaseOrder) -> ExceptionCase:
    """The buyer's case: the invoice, its PO and the figures of every line that does not match."""
    case = mismatch_case(session, invoice, order)
    raised, _ = raise_case(
        session,
        type=ExceptionType.INVOICE_MISMATCH,
        entity_id=invoice.entity_id,
        dedup_key=case_key(invoice.id),
        severity="medium",
        title=case.title,
        detail=case.detail,
        related=case.related,
    )
    return raised


# --- Match again, release -----------------------------------------------------------------


def match_supplier_invoice(
    session: Session, actor: Actor, *, invoice_number: str | int, tolerances: Tolerances, channel: str = "system"
) -> SupplierInvoice:
    """Match a held invoice again on today's receipts: approved for payment if every line now matches (its case is
    resolved), else still on hold with the new figures. Decides nothing a person would: it only applies the match."""
    actor.require(Permission.BOOK_SUPPLIER_INVOICE)
    invoice = get_supplier_invoice(session, actor, invoice_number=invoice_number)
    order = get_purchase_order(session, actor, po_number=invoice.po_id, lock=True)  # the PO first, as booking does
    invoice = get_supplier_invoice(session, actor, invoice_number=invoice.id, lock=True)
    _require_held(invoice, "matched again")
    return _rematch(session, actor, invoice, order, tolerances, channel)


def rematch_after_receipt(
    session: Session, actor: Actor, order: PurchaseOrder, tolerances: Tolerances, channel: str = "system"
) -> list[SupplierInvoice]:
    """A receipt on `order` (already locked by it) is what its invoices on payment hold may have waited for: each is
    matched again, as the consequence of the receipt `actor` posted. Returns those approved for payment now."""
    held = session.scalars(
        select(SupplierInvoice)
        .where(SupplierInvoice.po_id == order.id, SupplierInvoice.status == InvoiceStatus.ON_HOLD.value)
        .order_by(SupplierInvoice.id)
        .with_for_update()
    ).all()
    matched = [_rematch(session, actor, invoice, order, tolerances, channel) for invoice in held]
    return [invoice for invoice in matched if invoice.status == InvoiceStatus.APPROVED]


def _rematch(
    session: Session,
    actor: Actor,
    invoice: SupplierInvoice,
    order: PurchaseOrder,
    tolerances: Tolerances,
    channel: str,
) -> SupplierInvoice:
    _match(session, invoice, order, tolerances)
    if invoice.status == InvoiceStatus.APPROVED:
        settle_caused_case(
            session,
            actor,
            dedup_key=case_key(invoice.id),
            resolution=f"{invoice.number} matched {order.number} on a new match: approved for payment",
        )
    else:
        _raise_mismatch_case(session, invoice, order).detail = _held_detail(session, invoice, order)
    _audit(session, actor, invoice, "supplier_invoice.matched", channel, {"status": invoice.status})
    session.flush()
    return invoice


def _held_detail(session: Session, invoice: SupplierInvoice, order: PurchaseOrder) -> str:
    lines = [
        d
        for d, ln in zip(describe_lines(session, invoice, order), invoice.lines, strict=True)
        if ln.result != "matched"
    ]
    return f"Matched again {clock.today()}: still on payment hold: " + "; ".join(lines) + "."


def release_supplier_invoice(
    session: Session, actor: Actor, *, invoice_number: str | int, reason: str, channel: str = "system"
) -> SupplierInvoice:
    """Approve a held invoice for payment despite its mismatch, saying why; never by the person who booked it."""
    actor.require(Permission.BOOK_SUPPLIER_INVOICE)
    why = _checked_reason(reason)
    invoice = get_supplier_invoice(session, actor, invoice_number=invoice_number, lock=True)
    _require_held(invoice, "released")
    if invoice.booked_by == actor.user_id:
        raise PermissionDenied(
            f"you booked {invoice.number}; someone else (finance or a manager) must approve it for payment"
        )
    invoice.status = InvoiceStatus.APPROVED.value
    invoice.released_by = actor.user_id
    invoice.approved_at = clock.now()
    invoice.release_reason = why
    settle_caused_case(
        session,
        actor,
        dedup_key=case_key(invoice.id),
        resolution=f"{invoice.number} approved for payment by {actor.username} despite the mismatch: {why}",
    )
    _audit(session, actor, invoice, "supplier_invoice.released", channel, {"reason": why})
    session.flush()
    return invoice


def _require_held(invoice: SupplierInvoice, verb: str) -> None:
    if invoice.status != InvoiceStatus.ON_HOLD:
        raise InvalidState(f"{invoice.number} is already approved for payment; only a held invoice can be {verb}")


def _checked_reason(reason: str) -> str:
    require_storable(reason, "the reason")
    text = reason.strip()
    if len(text) < 3:
        raise InvalidInput("say why the held invoice may be paid (price agreed with the supplier, goods arrived, ...)")
    if len(text) > MAX_REASON:
        raise InvalidInput(f"the reason may have at most {MAX_REASON} characters")
    return text


def _audit(
    session: Session, actor: Actor, invoice: SupplierInvoice, action: str, channel: str, data: dict[str, Any]
) -> None:
    record_event(
        session,
        AuditContext(actor_user_id=actor.user_id, channel=channel),
        action=action,
        subject_type="supplier_invoice",
        subject_id=invoice.number,
        entity_id=invoice.entity_id,
        data=data,
    )


# --- Reading -------------------------------------------------------------------------------


def get_supplier_invoice(
    session: Session, actor: Actor, *, invoice_number: str | int, lock: bool = False
) -> SupplierInvoice:
    """The supplier invoice with its lines, if its entity is in the actor's scope."""
    invoice = load_document(
        session, SupplierInvoice, invoice_number, kind=SUPPLIER_INVOICE, lock=lock, lines=SupplierInvoice.lines
    )
    actor.require_entity(invoice.entity_id, f"supplier invoice {invoice.number}")
    return invoice


@dataclass(frozen=True)
class InvoiceLineView:
    line_no: int  # on the PO
    sku: str
    quantity: int
    unit_price: Decimal
    amount: Decimal
    po_price: Decimal
    price_variance_pct: Decimal
    received: int
    billed_before: int
    result: str
    words: str


@dataclass(frozen=True)
class SupplierInvoiceView:
    """A supplier invoice as AP reads it: who bills what against which PO, its match, status, due date and case."""

    number: str
    supplier: str
    supplier_name: str
    supplier_ref: str
    po: str
    entity: str
    currency: str
    status: str
    invoice_date: date
    due_date: date
    total: Decimal
    open_amount: Decimal
    days_past_due: int
    booked_by: str
    released_by: str | None
    release_reason: str
    case: str | None
    case_status: str | None
    lines: list[InvoiceLineView] = field(default_factory=list)

    @property
    def mismatches(self) -> list[InvoiceLineView]:
        return [ln for ln in self.lines if ln.result != MatchResult.MATCHED]


def supplier_invoice_status(session: Session, actor: Actor, *, invoice_number: str | int) -> SupplierInvoiceView:
    """One supplier invoice: its lines with their match, its status, due date, open amount and case."""
    actor.require(Permission.VIEW_PAYABLES)
    return _views(session, [get_supplier_invoice(session, actor, invoice_number=invoice_number)])[0]


def list_supplier_invoices(
    session: Session,
    actor: Actor,
    *,
    status: str | None = None,
    supplier: str | None = None,
    po_number: str | int | None = None,
) -> list[SupplierInvoiceView]:
    """Supplier invoices in scope, newest first (at most 50), optionally of one status, supplier or PO."""
    actor.require(Permission.VIEW_PAYABLES)
    query = select(SupplierInvoice).where(SupplierInvoice.entity_id.in_(actor.entity_ids))
    if status:
        try:
            query = query.where(SupplierInvoice.status == InvoiceStatus(status.strip().lower()).value)
        except ValueError:
            raise InvalidInput(f"unknown status '{status}'; statuses are {', '.join(InvoiceStatus)}") from None
    if supplier:
        query = query.where(SupplierInvoice.supplier_id == get_supplier(session, code=supplier, suggest_for=actor).id)
    if po_number is not None:
        query = query.where(SupplierInvoice.po_id == get_purchase_order(session, actor, po_number=po_number).id)
    invoices = list(session.scalars(query.order_by(SupplierInvoice.id.desc()).limit(MAX_LISTED)))
    return _views(session, invoices)


def _views(session: Session, invoices: list[SupplierInvoice]) -> list[SupplierInvoiceView]:
    if not invoices:
        return []
    orders = {
        o.id: o for o in session.scalars(select(PurchaseOrder).where(PurchaseOrder.id.in_({i.po_id for i in invoices})))
    }
    suppliers = {
        s.id: s for s in session.scalars(select(Supplier).where(Supplier.id.in_({i.supplier_id for i in invoices})))
    }
    skus = item_skus(session, item_ids={ln.item_id for o in orders.values() for ln in o.lines})
    names = usernames(session, user_ids={u for i in invoices for u in (i.booked_by, i.released_by)})
    entities = entity_codes(session, {i.entity_id for i in invoices})
    cases = {
        c.related.get("supplier_invoice"): c
        for c in session.scalars(
            select(ExceptionCase).where(
                ExceptionCase.dedup_key.in_([case_key(i.id) for i in invoices]),
            )
        )
    }
    today = clock.today()
    views = []
    for invoice in invoices:
        order = orders[invoice.po_id]
        po_lines = {ln.id: ln for ln in order.lines}
        case = cases.get(invoice.number)
        vendor = suppliers[invoice.supplier_id]
        lines = []
        for ln in invoice.lines:
            po_line = po_lines[ln.po_line_id]
            no, sku = po_line_no(order, po_line), skus[po_line.item_id]
            lines.append(
                InvoiceLineView(
                    line_no=no,
                    sku=sku,
                    quantity=ln.quantity,
                    unit_price=round_unit_price(Decimal(ln.unit_price)),
                    amount=round_money(Decimal(ln.unit_price) * ln.quantity),
                    po_price=round_unit_price(Decimal(ln.po_price)),
                    price_variance_pct=round_percent(Decimal(ln.price_variance_pct)),
                    received=ln.received,
                    billed_before=ln.billed_before,
                    result=ln.result,
                    words=describe_line(ln, no, sku, invoice.currency),
                )
            )
        views.append(
            SupplierInvoiceView(
                number=invoice.number,
                supplier=vendor.code,
                supplier_name=vendor.name,
                supplier_ref=invoice.supplier_ref,
                po=order.number,
                entity=entities.get(invoice.entity_id, "?"),
                currency=invoice.currency,
                status=invoice.status,
                invoice_date=invoice.invoice_date,
                due_date=invoice.due_date,
                total=round_money(invoice.total),
                open_amount=round_money(invoice.open_amount),
                days_past_due=max(0, (today - invoice.due_date).days),
                booked_by=names.get(invoice.booked_by or 0, "?"),
                released_by=names.get(invoice.released_by) if invoice.released_by else None,
                release_reason=invoice.release_reason,
                case=case.number if case else None,
                case_status=case.status if case else None,
                lines=lines,
            )
        )
    return views


# --- Payables: ageing and due -----------------------------------------------------------------


@dataclass(frozen=True)
class AgeingRow:
    """What one entity owes (one supplier, or all of them when `supplier` is None), by days past due."""

    entity: str
    supplier: str | None
    currency: str
    buckets: dict[str, Decimal]
    on_hold: Decimal  # of the total, on payment hold
    invoices: int

    @property
    def total(self) -> Decimal:
        return round_money(sum(self.buckets.values(), Decimal(0)))

    @property
    def past_due(self) -> Decimal:
        return round_money(sum((v for k, v in self.buckets.items() if k != "current"), Decimal(0)))


@dataclass(frozen=True)
class PayablesAgeing:
    as_of: date
    entities: list[AgeingRow]  # one per entity, in its own currency
    suppliers: list[AgeingRow]  # one per entity and supplier


@dataclass(frozen=True)
class _Open:
    invoice: SupplierInvoice
    entity: str
    supplier: str
    base_currency: str  # the entity's
    base_amount: Decimal  # the open amount in it (at today's rate when the supplier bills in another currency)


def _open_invoices(
    session: Session, actor: Actor, entity: str | None, supplier: str | None, due_by: date | None = None
) -> list[_Open]:
    """Invoices with something left to pay, in scope (one entity or supplier if named), oldest due first."""
    ids = set(actor.entity_ids)
    if entity:
        chosen = get_entity(session, code=entity)
        actor.require_entity(chosen.id, f"legal entity {chosen.code}")
        ids = {chosen.id}
    query = select(SupplierInvoice).where(
        SupplierInvoice.entity_id.in_(ids), SupplierInvoice.total > SupplierInvoice.amount_paid
    )
    if supplier:
        query = query.where(SupplierInvoice.supplier_id == get_supplier(session, code=supplier, suggest_for=actor).id)
    if due_by is not None:
        query = query.where(SupplierInvoice.due_date <= due_by)
    invoices = list(session.scalars(query.order_by(SupplierInvoice.due_date, SupplierInvoice.id)))
    entities = {
        e.id: e for e in session.scalars(select(LegalEntity).where(LegalEntity.id.in_({i.entity_id for i in invoices})))
    }
    vendors = _supplier_codes(session, {i.supplier_id for i in invoices})
    rates: dict[tuple[str, str], Decimal] = {}

    def in_base(invoice: SupplierInvoice) -> Decimal:
        base = entities[invoice.entity_id].base_currency
        if invoice.currency == base:
            return round_money(invoice.open_amount)
        if (invoice.currency, base) not in rates:
            rates[(invoice.currency, base)] = exchange_rate(
                session, from_currency=invoice.currency, to_currency=base, on=clock.today()
            )
        return round_money(convert(invoice.open_amount, rates[(invoice.currency, base)]))

    return [
        _Open(i, entities[i.entity_id].code, vendors[i.supplier_id], entities[i.entity_id].base_currency, in_base(i))
        for i in invoices
    ]


def _supplier_codes(session: Session, ids: Iterable[int]) -> dict[int, str]:
    wanted = set(ids)
    if not wanted:
        return {}
    return dict(session.execute(select(Supplier.id, Supplier.code).where(Supplier.id.in_(wanted))).all())


def payables_ageing(
    session: Session, actor: Actor, *, entity: str | None = None, supplier: str | None = None
) -> PayablesAgeing:
    """What each entity owes its suppliers by days past due (current, 1-30, 31-60, 61-90, 90+): per entity in its
    own currency, per supplier in the currency it bills in."""
    actor.require(Permission.VIEW_PAYABLES)
    today = clock.today()
    by_entity: dict[str, list[_Open]] = {}
    by_supplier: dict[tuple[str, str], list[_Open]] = {}
    for row in _open_invoices(session, actor, entity, supplier):
        by_entity.setdefault(row.entity, []).append(row)
        by_supplier.setdefault((row.entity, row.supplier), []).append(row)
    return PayablesAgeing(
        as_of=today,
        entities=[_ageing_row(e, None, rows, today) for e, rows in sorted(by_entity.items())],
        suppliers=[_ageing_row(e, s, rows, today) for (e, s), rows in sorted(by_supplier.items())],
    )


def _amount(row: _Open, in_base: bool) -> Decimal:
    return row.base_amount if in_base else round_money(row.invoice.open_amount)


def _ageing_row(entity: str, supplier: str | None, rows: list[_Open], today: date) -> AgeingRow:
    """An entity's row adds its invoices up in its own currency; a supplier's in the currency the supplier bills."""
    in_base = supplier is None
    buckets = dict.fromkeys(BUCKETS, Decimal(0))
    held = Decimal(0)
    for row in rows:
        amount = _amount(row, in_base)
        buckets[bucket_of((today - row.invoice.due_date).days)] += amount
        held += amount if row.invoice.status == InvoiceStatus.ON_HOLD else Decimal(0)
    return AgeingRow(
        entity=entity,
        supplier=supplier,
        currency=rows[0].base_currency if in_base else rows[0].invoice.currency,
        buckets={k: round_money(v) for k, v in buckets.items()},
        on_hold=round_money(held),
        invoices=len(rows),
    )


@dataclass(frozen=True)
class DueInvoice:
    number: str
    entity: str
    supplier: str
    supplier_ref: str
    po: str
    currency: str
    due_date: date
    open_amount: Decimal
    status: str
    days_past_due: int  # 0 when due today or later


@dataclass(frozen=True)
class DueTotal:
    """What one entity (and supplier, if named) must pay by the end of the window: overdue and falling due."""

    entity: str
    supplier: str | None
    currency: str
    overdue: Decimal
    due: Decimal
    on_hold: Decimal  # of both, on payment hold (not payable until released or matched)
    invoices: int

    @property
    def total(self) -> Decimal:
        return round_money(self.overdue + self.due)


@dataclass(frozen=True)
class PayablesDue:
    as_of: date
    until: date
    invoices: list[DueInvoice]
    entities: list[DueTotal]  # in each entity's currency
    suppliers: list[DueTotal]  # in the currency each supplier bills


def payables_due(
    session: Session, actor: Actor, *, entity: str | None = None, supplier: str | None = None
) -> PayablesDue:
    """Open invoices due this week (today and the 6 days after) or already overdue, per entity and supplier."""
    actor.require(Permission.VIEW_PAYABLES)
    today = clock.today()
    until = today + timedelta(days=DUE_WINDOW_DAYS - 1)
    rows = _open_invoices(session, actor, entity, supplier, due_by=until)
    by_entity: dict[str, list[_Open]] = {}
    by_supplier: dict[tuple[str, str], list[_Open]] = {}
    for row in rows:
        by_entity.setdefault(row.entity, []).append(row)
        by_supplier.setdefault((row.entity, row.supplier), []).append(row)
    return PayablesDue(
        as_of=today,
        until=until,
        invoices=[_due_invoice(r, today) for r in rows],
        entities=[_due_total(e, None, rows, today) for e, rows in sorted(by_entity.items())],
        suppliers=[_due_total(e, s, rows, today) for (e, s), rows in sorted(by_supplier.items())],
    )


def _due_invoice(row: _Open, today: date) -> DueInvoice:
    invoice = row.invoice
    return DueInvoice(
        number=invoice.number,
        entity=row.entity,
        supplier=row.supplier,
        supplier_ref=invoice.supplier_ref,
        po=PURCHASE_ORDER.format(invoice.po_id),
        currency=invoice.currency,
        due_date=invoice.due_date,
        open_amount=round_money(invoice.open_amount),
        status=invoice.status,
        days_past_due=max(0, (today - invoice.due_date).days),
    )


def _due_total(entity: str, supplier: str | None, rows: list[_Open], today: date) -> DueTotal:
    in_base = supplier is None

    def total(chosen: Iterable[_Open]) -> Decimal:
        return round_money(sum((_amount(r, in_base) for r in chosen), Decimal(0)))

    return DueTotal(
        entity=entity,
        supplier=supplier,
        currency=rows[0].base_currency if in_base else rows[0].invoice.currency,
        overdue=total(r for r in rows if r.invoice.due_date < today),
        due=total(r for r in rows if r.invoice.due_date >= today),
        on_hold=total(r for r in rows if r.invoice.status == InvoiceStatus.ON_HOLD),
        invoices=len(rows),
    )


__all__ = [
    "AgeingRow",
    "DueInvoice",
    "DueTotal",
    "InvoiceLineRequest",
    "InvoiceLineView",
    "PayablesAgeing",
    "PayablesDue",
    "SupplierInvoiceView",
    "book_supplier_invoice",
    "get_supplier_invoice",
    "list_supplier_invoices",
    "match_supplier_invoice",
    "payables_ageing",
    "payables_due",
    "release_supplier_invoice",
    "supplier_invoice_status",
]
