"""An index for reading the audit log by who and when (view limits, the auditors' access summary).

Revision ID: 0014
Revises: 0013
"""

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_audit_events_actor_at", "audit_events", ["actor", "at"])
    op.create_index("ix_audit_events_action_at", "audit_events", ["action", "at"])


def downgrade() -> None:
    op.drop_index("ix_audit_events_action_at", "audit_events")
    op.drop_index("ix_audit_events_actor_at", "audit_events")
