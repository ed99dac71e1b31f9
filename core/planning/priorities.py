"""Priorities: the approvals inbox, the exception cases and the collections worklist ranked by business impact.

Every item becomes a `Candidate` (its value at risk converted to one currency, its customer's tier, when its SLA
falls due, the margin at stake, how long it has waited) and is scored the same way:

    score = sum of weight x points over the factors
      value   points = log10(1 + value at risk)        (USD 10,000 -> 4.0)
      tier    points = the tier's points (A 1.0, B 0.5, C 0)
      sla     points = 1 when overdue, 0.5 when due within `due_soon_hours`, else 0
      margin  points = log10(1 + margin at stake)
      age     points = days waiting, at most `age_cap_days`

The weights and points live in the `priorities:` section of the planning file. Each ranked item carries its
factors, so a person sees why it is where it is. Pure over the candidates; the `rank_*` functions only gather them.
"""

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from core import clock
from core.actor import Actor
from core.drafts.models import DraftAction
from core.errors import InvalidInput, MissingRate
from core.exceptions.models import ExceptionCase
from core.exceptions.service import MAX_LIST, CasePage, page_cases
from core.fx import Rate, rates_on
from core.masterdata.models import Customer, LegalEntity
from core.money import format_money
from core.planning.config import planning_section
from core.receivables.ageing import CollectionTarget

T = TypeVar("T")
FACTORS = ("value", "tier", "sla", "margin", "age")
VALUE_KEYS = ("impact", "value_at_risk", "held_value", "overdue_amount", "amount", "value")


class PriorityWeights(BaseModel):
    """The `priorities:` section of the planning file."""

    currency: str = Field(default="USD", min_length=3, max_length=3)
    weights: dict[str, float] = Field(
        default_factory=lambda: {"value": 10.0, "tier": 10.0, "sla": 30.0, "margin": 5.0, "age": 2.0}
    )
    tier_points: dict[str, float] = Field(default_factory=lambda: {"A": 1.0, "B": 0.5, "C": 0.0})
    due_soon_hours: float = Field(default=24, gt=0)
    age_cap_days: float = Field(default=14, gt=0)

    def weight(self, factor: str) -> float:
        return float(self.weights.get(factor, 0))


def priority_weights() -> PriorityWeights:
    return planning_section("priorities", PriorityWeights)


@dataclass(frozen=True)
class Candidate:
    """One item to rank, in plain figures. `value` and `margin` are in `currency` (converted before scoring)."""

    ref: str
    value: Decimal
    currency: str
    tier: str | None = None
    due_at: datetime | None = None
    margin: Decimal | None = None
    since: datetime | None = None


@dataclass(frozen=True)
class Factor:
    """One factor of a score: its name, its weight, the points the item earned, and the figure behind them."""

    name: str
    weight: float
    points: float
    basis: str

    @property
    def score(self) -> float:
        return round(self.weight * self.points, 2)


@dataclass(frozen=True)
class Ranked(Generic[T]):
    """An item with its score and the factors that make it."""

    item: T
    score: float
    factors: list[Factor]
    overdue: bool

    def explain(self) -> str:
        """ "score 57.2 = value 40.0 (USD 9,999.00 at risk) + sla 15.0 (due in 5 h) + ..." (factors that count)."""
        parts = [f"{f.name} {f.score:g} ({f.basis})" for f in self.factors if f.score]
        return f"score {self.score:g}" + (" = " + " + ".join(parts) if parts else "")


def _log(amount: Decimal | None) -> float:
    return round(math.log10(1 + max(0.0, float(amount or 0))), 3)


def _sla(candidate: Candidate, now: datetime, weights: PriorityWeights) -> tuple[float, str]:
    if candidate.due_at is None:
        return 0.0, "no SLA"
    hours = (candidate.due_at - now).total_seconds() / 3600
    if hours <= 0:
        return 1.0, f"overdue by {_hours(-hours)}"
    if hours <= weights.due_soon_hours:
        return 0.5, f"due in {_hours(hours)}"
    return 0.0, f"due in {_hours(hours)}"


