"""Receivables over the API: record, apply and reverse customer payments through the write gate; read payments,
ageing (with DSO) and the collections worklist.

The POST routes are typed doors to the same draft kinds the assistant's payment tool makes: the body becomes a
draft as the signed-in user, previewed or handed to the policy at once as `confirm` says.
"""

from typing import Annotated

from fastapi import APIRouter, Query

from assistant.channels.web import schemas
from assistant.channels.web.auth import CurrentUser, ServicesDep
from assistant.channels.web.errors import documented
from assistant.channels.web.routes.drafts import submit
from core.policy.facts import DraftKind
from core.receivables.ageing import RANKING, AgeingLine, CollectionTarget, ageing, collections, overdue_invoices
from core.receivables.service import PaymentView, list_payments, payment_view

router = APIRouter(tags=["receivables"])
ERRORS = documented(401, 403, 404, 409, 422)


@router.post("/api/payments", response_model=schemas.DraftDetail, status_code=201, responses=ERRORS)
async def record(body: schemas.PaymentRequest, user: CurrentUser, svc: ServicesDep) -> schemas.DraftDetail:
    """Record money received from a customer (finance, or a manager asking finance): in the customer's entity
    currency (422 `currency_mismatch` otherwise), applied to the invoices named (never more than each has open;
    422 `wrong_counterparty` for another customer's or entity's invoice), else oldest due first; the rest stays on
    account."""
    payload = body.model_dump(mode="json", exclude={"confirm", "idempotency_key"}, exclude_none=True)
    return await submit(svc, user, DraftKind.CUSTOMER_PAYMENT.value, payload, body)


@router.post("/api/payments/{number}/apply", response_model=schemas.DraftDetail, status_code=201, responses=ERRORS)
async def apply(
    number: str, body: schemas.PaymentApplyRequest, user: CurrentUser, svc: ServicesDep
) -> schemas.DraftDetail:
    """Apply a payment's cash on account to the invoices named, else oldest due first. 409 when nothing is left
    on account or the payment is reversed."""
    payload = {"payment_number": number, "invoices": [a.model_dump(mode="json") for a in body.invoices]}
    return await submit(svc, user, DraftKind.CUSTOMER_PAYMENT.value, payload, body)


@router.post("/api/payments/{number}/reversal", response_model=schemas.DraftDetail, status_code=201, responses=ERRORS)
async def reverse(
    number: str, body: schemas.PaymentReversalRequest, user: CurrentUser, svc: ServicesDep
) -> schemas.DraftDetail:
    """Reverse a payment: the invoices it settled open again. It waits for a second person in finance (never the
    requester). 409 when it is already reversed."""
    payload = {"payment_number": number, "reason": body.reason}
    return await submit(svc, user, DraftKind.PAYMENT_REVERSAL.value, payload, body)


@router.get("/api/payments/{number}", response_model=schemas.PaymentView, responses=documented(401, 403, 404))
def payment(number: str, user: CurrentUser, svc: ServicesDep) -> schemas.PaymentView:
    """One payment: what it settled, what is left on account, its status."""
    return payment_out(svc.db.read(lambda s: payment_view(s, user.actor, payment_number=number)))


@router.get("/api/payments", response_model=list[schemas.PaymentView], responses=documented(401, 404, 422))
def payments(
    user: CurrentUser,
    svc: ServicesDep,
    customer: Annotated[str | None, Query(max_length=160)] = None,
    unapplied: bool = False,
    limit: Annotated[int, Query(ge=1, le=50)] = 20,
) -> list[schemas.PaymentView]:
    """Payments in your entities, newest first; of one customer; only those with cash on account."""
    views = svc.db.read(
        lambda s: list_payments(s, user.actor, customer=customer, unapplied_only=unapplied, limit=limit)
    )
    return [payment_out(v) for v in views]


