"""Creating and upgrading the schema with Alembic (never `create_all` outside tests)."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(engine: Engine | None = None) -> Config:
    """An Alembic config pointing at the core's migrations (and at `engine`, if given)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if engine is not None:
        config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return config


def upgrade(engine: Engine) -> None:
    """Bring the database to the newest schema."""
    migrate(engine, "upgrade", "head")


def migrate(engine: Engine, action: Literal["upgrade", "downgrade"], revision: str) -> None:
    """Upgrade or downgrade to `revision` in one transaction.

    SQLite changes a column (its nullability, say) by copying the table and dropping the old one; a table others
    point at cannot be dropped while foreign keys are enforced, and enforcement can only be switched off outside a
    transaction. So, as SQLite's own procedure for altering tables says, it is off while the migrations run, and
    every foreign key is checked before they commit.
    """
    with engine.connect() as connection, _foreign_keys_off(connection), connection.begin():
        config = alembic_config(engine)
        config.attributes["connection"] = connection
        getattr(command, action)(config, revision)
        _require_foreign_keys_hold(connection)


@contextmanager
def _foreign_keys_off(connection: Connection) -> Iterator[None]:
    if connection.dialect.name != "sqlite":
        yield
        return
    driver = connection.connection.driver_connection
    assert driver is not None
    driver.execute("PRAGMA foreign_keys=OFF")  # before SQLAlchemy's BEGIN: inside a transaction it is ignored
    try:
        yield
    finally:
        driver.execute("PRAGMA foreign_keys=ON")


def _require_foreign_keys_hold(connection: Connection) -> None:
    if connection.dialect.name != "sqlite":
        return
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
    if broken:
        raise RuntimeError(f"the migration left rows pointing at missing rows: {broken[:5]}")


def current_revision(engine: Engine) -> str | None:
    """The schema revision the database is at (None for an empty database)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    """The newest revision the code knows."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()
