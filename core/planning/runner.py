"""The planning runner: exception detection and every registered analysis in one pass, by one worker at a time.

`ANALYSES` is the registry: one line per analysis (its name, the case type its findings become, its finder
`find_x(session, *, as_of, entity_ids=None) -> list[Finding]`). `run_analyses` runs detection and each analysis
in its own savepoint and syncs the findings into the exception queue; an analysis that fails is reported (and
logged) and the others go on. `run_planning` wraps that in a recorded run (`planning_runs`) that only one
worker performs at a time:

- PostgreSQL: the worker holds a session-level advisory lock (`pg_try_advisory_lock`) on its own connection
  for the whole run; a worker that finds it taken skips. The server drops the lock when the connection dies, so
  a crashed worker never blocks the next run (its "running" row is marked abandoned).
- SQLite: the running row is a lease, claimed in a `BEGIN IMMEDIATE` transaction (one writer at a time); a
  worker that finds a live lease skips; a lease past `lease_until` is taken for abandoned.

A scheduled run also asks whether it is due (`not_since`): no whole run started since then, so several
workers polling the same schedule make one run per period between them.
"""

import logging
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from core import clock
from core.actor import Actor
from core.db import Database
from core.errors import InvalidInput, PermissionDenied
from core.exceptions import detect_exceptions
from core.exceptions.findings import Finding, Synced, sync_findings
from core.exceptions.models import ExceptionType
from core.exceptions.service import MANAGING_ROLES
from core.masterdata.service import get_entity
from core.planning.anomalies import find_demand_anomalies
from core.planning.late_orders import find_late_order_risks
from core.planning.margin_leakage import find_margin_leakage
from core.planning.models import PlanningRun, RunStatus, Trigger
from core.planning.replenishment_findings import find_replenishment, sync_replenishment
from core.planning.suppliers import find_supplier_risks

log = logging.getLogger("erp.planning")

Finder = Callable[..., Sequence[Finding]]  # find_x(session, *, as_of: date, entity_ids: Collection[int] | None)
Syncer = Callable[..., Synced]  # sync_x(session, *, as_of, entity_ids): finds and syncs, with its own closing reasons


@dataclass(frozen=True)
class Analysis:
    """A planning analysis as the runner knows it: its name, the case type of its findings, its finder."""

    name: str
    case_type: ExceptionType
    find: Finder
    sync: Syncer | None = None  # when the analysis says itself why a case closes (else the default reason)


DETECTION = "detection"  # the exception detectors (shortages, credit holds, ...): always first
# The registry: one line per analysis, in the order they run.
ANALYSES: tuple[Analysis, ...] = (
    Analysis("replenishment", ExceptionType.REPLENISHMENT, find_replenishment, sync_replenishment),
    Analysis("late_order_risk", ExceptionType.LATE_ORDER_RISK, find_late_order_risks),
    Analysis("supplier_risk", ExceptionType.SUPPLIER_RISK, find_supplier_risks),
    Analysis("margin_leakage", ExceptionType.MARGIN_LEAKAGE, find_margin_leakage),
    Analysis("demand_anomaly", ExceptionType.DEMAND_ANOMALY, find_demand_anomalies),
)

LOCK_KEY = 0x45525050  # "ERPP": the advisory lock of the planning runner (PostgreSQL locks are per database)
LEASE = timedelta(hours=2)  # SQLite: how long a running run's row keeps others off before it counts as abandoned
MAX_RUNS_LISTED = 200

Scope = frozenset[int] | None


@dataclass(frozen=True)
class AnalysisReport:
    """What one analysis did in a run: cases raised, refreshed, closed and kept, its time, or its error."""

    name: str
    raised: int = 0
    refreshed: int = 0
    closed: int = 0
    kept: int = 0
    seconds: float = 0.0
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        counts = {"raised": self.raised, "refreshed": self.refreshed, "closed": self.closed, "kept": self.kept}
        return {**counts, "seconds": round(self.seconds, 3), "error": self.error}


@dataclass(frozen=True)
class RunReport:
    """One pass of detection and the analyses, in the order they ran."""

    as_of: date
    analyses: list[AnalysisReport]

    @property
    def seconds(self) -> float:
        return sum(a.seconds for a in self.analyses)

    def errors(self) -> list[dict[str, str]]:
        return [{"analysis": a.name, "error": a.error} for a in self.analyses if a.error is not None]

    def total(self, what: str) -> int:
        return sum(int(getattr(a, what)) for a in self.analyses)


def analysis_names(analyses: Sequence[Analysis] | None = None) -> list[str]:
    """Every name `only` accepts: detection, then the registered analyses."""
    return [DETECTION, *(a.name for a in (ANALYSES if analyses is None else analyses))]


