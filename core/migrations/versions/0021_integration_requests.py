"""integration requests: each integration user's idempotency key, its request's fingerprint and first result.

Revision ID: 0021
Revises: 0018
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "integration_requests",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("draft_id", sa.Integer(), sa.ForeignKey("draft_actions.id"), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("user_id", "key", name="uq_integration_requests_user_key"),
    )
    op.create_index("ix_integration_requests_draft_id", "integration_requests", ["draft_id"])


def downgrade() -> None:
    op.drop_index("ix_integration_requests_draft_id", table_name="integration_requests")
    op.drop_table("integration_requests")
