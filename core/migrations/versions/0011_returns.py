"""returns: return authorisations (RMA-), their lines, and credit notes (CN-) against invoices.

Revision ID: 0011
Revises: 0010
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MONEY = sa.Numeric(precision=18, scale=4)


def upgrade() -> None:
    op.create_table(
        "return_authorisations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("authorised_at", sa.DateTime(), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=True),
        sa.Column("received_by", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "status IN ('authorised', 'received', 'credited', 'cancelled')", name="ck_return_authorisations_status"
        ),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"]),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"]),
        sa.ForeignKeyConstraint(["entity_id"], ["legal_entities.id"]),
        sa.ForeignKeyConstraint(["order_id"], ["sales_orders.id"]),
        sa.ForeignKeyConstraint(["received_by"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    for column in ("entity_id", "customer_id", "order_id", "status"):
        op.create_index(f"ix_return_authorisations_{column}", "return_authorisations", [column], unique=False)
    op.create_table(
        "return_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rma_id", sa.Integer(), nullable=False),
        sa.Column("order_line_id", sa.Integer(), nullable=False),
        sa.Column("shipment_line_id", sa.Integer(), nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=True),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("net_price", MONEY, nullable=False),
        sa.Column("unit_cost", MONEY, nullable=False),
        sa.Column("disposition", sa.String(length=8), nullable=True),
        sa.Column("warehouse_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("quantity > 0", name="ck_return_lines_qty"),
        sa.CheckConstraint("disposition IS NULL OR disposition IN ('restock', 'scrap')", name="ck_return_lines_disp"),
        sa.ForeignKeyConstraint(["invoice_id"], ["invoices.id"]),
        sa.ForeignKeyConstraint(["order_line_id"], ["sales_order_lines.id"]),
        sa.ForeignKeyConstraint(["rma_id"], ["return_authorisations.id"]),
        sa.ForeignKeyConstraint(["shipment_line_id"], ["shipment_lines.id"]),
        sa.ForeignKeyConstraint(["warehouse_id"], ["warehouses.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_return_lines_rma", "return_lines", ["rma_id"], unique=False)
    op.create_index("ix_return_lines_shipment_line", "return_lines", ["shipment_line_id"], unique=False)
    op.create_table(
        "credit_notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("issued_on", sa.Date(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.CheckConstraint("amount > 0", name="ck_credit_notes_positive"),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"]),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"]),
        sa.ForeignKeyConstraint(["entity_id"], ["legal_entities.id"]),
        sa.ForeignKeyConstraint(["invoice_id"], ["invoices.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    for column in ("entity_id", "customer_id", "invoice_id", "source_id"):
        op.create_index(f"ix_credit_notes_{column}", "credit_notes", [column], unique=False)


def downgrade() -> None:
    op.drop_table("credit_notes")
    op.drop_table("return_lines")
    op.drop_table("return_authorisations")
