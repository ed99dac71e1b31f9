"""Stock counts and adjustments: post a count or a write-off through the write gate, and report them."""

from typing import Annotated

from fastapi import APIRouter, Query

from assistant.channels.web import schemas
from assistant.channels.web.auth import CurrentUser, ServicesDep
from assistant.channels.web.errors import documented
from assistant.channels.web.routes.drafts import submit
from core.policy.facts import DraftKind
from core.reporting import adjustment_report

router = APIRouter(prefix="/api/stock", tags=["stock"])
ERRORS = documented(401, 403, 404, 409, 422)


@router.post("/adjustments", response_model=schemas.DraftDetail, status_code=201, responses=ERRORS)
async def adjust(body: schemas.StockAdjustmentRequest, user: CurrentUser, svc: ServicesDep) -> schemas.DraftDetail:
    """Draft a count (the units on the shelf) or a write-off or find, valued at standard cost. Confirmed, the policy
    posts it within its limits or holds it for a manager (many units, much value, or orders left short). 403 for a
    role that does not count stock or a warehouse outside your entities; 404 for an unknown SKU or warehouse; 422
    for a bad quantity or reason."""
    payload = body.adjustment.model_dump(mode="json")
    return await submit(svc, user, DraftKind.STOCK_ADJUSTMENT, payload, body)


@router.get("/adjustments", response_model=schemas.AdjustmentReport, responses=ERRORS)
def report(
    user: CurrentUser,
    svc: ServicesDep,
    since: schemas.QueryDay = None,
    until: schemas.QueryDay = None,
    entity: Annotated[str | None, Query(max_length=16)] = None,
    warehouse: Annotated[str | None, Query(max_length=40)] = None,
    reason: Annotated[str | None, Query(max_length=16)] = None,
) -> schemas.AdjustmentReport:
    """Counts, write-offs and finds posted in the period (default the last 90 days) in your entities, by entity,
    warehouse and reason, with units lost and found and their net value at standard cost."""
    found = svc.db.read(
        lambda s: adjustment_report(
            s, user.actor, since=since, until=until, entity=entity, warehouse=warehouse, reason=reason
        )
    )
    lines = [
        schemas.AdjustmentLine(
            entity=x.entity,
            warehouse=x.warehouse,
            reason=x.reason,
            currency=x.currency,
            adjustments=x.adjustments,
            units_lost=x.units_lost,
            units_found=x.units_found,
            net_units=x.net_units,
            value=x.value,
        )
        for x in found.lines
    ]
    return schemas.AdjustmentReport(
        period_start=str(found.period_start), period_end=str(found.period_end), lines=lines, basis=found.basis
    )
