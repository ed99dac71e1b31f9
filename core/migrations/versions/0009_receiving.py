"""receiving: a purchase-order line may receive more than ordered (an over-receipt within tolerance or approved).

Revision ID: 0009
Revises: 0007
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("purchase_order_lines", recreate="auto") as batch:
        batch.drop_constraint("ck_po_lines_received", type_="check")
        batch.create_check_constraint("ck_po_lines_received", "qty_received >= 0")


def downgrade() -> None:
    with op.batch_alter_table("purchase_order_lines", recreate="auto") as batch:
        batch.drop_constraint("ck_po_lines_received", type_="check")
        batch.create_check_constraint("ck_po_lines_received", "qty_received >= 0 AND qty_received <= quantity")
