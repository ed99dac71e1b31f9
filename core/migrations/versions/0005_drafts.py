"""drafts tables.

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "draft_actions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=False),
        sa.Column("counterparty_entity_id", sa.Integer(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount", sa.Numeric(precision=18, scale=4), nullable=False),
        sa.Column("amount_usd", sa.Numeric(precision=18, scale=4), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("diff", sa.JSON(), nullable=False),
        sa.Column("facts", sa.JSON(), nullable=False),
        sa.Column("requester_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("conversation_id", sa.String(length=64), nullable=True),
        sa.Column("tool_call_id", sa.String(length=64), nullable=True),
        sa.Column("idempotency_key", sa.String(length=128), nullable=False),
        sa.Column("decision_id", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("requirements", sa.JSON(), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("explanation", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("escalate_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("escalated", sa.Boolean(), nullable=False),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.Column("executed_at", sa.DateTime(), nullable=True),
        sa.Column("result_ref", sa.String(length=32), nullable=True),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["counterparty_entity_id"],
            ["legal_entities.id"],
        ),
        sa.ForeignKeyConstraint(
            ["entity_id"],
            ["legal_entities.id"],
        ),
        sa.ForeignKeyConstraint(
            ["requester_id"],
            ["users.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("idempotency_key"),
    )
    op.create_index(op.f("ix_draft_actions_entity_id"), "draft_actions", ["entity_id"], unique=False)
    op.create_index(op.f("ix_draft_actions_kind"), "draft_actions", ["kind"], unique=False)
    op.create_index(op.f("ix_draft_actions_requester_id"), "draft_actions", ["requester_id"], unique=False)
    op.create_index(op.f("ix_draft_actions_status"), "draft_actions", ["status"], unique=False)
    op.create_index("ix_draft_actions_status_expires", "draft_actions", ["status", "expires_at"], unique=False)
    op.create_table(
        "draft_approvals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("draft_id", sa.Integer(), nullable=False),
        sa.Column("approver_id", sa.Integer(), nullable=False),
        sa.Column("verdict", sa.String(length=10), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=True),
        sa.Column("entity_id", sa.Integer(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["approver_id"],
            ["users.id"],
        ),
        sa.ForeignKeyConstraint(
            ["draft_id"],
            ["draft_actions.id"],
        ),
        sa.ForeignKeyConstraint(
            ["entity_id"],
            ["legal_entities.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_draft_approvals_draft_approver", "draft_approvals", ["draft_id", "approver_id"], unique=True)
    op.create_index(op.f("ix_draft_approvals_draft_id"), "draft_approvals", ["draft_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_draft_approvals_draft_id"), table_name="draft_approvals")
    op.drop_index("ix_draft_approvals_draft_approver", table_name="draft_approvals")
    op.drop_table("draft_approvals")
    op.drop_index("ix_draft_actions_status_expires", table_name="draft_actions")
    op.drop_index(op.f("ix_draft_actions_status"), table_name="draft_actions")
    op.drop_index(op.f("ix_draft_actions_requester_id"), table_name="draft_actions")
    op.drop_index(op.f("ix_draft_actions_kind"), table_name="draft_actions")
    op.drop_index(op.f("ix_draft_actions_entity_id"), table_name="draft_actions")
    op.drop_table("draft_actions")
