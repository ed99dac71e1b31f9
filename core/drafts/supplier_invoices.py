"""Supplier-invoice drafts: book a supplier's invoice against a PO (three-way matched), and release a held one.

The assistant's one tool takes `SupplierInvoiceAsked` (an `action` picks book or release, to keep one schema); the
write gate stores it as one of the two kinds below, so the policy judges each on its own facts. The match's
tolerances are the policy file's (`tolerances:`), so what the preview shows is what booking will decide.
"""

from datetime import date
from decimal import Decimal
from typing import Literal

from pydantic import Field
from sqlalchemy.orm import Session

from core.actor import Actor
from core.drafts.base import Applied, DraftPayload, Payload, Quantity, normalised
from core.errors import InvalidInput
from core.masterdata.models import Supplier
from core.masterdata.service import entity_codes
from core.money import format_money
from core.payables.matching import describe_lines
from core.payables.models import InvoiceStatus, SupplierInvoice
from core.payables.service import (
    InvoiceLineRequest,
    book_supplier_invoice,
    largest_price_variance,
    mismatched_lines,
    over_billed_units,
    release_supplier_invoice,
)
from core.policy.loader import load_policy, policy_path
from core.policy.rules import Tolerances
from core.purchasing.service import get_purchase_order


class InvoiceLineAsked(Payload):
    sku: str | None = Field(None, max_length=40, description="or line_no")
    line_no: int | None = Field(None, ge=1, description="PO line")
    quantity: int = Quantity
    unit_price: Decimal = Field(ge=0)


class SupplierInvoiceDraft(DraftPayload):
    po_number: str = Field(min_length=1, max_length=24, description="e.g. PO-12")
    supplier_ref: str = Field(min_length=1, max_length=40, description="the supplier's invoice number")
    lines: list[InvoiceLineAsked] = Field(min_length=1, max_length=200)
    supplier: str | None = Field(None, max_length=32)
    currency: str | None = Field(None, min_length=3, max_length=3)
    invoice_date: date | None = None
    due_date: date | None = None

    def subject(self) -> tuple[str, ...]:
        return normalised(self.po_number)


class SupplierInvoiceReleaseDraft(DraftPayload):
    invoice_number: str = Field(min_length=1, max_length=24, description="e.g. SINV-2")
    reason: str = Field(min_length=3, max_length=500)

    def subject(self) -> tuple[str, ...]:
        return normalised(self.invoice_number)


# The assistant's one supplier-invoice tool (no docstring: it would join the schema the model reads).
class SupplierInvoiceAsked(DraftPayload):
    action: Literal["book", "release"] = "book"
    po_number: str | None = Field(None, max_length=24, description="book: e.g. PO-12")
    supplier_ref: str | None = Field(None, max_length=40, description="book: the supplier's invoice number")
    lines: list[InvoiceLineAsked] = Field(default_factory=list, max_length=200)
    supplier: str | None = Field(None, max_length=32)
    invoice_date: date | None = None
    invoice_number: str | None = Field(None, max_length=24, description="release: e.g. SINV-2")
    reason: str | None = Field(None, max_length=500)

    def subject(self) -> tuple[str, ...]:
        return normalised(self.action, self.po_number or self.invoice_number or "")


_TOLERANCES: dict[str, Tolerances] = {}


def current_tolerances() -> Tolerances:
    """The match tolerances of the deployment's policy file, read once per file."""
    path = str(policy_path())
    if path not in _TOLERANCES:
        _TOLERANCES[path] = load_policy().tolerances
    return _TOLERANCES[path]


def _match_facts(invoice: SupplierInvoice) -> dict[str, object]:
    return {
        "mismatched_lines": mismatched_lines(invoice),
        "price_variance_pct": largest_price_variance(invoice),
        "over_billed_units": over_billed_units(invoice),
    }


