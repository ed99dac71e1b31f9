"""The group view: figures per entity and for the group, intercompany balances and margins in one currency."""

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from assistant.channels.web import schemas
from assistant.channels.web.auth import CurrentUser, ServicesDep
from assistant.channels.web.errors import documented
from core.finance.intercompany import intercompany_balances
from core.reporting.group import group_kpis, margin_report
from tools.reporting import (
    GroupFigures,
    IntercompanyFigures,
    MarginFigures,
    group_result,
    intercompany_result,
    margin_result,
)

router = APIRouter(prefix="/api/reports", tags=["reports"])
ERRORS = documented(401, 403, 404, 422)
EntityCode = Annotated[str | None, Query(max_length=16)]
Currency = Annotated[str | None, Query(min_length=3, max_length=3, description="reporting currency (default USD)")]


@router.get("/group", response_model=GroupFigures, responses=ERRORS)
def group(
    user: CurrentUser,
    svc: ServicesDep,
    since: schemas.QueryDay = None,
    until: schemas.QueryDay = None,
    entity: EntityCode = None,
    currency: Currency = None,
) -> GroupFigures:
    """Revenue (less credit notes), margin, backlog and inventory value per entity in your scope and for the group,
    translated into the reporting currency at the rate valid on the period's last day (each rate named). 422 when a
    rate is missing (the pair and day are named) or the period is wrong; 403 for an entity outside your scope."""
    report = svc.db.read(
        lambda s: group_kpis(s, user.actor, since=since, until=until, entity=entity, currency=currency)
    )
    figures = group_result(report).group
    assert figures is not None
    return figures


@router.get("/intercompany", response_model=IntercompanyFigures, responses=ERRORS)
def intercompany(
    user: CurrentUser,
    svc: ServicesDep,
    on: schemas.QueryDay = None,
    entity: EntityCode = None,
    currency: Currency = None,
) -> IntercompanyFigures:
    """Intercompany balances per pair of entities on a day (default today), each side in its currency and
    translated, with whether the pair nets to zero and, where it does not, the transfers and postings that differ."""
    report = svc.db.read(lambda s: intercompany_balances(s, user.actor, currency=currency, on=on, entity=entity))
    figures = intercompany_result(report).intercompany
    assert figures is not None
    return figures


@router.get("/margin", response_model=MarginFigures, responses=ERRORS)
def margin(
    user: CurrentUser,
    svc: ServicesDep,
    by: Literal["entity", "customer", "category"] = "entity",
    since: schemas.QueryDay = None,
    until: schemas.QueryDay = None,
    entity: EntityCode = None,
    currency: Currency = None,
) -> MarginFigures:
    """Margin for a period by entity, customer or item category (credit notes take revenue back), in each entity's
    currency and translated, with the group total and the rates used."""
    report = svc.db.read(
        lambda s: margin_report(s, user.actor, by=by, since=since, until=until, entity=entity, currency=currency)
    )
    figures = margin_result(report).margin
    assert figures is not None
    return figures
