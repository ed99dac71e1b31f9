"""The planning foundation: findings kept in the queue (raise once, refresh, close, come back), the planning file,
the reorder-level rule, ABC classes, the weekly demand history, and opening a finding's proposed draft."""

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.drafts.models import DraftAction
from core.drafts.service import RequestContext
from core.errors import ErpError, InvalidInput, InvalidState
from core.exceptions import ExceptionCase, ExceptionType, Severity, resolve_case
from core.exceptions.findings import Finding, Proposal, sync_findings
from core.masterdata.models import Item, LegalEntity, Warehouse
from core.planning.abc import abc_classes
from core.planning.config import PlanningFileError, load_planning, parse_planning
from core.planning.demand import demand_estimates
from core.planning.history import weekly_demand
from core.planning.proposals import draft_from_case, drafts_from_cases
from core.planning.replenishment import reorder_levels, service_z
from core.sales.service import LineRequest
from tests.world import World

REPLENISH = ExceptionType.REPLENISHMENT


def _entity(s: Session, code: str) -> int:
    return s.scalars(select(LegalEntity.id).where(LegalEntity.code == code)).one()


def _finding(entity_id: int, key: str, on_hand: int = 3, proposal: Proposal | None = None) -> Finding:
    return Finding(
        type=REPLENISH,
        entity_id=entity_id,
        key=key,
        severity=Severity.HIGH,
        title=f"Reorder {key}",
        detail=f"{on_hand} on hand, below the reorder point of 10",
        evidence={"on_hand": on_hand, "reorder_point": Decimal("10.0"), "stock_out": date(2026, 12, 9)},
        impact=Decimal("120.50"),
        proposal=proposal,
    )


def _sync(world: World, keys: dict[str, int], entity: str = "NA") -> dict[str, int]:
    def run(s: Session) -> dict[str, int]:
        na = _entity(s, entity)
        return sync_findings(s, REPLENISH, [_finding(na, k, v) for k, v in keys.items()], scope=[na]).counts()

    return world.run(run)


def _cases(world: World) -> list[dict[str, Any]]:
    def read(s: Session) -> list[dict[str, Any]]:
        rows = s.scalars(select(ExceptionCase).where(ExceptionCase.type == REPLENISH.value).order_by(ExceptionCase.id))
        return [
            {
                "key": c.dedup_key,
                "status": c.status,
                "ended": c.ended_at is not None,
                "owner_role": c.owner_role,
                "evidence": c.related["evidence"],
                "last_event": c.events[-1].text,
            }
            for c in rows
        ]

    return world.read(read)


def test_a_finding_is_raised_once_refreshed_when_its_figures_move_and_closed_with_the_reason_when_gone(
    world: World,
) -> None:
    assert _sync(world, {"r:a": 3, "r:b": 4}) == {"raised": 2, "refreshed": 0, "closed": 0, "kept": 0}
    first = _cases(world)
    assert [c["key"] for c in first] == ["r:a", "r:b"]
    assert {c["owner_role"] for c in first} == {"buyer"}  # routed by the routing file's replenishment rule
    assert first[0]["evidence"] == {"on_hand": 3, "reorder_point": "10.0", "stock_out": "2026-12-09"}

    assert _sync(world, {"r:a": 3, "r:b": 4}) == {"raised": 0, "refreshed": 0, "closed": 0, "kept": 2}
    assert _sync(world, {"r:a": 1, "r:b": 4}) == {"raised": 0, "refreshed": 1, "closed": 0, "kept": 1}
    assert _cases(world)[0]["evidence"]["on_hand"] == 1

    assert _sync(world, {"r:a": 1}) == {"raised": 0, "refreshed": 0, "closed": 1, "kept": 1}
    gone = _cases(world)[1]
    assert gone["status"] == "resolved" and gone["ended"] and gone["last_event"].startswith("No longer holds")

    # It comes back: a new episode, a new case, never the closed one reopened.
    assert _sync(world, {"r:a": 1, "r:b": 2}) == {"raised": 1, "refreshed": 0, "closed": 0, "kept": 1}
    assert [c["key"] for c in _cases(world)] == ["r:a", "r:b", "r:b#2"]


def test_a_dismissed_finding_stays_dismissed_while_it_holds(world: World) -> None:
    _sync(world, {"r:a": 3})
    gus = world.actor("gus")
    world.run(lambda s: resolve_case(s, gus, case_number=_cases_ids(s)[0], resolution="we phase it out", dismiss=True))
    assert _sync(world, {"r:a": 0}) == {"raised": 0, "refreshed": 0, "closed": 0, "kept": 1}
    assert [(c["status"], c["evidence"]["on_hand"]) for c in _cases(world)] == [("dismissed", 3)]


