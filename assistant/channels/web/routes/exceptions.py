"""The exceptions board: open cases by type, entity and owner; detail; assign, comment, resolve; a finding's
proposed draft opened as your own preview.

A case action here is the same `exception_action` draft the assistant makes, confirmed by the person's click
rather than by a second step: one rule for both channels, the policy decides (see README, "Exception cases").
"""

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from sqlalchemy.orm import Session

from assistant.channels.web import schemas, views
from assistant.channels.web.auth import WEB_CHANNEL, CurrentUser, ServicesDep
from assistant.channels.web.errors import documented
from assistant.channels.web.routes.drafts import draft_detail
from core.drafts.service import RequestContext, draft_action
from core.exceptions import page_cases
from core.identity import SignedIn
from core.planning.priorities import ranked_cases
from core.planning.proposals import draft_from_case
from core.policy.facts import DraftKind

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
    order: Literal["priority", "due"] = "priority",
) -> schemas.CaseList:
    """Cases in your entities, the highest priority first (business impact: value at risk, customer tier, SLA,
    margin, age; each row with its factors), or the soonest due first (`order=due`)."""
    who = user.actor.username if owner == "me" else owner
    chosen = None if status in ("active", "all") else status

    def query(s: Session) -> schemas.CaseList:
        page = (ranked_cases if order == "priority" else page_cases)(
            s,
            user.actor,
            type=type,
            entity=entity,
            owner=who,
            status=chosen,
            active_only=status == "active",
            limit=limit,
        )
        return schemas.CaseList(cases=views.case_views(s, page.cases, ranked=order == "priority"), total=page.total)

    return svc.db.read(query)


@router.get("/{number}", response_model=schemas.CaseDetail, responses=ERRORS)
def show(number: str, user: CurrentUser, svc: ServicesDep) -> schemas.CaseDetail:
    """One case: what happened, suggestions, the timeline, and what you may do."""
    return svc.db.read(lambda s: views.case_detail(s, user.actor, number))


def _then_show(svc: ServicesDep, user: SignedIn, number: str) -> schemas.CaseDetail:
    return svc.db.read(lambda s: views.case_detail(s, user.actor, number))


def _act(svc: ServicesDep, user: SignedIn, number: str, action: dict[str, str]) -> schemas.CaseAction:
    """A case action as an `exception_action` draft, confirmed by the click itself: the policy decides on it as
    on the same action asked of the assistant (executed at once under the shipped policy). Returns the case as it
    is afterwards, with the draft and the policy's decision."""
    ctx = RequestContext(user.actor, WEB_CHANNEL)
    payload = {"case_number": number, **action}

    def command(s: Session) -> tuple[str, str, str]:
        draft = draft_action(s, ctx, kind=DraftKind.EXCEPTION_ACTION, payload=payload, confirmed=True)
        return draft.number, draft.status, draft.explanation

    draft, status, explanation = svc.db.run(command)
    case = _then_show(svc, user, number)
    return schemas.CaseAction(**case.model_dump(), draft=draft, draft_status=status, explanation=explanation)


@router.post("/{number}/assign", response_model=schemas.CaseAction, responses=ERRORS)
def assign(number: str, body: schemas.AssignRequest, user: CurrentUser, svc: ServicesDep) -> schemas.CaseAction:
    """Give the case to someone who can see its entity (an exception_action draft the policy decides on)."""
    return _act(svc, user, number, {"action": "assign", "assignee": body.assignee})


@router.post("/{number}/comment", response_model=schemas.CaseAction, responses=ERRORS)
def comment(number: str, body: schemas.CommentRequest, user: CurrentUser, svc: ServicesDep) -> schemas.CaseAction:
    """Add a note to the case's timeline (an exception_action draft the policy decides on)."""
    return _act(svc, user, number, {"action": "comment", "text": body.text})


@router.post("/{number}/resolve", response_model=schemas.CaseAction, responses=ERRORS)
def resolve(number: str, body: schemas.ResolveRequest, user: CurrentUser, svc: ServicesDep) -> schemas.CaseAction:
    """Close the case as resolved (or dismissed), saying how (an exception_action draft the policy decides on)."""
    action = "dismiss" if body.dismiss else "resolve"
    return _act(svc, user, number, {"action": action, "text": body.resolution})


@router.post("/{number}/proposal", response_model=schemas.DraftDetail, status_code=201, responses=ERRORS)
def proposal(number: str, user: CurrentUser, svc: ServicesDep) -> schemas.DraftDetail:
    """Open the case's proposed draft (a PO, a transfer, an order change) as your own unconfirmed preview, exactly
    as POST /api/drafts with `confirm: false` gives it: nothing changes until you confirm it at
    POST /api/drafts/{number}/confirm, and then the policy decides. Opening it again while the preview waits gives
    the same draft. 409 when the case proposes nothing or is closed."""
    ctx = RequestContext(user.actor, WEB_CHANNEL)
    draft = svc.db.run(lambda s: draft_from_case(s, ctx, case_number=number).number)
    return draft_detail(svc, user, draft)
