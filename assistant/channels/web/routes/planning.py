"""The planning analyses on demand (managers and admins) and their runs; the proposed drafts of many cases at once.

A proposal opened here is an unconfirmed preview of the person who opened it, exactly as POST /api/drafts with
`confirm: false` gives; each is then confirmed on its own (POST /api/drafts/{number}/confirm) and judged by the
policy on its own.
"""

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from assistant.channels.web import schemas
from assistant.channels.web.auth import WEB_CHANNEL, CurrentUser, ServicesDep
from assistant.channels.web.errors import HttpError, documented, error_body
from assistant.channels.web.routes.drafts import draft_detail
from core.drafts.service import RequestContext
from core.errors import ErpError
from core.planning.models import PlanningRun, Trigger
from core.planning.proposals import drafts_from_cases
from core.planning.runner import planning_scope, recent_runs, run_planning

router = APIRouter(prefix="/api", tags=["planning"])
ERRORS = documented(401, 403, 404, 409, 422)


def run_view(run: PlanningRun) -> schemas.PlanningRunView:
    """A recorded run as the API shows it."""
    return schemas.PlanningRunView(
        id=run.id,
        trigger=run.trigger,
        requested_by=run.requested_by,
        as_of=run.as_of,
        status=run.status,
        started_at=run.started_at,
        finished_at=run.finished_at,
        seconds=run.seconds,
        scoped=run.scope is not None,
        analyses=[schemas.PlanningAnalysisView(name=name, **figures) for name, figures in run.counts.items()],
        errors=run.errors,
    )


@router.post("/planning/run", response_model=schemas.PlanningRunView, responses=ERRORS)
async def run_now(body: schemas.PlanningRunRequest, user: CurrentUser, svc: ServicesDep) -> schemas.PlanningRunView:
    """Run exception detection and the planning analyses now over your entities (managers and admins); their
    findings become cases, a re-run never duplicates one and closes those no longer found. 409 when another
    worker is running them at this moment."""
    scope = svc.db.read(lambda s: planning_scope(s, user.actor, entities=body.entities))
    outcome = await run_in_threadpool(
        run_planning, svc.db, trigger=Trigger.API, requested_by=user.actor.username, entity_ids=scope, only=body.only
    )
    if outcome.run is None:
        raise HttpError("invalid_state", f"the analyses did not run: {outcome.skipped}; try again when it is done")
    return run_view(outcome.run)


@router.get("/planning/runs", response_model=schemas.PlanningRunList, responses=ERRORS)
def runs(
    user: CurrentUser, svc: ServicesDep, limit: Annotated[int, Query(ge=1, le=200)] = 20
) -> schemas.PlanningRunList:
    """The latest runs, newest first: when, why (schedule, cli, api and by whom), how long, what each analysis
    raised, refreshed and closed, and any analysis that failed (managers and admins)."""

    def query(s: Session) -> list[PlanningRun]:
        planning_scope(s, user.actor)
        return recent_runs(s, limit=limit)

    return schemas.PlanningRunList(runs=[run_view(r) for r in svc.db.read(query)])


@router.post("/proposals", response_model=schemas.OpenedProposals, responses=ERRORS)
def open_proposals(body: schemas.ProposalsRequest, user: CurrentUser, svc: ServicesDep) -> schemas.OpenedProposals:
    """Open the proposed draft of each case as your own unconfirmed preview (one failing does not stop the
    others). Nothing changes until you confirm each at POST /api/drafts/{number}/confirm, where the policy judges
    each on its own."""
    ctx = RequestContext(user.actor, WEB_CHANNEL)

    def command(s: Session) -> list[tuple[str, str | None, ErpError | None]]:
        opened = drafts_from_cases(s, ctx, case_numbers=body.cases)
        return [(o.case, o.draft.number if o.draft else None, o.error) for o in opened]

    opened = svc.db.run(command)
    return schemas.OpenedProposals(
        proposals=[
            schemas.OpenedProposal(
                case=case,
                draft=draft_detail(svc, user, number) if number else None,
                error=error_body(error) if error else None,
            )
            for case, number, error in opened
        ]
    )
