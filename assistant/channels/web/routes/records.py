"""Records by id, for the widget's clickable references."""

from fastapi import APIRouter

from assistant.channels.web import schemas
from assistant.channels.web.auth import CurrentUser, ServicesDep
from assistant.channels.web.errors import documented
from assistant.channels.web.records import record

router = APIRouter(prefix="/api/records", tags=["records"])
ERRORS = documented(401, 403, 404, 422)


@router.get("/{ref}", response_model=schemas.Record, responses=ERRORS)
def show(ref: str, user: CurrentUser, svc: ServicesDep) -> schemas.Record:
    """A sales order, purchase order, transfer, draft, exception case, item (SKU) or customer, as you may see it."""
    return svc.db.read(lambda s: record(s, user.actor, ref))
