"""Order actions over the API: cancel an order's open rest or a line, re-allocate reserved stock between orders,
and the backorder queue in the order stock will reach it.

The two writes are typed doors to the write gate (the same draft kinds the assistant's tool makes): the body
becomes a draft as the signed-in user, previewed or handed to the policy at once as `confirm` says.
"""

from typing import Annotated

from fastapi import APIRouter, Query

from assistant.channels.web import schemas
from assistant.channels.web.auth import CurrentUser, ServicesDep
from assistant.channels.web.errors import documented
from assistant.channels.web.routes.drafts import submit
from core.policy.facts import DraftKind
from core.stock.priority import backorder_queue

router = APIRouter(prefix="/api", tags=["orders"])
ERRORS = documented(401, 403, 404, 409, 422)


@router.post("/orders/{number}/cancel", response_model=schemas.DraftDetail, status_code=201, responses=ERRORS)
async def cancel(number: str, body: schemas.CancelRequest, user: CurrentUser, svc: ServicesDep) -> schemas.DraftDetail:
    """Cancel what is still open on the order (or on `line_no`) as an `order_cancel` draft: shipped units stay,
    reserved units go to the waiting backorders by priority (the preview names them). Sales and managers cancel
    (403 otherwise); within the policy's value a salesperson's word suffices, above it a manager approves. 409
    for an order with nothing open or a line shipped in full; 422 for an unknown line or no reason."""
    payload = {"order_number": number, "line_no": body.line_no, "reason": body.reason}
    return await submit(svc, user, DraftKind.ORDER_CANCEL.value, payload, body)


@router.post("/orders/{number}/reallocate", response_model=schemas.DraftDetail, status_code=201, responses=ERRORS)
async def reallocate(
    number: str, body: schemas.ReallocateRequest, user: CurrentUser, svc: ServicesDep
) -> schemas.DraftDetail:
    """Move units reserved for this order to another open order's backorder of the same item and warehouse (a
    `reallocation` draft): this order's line waits for them again. A manager does it alone; sales asks a manager.
    422 when the lines share no item and warehouse, more than is reserved or than the target waits for, or the
    orders are of different entities; 409 for a line shipped in full or an order not confirmed."""
    payload = {"order_number": number, **body.model_dump(mode="json", exclude={"confirm", "idempotency_key"})}
    return await submit(svc, user, DraftKind.REALLOCATION.value, payload, body)


@router.get("/backorders", response_model=list[schemas.Backorder], responses=ERRORS)
def backorders(
    user: CurrentUser,
    svc: ServicesDep,
    sku: Annotated[str | None, Query(max_length=40)] = None,
    warehouse: Annotated[str | None, Query(max_length=40)] = None,
) -> list[schemas.Backorder]:
    """Claims waiting for stock at your entities' warehouses, in the order freed or arriving stock reaches them:
    customers' orders by tier (A first), then age; transfers after them. `position` is the place in its own
    item's queue at its warehouse (1: served next)."""
    queue = svc.db.read(lambda s: backorder_queue(s, user.actor, sku=sku, warehouse=warehouse))
    return [
        schemas.Backorder(
            position=b.position,
            sku=b.sku,
            warehouse=b.warehouse,
            document=b.document,
            customer=b.customer,
            tier=b.tier,
            placed=b.placed.isoformat(),
            backordered=b.backordered,
            reserved=b.reserved,
        )
        for b in queue
    ]
