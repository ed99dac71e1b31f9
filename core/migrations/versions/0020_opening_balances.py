"""opening balances: opening stock entries, documents' numbers in the system they came from, opening invoices.

`opening_stock` holds each on-hand figure taken over from the previous system with its unit cost (the ledger's
`opening` movements point at its rows). Purchase orders, sales orders and invoices get a nullable `external_ref`,
unique per entity (an index, so SQLite adds it without copying the tables), by which a re-import finds what it
already loaded. An opening invoice has no order or shipment here, so those become nullable (SQLite copies the
invoices table for that), and a CHECK keeps them required for every other invoice.

Revision ID: 0020
Revises: 0018
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INVOICE_SOURCE = "(order_id IS NOT NULL AND shipment_id IS NOT NULL) OR external_ref IS NOT NULL"


def upgrade() -> None:
    op.create_table(
        "opening_stock",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("warehouse_id", sa.Integer(), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("on_hand", sa.Integer(), nullable=False),
        sa.Column("unit_cost", sa.Numeric(precision=18, scale=4), nullable=False),
        sa.Column("value", sa.Numeric(precision=18, scale=4), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("posted_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("quantity <> 0", name="ck_opening_stock_nonzero"),
        sa.CheckConstraint("on_hand >= 0", name="ck_opening_stock_on_hand"),
        sa.CheckConstraint("unit_cost >= 0", name="ck_opening_stock_cost"),
        sa.ForeignKeyConstraint(["entity_id"], ["legal_entities.id"]),
        sa.ForeignKeyConstraint(["item_id"], ["items.id"]),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.ForeignKeyConstraint(["warehouse_id"], ["warehouses.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_opening_stock_item_wh", "opening_stock", ["item_id", "warehouse_id"])
    op.create_index("ix_opening_stock_warehouse", "opening_stock", ["warehouse_id"])
    for table in ("purchase_orders", "sales_orders"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("external_ref", sa.String(length=64), nullable=True))
            batch_op.create_index(f"ix_{table}_external_ref", ["entity_id", "external_ref"], unique=True)
    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("external_ref", sa.String(length=64), nullable=True))
        batch_op.alter_column("order_id", existing_type=sa.Integer(), nullable=True)
        batch_op.alter_column("shipment_id", existing_type=sa.Integer(), nullable=True)
        batch_op.create_check_constraint("ck_invoices_source", INVOICE_SOURCE)
        batch_op.create_index("ix_invoices_external_ref", ["entity_id", "external_ref"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.drop_index("ix_invoices_external_ref")
        batch_op.drop_constraint("ck_invoices_source", type_="check")
        batch_op.alter_column("shipment_id", existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column("order_id", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column("external_ref")
    for table in ("sales_orders", "purchase_orders"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(f"ix_{table}_external_ref")
            batch_op.drop_column("external_ref")
    op.drop_index("ix_opening_stock_warehouse", table_name="opening_stock")
    op.drop_index("ix_opening_stock_item_wh", table_name="opening_stock")
    op.drop_table("opening_stock")
