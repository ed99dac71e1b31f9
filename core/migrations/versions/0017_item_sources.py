"""item sources: where each entity buys an item (supplier, minimum order quantity, pack size).

Replenishment proposes purchase orders to an item's source, rounded to its packs and minimum; an item
without a source row is bought from the supplier it was last bought from.

Revision ID: 0017
Revises: 0016
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "item_sources",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=False),
        sa.Column("supplier_id", sa.Integer(), nullable=False),
        sa.Column("moq", sa.Integer(), nullable=False),
        sa.Column("pack_size", sa.Integer(), nullable=False),
        sa.CheckConstraint("moq >= 1", name="ck_item_sources_moq"),
        sa.CheckConstraint("pack_size >= 1", name="ck_item_sources_pack"),
        sa.ForeignKeyConstraint(["entity_id"], ["legal_entities.id"]),
        sa.ForeignKeyConstraint(["item_id"], ["items.id"]),
        sa.ForeignKeyConstraint(["supplier_id"], ["suppliers.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("item_id", "entity_id", name="uq_item_sources_item_entity"),
    )
    with op.batch_alter_table("item_sources", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_item_sources_entity_id"), ["entity_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_item_sources_supplier_id"), ["supplier_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("item_sources", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_item_sources_supplier_id"))
        batch_op.drop_index(batch_op.f("ix_item_sources_entity_id"))
    op.drop_table("item_sources")
