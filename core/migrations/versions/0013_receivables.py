"""receivables: customer payments (PAY-) applied to invoices, with cash on account and reversals.

The old `payments` table (one payment = one invoice) moves into the new model: each row becomes a posted payment
of its customer, in its invoice's entity and currency, keeping its id, fully applied to that invoice on the day it
was received. Then `payments` is dropped.

Revision ID: 0013
Revises: 0012
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MONEY = sa.Numeric(precision=18, scale=4)
MIGRATED_REFERENCE = "migrated from payments"


def upgrade() -> None:
    op.create_table(
        "customer_payments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("received_on", sa.Date(), nullable=False),
        sa.Column("bank_reference", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("reversed_on", sa.Date(), nullable=True),
        sa.Column("reversed_by", sa.Integer(), nullable=True),
        sa.Column("reversal_reason", sa.Text(), nullable=True),
        sa.CheckConstraint("amount > 0", name="ck_customer_payments_positive"),
        sa.CheckConstraint("status IN ('posted', 'reversed')", name="ck_customer_payments_status"),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"]),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"]),
        sa.ForeignKeyConstraint(["entity_id"], ["legal_entities.id"]),
        sa.ForeignKeyConstraint(["reversed_by"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    for column in ("entity_id", "customer_id", "status"):
        op.create_index(f"ix_customer_payments_{column}", "customer_payments", [column], unique=False)
    op.create_table(
        "payment_applications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("payment_id", sa.Integer(), nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("applied_on", sa.Date(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("reversed_on", sa.Date(), nullable=True),
        sa.CheckConstraint("amount > 0", name="ck_payment_applications_positive"),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"]),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"]),
        sa.ForeignKeyConstraint(["invoice_id"], ["invoices.id"]),
        sa.ForeignKeyConstraint(["payment_id"], ["customer_payments.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_payment_applications_payment", "payment_applications", ["payment_id"], unique=False)
    op.create_index("ix_payment_applications_invoice", "payment_applications", ["invoice_id"], unique=False)
    op.create_index("ix_payment_applications_customer", "payment_applications", ["customer_id"], unique=False)
    _move_payments()
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payments_invoice_id"))
        batch_op.drop_index(batch_op.f("ix_payments_customer_id"))
    op.drop_table("payments")


def _move_payments() -> None:
    """Each old payment becomes a posted payment (same id) wholly applied to its invoice (same id too)."""
    postgres = op.get_bind().dialect.name == "postgresql"
    received_at = "CAST(p.received_on AS TIMESTAMP)" if postgres else "p.received_on || ' 00:00:00.000000'"
    op.execute(
        sa.text(
            "INSERT INTO customer_payments (id, entity_id, customer_id, currency, amount, received_on, bank_reference, "
            "status, created_by, created_at) "
            "SELECT p.id, i.entity_id, p.customer_id, i.currency, p.amount, p.received_on, :reference, 'posted', "
            f"p.created_by, {received_at} FROM payments p JOIN invoices i ON i.id = p.invoice_id"
        ).bindparams(reference=MIGRATED_REFERENCE)
    )
    op.execute(
        "INSERT INTO payment_applications (id, payment_id, invoice_id, customer_id, amount, applied_on, created_by) "
        "SELECT p.id, p.id, p.invoice_id, p.customer_id, p.amount, p.received_on, p.created_by FROM payments p"
    )
    if postgres:  # explicit ids: move the sequences past them
        for table in ("customer_payments", "payment_applications"):
            op.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE(MAX(id), 0) + 1, false) FROM {table}"
            )


def downgrade() -> None:
    op.create_table(
        "payments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=False),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("received_on", sa.Date(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.CheckConstraint("amount > 0", name="ck_payments_positive"),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"]),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"]),
        sa.ForeignKeyConstraint(["invoice_id"], ["invoices.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_payments_customer_id"), ["customer_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_payments_invoice_id"), ["invoice_id"], unique=False)
    # What counts (applications not reversed) goes back as one payment per application; cash on account has no
    # place in the old model and is lost on a downgrade.
    op.execute(
        "INSERT INTO payments (id, customer_id, invoice_id, amount, received_on, created_by) "
        "SELECT a.id, a.customer_id, a.invoice_id, a.amount, p.received_on, a.created_by "
        "FROM payment_applications a JOIN customer_payments p ON p.id = a.payment_id WHERE a.reversed_on IS NULL"
    )
    op.drop_index("ix_payment_applications_customer", table_name="payment_applications")
    op.drop_index("ix_payment_applications_invoice", table_name="payment_applications")
    op.drop_index("ix_payment_applications_payment", table_name="payment_applications")
    op.drop_table("payment_applications")
    for column in ("entity_id", "customer_id", "status"):
        op.drop_index(f"ix_customer_payments_{column}", table_name="customer_payments")
    op.drop_table("customer_payments")
