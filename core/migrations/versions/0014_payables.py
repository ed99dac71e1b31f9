"""payables: supplier invoices (SINV-) against purchase orders with their three-way match; supplier payment terms.

Revision ID: 0014
Revises: 0013
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MONEY = sa.Numeric(precision=18, scale=4)


def upgrade() -> None:
    op.add_column("suppliers", sa.Column("payment_terms_days", sa.Integer(), server_default="30", nullable=False))
    op.create_table(
        "supplier_invoices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=False),
        sa.Column("supplier_id", sa.Integer(), nullable=False),
        sa.Column("po_id", sa.Integer(), nullable=False),
        sa.Column("supplier_ref", sa.String(length=40), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("invoice_date", sa.Date(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("total", MONEY, nullable=False),
        sa.Column("amount_paid", MONEY, nullable=False),
        sa.Column("booked_by", sa.Integer(), nullable=True),
        sa.Column("booked_at", sa.DateTime(), nullable=False),
        sa.Column("released_by", sa.Integer(), nullable=True),
        sa.Column("approved_at", sa.DateTime(), nullable=True),
        sa.Column("release_reason", sa.Text(), nullable=False),
        sa.CheckConstraint("status IN ('approved', 'on_hold')", name="ck_supplier_invoices_status"),
        sa.CheckConstraint("total >= 0", name="ck_supplier_invoices_total"),
        sa.ForeignKeyConstraint(["booked_by"], ["users.id"]),
        sa.ForeignKeyConstraint(["entity_id"], ["legal_entities.id"]),
        sa.ForeignKeyConstraint(["po_id"], ["purchase_orders.id"]),
        sa.ForeignKeyConstraint(["released_by"], ["users.id"]),
        sa.ForeignKeyConstraint(["supplier_id"], ["suppliers.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("supplier_id", "supplier_ref", name="uq_supplier_invoices_ref"),
    )
    for column in ("entity_id", "supplier_id", "po_id", "due_date", "status"):
        op.create_index(f"ix_supplier_invoices_{column}", "supplier_invoices", [column], unique=False)
    op.create_table(
        "supplier_invoice_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=False),
        sa.Column("po_line_id", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("unit_price", MONEY, nullable=False),
        sa.Column("po_price", MONEY, nullable=False),
        sa.Column("received", sa.Integer(), nullable=False),
        sa.Column("billed_before", sa.Integer(), nullable=False),
        sa.Column("price_variance_pct", sa.Numeric(precision=9, scale=2), nullable=False),
        sa.Column("result", sa.String(length=16), nullable=False),
        sa.CheckConstraint("quantity > 0", name="ck_supplier_invoice_lines_qty"),
        sa.CheckConstraint("unit_price >= 0", name="ck_supplier_invoice_lines_price"),
        sa.CheckConstraint(
            "result IN ('matched', 'price_over', 'over_billed', 'not_received')",
            name="ck_supplier_invoice_lines_result",
        ),
        sa.ForeignKeyConstraint(["invoice_id"], ["supplier_invoices.id"]),
        sa.ForeignKeyConstraint(["po_line_id"], ["purchase_order_lines.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_supplier_invoice_lines_invoice", "supplier_invoice_lines", ["invoice_id"], unique=False)
    op.create_index("ix_supplier_invoice_lines_po_line", "supplier_invoice_lines", ["po_line_id"], unique=False)


def downgrade() -> None:
    op.drop_table("supplier_invoice_lines")
    op.drop_table("supplier_invoices")
    op.drop_column("suppliers", "payment_terms_days")
