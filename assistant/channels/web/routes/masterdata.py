"""Master data and credit over the API: create or change items, customers, suppliers, prices and substitutes, a
customer's credit limit, a credit hold, all through the write gate; read one record.

The POST routes are typed doors to the draft kinds the assistant's master-data and credit tools make: the body
becomes a draft as the signed-in user, previewed or handed to the policy at once as `confirm` says.
"""

from typing import Annotated, Literal

from fastapi import APIRouter, Path

from assistant.channels.web import schemas
from assistant.channels.web.auth import CurrentUser, ServicesDep
from assistant.channels.web.errors import documented
from assistant.channels.web.routes.drafts import submit
from core.masterdata.records import record_view
from core.policy.facts import DraftKind

router = APIRouter(prefix="/api", tags=["master data"])
ERRORS = documented(401, 403, 404, 409, 422)
Code = Annotated[str, Path(min_length=1, max_length=160)]


@router.post("/masterdata/changes", response_model=schemas.DraftDetail, status_code=201, responses=ERRORS)
async def change(body: schemas.MasterDataChangeRequest, user: CurrentUser, svc: ServicesDep) -> schemas.DraftDetail:
    """Create or change one master-data record (buyers, finance, managers, admins). Confirmed, the policy executes
    it, or holds it for a manager when an item's cost moves more than 10% or a price falls below cost. Posted
    orders, invoices and purchase orders keep their prices. 403 for another role or entity; 404 for an unknown
    code; 409 for a code already taken; 422 for what to fix (a negative price, a currency that is not ISO...)."""
    return await submit(svc, user, DraftKind.MASTER_DATA_CHANGE, body.change.model_dump(mode="json"), body)


@router.post("/customers/{code}/credit-limit", response_model=schemas.DraftDetail, status_code=201, responses=ERRORS)
async def credit_limit(
    code: Code, body: schemas.CreditLimitRequest, user: CurrentUser, svc: ServicesDep
) -> schemas.DraftDetail:
    """Change a customer's credit limit (sales may ask; finance decides). A cut executes; finance raises a limit
    by up to USD 25,000 alone; a raise asked by anyone else waits for finance, and one above USD 25,000 for a
    manager too. The requester never approves their own."""
    payload = {"customer": code, "credit_limit": str(body.credit_limit), "reason": body.reason}
    return await submit(svc, user, DraftKind.CREDIT_LIMIT_CHANGE, payload, body)


@router.post("/customers/{code}/credit-hold", response_model=schemas.DraftDetail, status_code=201, responses=ERRORS)
async def credit_hold(
    code: Code, body: schemas.CreditHoldRequest, user: CurrentUser, svc: ServicesDep
) -> schemas.DraftDetail:
    """Put a customer on credit hold with the reason: finance does it at once, anyone else asks finance. Their draft
    orders go on hold; new orders and changes are blocked until the hold is released. 409 if already on hold."""
    return await submit(svc, user, DraftKind.CREDIT_HOLD, {"customer": code, "reason": body.reason}, body)


@router.get("/masterdata/{record}/{code}", response_model=schemas.MasterDataRecord, responses=documented(401, 403, 404))
def read(
    record: Literal["item", "customer", "supplier", "price_list"], code: Code, user: CurrentUser, svc: ServicesDep
) -> schemas.MasterDataRecord:
    """One item, customer, supplier or price list: its fields, and its prices, contract prices or substitutes."""
    view = svc.db.read(lambda s: record_view(s, user.actor, record=record, code=code))
    return schemas.MasterDataRecord(
        record=record,
        code=view.code,
        entity=view.entity,
        fields=[schemas.Fact(label=label, value=value) for label, value in view.fields],
        related=view.related,
    )