def _hours(hours: float) -> str:
    return f"{hours / 24:.1f} days" if hours >= 48 else f"{hours:.0f} h"


def score(candidate: Candidate, *, now: datetime, weights: PriorityWeights) -> Ranked[Candidate]:
    """The candidate's score and factors (pure: the figures in, the ranking's reasons out)."""
    sla_points, sla_basis = _sla(candidate, now, weights)
    tier_points = weights.tier_points.get(candidate.tier or "", 0.0)
    days = (now - candidate.since).total_seconds() / 86400 if candidate.since else 0.0
    age = round(min(max(0.0, days), weights.age_cap_days), 2)
    margin = (
        "margin not known"
        if candidate.margin is None
        else f"{format_money(candidate.margin, candidate.currency)} margin at stake"
    )
    raw = {
        "value": (_log(candidate.value), f"{format_money(candidate.value, candidate.currency)} at risk"),
        "tier": (tier_points, f"tier {candidate.tier}" if candidate.tier else "no customer tier"),
        "sla": (sla_points, sla_basis),
        "margin": (_log(candidate.margin), margin),
        "age": (age, f"waiting {days:.1f} days"),
    }
    factors = [Factor(name, weights.weight(name), points, basis) for name, (points, basis) in raw.items()]
    total = round(sum(f.weight * f.points for f in factors), 2)
    return Ranked(candidate, total, factors, overdue=sla_points >= 1.0)


def rank(items: Sequence[T], candidate_of: Callable[[T], Candidate], *, now: datetime | None = None) -> list[Ranked[T]]:
    """Items by score, highest first (ties: the earlier due, then the reference), each with its factors."""
    weights, moment = priority_weights(), now or clock.now()
    scored = []
    for item in items:
        done = score(candidate_of(item), now=moment, weights=weights)
        scored.append((done, Ranked(item, done.score, done.factors, done.overdue)))
    scored.sort(key=lambda pair: (-pair[1].score, pair[0].item.due_at or datetime.max, pair[0].item.ref))
    return [ranked for _, ranked in scored]


# --- Gathering the candidates: currency, tier, margin -------------------------------------------------


class _Lookup:
    """Conversion into the ranking currency and customer tiers, each read once for a batch of items."""

    def __init__(self, session: Session, currencies: set[str], customers: set[str], target: str) -> None:
        self.target = target
        today = clock.today()
        self.rates: dict[str, Rate | None] = {}
        for currency in sorted(currencies):
            try:
                self.rates[currency] = rates_on(session, [(currency, target)], today)[(currency, target)]
            except MissingRate:
                self.rates[currency] = None  # shown as such: its value counts for nothing rather than a guess
        found = session.execute(select(Customer.code, Customer.tier).where(Customer.code.in_(sorted(customers))))
        self.tiers = {code: tier for code, tier in found} if customers else {}

    def convert(self, amount: Decimal | None, currency: str) -> Decimal | None:
        rate = self.rates.get(currency.upper())
        if amount is None or rate is None:
            return None
        return rate.apply(amount)


def _customer(payload: dict[str, Any]) -> str | None:
    value = payload.get("customer")
    return value.strip().upper() if isinstance(value, str) else None


def rank_drafts(
    session: Session, drafts: Sequence[DraftAction], *, now: datetime | None = None
) -> list[Ranked[DraftAction]]:
    """Drafts waiting for approval by impact: their value, the customer's tier, the escalation time as SLA, the
    order's margin (its lowest line margin on the value) and how long they waited."""
    weights = priority_weights()
    lookup = _Lookup(
        session,
        {d.currency.upper() for d in drafts},
        {c for d in drafts if (c := _customer(d.payload))},
        weights.currency,
    )

    def candidate(draft: DraftAction) -> Candidate:
        value = lookup.convert(Decimal(draft.amount), draft.currency)
        pct = (draft.facts or {}).get("min_margin_pct")
        margin = value * Decimal(str(pct)) / 100 if value is not None and pct is not None else None
        return Candidate(
            ref=draft.number,
            value=value or Decimal(0),
            currency=weights.currency,
            tier=lookup.tiers.get(_customer(draft.payload) or ""),
            due_at=draft.escalate_at,
            margin=margin.quantize(Decimal("0.01")) if margin is not None else None,
            since=draft.created_at,
        )

    return rank(drafts, candidate, now=now)


