"""Returns (RMA) over the API: authorise a return and receive it through the write gate, read one or a list.

The two POST routes are typed doors to the same draft kinds the assistant's return tool makes: the body becomes
a draft as the signed-in user, previewed or handed to the policy at once as `confirm` says.
"""

from typing import Annotated

from fastapi import APIRouter, Query

from assistant.channels.web import schemas
from assistant.channels.web.auth import CurrentUser, ServicesDep
from assistant.channels.web.errors import documented
from assistant.channels.web.routes.drafts import submit
from core.policy.facts import DraftKind
from core.returns.service import ReturnView, list_returns, return_status

router = APIRouter(prefix="/api/returns", tags=["returns"])
ERRORS = documented(401, 403, 404, 409, 422)


@router.post("", response_model=schemas.DraftDetail, status_code=201, responses=ERRORS)
async def authorise(
    body: schemas.ReturnAuthorisationRequest, user: CurrentUser, svc: ServicesDep
) -> schemas.DraftDetail:
    """Authorise units shipped on an order to come back (sales or a manager of its entity): never more than
    shipped minus already authorised. Within the policy's return window and value it executes; an older shipment
    or a large credit waits for a manager. 403 for the wrong role or another entity's order; 422 for more than
    shipped or an unshipped line."""
    payload = {
        "order_number": body.order_number,
        "lines": [ln.model_dump(mode="json") for ln in body.lines],
        "reason": body.reason,
    }
    return await submit(svc, user, DraftKind.RETURN_AUTHORISATION.value, payload, body)


@router.post("/{rma_number}/receipt", response_model=schemas.DraftDetail, status_code=201, responses=ERRORS)
async def receive(
    rma_number: str, body: schemas.ReturnReceiptRequest, user: CurrentUser, svc: ServicesDep
) -> schemas.DraftDetail:
    """Receive an authorised return (warehouse staff or a manager): restock each line into a warehouse of the
    order's entity or scrap it, and credit the invoices it was billed on (receivables and exposure drop).
    409 when it was already received or cancelled."""
    payload = {
        "rma_number": rma_number,
        "disposition": body.disposition,
        "warehouse": body.warehouse,
        "lines": [ln.model_dump(mode="json") for ln in body.lines],
    }
    return await submit(svc, user, DraftKind.RETURN_RECEIPT.value, payload, body)


@router.get("/{rma_number}", response_model=schemas.ReturnView, responses=documented(401, 403, 404))
def status(rma_number: str, user: CurrentUser, svc: ServicesDep) -> schemas.ReturnView:
    """One return: its lines (units, price, shipment, invoice, disposition), credit notes, status and dates."""
    return return_view(svc.db.read(lambda s: return_status(s, user.actor, rma_number=rma_number)))


@router.get("", response_model=list[schemas.ReturnView], responses=documented(401, 404, 422))
def returns(
    user: CurrentUser,
    svc: ServicesDep,
    status: Annotated[str | None, Query(max_length=12)] = None,
    order: Annotated[str | None, Query(max_length=24)] = None,
) -> list[schemas.ReturnView]:
    """Returns in your entities, newest first (at most 50), optionally of one status or one order."""
    views = svc.db.read(lambda s: list_returns(s, user.actor, status=status, order_number=order))
    return [return_view(v) for v in views]


def return_view(view: ReturnView) -> schemas.ReturnView:
    """A return as the API shows it."""
    return schemas.ReturnView(
        number=view.number,
        order=view.order,
        customer=view.customer,
        entity=view.entity,
        status=view.status,  # type: ignore[arg-type]
        reason=view.reason,
        currency=view.currency,
        units=view.units,
        value=view.value,
        credited=view.credited,
        authorised_at=view.authorised_at,
        received_at=view.received_at,
        lines=[
            schemas.ReturnLineView(
                line_no=ln.line_no,
                sku=ln.sku,
                quantity=ln.quantity,
                net_price=ln.net_price,
                value=ln.value,
                shipment=ln.shipment,
                shipped_on=ln.shipped_on.isoformat(),
                invoice=ln.invoice,
                disposition=ln.disposition,
                warehouse=ln.warehouse,
            )
            for ln in view.lines
        ],
        credit_notes=[
            schemas.CreditNoteView(
                number=cn.number, invoice=cn.invoice, amount=cn.amount, issued_on=cn.issued_on.isoformat()
            )
            for cn in view.credit_notes
        ],
    )
