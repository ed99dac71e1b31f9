"""`erp-assistant audit-verify` on a SQLite file: says the chain is intact, or names the first broken link."""

from pathlib import Path

from sqlalchemy import update
from typer.testing import CliRunner, Result

from assistant.cli import app
from core import schema
from core.audit import AuditContext, AuditEvent, record_event
from core.db import Database

EVENTS = AuditEvent.metadata.tables["audit_events"]


def _audit_verify(url: str) -> Result:
    return CliRunner().invoke(app, ["audit-verify"], env={"ERP_DATABASE_URL": url, "COLUMNS": "200"})


def _database_with_events(path: Path, count: int) -> Database:
    db = Database.from_url(f"sqlite:///{path}")
    schema.upgrade(db.engine)
    context = AuditContext(actor_user_id=None, channel="cli")
    for n in range(1, count + 1):
        db.run(lambda s, n=n: record_event(s, context, action="masterdata.changed", subject_type="item", subject_id=n))  # type: ignore[misc]
    return db


def test_audit_verify_reports_an_intact_chain(tmp_path: Path) -> None:
    _database_with_events(tmp_path / "erp.db", 3).dispose()
    result = _audit_verify(f"sqlite:///{tmp_path / 'erp.db'}")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "audit chain intact: 3 events"


def test_audit_verify_names_the_first_broken_link_and_exits_1(tmp_path: Path) -> None:
    db = _database_with_events(tmp_path / "erp.db", 4)
    with db.engine.begin() as connection:  # tampered by someone able to drop the append-only trigger
        connection.exec_driver_sql("DROP TRIGGER audit_events_no_update")
        connection.execute(update(EVENTS).where(EVENTS.c.seq == 2).values(subject_id="999"))
    db.dispose()
    result = _audit_verify(f"sqlite:///{tmp_path / 'erp.db'}")
    assert result.exit_code == 1
    assert result.output.strip() == "audit chain BROKEN at seq 2: stored hash does not match the event's contents"


def test_audit_verify_without_a_database_says_to_create_one(tmp_path: Path) -> None:
    result = _audit_verify(f"sqlite:///{tmp_path / 'missing.db'}")
    assert result.exit_code == 1
    assert "no database yet" in result.output
