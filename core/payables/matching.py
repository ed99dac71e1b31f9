"""A supplier invoice's three-way match in words, and the case a mismatch raises (used by booking, re-matching and the
exception detector alike, so the buyer always reads the same figures)."""

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from core.masterdata.models import Supplier
from core.masterdata.service import item_skus
from core.money import format_money
from core.payables.models import MatchResult, SupplierInvoice, SupplierInvoiceLine
from core.purchasing.models import PurchaseOrder, PurchaseOrderLine

MISMATCH_CASE = "invoice_mismatch"  # the ExceptionType's value (the exceptions package imports this module)
RESULT_WORDS = {
    MatchResult.MATCHED: "matched",
    MatchResult.PRICE_OVER: "PRICE OVER TOLERANCE",
    MatchResult.OVER_BILLED: "BILLED MORE THAN RECEIVED",
    MatchResult.NOT_RECEIVED: "NOTHING RECEIVED YET",
}


def po_line_no(order: PurchaseOrder, line: PurchaseOrderLine) -> int:
    """A PO line's number as people read the order: its position, from 1."""
    return next(i for i, ln in enumerate(order.lines, start=1) if ln.id == line.id)


def describe_line(line: SupplierInvoiceLine, no: int, sku: str, currency: str) -> str:
    """ "line 1 V-200: 40 billed at USD 41.50 (PO USD 41.50, +0.0%); received 40, billed before 0: matched"."""
    pct = Decimal(line.price_variance_pct)
    return (
        f"line {no} {sku}: {line.quantity} billed at {format_money(Decimal(line.unit_price), currency)} "
        f"(PO {format_money(Decimal(line.po_price), currency)}, {pct:+.1f}%); "
        f"received {line.received}, billed before {line.billed_before}: {RESULT_WORDS[MatchResult(line.result)]}"
    )


def describe_lines(session: Session, invoice: SupplierInvoice, order: PurchaseOrder) -> list[str]:
    """Each line's match in words, in the invoice's order."""
    return _described(invoice, order, item_skus(session, item_ids=[ln.item_id for ln in order.lines]))


def _described(invoice: SupplierInvoice, order: PurchaseOrder, skus: dict[int, str]) -> list[str]:
    po_lines = {ln.id: ln for ln in order.lines}
    return [
        describe_line(
            ln, po_line_no(order, po_lines[ln.po_line_id]), skus[po_lines[ln.po_line_id].item_id], order.currency
        )
        for ln in invoice.lines
    ]


def case_key(invoice_id: int) -> str:
    """The dedup key of a supplier invoice's mismatch case, as the detector writes keys."""
    return f"{MISMATCH_CASE}:supplier_invoice:{invoice_id}"


@dataclass(frozen=True)
class MismatchCase:
    title: str
    detail: str
    related: dict[str, Any]


def mismatch_case(session: Session, invoice: SupplierInvoice, order: PurchaseOrder) -> MismatchCase:
    """The buyer's case about a held invoice: the invoice, its PO and the figures of every line that does not match."""
    vendor = session.get(Supplier, invoice.supplier_id)
    assert vendor is not None
    return mismatch_case_of(
        invoice, order, item_skus(session, item_ids=[ln.item_id for ln in order.lines]), vendor.code
    )


def mismatch_case_of(
    invoice: SupplierInvoice, order: PurchaseOrder, skus: dict[int, str], supplier: str
) -> MismatchCase:
    """The same, from SKUs and the supplier's code already read (a detection pass reads them for all at once)."""
    held = [
        words
        for words, ln in zip(_described(invoice, order, skus), invoice.lines, strict=True)
        if ln.result != MatchResult.MATCHED
    ]
    return MismatchCase(
        title=f"{invoice.number} from {supplier} ({invoice.supplier_ref}) does not match {order.number}",
        detail=(
            f"{invoice.number} bills {format_money(Decimal(invoice.total), invoice.currency)} against {order.number} "
            f"and is on payment hold: " + "; ".join(held) + ". Settle it with the supplier (a credit note or a "
            "corrected invoice), wait for the goods and match it again, or have it released by someone other than "
            "its booker."
        ),
        related={"supplier_invoice": invoice.number, "purchase_order": order.number, "supplier": supplier},
    )
