"""A finding's proposed draft, opened by a person and sent through the gate like any other draft.

The case carries the proposal (`related["proposal"]`: draft kind, payload, summary). Opening it
makes the draft as its requester - the person who opens it - with the usual preview; the requester
confirms that preview and the policy then decides, as for a draft from the assistant. Each draft of a
bulk acceptance is judged on its own. The case's timeline records which draft was made from it.
"""

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.drafts.models import DraftAction
from core.drafts.service import RequestContext, draft_action
from core.errors import ErpError, InvalidState
from core.exceptions import comment_case, get_case
from core.exceptions.models import ACTIVE_STATUSES, ExceptionCase

MAX_BULK = 50


def proposal_of(case: ExceptionCase) -> dict[str, Any]:
    """The case's proposed draft; refuses a case that has none or is closed."""
    proposal = (case.related or {}).get("proposal")
    if not proposal:
        raise InvalidState(f"{case.number} proposes no draft; its suggestions are for a person to act on")
    if case.status not in ACTIVE_STATUSES:
        raise InvalidState(f"{case.number} is {case.status}: its proposal no longer stands")
    return dict(proposal)


def draft_from_case(session: Session, ctx: RequestContext, *, case_number: str | int) -> DraftAction:
    """The proposal of a case the requester may see, drafted as theirs and previewed; nothing is written until they
    confirm it. Opening the same proposal twice gives the same draft while its preview waits."""
    case = get_case(session, ctx.actor, case_number=case_number)
    proposal = proposal_of(case)
    body = json.dumps([case.dedup_key, ctx.actor.user_id, proposal], sort_keys=True, default=str)
    key = "proposal:" + hashlib.sha256(body.encode()).hexdigest()
    opened_before = session.scalar(select(DraftAction.id).where(DraftAction.idempotency_key == key)) is not None
    draft = draft_action(
        session, ctx, kind=proposal["kind"], payload=proposal["payload"], confirmed=False, idempotency_key=key
    )
    if not opened_before:  # the timeline names the draft once, however often the proposal is opened
        comment_case(session, ctx.actor, case_number=case.id, text=f"{draft.number} drafted from the proposal")
    return draft


@dataclass(frozen=True)
class Opened:
    case: str
    draft: DraftAction | None
    error: ErpError | None


def drafts_from_cases(session: Session, ctx: RequestContext, *, case_numbers: Sequence[str | int]) -> list[Opened]:
    """Each case's proposal drafted on its own (one failing does not stop the others); each waits for confirmation."""
    if len(case_numbers) > MAX_BULK:
        raise InvalidState(f"{len(case_numbers)} proposals at once; open at most {MAX_BULK}")
    opened = []
    for number in case_numbers:
        try:
            with session.begin_nested():
                opened.append(Opened(str(number), draft_from_case(session, ctx, case_number=number), None))
        except ErpError as error:
            opened.append(Opened(str(number), None, error))
    return opened
