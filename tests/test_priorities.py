"""Priorities by business impact: the score on hand-built items worked out by hand, the approvals inbox's order
and overdue flag, and the exception board ranked by the value at risk (on both databases)."""

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session

from assistant.channels.web import views
from core.drafts.inbox import waiting_for
from core.drafts.service import RequestContext, draft_action
from core.exceptions.findings import Finding, sync_findings
from core.exceptions.models import ExceptionType, Severity
from core.masterdata.models import LegalEntity
from core.planning.priorities import Candidate, PriorityWeights, rank_cases, ranked_cases, score
from core.settings import get_settings
from tests.fake_clock import FakeClock
from tests.world import World

NOW = datetime(2026, 11, 20, 9, 0)
WEIGHTS = PriorityWeights()  # value 10, tier 10, sla 30, margin 5, age 2; A 1.0, B 0.5, C 0; due soon 24 h


def _candidate(ref: str, value: str, **more: object) -> Candidate:
    return Candidate(ref=ref, value=Decimal(value), currency="USD", **more)  # type: ignore[arg-type]


def test_the_score_adds_each_factor_times_its_weight() -> None:
    # value log10(1 + 9,999) = 4 -> 40; tier A 1 -> 10; overdue 1 -> 30; no margin; 2 days waiting -> 4: 84
    big = score(
        _candidate("A", "9999", tier="A", due_at=NOW - timedelta(hours=5), since=NOW - timedelta(days=2)),
        now=NOW,
        weights=WEIGHTS,
    )
    assert big.score == 84.0 and big.overdue
    assert {f.name: f.score for f in big.factors} == {
        "value": 40.0,
        "tier": 10.0,
        "sla": 30.0,
        "margin": 0.0,
        "age": 4.0,
    }
    assert {f.name: f.basis for f in big.factors}["sla"] == "overdue by 5 h"
    assert {f.name: f.basis for f in big.factors}["value"] == "USD 9,999.00 at risk"
    # value log10(100) = 2 -> 20; tier C 0; due in 10 h (within 24) 0.5 -> 15; margin log10(1,000) = 3 -> 15: 50
    thin = score(
        _candidate("B", "99", tier="C", due_at=NOW + timedelta(hours=10), margin=Decimal(999)), now=NOW, weights=WEIGHTS
    )
    assert thin.score == 50.0 and not thin.overdue
    assert "score 50 = value 20 (USD 99.00 at risk) + sla 15 (due in 10 h) + margin 15" in thin.explain()


def test_a_big_new_item_outranks_a_small_old_one_not_by_age_alone() -> None:
    weights = PriorityWeights(weights={"value": 10, "tier": 10, "sla": 30, "margin": 5, "age": 2})
    new = score(_candidate("NEW", "999999", since=NOW), now=NOW, weights=weights)  # 6 -> 60
    old = score(_candidate("OLD", "10", since=NOW - timedelta(days=30)), now=NOW, weights=weights)  # 10.41 + 28
    assert (new.score, old.score) == (60.0, 38.41)
    assert [f.basis for f in old.factors if f.name == "age"] == ["waiting 30.0 days"]  # capped at 14 days: 28
    heavier_age = PriorityWeights(weights={"value": 10, "age": 5})  # weights are data: age can win
    assert score(old.item, now=NOW, weights=heavier_age).score > score(new.item, now=NOW, weights=heavier_age).score


def test_tier_points_and_due_soon_come_from_the_planning_section() -> None:
    tiers = PriorityWeights(tier_points={"A": 2.0}, due_soon_hours=48)
    item = _candidate("T", "0", tier="A", due_at=NOW + timedelta(hours=40))
    factors = {f.name: f.score for f in score(item, now=NOW, weights=tiers).factors}
    assert (factors["tier"], factors["sla"]) == (20.0, 15.0)
    with pytest.raises(ValueError):
        PriorityWeights(due_soon_hours=0)


# --- The approvals inbox ------------------------------------------------------------------------------


