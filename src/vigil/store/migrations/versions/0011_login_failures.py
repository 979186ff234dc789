"""Failed logins counted per account *and* client address, so that one attacker cannot lock every
account (five wrong passwords used to lock an account for everyone).

``users.failed_logins`` and ``users.locked_until`` are no longer used (kept: dropping columns on SQLite
recreates the table, which other tables reference).

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

from vigil.store.models import UtcDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "login_failures",
        sa.Column("username", sa.String(64), primary_key=True),
        sa.Column("source", sa.String(64), primary_key=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("locked_until", UtcDateTime(), nullable=True),
        sa.Column("last_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_login_failures_last_at", "login_failures", ["last_at"])


def downgrade() -> None:
    op.drop_table("login_failures")
