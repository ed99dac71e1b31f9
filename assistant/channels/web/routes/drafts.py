"""A person's own drafts: confirm the preview they were shown, cancel it, or (integrations) make one.

A draft the assistant made is an unconfirmed preview: nothing changes until its requester confirms it here
(the Confirm button on the widget's draft card, or a program with the requester's API token); only then does
the core's policy decide. The assistant has no route to this: confirming is a signed-in person's act.
"""

from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from assistant.channels.web import schemas, views
from assistant.channels.web.auth import WEB_CHANNEL, CurrentUser, ServicesDep, person
from assistant.channels.web.errors import documented
from assistant.channels.web.services import Services
from core.drafts.models import DraftAction
from core.drafts.service import RequestContext, cancel, confirm, draft_action
from core.identity import SignedIn

router = APIRouter(prefix="/api", tags=["drafts"])
ERRORS = documented(401, 403, 404, 409, 422)
API_CHANNEL = "api"  # drafts programs make through POST /api/drafts


def draft_detail(svc: Services, user: SignedIn, number: str) -> schemas.DraftDetail:
    """The draft in full as this user may see it, with the conversation excerpt that produced it."""

    def excerpt_of(draft: DraftAction) -> list[schemas.ChatMessage]:
        return [schemas.ChatMessage(**m) for m in svc.assistant.excerpt(draft.conversation_id, draft.tool_call_id)]

    return svc.db.read(lambda s: views.draft_detail(s, user.actor, number, excerpt_of))


async def _announced(svc: Services, user: SignedIn, number: str) -> schemas.DraftDetail:
    """The draft after a change; a draft now waiting for approval is announced to its approvers (Slack)."""
    await svc.runner.announce([number])
    return await run_in_threadpool(draft_detail, svc, user, number)


@router.post("/drafts", response_model=schemas.DraftDetail, status_code=201, responses=ERRORS)
async def create(body: schemas.NewDraftRequest, user: CurrentUser, svc: ServicesDep) -> schemas.DraftDetail:
    """Draft a change as yourself, from another system (channel `api`). `confirm` is required: true hands it
    to the policy at once (executed, waiting for approvers, or blocked); false returns an unconfirmed preview
    that changes nothing until you confirm it. Refused with 422 when the kind or payload is not valid."""
    return await new_draft(
        svc, user, body.kind, body.payload, confirm=body.confirm, idempotency_key=body.idempotency_key
    )


async def new_draft(
    svc: Services,
    user: SignedIn,
    kind: str,
    payload: dict[str, Any],
    *,
    confirm: bool,
    idempotency_key: str | None,
) -> schemas.DraftDetail:
    """A draft from a program as its token's user (channel `api`), as the generic and the typed routes make it."""
    key = f"api:{user.actor.user_id}:{idempotency_key}" if idempotency_key else None
    ctx = RequestContext(user.actor, API_CHANNEL)
    number = await run_in_threadpool(
        svc.db.run,
        lambda s: draft_action(s, ctx, kind=kind, payload=payload, confirmed=confirm, idempotency_key=key).number,
    )
    return await _announced(svc, user, number)


@router.post("/drafts/{number}/confirm", response_model=schemas.DraftDetail, responses=ERRORS)
async def confirm_draft(number: str, user: CurrentUser, svc: ServicesDep) -> schemas.DraftDetail:
    """Confirm the preview you asked for: the core runs it again and, if it still does what it showed, the
    policy decides: executed, waiting for approvers, or blocked. 403 when someone else asked for it; 409 when
    it is not unconfirmed any more, its preview expired, or stock, prices or credit changed what it would do."""
    await run_in_threadpool(svc.db.run, lambda s: confirm(s, person(user), draft_number=number).number)
    return await _announced(svc, user, number)


@router.post("/drafts/{number}/cancel", response_model=schemas.DraftDetail, responses=ERRORS)
def cancel_draft(number: str, user: CurrentUser, svc: ServicesDep) -> schemas.DraftDetail:
    """Withdraw a draft you asked for while it is unconfirmed or waiting for approval; nothing is changed."""
    ctx = RequestContext(user.actor, WEB_CHANNEL)
    svc.db.run(lambda s: cancel(s, ctx, draft_number=number))
    return draft_detail(svc, user, number)
