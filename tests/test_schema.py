"""The schema comes from Alembic migrations and matches the models on both databases."""

from datetime import datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core import schema
from core.db import Database
from core.identity import ApiToken
from core.masterdata.models import User
from core.models import Base
from core.stock.models import StockBalance
from tests.databases import create_pg_database, drop_orphaned_databases
from tests.world import build_world


def test_migrations_build_exactly_the_models_schema(db: Database) -> None:
    with db.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []
    assert schema.current_revision(db.engine) == schema.head_revision()


def test_upgrading_an_up_to_date_database_changes_nothing(db: Database) -> None:
    before = sorted(inspect(db.engine).get_table_names())
    schema.upgrade(db.engine)
    assert sorted(inspect(db.engine).get_table_names()) == before
    assert "stock_ledger" in before and "alembic_version" in before


def test_api_tokens_made_before_read_only_tokens_stay_read_write(db: Database) -> None:
    user_id = db.run(lambda s: _add_user(s, "old"))
    schema.migrate(db.engine, "downgrade", "0021")
    with db.engine.begin() as connection:
        connection.execute(
            text("INSERT INTO api_tokens (user_id, name, token_hash, created_at) VALUES (:u, 'old', 'h', :t)"),
            {"u": user_id, "t": datetime(2026, 1, 1)},
        )
    schema.upgrade(db.engine)
    assert db.read(lambda s: list(s.scalars(select(ApiToken.read_only)))) == [False]


def _add_user(session: Session, username: str) -> int:
    user = User(username=username, display_name=username, email=f"{username}@example.com")
    session.add(user)
    session.flush()
    return user.id


def test_balance_rows_refuse_impossible_values_even_without_the_services(db: Database) -> None:
    """The CHECK constraints are the last line of defence against a negative or over-reserved balance."""
    build_world(db)

    def break_balance(s: Session) -> None:
        balance = s.scalars(select(StockBalance)).first()
        assert balance is not None
        balance.reserved = balance.on_hand + 1

    with pytest.raises(IntegrityError):
        db.run(break_balance)


def test_databases_left_by_a_killed_run_are_dropped() -> None:
    dead_pid = 2**22 + 12345  # above the kernel's pid range: no process has it
    name = f"erp_t_{dead_pid}_deadbeef00"
    create_pg_database(name)
    assert name in drop_orphaned_databases()
    assert name not in drop_orphaned_databases()
