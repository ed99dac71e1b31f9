"""Operations risks over HTTP: order lines at risk of missing their promise, supplier scorecards and alerts, margin
leakage - each for the signed-in user's entities (or the one named), as the analyses find them today."""

from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from assistant.channels.web.auth import CurrentUser, ServicesDep
from assistant.channels.web.errors import documented
from core import clock
from core.exceptions.findings import Finding
from core.planning.risks import late_order_risks, margin_leakage, supplier_report
from core.planning.suppliers import Scorecard

router = APIRouter(prefix="/api/planning", tags=["planning"])
ERRORS = documented(401, 403, 404, 422)
EntityCode = Annotated[str | None, Query(max_length=16, description="one legal entity of yours, e.g. NA")]


class ProposalOut(BaseModel):
    kind: str
    payload: dict[str, Any]
    summary: str


class FindingOut(BaseModel):
    """One finding: what, why (the figures), the money at stake, and the draft proposed (if one is clear)."""

    key: str
    severity: str
    title: str
    detail: str
    impact: str  # in `currency`
    currency: str
    evidence: dict[str, Any]
    proposal: ProposalOut | None
    suggestions: list[dict[str, Any]]


class FindingsOut(BaseModel):
    as_of: date
    count: int
    findings: list[FindingOut]


class ScorecardOut(BaseModel):
    supplier: str
    name: str
    entity: str
    currency: str
    window_start: date
    window_end: date
    orders_due: int
    on_time_rate: float | None
    fill_rate: float | None
    promised_lead_time_days: float | None
    recent_lead_time_days: float | None
    lead_time_drift_days: float | None
    price_variance_pct: str | None
    spend: str
    spend_share: float | None
    sole_source_items: int
    open_value: str
    alerts: list[str]


class SuppliersOut(BaseModel):
    as_of: date
    scorecards: list[ScorecardOut]
    alerts: list[FindingOut]


def finding_out(finding: Finding) -> FindingOut:
    related = finding.related()
    proposal = related["proposal"]
    return FindingOut(
        key=finding.key,
        severity=finding.severity.value,
        title=finding.title,
        detail=finding.detail,
        impact=str(finding.impact),
        currency=str(related["evidence"].get("currency", "")),
        evidence=related["evidence"],
        proposal=ProposalOut(**proposal) if proposal else None,
        suggestions=finding.suggestions,
    )


def scorecard_out(card: Scorecard) -> ScorecardOut:
    return ScorecardOut(
        supplier=card.supplier,
        name=card.name,
        entity=card.entity,
        currency=card.currency,
        window_start=card.since,
        window_end=card.as_of - timedelta(days=1),  # the window is the days before as_of
        orders_due=card.orders_due,
        on_time_rate=card.on_time_rate,
        fill_rate=card.fill_rate,
        promised_lead_time_days=card.drift.promised_days,
        recent_lead_time_days=card.drift.recent_days,
        lead_time_drift_days=card.drift.drift,
        price_variance_pct=None if card.price_variance_pct is None else str(card.price_variance_pct),
        spend=str(card.spend),
        spend_share=card.spend_share,
        sole_source_items=len(card.sole_source_items),
        open_value=str(card.open_value),
        alerts=card.breaches,
    )


def _findings(as_of: date, found: list[Finding]) -> FindingsOut:
    return FindingsOut(as_of=as_of, count=len(found), findings=[finding_out(f) for f in found])


@router.get("/late-orders", response_model=FindingsOut, responses=ERRORS)
def late_orders(user: CurrentUser, svc: ServicesDep, entity: EntityCode = None) -> FindingsOut:
    """Open order lines in your entities that will likely miss their promise date (or requested date), with the
    cause (stock, the covering supplier's record, a transfer), the figures, the options and a proposed draft where
    one is clear; largest open value first. 403/404 for an entity not yours or unknown."""
    found = svc.db.read(lambda s: late_order_risks(s, user.actor, entity=entity))
    return _findings(clock.today(), found)


@router.get("/suppliers", response_model=SuppliersOut, responses=ERRORS)
def suppliers(user: CurrentUser, svc: ServicesDep, entity: EntityCode = None) -> SuppliersOut:
    """A scorecard per supplier of your entities (on-time rate, fill rate, lead-time drift, price variance, spend
    share, sole-sourced items) over the planning window, and an alert for each supplier past a threshold."""
    report = svc.db.read(lambda s: supplier_report(s, user.actor, entity=entity))
    return SuppliersOut(
        as_of=report.as_of,
        scorecards=[scorecard_out(c) for c in report.scorecards],
        alerts=[finding_out(f) for f in report.alerts],
    )


@router.get("/margin-leakage", response_model=FindingsOut, responses=ERRORS)
def margin_leaks(user: CurrentUser, svc: ServicesDep, entity: EntityCode = None) -> FindingsOut:
    """Customers of your entities whose margin leaks (below their tier's floor, discounts out of their own pattern,
    prices below contract, absorbed expedite breaking the floor), one per customer with its worst lines; most money
    lost first."""
    found = svc.db.read(lambda s: margin_leakage(s, user.actor, entity=entity))
    return _findings(clock.today(), found)
