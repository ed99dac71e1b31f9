"""Accounts payable for the model: one draft tool (book a supplier invoice, or release a held one) and one read tool
(payables ageing, what falls due this week, or one supplier invoice with its three-way match)."""

from typing import Literal

from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from core import clock
from core.actor import Permission
from core.drafts.service import draft_action
from core.drafts.supplier_invoices import SupplierInvoiceAsked, as_kind
from core.errors import InvalidInput
from core.finance.ageing import BUCKETS
from core.payables.service import (
    PayablesAgeing,
    PayablesDue,
    SupplierInvoiceView,
    payables_ageing,
    payables_due,
    supplier_invoice_status,
)
from tools import facts as fact
from tools.context import ToolContext
from tools.drafts import DRAFT_NOTE, draft_result
from tools.outcome import DraftResult
from tools.registry import Tool, ToolArgs

MAX_ROWS = 10
OPEN_AMOUNT = "open amount"  # fact labels, as "<subject> <label>: <value>."
DUE_DATE = "due date"
STATUS_WORDS = {"approved": "approved for payment", "on_hold": "on payment hold"}


class PayablesArgs(ToolArgs):
    view: Literal["ageing", "due", "invoice"] = Field(description="due: this week")
    invoice_number: str | None = Field(None, max_length=24, description="invoice: e.g. SINV-2")
    supplier: str | None = Field(None, max_length=32)


class PayablesResult(BaseModel):
    view: str
    as_of: str
    invoice: str | None = None
    status: str | None = None
    case: str | None = None
    rows: list[str] = []
    facts: list[str] = []


def get_payables(session: Session, ctx: ToolContext, args: PayablesArgs) -> PayablesResult:
    """What we owe suppliers: ageing, due this week, or one supplier invoice (its match, hold and case)."""
    if args.view == "invoice":
        if not args.invoice_number:
            raise InvalidInput("give invoice_number (e.g. SINV-2) to read one supplier invoice")
        return _invoice(supplier_invoice_status(session, ctx.actor, invoice_number=args.invoice_number))
    if args.view == "due":
        return _due(payables_due(session, ctx.actor, supplier=args.supplier))
    return _ageing(payables_ageing(session, ctx.actor, supplier=args.supplier))


def _invoice(view: SupplierInvoiceView) -> PayablesResult:
    number, money = view.number, view.currency
    status = STATUS_WORDS.get(view.status, view.status)
    facts = [
        fact.figure(number, fact.STATUS, status),
        f"{number} is {view.supplier}'s invoice {view.supplier_ref} against {view.po}, dated "
        f"{view.invoice_date.isoformat()}, booked by {view.booked_by}.",
        fact.figure(number, fact.TOTAL, fact.money(view.total, money)),
        fact.figure(number, OPEN_AMOUNT, fact.money(view.open_amount, money)),
        fact.figure(number, DUE_DATE, view.due_date.isoformat()),
    ]
    if view.status == "on_hold":
        facts += [f"{number} is on hold because {ln.words}." for ln in view.mismatches[:5]]
    if view.case:
        facts.append(fact.figure(number, "case", f"{view.case} ({view.case_status}, owned by the buyer)"))
    if view.released_by:
        facts.append(f"{number} was released for payment by {view.released_by}: {view.release_reason}.")
    return PayablesResult(
        view="invoice",
        as_of=clock.today().isoformat(),
        invoice=number,
        status=view.status,
        case=view.case,
        rows=[ln.words for ln in view.lines[:MAX_ROWS]],
        facts=facts,
    )


def _due(due: PayablesDue) -> PayablesResult:
    window = f"{due.as_of.isoformat()} to {due.until.isoformat()}"
    facts = [
        f"{t.entity} owes suppliers {fact.money(t.total, t.currency)} by {due.until.isoformat()} ({window}): "
        f"{fact.money(t.overdue, t.currency)} overdue and {fact.money(t.due, t.currency)} falling due; "
        f"{fact.money(t.on_hold, t.currency)} of it on payment hold."
        for t in due.entities
    ] or [f"Nothing is due to suppliers from {window}."]
    rows = [
        f"{i.number} {i.supplier} {i.supplier_ref} ({i.po}) due {i.due_date.isoformat()}: "
        f"{fact.money(i.open_amount, i.currency)}, {STATUS_WORDS.get(i.status, i.status)}"
        + (f", {i.days_past_due} days overdue" if i.days_past_due else "")
        for i in due.invoices[:MAX_ROWS]
    ]
    facts += [f"{row}." for row in rows[:5]]
    return PayablesResult(view="due", as_of=due.as_of.isoformat(), rows=rows, facts=facts)


def _ageing(ageing: PayablesAgeing) -> PayablesResult:
    facts = []
    for row in ageing.entities:
        parts = ", ".join(f"{b} {fact.money(row.buckets[b], row.currency)}" for b in BUCKETS)
        facts.append(
            f"{row.entity} payables {fact.TOTAL}: {fact.money(row.total, row.currency)} on {ageing.as_of.isoformat()}"
            f" ({parts}; days past due); {fact.money(row.on_hold, row.currency)} on payment hold."
        )
    if not facts:
        facts = [f"No supplier invoice is open on {ageing.as_of.isoformat()}."]
    biggest = sorted(ageing.suppliers, key=lambda r: -r.total)[:MAX_ROWS]
    rows = [
        f"{r.supplier} ({r.entity}): {fact.money(r.total, r.currency)}, "
        f"{fact.money(r.past_due, r.currency)} past due, {r.invoices} invoice(s)"
        for r in biggest
    ]
    return PayablesResult(view="ageing", as_of=ageing.as_of.isoformat(), rows=rows, facts=facts + rows[:3])


def draft_supplier_invoice(session: Session, ctx: ToolContext, args: SupplierInvoiceAsked) -> DraftResult:
    """Book a supplier's invoice against a PO (matched three ways), or release a held one: a preview, unconfirmed."""
    kind, payload = as_kind(args)
    draft = draft_action(session, ctx.request(), confirmed=False, kind=kind, payload=payload.model_dump(mode="json"))
    return draft_result(session, draft)


TOOLS = [
    Tool(
        "get_payables",
        "What we owe suppliers: view ageing, due (this week), or invoice (a supplier invoice SINV-: match, hold).",
        PayablesArgs,
        get_payables,
        needs=Permission.VIEW_PAYABLES,
    ),
    Tool(
        "draft_supplier_invoice",
        "Book a supplier's invoice against a PO (action book), or release a held one for payment (action release)."
        + DRAFT_NOTE,
        SupplierInvoiceAsked,
        draft_supplier_invoice,
        writes=True,
        needs=Permission.BOOK_SUPPLIER_INVOICE,
    ),
]
