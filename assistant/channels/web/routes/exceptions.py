"""The exceptions board: open cases by type, entity and owner; detail, assign, comment, resolve."""

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from sqlalchemy.orm import Session

from assistant.channels.web import schemas, views
from assistant.channels.web.auth import CurrentUser, ServicesDep
from assistant.channels.web.errors import documented
from core.exceptions import assign_case, comment_case, page_cases, resolve_case
from core.identity import SignedIn

router = APIRouter(prefix="/api/exceptions", tags=["exceptions"])
ERRORS = documented(401, 403, 404, 409, 422)
StatusFilter = Literal["active", "open", "assigned", "resolved", "dismissed", "all"]


@router.get("", response_model=schemas.CaseList, responses=ERRORS)
def board(
    user: CurrentUser,
    svc: ServicesDep,
    status: StatusFilter = "active",
    type: Annotated[str | None, Query(max_length=24)] = None,
    entity: Annotated[str | None, Query(max_length=16)] = None,
    owner: Annotated[str | None, Query(max_length=64, description="a username, or 'me'")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 100,
) -> schemas.CaseList:
    """Cases in your entities, the soonest due first."""
    who = user.actor.username if owner == "me" else owner
    chosen = None if status in ("active", "all") else status

    def query(s: Session) -> schemas.CaseList:
        page = page_cases(
            s,
            user.actor,
            type=type,
            entity=entity,
            owner=who,
            status=chosen,
            active_only=status == "active",
            limit=limit,
        )
        return schemas.CaseList(cases=views.case_views(s, page.cases), total=page.total)

    return svc.db.read(query)


@router.get("/{number}", response_model=schemas.CaseDetail, responses=ERRORS)
def show(number: str, user: CurrentUser, svc: ServicesDep) -> schemas.CaseDetail:
    """One case: what happened, suggestions, the timeline, and what you may do."""
    return svc.db.read(lambda s: views.case_detail(s, user.actor, number))


def _then_show(svc: ServicesDep, user: SignedIn, number: str) -> schemas.CaseDetail:
    return svc.db.read(lambda s: views.case_detail(s, user.actor, number))


@router.post("/{number}/assign", response_model=schemas.CaseDetail, responses=ERRORS)
def assign(number: str, body: schemas.AssignRequest, user: CurrentUser, svc: ServicesDep) -> schemas.CaseDetail:
    """Give the case to someone who can see its entity."""
    svc.db.run(lambda s: assign_case(s, user.actor, case_number=number, assignee=body.assignee))
    return _then_show(svc, user, number)


@router.post("/{number}/comment", response_model=schemas.CaseDetail, responses=ERRORS)
def comment(number: str, body: schemas.CommentRequest, user: CurrentUser, svc: ServicesDep) -> schemas.CaseDetail:
    """Add a note to the case's timeline."""
    svc.db.run(lambda s: comment_case(s, user.actor, case_number=number, text=body.text))
    return _then_show(svc, user, number)


@router.post("/{number}/resolve", response_model=schemas.CaseDetail, responses=ERRORS)
def resolve(number: str, body: schemas.ResolveRequest, user: CurrentUser, svc: ServicesDep) -> schemas.CaseDetail:
    """Close the case as resolved (or dismissed), saying how."""
    svc.db.run(
        lambda s: resolve_case(s, user.actor, case_number=number, resolution=body.resolution, dismiss=body.dismiss)
    )
    return _then_show(svc, user, number)
