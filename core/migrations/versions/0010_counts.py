"""counts: posted stock counts and adjustments, with reason and value at standard cost.

Revision ID: 0010
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "stock_adjustments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("warehouse_id", sa.Integer(), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("counted", sa.Integer(), nullable=True),
        sa.Column("book_quantity", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("backordered", sa.Integer(), nullable=False),
        sa.Column("unit_cost", sa.Numeric(precision=18, scale=4), nullable=False),
        sa.Column("value", sa.Numeric(precision=18, scale=4), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("posted_at", sa.DateTime(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "reason IN ('damage', 'shrinkage', 'found', 'correction')", name="ck_stock_adjustments_reason"
        ),
        sa.CheckConstraint("counted IS NULL OR counted >= 0", name="ck_stock_adjustments_counted"),
        sa.CheckConstraint("book_quantity + quantity >= 0", name="ck_stock_adjustments_result"),
        sa.CheckConstraint("backordered >= 0", name="ck_stock_adjustments_backordered"),
        sa.ForeignKeyConstraint(["entity_id"], ["legal_entities.id"]),
        sa.ForeignKeyConstraint(["item_id"], ["items.id"]),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.ForeignKeyConstraint(["warehouse_id"], ["warehouses.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_stock_adjustments_entity_posted", "stock_adjustments", ["entity_id", "posted_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_stock_adjustments_entity_posted", table_name="stock_adjustments")
    op.drop_table("stock_adjustments")