def apply_supplier_invoice(session: Session, actor: Actor, payload: SupplierInvoiceDraft) -> Applied:
    """Book the invoice and match it: approved for payment, or on payment hold with a case for the buyer."""
    invoice = book_supplier_invoice(
        session,
        actor,
        po_number=payload.po_number,
        supplier_ref=payload.supplier_ref,
        lines=[InvoiceLineRequest(ln.quantity, ln.unit_price, ln.line_no, ln.sku) for ln in payload.lines],
        tolerances=current_tolerances(),
        supplier=payload.supplier,
        currency=payload.currency,
        invoice_date=payload.invoice_date,
        due_date=payload.due_date,
    )
    order = get_purchase_order(session, actor, po_number=invoice.po_id)
    vendor = session.get(Supplier, invoice.supplier_id)
    assert vendor is not None
    total = format_money(Decimal(invoice.total), invoice.currency)
    held = invoice.status == InvoiceStatus.ON_HOLD
    entity = entity_codes(session, [invoice.entity_id]).get(invoice.entity_id, "?")
    return Applied(
        result_ref=invoice.number,
        entity_id=invoice.entity_id,
        currency=invoice.currency,
        amount=Decimal(invoice.total),
        summary=(
            f"Supplier invoice {invoice.supplier_ref} from {vendor.code} against {order.number}: {total}, dated "
            f"{invoice.invoice_date}, due {invoice.due_date}"
        ),
        quantity=sum(ln.quantity for ln in invoice.lines),
        facts=_match_facts(invoice),
        effects=[
            *describe_lines(session, invoice, order),
            "the invoice goes on payment hold; an invoice_mismatch case goes to the buyer with these figures"
            if held
            else "every line matches the PO and the receipts: approved for payment",
            f"{entity} payables to {vendor.code}: +{total}, due {invoice.due_date}",
        ],
    )


def apply_supplier_invoice_release(session: Session, actor: Actor, payload: SupplierInvoiceReleaseDraft) -> Applied:
    """Approve a held invoice for payment despite its mismatch (never by its booker); its case is resolved."""
    invoice = release_supplier_invoice(
        session, actor, invoice_number=payload.invoice_number, reason=payload.reason, channel="draft"
    )
    vendor = session.get(Supplier, invoice.supplier_id)
    assert vendor is not None
    total = format_money(Decimal(invoice.total), invoice.currency)
    return Applied(
        result_ref=invoice.number,
        entity_id=invoice.entity_id,
        currency=invoice.currency,
        amount=Decimal(invoice.total),
        summary=(
            f"Approve {invoice.number} ({vendor.code} {invoice.supplier_ref}, {total}) for payment despite its "
            f"mismatch: {invoice.release_reason}"
        ),
        facts=_match_facts(invoice),
        effects=[
            f"{invoice.number}: on payment hold → approved for payment",
            f"{invoice.number}: its invoice_mismatch case is resolved",
        ],
    )


def as_kind(asked: SupplierInvoiceAsked) -> tuple[str, DraftPayload]:
    """The draft kind and payload a `SupplierInvoiceAsked` names (book needs PO, reference, lines; release an SINV)."""
    if asked.action == "book":
        missing = [n for n, v in (("po_number", asked.po_number), ("supplier_ref", asked.supplier_ref)) if not v]
        missing += ["lines"] if not asked.lines else []
        if missing:
            raise InvalidInput(f"to book a supplier invoice give {', '.join(missing)}")
        return "supplier_invoice", SupplierInvoiceDraft(
            po_number=asked.po_number or "",
            supplier_ref=asked.supplier_ref or "",
            lines=asked.lines,
            supplier=asked.supplier,
            currency=None,  # the PO's
            invoice_date=asked.invoice_date,
        )
    missing = [n for n, v in (("invoice_number", asked.invoice_number), ("reason", asked.reason)) if not v]
    if missing:
        raise InvalidInput(f"to release a held supplier invoice give {', '.join(missing)}")
    return "supplier_invoice_release", SupplierInvoiceReleaseDraft(
        invoice_number=asked.invoice_number or "", reason=asked.reason or ""
    )
