"""Changes to a placed order through the write gate: an approved substitute on a line, expedited freight."""

from fastapi import APIRouter

from assistant.channels.web import schemas
from assistant.channels.web.auth import CurrentUser, ServicesDep
from assistant.channels.web.errors import documented
from assistant.channels.web.routes.drafts import submit
from core.policy.facts import DraftKind

router = APIRouter(prefix="/api/orders", tags=["orders"])
ERRORS = documented(401, 403, 404, 409, 422)


@router.post(
    "/{number}/lines/{line_no}/substitute", response_model=schemas.DraftDetail, status_code=201, responses=ERRORS
)
async def substitute(
    number: str, line_no: int, body: schemas.SubstitutionRequest, user: CurrentUser, svc: ServicesDep
) -> schemas.DraftDetail:
    """Draft putting an approved substitute on the line's open units (a partly shipped line splits): the preview
    shows the item, unit price and margin before → after. By default the customer keeps the agreed price. 422 for an
    item that is not an approved substitute (the approved ones are in `suggestions`), a line shipped in full or a
    substitute short of stock without `allow_backorder`; 403 for a role that does not sell or another entity's
    order. Confirmed, the policy decides (a thin margin or a backorder waits for a manager)."""
    payload = {
        "order_number": number,
        "line_no": line_no,
        **body.model_dump(mode="json", exclude={"confirm", "idempotency_key"}),
    }
    return await submit(svc, user, DraftKind.SUBSTITUTION, payload, body)


@router.post("/{number}/charges", response_model=schemas.DraftDetail, status_code=201, responses=ERRORS)
async def expedite(
    number: str, body: schemas.ExpediteRequest, user: CurrentUser, svc: ServicesDep
) -> schemas.DraftDetail:
    """Draft an expedited-freight charge on the order (or one of its shipments): absorbed as a cost by default, or
    billed to the customer on the order's next invoice. Sales and warehouse staff expedite; only sales bill. The
    charges show in GET /api/orders/{number}/fulfilment. Confirmed, the policy decides (above USD 500, or a margin
    left below 15%, waits for a manager)."""
    payload = {"order_number": number, **body.model_dump(mode="json", exclude={"confirm", "idempotency_key"})}
    return await submit(svc, user, DraftKind.EXPEDITE, payload, body)