def _chosen(only: Collection[str] | None, analyses: Sequence[Analysis]) -> list[str]:
    names = analysis_names(analyses)
    if only is None:
        return names
    unknown = sorted(set(only) - set(names))
    if unknown:
        raise InvalidInput(f"no analysis named {', '.join(unknown)}; the analyses are {', '.join(names)}")
    return [n for n in names if n in set(only)]


def run_analyses(
    session: Session,
    *,
    as_of: date | None = None,
    entity_ids: Collection[int] | None = None,
    only: Collection[str] | None = None,
    analyses: Sequence[Analysis] | None = None,
) -> RunReport:
    """Run detection and each analysis (all, or those named in `only`) over `entity_ids` (None = all), each in its
    own savepoint, syncing its findings into the exception queue; one failing is reported and does not stop the
    others. Nothing is committed here: the caller's unit of work does."""
    registry = ANALYSES if analyses is None else tuple(analyses)
    day = as_of or clock.today()
    scope: Scope = None if entity_ids is None else frozenset(entity_ids)
    by_name = {a.name: a for a in registry}
    return RunReport(day, [_run_one(session, name, by_name.get(name), day, scope) for name in _chosen(only, registry)])


def _sync(session: Session, analysis: Analysis | None, day: date, scope: Scope) -> dict[str, int]:
    if analysis is None:  # detection
        return {"raised": len(detect_exceptions(session, entity_ids=scope))}
    if analysis.sync is not None:
        return analysis.sync(session, as_of=day, entity_ids=scope).counts()
    findings = analysis.find(session, as_of=day, entity_ids=scope)
    return sync_findings(session, analysis.case_type, findings, scope=scope).counts()


def _run_one(session: Session, name: str, analysis: Analysis | None, day: date, scope: Scope) -> AnalysisReport:
    started = time.perf_counter()
    try:
        with session.begin_nested():
            counts = _sync(session, analysis, day, scope)
    except Exception as error:  # an analysis's bug must not cost the others their run
        log.exception("planning analysis %s failed", name)
        return AnalysisReport(name, seconds=time.perf_counter() - started, error=f"{type(error).__name__}: {error}")
    took = time.perf_counter() - started
    raised, refreshed, closed, kept = (counts.get(k, 0) for k in ("raised", "refreshed", "closed", "kept"))
    return AnalysisReport(name, raised=raised, refreshed=refreshed, closed=closed, kept=kept, seconds=took)


# --- A recorded run, by one worker at a time ----------------------------------------------------------------


@dataclass(frozen=True)
class RunOutcome:
    """A run that happened (`run`, its `report` unless the run broke off), or why none did (`skipped`)."""

    run: PlanningRun | None
    report: RunReport | None = None
    skipped: str | None = None


def run_planning(
    db: Database,
    *,
    trigger: Trigger,
    requested_by: str | None = None,
    as_of: date | None = None,
    entity_ids: Collection[int] | None = None,
    only: Collection[str] | None = None,
    not_since: datetime | None = None,
    analyses: Sequence[Analysis] | None = None,
) -> RunOutcome:
    """Run the analyses as one recorded run, unless another worker is running them (or, with `not_since`, a
    whole run started since then): then skip, saying why. The run's duration and counts are logged."""
    registry = ANALYSES if analyses is None else tuple(analyses)
    chosen = None if only is None else _chosen(only, registry)
    scope = None if entity_ids is None else sorted(set(entity_ids))
    day = as_of or clock.today()
    with _worker_lock(db) as held:
        if not held:
            return _skipped("another worker is running the analyses")
        claimed = db.run(
            lambda s: _claim(
                s,
                trigger=trigger,
                requested_by=requested_by,
                as_of=day,
                scope=scope,
                only=chosen,
                not_since=not_since,
                dialect=db.dialect,
            )
        )
        if isinstance(claimed, str):
            return _skipped(claimed)
        started = time.perf_counter()
        try:
            report = _each_in_its_transaction(db, day, scope, chosen, registry)
        except Exception as error:
            log.exception("planning run %s broke off", claimed)
            failure = error
            run = db.run(lambda s: _finish(s, claimed, time.perf_counter() - started, None, failure))
            return RunOutcome(run, None)
        run = db.run(lambda s: _finish(s, claimed, time.perf_counter() - started, report, None))
    _log_run(run, report)
    return RunOutcome(run, report)


def _each_in_its_transaction(
    db: Database, day: date, scope: list[int] | None, chosen: list[str] | None, registry: Sequence[Analysis]
) -> RunReport:
    """Each analysis committed on its own, so that a long run never holds the database's write lock (SQLite) or a
    transaction (PostgreSQL) for longer than its slowest analysis."""

    def one(name: str) -> list[AnalysisReport]:
        run = db.run(lambda s: run_analyses(s, as_of=day, entity_ids=scope, only=[name], analyses=registry), attempts=2)
        return run.analyses

    return RunReport(day, [a for name in _chosen(chosen, registry) for a in one(name)])


