"""Faults through the web service: PostgreSQL restarted under load, and the model failing mid-turn.

The restart runs on a private PostgreSQL cluster (initdb in a temporary folder), never the shared server.
"""

import os
import shutil
import sqlite3
from dataclasses import replace
from pathlib import Path

import psycopg
import psycopg_pool
import pytest
from langchain_core.runnables import RunnableConfig
from sqlalchemy import exc

from assistant.conversations import open_checkpointer
from core.db import Database, is_unavailable
from core.demo import DemoConfig
from evals.common.private_pg import ClusterError, postgres_bin, private_cluster
from evals.common.scripted_load import prepare_accounts
from evals.common.web import generous_rate_limit
from evals.hardening.faults.model import MODEL_FAULTS, ModelFault, run_model_fault
from evals.hardening.faults.restart import RestartSettings, run_restart
from evals.hardening.faults.serving import ACCOUNTS, PASSWORD

OUTAGE_ANSWERS = {"database_unavailable", "turn_in_progress"}  # what a client may be told while it is down


def _can_run_a_private_cluster() -> bool:
    try:
        postgres_bin()
    except ClusterError:
        return False
    return os.geteuid() != 0 or shutil.which("runuser") is not None  # as root the server runs as `postgres`


NEEDS_SERVER_BINARIES = pytest.mark.skipif(
    not _can_run_a_private_cluster(), reason="needs PostgreSQL's server binaries (initdb, pg_ctl)"
)


def test_an_unreachable_or_busy_database_is_told_apart_from_a_bug() -> None:
    refused = psycopg.OperationalError("connection refused")
    assert is_unavailable(exc.OperationalError("SELECT 1", {}, refused))
    assert is_unavailable(psycopg_pool.PoolTimeout("couldn't get a connection after 30.00 sec"))
    assert is_unavailable(sqlite3.OperationalError("database is locked"))
    assert not is_unavailable(exc.IntegrityError("INSERT", {}, psycopg.IntegrityError("duplicate key")))
    assert not is_unavailable(ValueError("a bug"))
    assert not is_unavailable(exc.OperationalError("SELECT", {}, sqlite3.OperationalError("no such table: items")))


@NEEDS_SERVER_BINARIES
def test_the_conversation_store_hands_out_no_dead_connection_after_a_crash() -> None:
    config: RunnableConfig = {"configurable": {"thread_id": "t", "checkpoint_ns": ""}}
    with private_cluster() as cluster:
        saver = open_checkpointer(cluster.create_database("erp"))
        assert saver.get_tuple(config) is None  # the pool now holds a live connection
        cluster.restart(pause_s=0.5, mode="immediate")
        assert saver.get_tuple(config) is None  # the first turn after the crash does not fail


@pytest.mark.slow
@NEEDS_SERVER_BINARIES
def test_the_service_answers_503_while_postgresql_crashes_and_recovers_without_a_restart() -> None:
    small = DemoConfig(items=200, history_months=2)
    settings = RestartSettings(before_s=2.0, outage_s=2.5, after_s=3.0, company=small, stop_mode="immediate")
    result = run_restart(settings)  # a crash: every pooled connection is dead when it comes back
    assert result.failed_during_outage > 0, "the outage was not felt: the run proves nothing"
    assert result.hung == 0 and result.leaked == 0
    codes = {outcome.rsplit(" ", 1)[-1] for outcome in result.error_kinds}
    assert codes <= OUTAGE_ANSWERS, result.error_kinds
    assert not result.service_restarted
    assert all(k.first_ok_after_s is not None for k in result.kinds if k.kind in ("read", "chat"))
    # Once it is back nothing fails, except briefly a thread whose turn could not be closed during the outage.
    assert all(kind.endswith("turn_in_progress") for kind in result.errors_after_restart), result.errors_after_restart
    assert result.last_failure_after_up_s is None or result.last_failure_after_up_s < 3.0, result.errors_after_restart
    assert result.probes == result.probes_ok == 3 and result.conversations_left_claimed == 0
    assert result.audit_ok, result.audit_problems


@pytest.fixture
def faults_demo(sqlite_demo: Database) -> Database:
    """The demo company on SQLite as the fault run prepares it: its accounts signed up, stock for five transfers."""
    prepare_accounts(sqlite_demo, ACCOUNTS, PASSWORD, transfers=5)
    return sqlite_demo


@pytest.mark.parametrize("fault", MODEL_FAULTS, ids=[f.failure for f in MODEL_FAULTS])
def test_a_model_failing_mid_turn_is_an_error_event_saying_what_stands(
    faults_demo: Database, tmp_path: Path, fault: ModelFault
) -> None:
    quick = replace(fault, timeout_s=min(fault.timeout_s, 1.0))
    with generous_rate_limit():
        result = run_model_fault(faults_demo, quick, tmp_path)
    assert result.passed, result.problems
    assert result.events[-2:] == ["error", "done"] and result.error_code == "model_unavailable"
    assert result.next_status == 200 and result.next_ok  # the thread takes the next message: no stale claim
    if quick.tool == "draft_transfer":
        assert len(result.drafts_made) == 1 and result.drafts_with_decision == 0  # a preview: undecided until confirmed
        assert result.drafts_made[0] in result.error_message and result.error_drafts == result.drafts_made
    else:
        assert result.drafts_made == [] and "Nothing was changed" in result.error_message
    if quick.failure == "hang":
        assert "did not answer within 1 s" in result.error_message and result.seconds_to_error >= 1.0
