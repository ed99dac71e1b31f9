"""shipping: a shipment's warehouse, carrier, service level, tracking, packages and weight; its milestones.

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("shipments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("warehouse_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("carrier", sa.String(length=40), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("service_level", sa.String(length=40), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("tracking_number", sa.String(length=64), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("packages", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("weight_kg", sa.Numeric(precision=18, scale=4), nullable=True))
        batch_op.create_foreign_key("fk_shipments_warehouse_id", "warehouses", ["warehouse_id"], ["id"])
        batch_op.create_index(batch_op.f("ix_shipments_tracking_number"), ["tracking_number"], unique=False)
        batch_op.create_check_constraint("ck_shipments_packages", "packages IS NULL OR packages > 0")
        batch_op.create_check_constraint("ck_shipments_weight", "weight_kg IS NULL OR weight_kg > 0")
    op.create_table(
        "shipment_milestones",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shipment_id", sa.Integer(), nullable=False),
        sa.Column("milestone", sa.String(length=12), nullable=False),
        sa.Column("happened_at", sa.DateTime(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.Column("recorded_by", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "milestone IN ('picked', 'packed', 'shipped', 'delivered')", name="ck_shipment_milestones_milestone"
        ),
        sa.ForeignKeyConstraint(["recorded_by"], ["users.id"]),
        sa.ForeignKeyConstraint(["shipment_id"], ["shipments.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_shipment_milestones_shipment", "shipment_milestones", ["shipment_id", "milestone"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_shipment_milestones_shipment", table_name="shipment_milestones")
    op.drop_table("shipment_milestones")
    with op.batch_alter_table("shipments", schema=None) as batch_op:
        batch_op.drop_constraint("ck_shipments_weight", type_="check")
        batch_op.drop_constraint("ck_shipments_packages", type_="check")
        batch_op.drop_index(batch_op.f("ix_shipments_tracking_number"))
        batch_op.drop_constraint("fk_shipments_warehouse_id", type_="foreignkey")
        for column in ("weight_kg", "packages", "tracking_number", "service_level", "carrier", "warehouse_id"):
            batch_op.drop_column(column)