def _cases_ids(s: Session) -> list[int]:
    return list(s.scalars(select(ExceptionCase.id).where(ExceptionCase.type == REPLENISH.value)))


def test_a_sync_only_touches_its_scope_and_refuses_findings_outside_it_or_of_another_type(world: World) -> None:
    _sync(world, {"r:na": 3})

    def uk_run(s: Session) -> dict[str, int]:
        uk = _entity(s, "UK")
        return sync_findings(s, REPLENISH, [_finding(uk, "r:uk")], scope=[uk]).counts()

    assert world.run(uk_run) == {"raised": 1, "refreshed": 0, "closed": 0, "kept": 0}  # NA's case is not closed
    assert [c["status"] for c in _cases(world)] == ["open", "open"]

    def outside(s: Session) -> None:
        sync_findings(s, REPLENISH, [_finding(_entity(s, "NA"), "r:x")], scope=[_entity(s, "UK")])

    def wrong_type(s: Session) -> None:
        sync_findings(s, ExceptionType.SUPPLIER_RISK, [_finding(_entity(s, "NA"), "r:x")])

    for bad, words in ((outside, "outside the run's scope"), (wrong_type, "given to the supplier_risk sync")):
        with pytest.raises(InvalidInput, match=words):
            world.run(bad)
    assert len(_cases(world)) == 2


def test_the_planning_file_gives_defaults_checks_each_section_and_names_the_bad_field(tmp_path: Path) -> None:
    from pydantic import BaseModel, Field

    class Params(BaseModel):
        weeks: int = Field(13, ge=1)

    good = parse_planning(b"version: 1\nexample:\n  weeks: 8\n")
    assert good.section("example", Params).weeks == 8 and good.section("absent", Params).weeks == 13
    with pytest.raises(PlanningFileError, match=r"example\.weeks"):
        parse_planning(b"version: 1\nexample:\n  weeks: 0\n").section("example", Params)
    for text, words in ((b"version: 2\n", "version: must be 1"), (b"[1, 2\n", "not valid YAML"), (b"- a\n", "mapping")):
        with pytest.raises(PlanningFileError, match=words):
            parse_planning(text)
    with pytest.raises(PlanningFileError, match="cannot read it"):
        load_planning(tmp_path / "missing.yaml")
    assert load_planning().sections.keys() >= set()  # the shipped default parses


def test_reorder_levels_follow_the_formula_worked_by_hand() -> None:
    # 10 a week, error 5, 14 days' lead time + 7 days' review = 3 weeks, 95%: z = 1.6449
    levels = reorder_levels(
        mean_weekly=10, error_sd=5, lead_time_days=14, lead_time_sd_days=0, service_level=0.95, review_days=7
    )
    assert levels.lead_time_demand == pytest.approx(30)
    assert levels.safety_stock == pytest.approx(1.6449 * (3 * 25) ** 0.5, rel=1e-4)  # 14.245
    assert levels.reorder_point == pytest.approx(44.245, rel=1e-4) and levels.order_up_to == levels.reorder_point
    # A lead time that varies by 7 days (1 week) adds d^2 x 1 = 100 to the variance.
    spread = reorder_levels(mean_weekly=10, error_sd=5, lead_time_days=21, lead_time_sd_days=7, service_level=0.95)
    assert spread.safety_stock == pytest.approx(1.6449 * (75 + 100) ** 0.5, rel=1e-4)
    assert service_z(0.5) == 0 and service_z(0.98) == pytest.approx(2.0537, rel=1e-4)
    with pytest.raises(ValueError):
        service_z(1.0)
    with pytest.raises(ValueError):
        reorder_levels(mean_weekly=-1, error_sd=0, lead_time_days=1, lead_time_sd_days=0, service_level=0.9)


def test_abc_classes_split_by_cumulative_value() -> None:
    values = {"a": 70.0, "b": 20.0, "c": 6.0, "d": 4.0, "e": 0.0}
    assert abc_classes(values) == {"a": "A", "b": "A", "c": "B", "d": "C", "e": "C"}
    assert abc_classes({}) == {}
    with pytest.raises(ValueError):
        abc_classes(values, a_share=0.9, b_share=0.8)


