"""Accountable operations: authorisations that scanning runs under, their counts, camera groups,
the authorisation each alert was raised under, and the outcomes officers record.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

from vigil.store.models import UtcDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


ROLES_BEFORE = "role in ('admin', 'supervisor', 'operator', 'auditor')"
ROLES_AFTER = "role in ('admin', 'supervisor', 'operator', 'auditor', 'authoriser')"


def _roles(check: str) -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_constraint("ck_users_role", type_="check")
        batch.create_check_constraint("ck_users_role", check)


def upgrade() -> None:
    _roles(ROLES_AFTER)
    op.create_table(
        "authorisations",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False, server_default=""),
        sa.Column("requested_by", sa.String(32), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("authorised_by", sa.String(32), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("cameras", sa.JSON(), nullable=False),
        sa.Column("camera_groups", sa.JSON(), nullable=False),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("subjects", sa.JSON(), nullable=False),
        sa.Column("starts_at", UtcDateTime(), nullable=False),
        sa.Column("ends_at", UtcDateTime(), nullable=False),
        sa.Column("review_date", sa.Date(), nullable=True),
        sa.Column("thresholds", sa.JSON(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("ended_at", UtcDateTime(), nullable=True),
        sa.Column("ended_by", sa.String(64), nullable=True),
        sa.Column("end_reason", sa.Text(), nullable=False, server_default=""),
    )
    op.create_table(
        "authorisation_counts",
        sa.Column(
            "authorisation_id",
            sa.String(32),
            sa.ForeignKey("authorisations.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("camera", sa.String(64), primary_key=True),
        sa.Column("frames", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("faces", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("tracks", sa.Integer(), nullable=False, server_default="0"),
    )
    op.create_table(
        "alert_outcomes",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("alert_id", sa.String(32), sa.ForeignKey("alerts.id", ondelete="CASCADE"), nullable=False),
        sa.Column("user_id", sa.String(32), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("note", sa.Text(), nullable=False, server_default=""),
        sa.Column("created_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_alert_outcomes_alert_id", "alert_outcomes", ["alert_id"])
    with op.batch_alter_table("cameras") as batch:
        batch.add_column(sa.Column("group_name", sa.String(64), nullable=False, server_default=""))
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("authorisation_id", sa.String(32), nullable=True))
        batch.create_foreign_key(
            "fk_alerts_authorisation", "authorisations", ["authorisation_id"], ["id"], ondelete="SET NULL"
        )
        batch.create_index("ix_alerts_authorisation_id", ["authorisation_id"])


def downgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.drop_index("ix_alerts_authorisation_id")
        batch.drop_constraint("fk_alerts_authorisation", type_="foreignkey")
        batch.drop_column("authorisation_id")
    with op.batch_alter_table("cameras") as batch:
        batch.drop_column("group_name")
    op.drop_index("ix_alert_outcomes_alert_id", "alert_outcomes")
    op.drop_table("alert_outcomes")
    op.drop_table("authorisation_counts")
    op.drop_table("authorisations")
    op.execute("DELETE FROM users WHERE role = 'authoriser'")
    _roles(ROLES_BEFORE)
