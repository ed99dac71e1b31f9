"""The planning runner: detection and the registered analyses in one recorded run, findings synced without
duplicates, a failing analysis reported without stopping the others, and one run among several workers."""

import threading
import time
from collections.abc import Collection
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import clock
from core.actor import Person
from core.db import Database
from core.drafts.models import DraftAction
from core.drafts.service import RequestContext, confirm
from core.errors import InvalidInput, OutOfScope, PermissionDenied
from core.exceptions.findings import Finding, Proposal
from core.exceptions.models import ExceptionCase, ExceptionType, Severity
from core.masterdata.service import get_entity
from core.planning.models import PlanningRun, RunStatus, Trigger
from core.planning.proposals import drafts_from_cases
from core.planning.runner import (
    DETECTION,
    Analysis,
    planning_scope,
    recent_runs,
    run_analyses,
    run_planning,
)
from tests.world import World


class FakeFinder:
    """An analysis whose findings the test sets: `holds` maps a key to its on-hand figure."""

    def __init__(self, entity: int, holds: dict[str, int], delay: float = 0.0) -> None:
        self.entity, self.holds, self.delay, self.calls = entity, holds, delay, 0

    def __call__(self, session: Session, *, as_of: date, entity_ids: Collection[int] | None = None) -> list[Finding]:
        self.calls += 1
        time.sleep(self.delay)
        return [
            Finding(
                type=ExceptionType.REPLENISHMENT,
                entity_id=self.entity,
                key=key,
                severity=Severity.MEDIUM,
                title=f"{key} will run out",
                detail=f"on hand {on_hand}",
                evidence={"on_hand": on_hand, "as_of": as_of},
                proposal=Proposal("transfer", {"from_warehouse": "DAL", "to_warehouse": "ATL"}, "move some"),
            )
            for key, on_hand in self.holds.items()
        ]


def broken(session: Session, *, as_of: date, entity_ids: Collection[int] | None = None) -> list[Finding]:
    raise RuntimeError("the forecast fell over")


def entity_id(db: Database, code: str) -> int:
    return db.read(lambda s: get_entity(s, code=code).id)


def replenishment_cases(db: Database) -> dict[str, str]:
    """Every replenishment case's finding key and status."""
    rows = db.read(
        lambda s: s.execute(
            select(ExceptionCase.condition_key, ExceptionCase.status).where(
                ExceptionCase.type == ExceptionType.REPLENISHMENT.value
            )
        ).all()
    )
    return {str(key): str(status) for key, status in rows}


def test_a_rerun_keeps_findings_refreshes_moved_figures_and_closes_those_gone(world: World) -> None:
    finder = FakeFinder(entity_id(world.db, "NA"), {"repl:V-200:ATL": 3, "repl:P-100:DAL": 1})
    analyses = [Analysis("replenishment", ExceptionType.REPLENISHMENT, finder)]

    first = world.run(lambda s: run_analyses(s, analyses=analyses))
    assert [a.name for a in first.analyses] == [DETECTION, "replenishment"]
    assert (first.analyses[1].raised, first.analyses[1].kept) == (2, 0)

    again = world.run(lambda s: run_analyses(s, analyses=analyses)).analyses[1]
    assert (again.raised, again.refreshed, again.closed, again.kept) == (0, 0, 0, 2)

    finder.holds = {"repl:V-200:ATL": 2}  # V-200 at ATL moved; P-100 at DAL no longer holds
    moved = world.run(lambda s: run_analyses(s, analyses=analyses)).analyses[1]
    assert (moved.raised, moved.refreshed, moved.closed, moved.kept) == (0, 1, 1, 0)
    assert replenishment_cases(world.db) == {"repl:V-200:ATL": "open", "repl:P-100:DAL": "resolved"}


def test_a_failing_analysis_is_reported_and_the_others_still_run(world: World) -> None:
    na = entity_id(world.db, "NA")
    analyses = [
        Analysis("late_order_risk", ExceptionType.LATE_ORDER_RISK, broken),
        Analysis("replenishment", ExceptionType.REPLENISHMENT, FakeFinder(na, {"repl:V-200:ATL": 3})),
    ]
    outcome = run_planning(world.db, trigger=Trigger.CLI, requested_by="ops", analyses=analyses)

    assert outcome.report is not None and outcome.run is not None
    by_name = {a.name: a for a in outcome.report.analyses}
    assert by_name["late_order_risk"].error == "RuntimeError: the forecast fell over"
    assert by_name["replenishment"].raised == 1
    assert replenishment_cases(world.db) == {"repl:V-200:ATL": "open"}
    run = world.read(lambda s: s.get_one(PlanningRun, outcome.run.id))  # type: ignore[union-attr]
    assert run.status == RunStatus.FINISHED and run.trigger == "cli" and run.requested_by == "ops"
    assert run.errors == [{"analysis": "late_order_risk", "error": "RuntimeError: the forecast fell over"}]
    assert run.counts["replenishment"]["raised"] == 1 and run.counts["late_order_risk"]["error"]
    assert run.finished_at is not None and run.seconds is not None and run.seconds >= 0


