"""Issue 29: an officer's actions on a red flag from the field view (acknowledge, on my way, not found),
each kept with who, when tapped and when received; the phone's own id for an action makes a resend (an
action queued offline, its answer lost) count once.

One new table; nothing existing changes.

Revision ID: 0023
Revises: 0022
"""

import sqlalchemy as sa
from alembic import op

from vigil.store.models import UtcDateTime

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "field_actions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("alert_id", sa.String(32), sa.ForeignKey("alerts.id", ondelete="CASCADE"), nullable=False),
        sa.Column("user_id", sa.String(32), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("acted_at", UtcDateTime(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.UniqueConstraint("user_id", "client_id", name="uq_field_actions_client"),
    )
    op.create_index("ix_field_actions_alert_id", "field_actions", ["alert_id"])
    op.create_index("ix_field_actions_user_id", "field_actions", ["user_id"])
    op.create_index("ix_field_actions_created_at", "field_actions", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_field_actions_created_at", "field_actions")
    op.drop_index("ix_field_actions_user_id", "field_actions")
    op.drop_index("ix_field_actions_alert_id", "field_actions")
    op.drop_table("field_actions")
