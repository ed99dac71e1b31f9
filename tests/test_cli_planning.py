"""`erp-assistant planning run|runs` and `erp-assistant exceptions propose` on the demo company (SQLite)."""

import getpass

from sqlalchemy import select
from typer.testing import CliRunner, Result

from assistant.cli import app
from core.db import Database
from core.drafts.models import DraftAction
from core.planning.models import PlanningRun
from tests.planning_cases import LARGE_PO, SMALL_PO, raise_proposals


def _cli(db: Database, *args: str) -> Result:
    url = db.engine.url.render_as_string(hide_password=False)
    env = {"ERP_DATABASE_URL": url, "COLUMNS": "200", "ERP_TODAY": "2026-11-20"}
    return CliRunner().invoke(app, list(args), env=env)


def test_planning_run_runs_the_analyses_once_and_planning_runs_lists_it(
    sqlite_demo: Database, wide_console: None
) -> None:
    ran = _cli(sqlite_demo, "planning", "run", "--entity", "NA")
    assert ran.exit_code == 0, ran.output
    assert "Planning run 1 (cli" in ran.output and "detection" in ran.output
    run = sqlite_demo.read(lambda s: s.scalars(select(PlanningRun)).one())
    assert (run.trigger, run.requested_by, run.status, run.only) == ("cli", getpass.getuser(), "finished", None)
    assert run.scope is not None and len(run.scope) == 1 and run.counts["detection"]["raised"] > 0
    listed = _cli(sqlite_demo, "planning", "runs")
    assert listed.exit_code == 0 and "cli (scoped)" in listed.output and "finished" in listed.output


def test_planning_run_refuses_an_unknown_analysis_and_records_nothing(sqlite_demo: Database) -> None:
    refused = _cli(sqlite_demo, "planning", "run", "--only", "horoscope")
    assert refused.exit_code == 1 and "invalid_input" in refused.output and "detection" in refused.output
    assert sqlite_demo.read(lambda s: s.scalars(select(PlanningRun)).all()) == []


def test_exceptions_propose_opens_each_proposal_and_the_policy_judges_each_on_its_own(sqlite_demo: Database) -> None:
    cases = raise_proposals(sqlite_demo, {"repl:small": SMALL_PO, "repl:large": LARGE_PO, "repl:none": None})
    numbers = [cases["repl:small"], cases["repl:large"], cases["repl:none"]]
    done = _cli(sqlite_demo, "exceptions", "propose", *numbers, "--user", "bea", "--yes")
    assert done.exit_code == 0, done.output
    assert f"{cases['repl:none']}: invalid_state" in done.output
    drafts = sqlite_demo.read(lambda s: s.scalars(select(DraftAction).order_by(DraftAction.id)).all())
    assert [(d.kind, d.status) for d in drafts] == [
        ("purchase_order", "executed"),
        ("purchase_order", "pending_approval"),
    ]
