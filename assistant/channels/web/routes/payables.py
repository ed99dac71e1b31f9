"""Accounts payable over the API: book a supplier invoice or release a held one through the write gate, match a
held one again, read one or a list, and the payables ageing and what falls due this week.

The POST routes that draft are typed doors to the same draft kinds the assistant's supplier-invoice tool makes: the
body becomes a draft as the signed-in user, previewed or handed to the policy at once as `confirm` says.
"""

from typing import Annotated

from fastapi import APIRouter, Query

from assistant.channels.web import schemas
from assistant.channels.web.auth import CurrentUser, ServicesDep
from assistant.channels.web.errors import documented
from assistant.channels.web.routes.drafts import submit
from core.drafts.supplier_invoices import current_tolerances
from core.payables import service as payables
from core.policy.facts import DraftKind

router = APIRouter(tags=["payables"])
ERRORS = documented(401, 403, 404, 409, 422)
INVOICES = "/api/supplier-invoices"


@router.post(INVOICES, response_model=schemas.DraftDetail, status_code=201, responses=ERRORS)
async def book(body: schemas.SupplierInvoiceRequest, user: CurrentUser, svc: ServicesDep) -> schemas.DraftDetail:
    """Book a supplier's invoice against a purchase order (finance or a manager of its entity). Each line is
    matched: billed price against the PO's, billed units against those received and not yet billed. Matched, it is
    approved for payment; otherwise booked on payment hold with an invoice_mismatch case for the buyer. 409 for a
    reference the supplier already billed; 422 for another currency than the PO's or a line the PO does not have."""
    payload = body.model_dump(mode="json", exclude={"confirm", "idempotency_key"}, exclude_none=True)
    return await submit(svc, user, DraftKind.SUPPLIER_INVOICE.value, payload, body)


@router.post(f"{INVOICES}/{{number}}/release", response_model=schemas.DraftDetail, status_code=201, responses=ERRORS)
async def release(
    number: str, body: schemas.SupplierInvoiceReleaseRequest, user: CurrentUser, svc: ServicesDep
) -> schemas.DraftDetail:
    """Approve a held invoice for payment despite its mismatch, saying why: a manager's request executes, finance's
    waits for a manager. 403 for the person who booked it; 409 when it is not on hold."""
    payload = {"invoice_number": number, "reason": body.reason}
    return await submit(svc, user, DraftKind.SUPPLIER_INVOICE_RELEASE.value, payload, body)


@router.post(f"{INVOICES}/{{number}}/match", response_model=schemas.SupplierInvoiceView, responses=ERRORS)
def match(number: str, user: CurrentUser, svc: ServicesDep) -> schemas.SupplierInvoiceView:
    """Match a held invoice again on today's receipts: approved for payment (its case resolved) if every line now
    matches, else still on hold with the new figures. 409 when it is already approved."""
    svc.db.run(
        lambda s: (
            payables.match_supplier_invoice(
                s, user.actor, invoice_number=number, tolerances=current_tolerances(), channel="api"
            ).number
        )
    )
    return show(number, user, svc)


@router.get(f"{INVOICES}/{{number}}", response_model=schemas.SupplierInvoiceView, responses=documented(401, 403, 404))
def show(number: str, user: CurrentUser, svc: ServicesDep) -> schemas.SupplierInvoiceView:
    """One supplier invoice: its lines with their three-way match, status, due date, open amount and case."""
    return invoice_view(svc.db.read(lambda s: payables.supplier_invoice_status(s, user.actor, invoice_number=number)))


@router.get(INVOICES, response_model=list[schemas.SupplierInvoiceView], responses=documented(401, 403, 404, 422))
def invoices(
    user: CurrentUser,
    svc: ServicesDep,
    status: Annotated[str | None, Query(max_length=12, description="approved or on_hold")] = None,
    supplier: Annotated[str | None, Query(max_length=32)] = None,
    po: Annotated[str | None, Query(max_length=24)] = None,
) -> list[schemas.SupplierInvoiceView]:
    """Supplier invoices in your entities, newest first (at most 50), optionally of one status, supplier or PO."""
    views = svc.db.read(
        lambda s: payables.list_supplier_invoices(s, user.actor, status=status, supplier=supplier, po_number=po)
    )
    return [invoice_view(v) for v in views]


