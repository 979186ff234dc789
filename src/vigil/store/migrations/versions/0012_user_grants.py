"""Access granted by two admins: a user added, or a role changed, in the control room waits for a
second admin's approval.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

from vigil.store.models import UtcDateTime

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

COLUMNS = ("pending_role", "requested_by", "requested_at", "approved_by")


def upgrade() -> None:  # plain ADD COLUMN (nullable): no table rebuild on SQLite
    op.add_column("users", sa.Column("pending_role", sa.String(16), nullable=True))
    op.add_column("users", sa.Column("requested_by", sa.String(64), nullable=True))
    op.add_column("users", sa.Column("requested_at", UtcDateTime(), nullable=True))
    op.add_column("users", sa.Column("approved_by", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        for column in COLUMNS:
            batch.drop_column(column)
