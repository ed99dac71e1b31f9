"""Receiving and moving stock over the API: a purchase-order receipt, a transfer shipped or received.

Each route is a typed door to the write gate (the same draft kinds the assistant's tools make): the body
becomes a draft as the signed-in user, previewed or handed to the policy at once as `confirm` says.
"""

from collections.abc import Sequence

from fastapi import APIRouter
from pydantic import BaseModel

from assistant.channels.web import schemas
from assistant.channels.web.auth import CurrentUser, ServicesDep
from assistant.channels.web.errors import documented
from assistant.channels.web.routes.drafts import submit
from core.policy.facts import DraftKind

router = APIRouter(prefix="/api", tags=["receiving"])
ERRORS = documented(401, 403, 404, 409, 422)


@router.post(
    "/purchase-orders/{po_number}/receipts", response_model=schemas.DraftDetail, status_code=201, responses=ERRORS
)
async def receive_purchase_order(
    po_number: str, body: schemas.ReceiptRequest, user: CurrentUser, svc: ServicesDep
) -> schemas.DraftDetail:
    """Receive goods against a purchase order (warehouse or buyer of its entity). Within the policy's
    tolerances it executes; an over-receipt or a short close beyond them waits for a manager and opens a case."""
    payload = {"po_number": po_number, "lines": _lines(body.lines), "close_short": body.close_short}
    return await submit(svc, user, DraftKind.PO_RECEIPT.value, payload, body)


@router.post("/transfers/{transfer_number}/ship", response_model=schemas.DraftDetail, status_code=201, responses=ERRORS)
async def ship_transfer(
    transfer_number: str, body: schemas.TransferShipRequest, user: CurrentUser, svc: ServicesDep
) -> schemas.DraftDetail:
    """Ship an open transfer from its source: it is in transit until received (intercompany: postings now)."""
    payload = {"transfer_number": transfer_number, "action": "ship"}
    return await submit(svc, user, DraftKind.TRANSFER_MOVE.value, payload, body)


@router.post(
    "/transfers/{transfer_number}/receive", response_model=schemas.DraftDetail, status_code=201, responses=ERRORS
)
async def receive_transfer(
    transfer_number: str, body: schemas.TransferReceiveRequest, user: CurrentUser, svc: ServicesDep
) -> schemas.DraftDetail:
    """Receive a transfer in transit at its destination, as its user; units short or damaged open a case."""
    payload = {
        "transfer_number": transfer_number,
        "action": "receive",
        "received": _lines(body.received),
        "damaged": _lines(body.damaged),
    }
    return await submit(svc, user, DraftKind.TRANSFER_MOVE.value, payload, body)


def _lines(lines: Sequence[BaseModel]) -> list[dict[str, object]]:
    return [line.model_dump(mode="json") for line in lines]