def test_a_finding_outside_the_runs_scope_fails_that_analysis_only(world: World) -> None:
    na, uk = entity_id(world.db, "NA"), entity_id(world.db, "UK")
    analyses = [Analysis("replenishment", ExceptionType.REPLENISHMENT, FakeFinder(uk, {"repl:F-300:BHM": 1}))]
    report = world.run(lambda s: run_analyses(s, entity_ids=[na], analyses=analyses))
    assert report.analyses[0].error is None  # detection, over NA
    assert "outside the run's scope" in (report.analyses[1].error or "")
    assert replenishment_cases(world.db) == {}


def test_only_runs_the_analyses_named_and_refuses_an_unknown_name(world: World) -> None:
    finder = FakeFinder(entity_id(world.db, "NA"), {"repl:V-200:ATL": 3})
    analyses = [Analysis("replenishment", ExceptionType.REPLENISHMENT, finder)]
    report = world.run(lambda s: run_analyses(s, only=["replenishment"], analyses=analyses))
    assert [a.name for a in report.analyses] == ["replenishment"]
    with pytest.raises(InvalidInput, match="no analysis named forecasts; the analyses are detection, replenishment"):
        run_planning(world.db, trigger=Trigger.CLI, only=["forecasts"], analyses=analyses)
    assert world.read(lambda s: s.scalar(select(func.count()).select_from(PlanningRun))) == 0


def test_a_scheduled_run_is_skipped_until_it_is_due(world: World) -> None:
    finder = FakeFinder(entity_id(world.db, "NA"), {})
    analyses = [Analysis("replenishment", ExceptionType.REPLENISHMENT, finder)]
    hour_ago = clock.now() - timedelta(hours=1)
    first = run_planning(world.db, trigger=Trigger.SCHEDULE, not_since=hour_ago, analyses=analyses)
    second = run_planning(world.db, trigger=Trigger.SCHEDULE, not_since=hour_ago, analyses=analyses)
    assert first.run is not None and second.run is None
    assert (second.skipped or "").startswith("not due: the last run started at")
    later = run_planning(world.db, trigger=Trigger.SCHEDULE, not_since=clock.now() + timedelta(seconds=1))
    assert later.run is not None
    assert [r.id for r in world.read(lambda s: recent_runs(s, limit=5))] == [later.run.id, first.run.id]
    assert finder.calls == 1


def test_a_scoped_run_does_not_make_the_schedule_wait(world: World) -> None:
    na = entity_id(world.db, "NA")
    run_planning(world.db, trigger=Trigger.API, requested_by="gus", entity_ids=[na], analyses=[])
    due = run_planning(world.db, trigger=Trigger.SCHEDULE, not_since=clock.now() - timedelta(hours=1), analyses=[])
    assert due.run is not None


def test_sqlite_skips_while_a_live_lease_is_held_and_takes_over_an_expired_one(sqlite_world: World) -> None:
    db = sqlite_world.db
    run_id = _running_row(db, lease=timedelta(minutes=30))
    busy = run_planning(db, trigger=Trigger.CLI, analyses=[])
    assert busy.run is None and busy.skipped == _under_way(db, run_id)

    db.run(lambda s: setattr(s.get_one(PlanningRun, run_id), "lease_until", clock.now() - timedelta(seconds=1)))
    taken = run_planning(db, trigger=Trigger.CLI, analyses=[])
    assert taken.run is not None
    assert db.read(lambda s: s.get_one(PlanningRun, run_id).status) == RunStatus.ABANDONED


def test_postgresql_marks_a_dead_workers_run_abandoned_once_the_lock_is_free(pg_world: World) -> None:
    run_id = _running_row(pg_world.db, lease=timedelta(hours=1))  # its worker's connection (and lock) is gone
    taken = run_planning(pg_world.db, trigger=Trigger.CLI, analyses=[])
    assert taken.run is not None and taken.run.status == RunStatus.FINISHED
    assert pg_world.read(lambda s: s.get_one(PlanningRun, run_id).status) == RunStatus.ABANDONED


def _running_row(db: Database, *, lease: timedelta) -> int:
    def command(s: Session) -> int:
        now = clock.now()
        run = PlanningRun(
            trigger="schedule", as_of=now.date(), status="running", started_at=now, lease_until=now + lease
        )
        run.counts, run.errors = {}, []
        s.add(run)
        s.flush()
        return run.id

    return db.run(command)


def _under_way(db: Database, run_id: int) -> str:
    started = db.read(lambda s: s.get_one(PlanningRun, run_id).started_at)
    return f"run {run_id} is under way since {started:%Y-%m-%d %H:%M:%S}"


