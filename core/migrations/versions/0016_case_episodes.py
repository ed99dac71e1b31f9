"""exception case episodes: the condition a case is one episode of, and when that episode ended.

A customer who goes on credit hold again, or an order line that goes short again, gets a new case: the case
is keyed to the episode, and detection closes it when the episode ends. Existing credit-hold and shortage
cases become the first episode of their condition.

Revision ID: 0016
Revises: 0014
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("exception_cases") as batch:
        batch.add_column(sa.Column("condition_key", sa.String(length=120), nullable=True))
        batch.add_column(sa.Column("ended_at", sa.DateTime(), nullable=True))
        batch.create_index("ix_exception_cases_condition_key", ["condition_key"], unique=False)
    op.execute("UPDATE exception_cases SET condition_key = dedup_key WHERE type IN ('credit_hold', 'shortage')")


def downgrade() -> None:
    with op.batch_alter_table("exception_cases") as batch:
        batch.drop_index("ix_exception_cases_condition_key")
        batch.drop_column("ended_at")
        batch.drop_column("condition_key")