def _pending(world: World, customer: str, sku: str, quantity: int) -> str:
    ctx = RequestContext(world.actor("sam"), "web")
    payload = {"customer": customer, "lines": [{"sku": sku, "quantity": quantity, "warehouse": "DAL"}]}
    draft = world.run(lambda s: draft_action(s, ctx, confirmed=True, kind="sales_order", payload=payload))
    assert draft.status == "pending_approval", draft.explanation
    return draft.number


def test_the_inbox_puts_the_overdue_draft_first_and_flags_it(world: World, fake_clock: FakeClock) -> None:
    old = _pending(world, "ACME", "X-900", 1)  # USD 6,000
    fake_clock.advance(hours=get_settings().approval_escalate_hours + 1)
    bigger = _pending(world, "ACME", "X-900", 2)  # USD 12,000, fresh
    gus = world.actor("gus")
    inbox = world.read(lambda s: views.cards(s, waiting_for(s, actor=gus), viewer=gus, ranked=True))
    assert [(c.number, c.overdue) for c in inbox] == [(old, True), (bigger, False)]
    first = {f.name: f for f in inbox[0].factors}
    assert first["sla"].score == 30.0 and first["sla"].basis.startswith("overdue by")
    assert first["tier"].basis == "tier A" and first["value"].basis == "USD 6,000.00 at risk"
    # the order's lowest line margin (33.3%: X-900 costs 4,000, sells at 6,000) on its value: 1,998.00 at stake,
    # 5 x log10(1,999) = 16.51
    assert (first["margin"].basis, first["margin"].score) == ("USD 1,998.00 margin at stake", 16.51)
    assert inbox[0].urgency == pytest.approx(sum(f.score for f in inbox[0].factors), abs=0.05)
    assert inbox[0].urgency > inbox[1].urgency


def test_without_an_overdue_draft_the_bigger_value_comes_first(world: World) -> None:
    small = _pending(world, "ACME", "X-900", 1)
    big = _pending(world, "ACME", "X-900", 3)
    gus = world.actor("gus")
    inbox = world.read(lambda s: views.cards(s, waiting_for(s, actor=gus), viewer=gus, ranked=True))
    assert [c.number for c in inbox] == [big, small] and not any(c.overdue for c in inbox)


# --- Exception cases ------------------------------------------------------------------------------------


def _finding(entity_id: int, key: str, impact: str, customer: str | None = None) -> Finding:
    evidence = {"customer": customer} if customer else {}
    return Finding(
        ExceptionType.MARGIN_LEAKAGE, entity_id, key, Severity.MEDIUM, f"leak {key}", "d", evidence, Decimal(impact)
    )


def test_cases_rank_by_value_converted_to_one_currency_and_the_customers_tier(world: World) -> None:
    def seed(s: Session) -> None:
        ids = {e.code: e.id for e in s.query(LegalEntity)}
        findings = [
            _finding(ids["NA"], "na-small", "900", "BOLT"),
            _finding(ids["NA"], "na-tier", "900", "ACME"),
            _finding(ids["UK"], "uk-big", "8000"),
        ]
        sync_findings(s, ExceptionType.MARGIN_LEAKAGE, findings)

    world.run(seed)
    mia = world.actor("mia")  # NA and UK
    ranked = world.read(
        lambda s: [(r.item.condition_key, r.score, r.factors) for r in rank_cases(s, ranked_cases(s, mia).cases)]
    )
    # GBP 8,000 = USD 10,000 (world rate 1.25): 10 x log10(10,001) = 40.0; USD 900 with ACME's tier A:
    # 10 x log10(901) + 10 = 39.55; the same USD 900 with BOLT's tier C: 29.55 (all due in the same SLA, none waited)
    assert [(key, points) for key, points, _ in ranked] == [("uk-big", 40.0), ("na-tier", 39.55), ("na-small", 29.55)]
    assert [f.basis for f in ranked[0][2] if f.name == "value"] == ["USD 10,000.00 at risk"]
    page = world.read(lambda s: ranked_cases(s, mia, limit=2))
    assert page.total == 3 and len(page.cases) == 2