@router.get("/api/payables/ageing", response_model=schemas.PayablesAgeing, responses=documented(401, 403, 404))
def ageing(
    user: CurrentUser,
    svc: ServicesDep,
    entity: Annotated[str | None, Query(max_length=16)] = None,
    supplier: Annotated[str | None, Query(max_length=32)] = None,
) -> schemas.PayablesAgeing:
    """What each entity owes its suppliers by days past due (current, 1-30, 31-60, 61-90, 90+): per entity in its
    own currency, per supplier in the currency it bills in; what of it is on payment hold."""
    report = svc.db.read(lambda s: payables.payables_ageing(s, user.actor, entity=entity, supplier=supplier))
    return schemas.PayablesAgeing(
        as_of=report.as_of,
        entities=[_ageing_row(r) for r in report.entities],
        suppliers=[_ageing_row(r) for r in report.suppliers],
    )


@router.get("/api/payables/due", response_model=schemas.PayablesDue, responses=documented(401, 403, 404))
def due(
    user: CurrentUser,
    svc: ServicesDep,
    entity: Annotated[str | None, Query(max_length=16)] = None,
    supplier: Annotated[str | None, Query(max_length=32)] = None,
) -> schemas.PayablesDue:
    """Open supplier invoices due this week (today and the six days after) or already overdue, with the totals per
    entity (its currency) and per supplier."""
    report = svc.db.read(lambda s: payables.payables_due(s, user.actor, entity=entity, supplier=supplier))
    return schemas.PayablesDue(
        as_of=report.as_of,
        until=report.until,
        invoices=[
            schemas.DueInvoice(
                number=i.number,
                entity=i.entity,
                supplier=i.supplier,
                supplier_ref=i.supplier_ref,
                po=i.po,
                currency=i.currency,
                due_date=i.due_date,
                open_amount=i.open_amount,
                status=i.status,  # type: ignore[arg-type]
                days_past_due=i.days_past_due,
            )
            for i in report.invoices
        ],
        entities=[_due_total(t) for t in report.entities],
        suppliers=[_due_total(t) for t in report.suppliers],
    )


def _ageing_row(row: payables.AgeingRow) -> schemas.PayablesAgeingRow:
    b = row.buckets
    return schemas.PayablesAgeingRow(
        entity=row.entity,
        supplier=row.supplier,
        currency=row.currency,
        current=b["current"],
        days_1_30=b["1-30"],
        days_31_60=b["31-60"],
        days_61_90=b["61-90"],
        days_over_90=b["90+"],
        total=row.total,
        past_due=row.past_due,
        on_hold=row.on_hold,
        invoices=row.invoices,
    )


def _due_total(total: payables.DueTotal) -> schemas.DueTotal:
    return schemas.DueTotal(
        entity=total.entity,
        supplier=total.supplier,
        currency=total.currency,
        overdue=total.overdue,
        due=total.due,
        total=total.total,
        on_hold=total.on_hold,
        invoices=total.invoices,
    )


def invoice_view(view: payables.SupplierInvoiceView) -> schemas.SupplierInvoiceView:
    """A supplier invoice as the API shows it."""
    return schemas.SupplierInvoiceView(
        number=view.number,
        supplier=view.supplier,
        supplier_name=view.supplier_name,
        supplier_ref=view.supplier_ref,
        po=view.po,
        entity=view.entity,
        currency=view.currency,
        status=view.status,  # type: ignore[arg-type]
        invoice_date=view.invoice_date,
        due_date=view.due_date,
        total=view.total,
        open_amount=view.open_amount,
        days_past_due=view.days_past_due,
        booked_by=view.booked_by,
        released_by=view.released_by,
        release_reason=view.release_reason,
        case=view.case,
        case_status=view.case_status,
        lines=[
            schemas.SupplierInvoiceLineView(
                line_no=ln.line_no,
                sku=ln.sku,
                quantity=ln.quantity,
                unit_price=ln.unit_price,
                amount=ln.amount,
                po_price=ln.po_price,
                price_variance_pct=ln.price_variance_pct,
                received=ln.received,
                billed_before=ln.billed_before,
                result=ln.result,  # type: ignore[arg-type]
                words=ln.words,
            )
            for ln in view.lines
        ],
    )
