"""Alembic environment: runs on the connection the core hands it, or on ERP_DATABASE_URL."""

from alembic import context
from sqlalchemy import Connection

from core.db import make_engine
from core.models import Base
from core.settings import database_url

config = context.config
target_metadata = Base.metadata


def run_on(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    run_on(connection)
else:
    engine = make_engine(config.get_main_option("sqlalchemy.url") or database_url())
    with engine.connect() as conn:
        run_on(conn)
    engine.dispose()
