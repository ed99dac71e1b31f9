"""The approvals inbox: drafts waiting for me, one draft in full, approve, reject, in bulk, history."""

from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy.orm import Session

from assistant.channels.web import schemas, views
from assistant.channels.web.auth import CurrentUser, ServicesDep, person
from assistant.channels.web.errors import documented, error_body
from assistant.channels.web.routes.drafts import draft_detail
from core.drafts.inbox import InboxFilter, decided_by, waiting_for
from core.drafts.service import approve, pending_for, reject, require_rejection_comment
from core.errors import ErpError
from core.identity import SignedIn

router = APIRouter(prefix="/api", tags=["approvals"])
ERRORS = documented(401, 403, 404, 409, 422)
MAX_HISTORY = 200


@router.get("/approvals", response_model=schemas.DraftList, responses=ERRORS)
def waiting_for_me(
    user: CurrentUser,
    svc: ServicesDep,
    entity: Annotated[str | None, Query(max_length=16, description="entity code, e.g. NA")] = None,
    kind: Annotated[str | None, Query(max_length=32, description="e.g. transfer, sales_order")] = None,
    min_age_hours: Annotated[float | None, Query(ge=0, le=24 * 365)] = None,
    min_value: Annotated[Decimal | None, Query(ge=0, description="in USD")] = None,
    max_value: Annotated[Decimal | None, Query(ge=0, description="in USD")] = None,
) -> schemas.DraftList:
    """Drafts you may approve now, the highest priority first: business impact (value at risk, customer tier, SLA,
    margin, age), each card with its factors."""
    wanted = InboxFilter(entity, kind, min_age_hours, min_value_usd=min_value, max_value_usd=max_value)

    def query(s: Session) -> list[schemas.DraftCard]:
        return views.cards(s, waiting_for(s, actor=user.actor, filters=wanted), viewer=user.actor, ranked=True)

    found = svc.db.read(query)
    return schemas.DraftList(drafts=found, total=len(found))


@router.get("/approvals/count", response_model=schemas.Count, responses=ERRORS)
def count(user: CurrentUser, svc: ServicesDep) -> schemas.Count:
    """How many drafts wait for you (the inbox's live badge)."""
    return schemas.Count(count=len(svc.db.read(lambda s: pending_for(s, user.actor))))


@router.get("/approvals/history", response_model=schemas.DraftList, responses=ERRORS)
def history(
    user: CurrentUser, svc: ServicesDep, limit: Annotated[int, Query(ge=1, le=MAX_HISTORY)] = 50
) -> schemas.DraftList:
    """Drafts you approved or rejected, the latest decision first."""

    found = svc.db.read(lambda s: views.cards(s, decided_by(s, actor=user.actor, limit=limit), viewer=user.actor))
    return schemas.DraftList(drafts=found, total=len(found))


@router.get("/drafts/{number}", response_model=schemas.DraftDetail, responses=ERRORS)
def show(number: str, user: CurrentUser, svc: ServicesDep) -> schemas.DraftDetail:
    """One draft: summary, diff, policy reasons, approvals so far, the conversation that produced it, today's facts."""
    return draft_detail(svc, user, number)


@router.post("/drafts/{number}/approve", response_model=schemas.DraftDetail, responses=ERRORS)
def approve_draft(
    number: str, body: schemas.ApproveRequest, user: CurrentUser, svc: ServicesDep
) -> schemas.DraftDetail:
    """Approve: with the last approval the core re-checks today's stock, credit and prices and executes it."""
    svc.db.run(lambda s: approve(s, person(user), draft_number=number, comment=body.comment))
    return draft_detail(svc, user, number)


@router.post("/drafts/{number}/reject", response_model=schemas.DraftDetail, responses=ERRORS)
def reject_draft(number: str, body: schemas.RejectRequest, user: CurrentUser, svc: ServicesDep) -> schemas.DraftDetail:
    """Reject with a comment the requester will see."""
    svc.db.run(lambda s: reject(s, person(user), draft_number=number, comment=body.comment))
    return draft_detail(svc, user, number)


@router.post("/approvals/bulk", response_model=schemas.BulkResponse, responses=ERRORS)
def bulk(body: schemas.BulkRequest, user: CurrentUser, svc: ServicesDep) -> schemas.BulkResponse:
    """Approve or reject several drafts, each on its own (one failing does not stop the others)."""
    if body.action == "reject":
        require_rejection_comment(body.comment)  # refused as a whole (422), before any draft is touched
    results = [_decide_one(svc, user, number, body) for number in dict.fromkeys(body.numbers)]
    return schemas.BulkResponse(results=results)


def _decide_one(svc: ServicesDep, user: SignedIn, number: str, body: schemas.BulkRequest) -> schemas.BulkResult:
    decide = approve if body.action == "approve" else reject
    try:
        draft = svc.db.run(lambda s: decide(s, person(user), draft_number=number, comment=body.comment))
    except ErpError as error:
        return schemas.BulkResult(number=number, ok=False, status=None, error=schemas.ErrorBody(**error_body(error)))
    return schemas.BulkResult(number=draft.number, ok=True, status=draft.status, result_ref=draft.result_ref)