@router.get("/api/receivables/ageing", response_model=schemas.AgeingReport, responses=documented(401, 403, 404))
def ageing_report(
    user: CurrentUser,
    svc: ServicesDep,
    customer: Annotated[str | None, Query(max_length=160)] = None,
    entity: Annotated[str | None, Query(max_length=8)] = None,
) -> schemas.AgeingReport:
    """Open receivables by customer and by entity in buckets of days past due (current, 1-30, 31-60, 61-90, 90+),
    and each entity's DSO with its formula."""
    report = svc.db.read(lambda s: ageing(s, user.actor, customer=customer, entity=entity))
    return schemas.AgeingReport(
        as_of=report.as_of,
        customers=[_row(ln) for ln in report.customers],
        entities=[_row(ln) for ln in report.entities],
        dso=[
            schemas.DsoView(
                entity=d.entity,
                currency=d.currency,
                receivables=d.receivables,
                credit_sales_90_days=d.credit_sales,
                days=d.days,
                formula=d.formula,
            )
            for d in report.dso
        ],
    )


@router.get(
    "/api/receivables/overdue", response_model=list[schemas.OverdueInvoiceView], responses=documented(401, 403, 404)
)
def overdue_report(
    user: CurrentUser,
    svc: ServicesDep,
    customer: Annotated[str | None, Query(max_length=160)] = None,
    entity: Annotated[str | None, Query(max_length=8)] = None,
    limit: Annotated[int, Query(ge=1, le=50)] = 20,
) -> list[schemas.OverdueInvoiceView]:
    """Invoices past their due date with money open, the longest overdue first."""
    rows = svc.db.read(lambda s: overdue_invoices(s, user.actor, customer=customer, entity=entity, limit=limit))
    return [
        schemas.OverdueInvoiceView(
            invoice=o.invoice,
            customer=o.customer,
            entity=o.entity,
            currency=o.currency,
            issued_on=o.issued_on,
            due_on=o.due_on,
            days_past_due=o.days_past_due,
            bucket=o.bucket,
            open=o.open,
        )
        for o in rows
    ]


@router.get(
    "/api/receivables/collections", response_model=schemas.CollectionsReport, responses=documented(401, 403, 404)
)
def collections_report(
    user: CurrentUser,
    svc: ServicesDep,
    entity: Annotated[str | None, Query(max_length=8)] = None,
    limit: Annotated[int, Query(ge=1, le=50)] = 20,
) -> schemas.CollectionsReport:
    """Who to chase today: customers with money past due, ranked, with the facts behind each rank."""
    targets = svc.db.read(lambda s: collections(s, user.actor, entity=entity, limit=limit))
    return schemas.CollectionsReport(ranking=RANKING, customers=[_target(t) for t in targets])


def _row(line: AgeingLine) -> schemas.AgeingRow:
    return schemas.AgeingRow(
        code=line.code,
        name=line.name,
        entity=line.entity,
        currency=line.currency,
        buckets=line.buckets,
        total=line.total,
        past_due=line.past_due,
        oldest_days_past_due=line.oldest_days,
        oldest_invoice=line.oldest_invoice,
        on_account=line.unapplied,
    )


def _target(t: CollectionTarget) -> schemas.CollectionRow:
    return schemas.CollectionRow(
        rank=t.rank,
        customer=t.customer,
        name=t.name,
        entity=t.entity,
        currency=t.currency,
        past_due=t.past_due,
        past_due_usd=t.past_due_usd,
        buckets=t.buckets,
        oldest_days_past_due=t.oldest_days,
        oldest_invoice=t.oldest_invoice,
        exposure=t.exposure,
        credit_limit=t.credit_limit,
        on_hold=t.on_hold,
        avg_days_late=t.avg_days_late,
        paid_invoices=t.paid_invoices,
        on_account=t.unapplied,
        score=t.score,
    )


def payment_out(view: PaymentView) -> schemas.PaymentView:
    """A payment as the API shows it."""
    return schemas.PaymentView(
        number=view.number,
        customer=view.customer,
        entity=view.entity,
        currency=view.currency,
        amount=view.amount,
        applied=view.applied,
        unapplied=view.unapplied,
        received_on=view.received_on,
        bank_reference=view.bank_reference,
        status=view.status,  # type: ignore[arg-type]
        reversal_reason=view.reversal_reason,
        applications=[
            schemas.PaymentApplicationView(
                invoice=a.invoice, amount=a.amount, applied_on=a.applied_on, reversed=a.reversed
            )
            for a in view.applications
        ],
    )
