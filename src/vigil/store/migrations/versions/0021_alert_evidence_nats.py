"""Issue 28: an alert's track evidence in nats and the evidence the rule in force asked of it (the looks
and fused rules), so that its evidence band is read on the calibrated scale, not on the similarity one
face would need (which saturates).

Two plain ADD COLUMNs (no SQLite rebuild on the way up); alerts stored before keep NULL.

Revision ID: 0021
Revises: 0020
"""

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("alerts", sa.Column("evidence_nats", sa.Float(), nullable=True))
    op.add_column("alerts", sa.Column("needed_nats", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("needed_nats")
        batch.drop_column("evidence_nats")
