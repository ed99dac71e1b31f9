"""Documents in: orders from a web shop or EDI, shipment confirmations and goods receipts from a WMS.

Another system calls these with an API token of its integration user (an administrator adds the user and
issues the token: `erp-assistant integrations`). Each document becomes a draft of the kind people make, confirmed
by the sending; the policy executes it or holds it for a person, exactly as for the assistant's drafts. Every
call carries an `Idempotency-Key` header: a retry gets the first answer again and never a second document.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from assistant.channels.web.auth import CurrentUser, ServicesDep
from assistant.channels.web.errors import HttpError, documented
from assistant.channels.web.integration_schemas import (
    IncomingOrder,
    IncomingReceipt,
    IncomingShipment,
    IntegrationResultBody,
    WaitingFor,
)
from assistant.channels.web.services import Services
from core.errors import InvalidInput
from core.identity import SignedIn
from core.integrations.service import (
    ExpectedPrice,
    IntegrationResult,
    check_key,
    check_prices,
    receive_document,
    stored_result,
)
from core.policy.facts import DraftKind

router = APIRouter(prefix="/api/integrations", tags=["integrations"])
ERRORS = documented(400, 401, 403, 404, 409, 422)
REPLAYED = "Idempotent-Replayed"  # "true" on an answer repeated from the key's first request


def idempotency_key(
    key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description="your key for this document (a UUID, or your own document id), the same on every retry",
        ),
    ] = None,
) -> str:
    """The request's Idempotency-Key header; a request without one (or with a malformed one) is refused with 400."""
    try:
        return check_key(key)
    except InvalidInput as error:
        raise HttpError("idempotency_key_required", error.message) from None


IdempotencyKey = Annotated[str, Depends(idempotency_key)]


def result_body(result: IntegrationResult) -> IntegrationResultBody:
    return IntegrationResultBody(
        key=result.key,
        kind=result.kind,
        draft=result.draft,
        status=result.status,
        outcome=result.outcome,
        decision=result.decision,
        waiting_for=[WaitingFor(role=w.role, entity=w.entity) for w in result.waiting_for],
        documents=list(result.documents),
        failure=result.failure,
        reference=result.reference,
        received_at=result.received_at,
    )


async def _receive(
    svc: Services,
    user: SignedIn,
    response: Response,
    key: str,
    kind: DraftKind,
    payload: dict[str, Any],
    body: BaseModel,
    **options: Any,
) -> IntegrationResultBody:
    """Take the document in through the gate under its key; approvers hear of a first request that waits for them."""
    request = body.model_dump(mode="json")
    received = await run_in_threadpool(
        svc.db.run,
        lambda s: receive_document(s, user.actor, key=key, kind=kind, payload=payload, request=request, **options),
    )
    if received.replayed:
        response.headers[REPLAYED] = "true"
    elif received.result.status == "pending_approval":
        await svc.runner.announce([received.result.draft])
    return result_body(received.result)


@router.post("/sales-orders", response_model=IntegrationResultBody, status_code=201, responses=ERRORS)
async def sales_order(
    body: IncomingOrder, user: CurrentUser, key: IdempotencyKey, svc: ServicesDep, response: Response
) -> IntegrationResultBody:
    """An order from a web shop or an EDI partner, as a confirmed `sales_order` draft: priced, checked against
    credit and stock, and executed or held for a person as the policy says. A line's `unit_price`, if sent, must
    be the price here. Unknown customers or SKUs, another entity's customer or warehouse, and bad quantities are
    refused (nothing is written); a retry with the same key returns the first answer."""
    payload = {
        "customer": body.customer,
        "lines": [{"sku": ln.sku, "quantity": ln.quantity, "warehouse": body.warehouse} for ln in body.lines],
        "requested_date": body.requested_date.isoformat() if body.requested_date else None,
        "allow_backorder": body.allow_backorder,
        "customer_reference": body.reference,
    }
    prices = [ExpectedPrice(ln.sku, ln.unit_price) for ln in body.lines if ln.unit_price is not None]
    check = check_prices(user.actor, customer=body.customer, expected=prices)
    reference = body.reference or None
    return await _receive(
        svc, user, response, key, DraftKind.SALES_ORDER, payload, body, reference=reference, check=check
    )


@router.post("/shipments", response_model=IntegrationResultBody, status_code=201, responses=ERRORS)
async def shipment(
    body: IncomingShipment, user: CurrentUser, key: IdempotencyKey, svc: ServicesDep, response: Response
) -> IntegrationResultBody:
    """A WMS confirms what it shipped: a confirmed `shipment` draft, the warehouse's own path (the order ships
    and is invoiced). Over-shipping, an order not confirmed, or another entity's order or warehouse is refused."""
    payload = {"order_number": body.order, **body.model_dump(mode="json", exclude={"order"})}
    return await _receive(svc, user, response, key, DraftKind.SHIPMENT, payload, body)


@router.post("/receipts", response_model=IntegrationResultBody, status_code=201, responses=ERRORS)
async def receipt(
    body: IncomingReceipt, user: CurrentUser, key: IdempotencyKey, svc: ServicesDep, response: Response
) -> IntegrationResultBody:
    """Goods arrived against a purchase order: a confirmed `po_receipt` draft, receiving's own path. Within the
    policy's tolerances it executes; an over-receipt beyond them waits for a manager and opens a case."""
    payload = {
        "po_number": body.purchase_order,
        "lines": [line.model_dump(mode="json") for line in body.lines],
        "close_short": body.close_short,
    }
    return await _receive(svc, user, response, key, DraftKind.PO_RECEIPT, payload, body)


@router.get("/requests/{key}", response_model=IntegrationResultBody, responses=ERRORS)
def request_result(
    key: Annotated[str, Path(max_length=80)], user: CurrentUser, svc: ServicesDep
) -> IntegrationResultBody:
    """The answer the request sent with this Idempotency-Key got (yours only); 404 if none was taken in."""
    return result_body(svc.db.read(lambda s: stored_result(s, user.actor, key=key)))