def _evidence(case: ExceptionCase) -> dict[str, Any]:
    related = case.related or {}
    evidence = related.get("evidence")
    return {**related, **(evidence if isinstance(evidence, dict) else {})}


def _decimal(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value)) if value is not None and not isinstance(value, bool) else None
    except ArithmeticError:
        return None


def case_value(case: ExceptionCase) -> Decimal | None:
    """A case's value at risk in its entity's currency: a finding's `impact`, else the figure the detector recorded
    (the orders held on credit, the overdue amount, an amount or value); None when the case carries none (a
    shortage records units, not money)."""
    facts = _evidence(case)
    for key in VALUE_KEYS:
        found = _decimal(facts.get(key))
        if found is not None and found > 0:
            return found
    return None


def rank_cases(
    session: Session, cases: Sequence[ExceptionCase], *, now: datetime | None = None
) -> list[Ranked[ExceptionCase]]:
    """Exception cases by impact: the value at risk (in the entity's currency, converted), the customer's tier,
    the case's SLA, the margin at stake (`margin_at_risk` in its evidence) and its age."""
    weights = priority_weights()
    entity_ids = sorted({c.entity_id for c in cases})
    currencies = (
        dict(
            session.execute(
                select(LegalEntity.id, LegalEntity.base_currency).where(LegalEntity.id.in_(entity_ids))
            ).all()
        )
        if entity_ids
        else {}
    )
    customers = {c for case in cases if (c := _customer(_evidence(case)))}
    lookup = _Lookup(session, set(currencies.values()), customers, weights.currency)

    def candidate(case: ExceptionCase) -> Candidate:
        currency = currencies.get(case.entity_id, weights.currency)
        facts = _evidence(case)
        return Candidate(
            ref=case.number,
            value=lookup.convert(case_value(case), currency) or Decimal(0),
            currency=weights.currency,
            tier=lookup.tiers.get(_customer(facts) or ""),
            due_at=case.sla_due_at,
            margin=lookup.convert(_decimal(facts.get("margin_at_risk")), currency),
            since=case.created_at,
        )

    return rank(cases, candidate, now=now)


def rank_collections(
    session: Session, targets: Sequence[CollectionTarget], *, now: datetime | None = None
) -> list[Ranked[CollectionTarget]]:
    """Customers to chase by impact: the money past due (converted), the customer's tier, the oldest invoice's due
    date as the SLA (past due is overdue) and how long that invoice has been open past due."""
    weights = priority_weights()
    lookup = _Lookup(session, {t.currency.upper() for t in targets}, {t.customer for t in targets}, weights.currency)
    moment = now or clock.now()

    def candidate(target: CollectionTarget) -> Candidate:
        due = moment - timedelta(days=target.oldest_days)
        return Candidate(
            ref=target.customer,
            value=lookup.convert(target.past_due, target.currency) or Decimal(0),
            currency=weights.currency,
            tier=lookup.tiers.get(target.customer),
            due_at=due,
            since=due,
        )

    return rank(targets, candidate, now=moment)


def ranked_cases(session: Session, actor: Actor, *, limit: int = 50, **filters: Any) -> CasePage:
    """`page_cases` by priority: the matching cases (the first `MAX_LIST` by due time) ranked by impact, the top
    `limit` of them, with how many match in all."""
    if not 1 <= limit <= MAX_LIST:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIST}, got {limit}")
    page = page_cases(session, actor, limit=MAX_LIST, **filters)
    return CasePage([r.item for r in rank_cases(session, page.cases)[:limit]], page.total)
