"""Two-person watchlist entries: who proposed, who approved and when; a change waiting for a second
supervisor (an enrollment, a reinstatement, a renewal to a new expiry); each category's longest validity.

An entry waiting for approval is stored suspended (it can never match) with ``pending_action`` set:
the status values keep their check constraint, which SQLite could only change by rebuilding the table.

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

from vigil.store.models import UtcDateTime

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

SUBJECT_COLUMNS = (
    ("proposed_by", sa.String(64)),
    ("approved_at", UtcDateTime()),
    ("pending_action", sa.String(16)),
    ("pending_by", sa.String(64)),
    ("pending_at", UtcDateTime()),
    ("pending_expires_at", UtcDateTime()),
)


def upgrade() -> None:  # plain ADD COLUMNs: no rebuild (which would drop 0010's triggers on SQLite)
    for name, kind in SUBJECT_COLUMNS:
        op.add_column("subjects", sa.Column(name, kind, nullable=True))
    op.add_column("categories", sa.Column("max_validity_days", sa.Integer(), nullable=False, server_default="365"))


def downgrade() -> None:
    with op.batch_alter_table("categories") as batch:
        batch.drop_column("max_validity_days")
    with op.batch_alter_table("subjects") as batch:
        for name, _ in SUBJECT_COLUMNS:
            batch.drop_column(name)