def _skipped(reason: str) -> RunOutcome:
    log.info("planning run skipped: %s", reason)
    return RunOutcome(None, None, skipped=reason)


@contextmanager
def _worker_lock(db: Database) -> Iterator[bool]:
    """PostgreSQL: whether this worker got the runner's advisory lock, held on its own connection until the block
    ends. SQLite has one writer at a time: the lease row claimed under BEGIN IMMEDIATE decides (always True)."""
    if db.dialect != "postgresql":
        yield True
        return
    with db.engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT")
        held = bool(connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": LOCK_KEY}).scalar())
        try:
            yield held
        finally:
            if held:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": LOCK_KEY})


def _claim(
    session: Session,
    *,
    trigger: Trigger,
    requested_by: str | None,
    as_of: date,
    scope: list[int] | None,
    only: list[str] | None,
    not_since: datetime | None,
    dialect: str,
) -> int | str:
    """The id of a new running run, or why none may start now."""
    now = clock.now()
    for running in session.scalars(select(PlanningRun).where(PlanningRun.status == RunStatus.RUNNING.value)):
        # Under PostgreSQL's lock no other worker is mid-run: a running row is a dead worker's.
        if dialect != "postgresql" and running.lease_until > now:
            return f"run {running.id} is under way since {running.started_at:%Y-%m-%d %H:%M:%S}"
        running.status, running.finished_at = RunStatus.ABANDONED.value, now
        running.errors = [*running.errors, {"analysis": None, "error": "its worker stopped before it finished"}]
    if not_since is not None:
        last = session.scalar(
            select(func.max(PlanningRun.started_at)).where(
                PlanningRun.scope.is_(None),
                PlanningRun.only.is_(None),
                PlanningRun.status != RunStatus.ABANDONED.value,
            )
        )
        if last is not None and last > not_since:
            return f"not due: the last run started at {last:%Y-%m-%d %H:%M:%S}"
    run = PlanningRun(
        trigger=trigger.value,
        requested_by=requested_by,
        as_of=as_of,
        scope=scope,
        only=only,
        status=RunStatus.RUNNING.value,
        started_at=now,
        lease_until=now + LEASE,
        counts={},
        errors=[],
    )
    session.add(run)
    session.flush()
    return run.id


def _finish(
    session: Session, run_id: int, seconds: float, report: RunReport | None, failure: Exception | None
) -> PlanningRun:
    run = session.get_one(PlanningRun, run_id)
    run.finished_at, run.seconds = clock.now(), round(seconds, 3)
    if report is not None:
        run.status = RunStatus.FINISHED.value
        run.counts = {a.name: a.as_json() for a in report.analyses}
        run.errors = report.errors()
    else:
        run.status = RunStatus.FAILED.value
        run.errors = [{"analysis": None, "error": f"{type(failure).__name__}: {failure}"}]
    session.flush()
    return run


def _log_run(run: PlanningRun, report: RunReport) -> None:
    per = ", ".join(
        f"{a.name} +{a.raised} ~{a.refreshed} -{a.closed} ={a.kept} {a.seconds:.2f}s" + (" FAILED" if a.error else "")
        for a in report.analyses
    )
    log.info(
        "planning run %s (%s) took %.2fs: %d raised, %d refreshed, %d closed, %d kept, %d failed [%s]",
        run.id,
        run.trigger,
        run.seconds or 0.0,
        report.total("raised"),
        report.total("refreshed"),
        report.total("closed"),
        report.total("kept"),
        len(report.errors()),
        per,
    )


# --- For the doors (CLI, API) ---------------------------------------------------------------------------------


def planning_scope(session: Session, actor: Actor, *, entities: Sequence[str] = ()) -> frozenset[int]:
    """The entities a person may run the analyses over: a manager's or admin's own, or those of them named."""
    if not actor.roles & MANAGING_ROLES:
        raise PermissionDenied(f"{actor.username} may not run the planning analyses: that takes manager or admin")
    return entity_ids_of(session, entities, actor) if entities else actor.entity_ids


def entity_ids_of(session: Session, codes: Sequence[str], actor: Actor | None = None) -> frozenset[int]:
    """The ids of legal entities by code (each in the actor's scope, when one is given)."""
    ids = set()
    for code in codes:
        entity = get_entity(session, code=code)
        if actor is not None:
            actor.require_entity(entity.id, f"entity {entity.code}")
        ids.add(entity.id)
    return frozenset(ids)


def recent_runs(session: Session, *, limit: int = 20) -> list[PlanningRun]:
    """The latest runs, newest first."""
    if not 1 <= limit <= MAX_RUNS_LISTED:
        raise InvalidInput(f"limit must be between 1 and {MAX_RUNS_LISTED}, got {limit}")
    return list(session.scalars(select(PlanningRun).order_by(PlanningRun.id.desc()).limit(limit)))