def two_workers_at_once(db: Database, **how: Any) -> tuple[list[Any], FakeFinder]:
    """Two workers (each its own engine on the same database) start a run at the same instant."""
    url = db.engine.url.render_as_string(hide_password=False)
    workers = [Database.from_url(url), Database.from_url(url)]
    finder = FakeFinder(entity_id(db, "NA"), {"repl:V-200:ATL": 3}, delay=0.5)
    analyses = [Analysis("replenishment", ExceptionType.REPLENISHMENT, finder)]
    start, outcomes = threading.Barrier(2), []

    def worker(each: Database) -> None:
        start.wait()
        outcomes.append(run_planning(each, analyses=analyses, **how))

    threads = [threading.Thread(target=worker, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for each in workers:
        each.dispose()
    return outcomes, finder


def test_two_postgresql_workers_starting_at_once_make_exactly_one_run(pg_world: World) -> None:
    outcomes, finder = two_workers_at_once(pg_world.db, trigger=Trigger.CLI)  # no schedule: the lock alone decides
    assert sorted(o.run is not None for o in outcomes) == [False, True]
    assert [o.skipped for o in outcomes if o.run is None] == ["another worker is running the analyses"]
    assert finder.calls == 1
    assert pg_world.read(lambda s: s.scalar(select(func.count()).select_from(PlanningRun))) == 1
    assert replenishment_cases(pg_world.db) == {"repl:V-200:ATL": "open"}


def test_two_postgresql_workers_on_the_schedule_make_one_run_per_period(pg_world: World) -> None:
    hour_ago = clock.now() - timedelta(hours=1)
    outcomes, finder = two_workers_at_once(pg_world.db, trigger=Trigger.SCHEDULE, not_since=hour_ago)
    assert sorted(o.run is not None for o in outcomes) == [False, True] and finder.calls == 1
    again = run_planning(pg_world.db, trigger=Trigger.SCHEDULE, not_since=hour_ago, analyses=[])
    assert again.run is None and (again.skipped or "").startswith("not due")


def test_two_sqlite_workers_on_the_schedule_make_exactly_one_run(sqlite_world: World) -> None:
    hour_ago = clock.now() - timedelta(hours=1)
    outcomes, finder = two_workers_at_once(sqlite_world.db, trigger=Trigger.SCHEDULE, not_since=hour_ago)
    assert sorted(o.run is not None for o in outcomes) == [False, True]
    assert finder.calls == 1
    assert sqlite_world.read(lambda s: s.scalar(select(func.count()).select_from(PlanningRun))) == 1
    assert replenishment_cases(sqlite_world.db) == {"repl:V-200:ATL": "open"}


def test_only_a_manager_or_admin_runs_the_analyses_and_only_over_their_entities(world: World) -> None:
    na, uk = entity_id(world.db, "NA"), entity_id(world.db, "UK")
    assert world.read(lambda s: planning_scope(s, world.actor("gus"))) == {na}
    assert world.read(lambda s: planning_scope(s, world.actor("mia"), entities=["uk"])) == {uk}
    with pytest.raises(PermissionDenied, match="bea may not run the planning analyses"):
        world.read(lambda s: planning_scope(s, world.actor("bea")))
    with pytest.raises(OutOfScope):
        world.read(lambda s: planning_scope(s, world.actor("gus"), entities=["UK"]))


def test_a_runs_proposed_purchase_orders_go_through_the_gate_each_on_its_own(world: World) -> None:
    na = entity_id(world.db, "NA")

    def po(quantity: int) -> Proposal:
        lines = [{"sku": "V-200", "quantity": quantity, "unit_cost": "10.00"}]
        return Proposal("purchase_order", {"supplier": "VALVECO", "warehouse": "DAL", "lines": lines}, f"{quantity}")

    def find(session: Session, *, as_of: date, entity_ids: Collection[int] | None = None) -> list[Finding]:
        return [
            Finding(ExceptionType.REPLENISHMENT, na, key, Severity.MEDIUM, key, "", {}, proposal=po(quantity))
            for key, quantity in (("repl:small", 50), ("repl:oversized", 5000))  # USD 500 and USD 50,000
        ]

    analyses = [Analysis("replenishment", ExceptionType.REPLENISHMENT, find)]
    raised = run_planning(world.db, trigger=Trigger.CLI, analyses=analyses).report
    assert raised is not None and raised.analyses[1].raised == 2
    cases = {c.condition_key: c.number for c in world.read(lambda s: s.scalars(select(ExceptionCase)).all())}
    bea = world.actor("bea")
    ctx = RequestContext(bea, "cli")
    opened = world.run(lambda s: drafts_from_cases(s, ctx, case_numbers=[cases["repl:small"], cases["repl:oversized"]]))
    drafts = [o.draft for o in opened if o.draft is not None]
    assert [d.status for d in drafts] == ["unconfirmed", "unconfirmed"]  # nothing changed yet

    def confirmed(number: str) -> DraftAction:
        return world.run(lambda s: confirm(s, Person(bea, channel="cli"), draft_number=number))

    decided = [confirmed(d.number) for d in drafts]
    assert [d.status for d in decided] == ["executed", "pending_approval"]
    assert "manager" in decided[1].explanation and "manager" not in decided[0].explanation
    again = run_planning(world.db, trigger=Trigger.CLI, analyses=analyses).report
    assert again is not None and (again.analyses[1].raised, again.analyses[1].kept) == (0, 2)  # no duplicates