def test_weekly_demand_counts_what_was_ordered_before_the_day_per_item_and_warehouse(world: World) -> None:
    world.place_order("ACME", LineRequest(sku="V-200", quantity=4, warehouse="DAL"), confirm=True)
    world.place_order("ACME", LineRequest(sku="V-200", quantity=6, warehouse="DAL"))  # a draft is not demand
    world.place_order("BOLT", LineRequest(sku="V-200", quantity=2, warehouse="ATL"), confirm=True)

    def read(s: Session, as_of: date) -> dict[tuple[str, str], list[int]]:
        skus = dict(s.execute(select(Item.id, Item.sku)).all())
        codes = dict(s.execute(select(Warehouse.id, Warehouse.code)).all())
        found = weekly_demand(s, as_of=as_of, weeks=2)
        return {(skus[i], codes[w]): series for (i, w), series in found.items()}

    from core import clock

    today = clock.today()
    assert world.read(lambda s: read(s, today + timedelta(days=1))) == {
        ("V-200", "DAL"): [0, 4],
        ("V-200", "ATL"): [0, 2],
    }
    assert world.read(lambda s: read(s, today)) == {}  # as of today, today's orders are not known yet
    estimates = world.read(lambda s: demand_estimates(s, as_of=today + timedelta(days=1), history_weeks=2))
    assert sorted(round(e.mean_weekly, 2) for e in estimates.values()) == [1.0, 2.0]


def _transfer_case(world: World, quantity: int = 5, also: tuple[str, ...] = ()) -> str:
    """A replenishment case proposing a transfer (and, in the same run, cases without a proposal for `also`)."""
    proposal = Proposal(
        kind="transfer",
        payload={"from_warehouse": "DAL", "to_warehouse": "ATL", "lines": [{"sku": "V-200", "quantity": quantity}]},
        summary=f"Transfer {quantity} V-200 from DAL to ATL",
    )

    def run(s: Session) -> str:
        na = _entity(s, "NA")
        found = [_finding(na, "r:atl", proposal=proposal), *(_finding(na, key) for key in also)]
        synced = sync_findings(s, REPLENISH, found, scope=[na])
        return synced.raised[0].number

    return world.run(run)


def test_opening_a_proposal_drafts_it_as_the_requester_with_a_preview_and_writes_nothing(world: World) -> None:
    number = _transfer_case(world)
    gus = world.actor("gus")
    ctx = RequestContext(actor=gus, channel="web")
    first = world.run(lambda s: _draft_facts(draft_from_case(s, ctx, case_number=number)))
    again = world.run(lambda s: _draft_facts(draft_from_case(s, ctx, case_number=number)))
    assert first == again  # the same proposal opened twice is the same draft
    assert first["kind"] == "transfer" and first["status"] == "unconfirmed" and first["requester"] == gus.user_id
    assert world.balance("V-200", "ATL").on_hand == 12 and world.balance("V-200", "DAL").on_hand == 100
    events = world.read(lambda s: [e.text for e in s.scalars(select(ExceptionCase)).one().events])
    assert f"{first['number']} drafted from the proposal" in events


def _draft_facts(draft: DraftAction) -> dict[str, Any]:
    return {"number": draft.number, "kind": draft.kind, "status": draft.status, "requester": draft.requester_id}


def test_a_case_without_a_proposal_or_of_another_entity_is_refused_and_bulk_goes_on_past_it(world: World) -> None:
    with_proposal = _transfer_case(world, also=("r:plain",))
    plain = world.read(
        lambda s: s.scalars(select(ExceptionCase).where(ExceptionCase.dedup_key == "r:plain")).one().number
    )
    gus, ulf = world.actor("gus"), world.actor("ulf")
    with pytest.raises(InvalidState, match="proposes no draft"):
        world.run(lambda s: draft_from_case(s, RequestContext(actor=gus, channel="web"), case_number=plain))
    with pytest.raises(ErpError):
        world.run(lambda s: draft_from_case(s, RequestContext(actor=ulf, channel="web"), case_number=with_proposal))

    def bulk(s: Session) -> list[tuple[str, str | None, str | None]]:
        opened = drafts_from_cases(s, RequestContext(actor=gus, channel="web"), case_numbers=[plain, with_proposal])
        return [(o.case, o.draft.kind if o.draft else None, o.error.code if o.error else None) for o in opened]

    assert world.run(bulk) == [(plain, None, "invalid_state"), (with_proposal, "transfer", None)]
