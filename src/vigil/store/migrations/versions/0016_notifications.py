"""Reach: outbound endpoints (webhooks, MQTT), routing rules, the durable outbox the deliveries are
fed from; acknowledgement and escalation of red flags; each user's camera groups and language.

Plain ADD COLUMNs on existing tables (no SQLite rebuild, which would drop 0010's triggers).

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

from vigil.store.models import UtcDateTime

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

OUTBOX_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.add_column("categories", sa.Column("ack_within_s", sa.Float(), nullable=True))
    for name in ("acknowledged_at", "escalated_at"):
        op.add_column("alerts", sa.Column(name, UtcDateTime(), nullable=True))
    op.add_column("alerts", sa.Column("acknowledged_by", sa.String(64), nullable=True))
    op.add_column("users", sa.Column("camera_groups", sa.JSON(), nullable=False, server_default="[]"))
    op.add_column("users", sa.Column("locale", sa.String(8), nullable=True))
    op.create_table(
        "notify_endpoints",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("key_id", sa.String(64), nullable=False, server_default=""),
        sa.Column("secret", sa.Text(), nullable=False, server_default=""),
        sa.Column("username", sa.String(128), nullable=False, server_default=""),
        sa.Column("topic_prefix", sa.String(128), nullable=False, server_default="vigil"),
        sa.Column("timeout_s", sa.Float(), nullable=False, server_default="5"),
        sa.Column("concurrency", sa.Integer(), nullable=False, server_default="4"),
        sa.Column("retry_for_s", sa.Float(), nullable=False, server_default="86400"),
        sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("created_by", sa.String(64), nullable=False, server_default=""),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("failing_since", UtcDateTime(), nullable=True),
        sa.Column("last_success_at", UtcDateTime(), nullable=True),
        sa.Column("failing_flagged_at", UtcDateTime(), nullable=True),
        sa.CheckConstraint("kind in ('webhook', 'mqtt')", name="ck_notify_endpoints_kind"),
        sa.CheckConstraint("concurrency >= 1", name="ck_notify_endpoints_concurrency"),
    )
    op.create_table(
        "notify_rules",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column(
            "endpoint_id", sa.String(32), sa.ForeignKey("notify_endpoints.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("event_kinds", sa.JSON(), nullable=False),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("camera_groups", sa.JSON(), nullable=False),
        sa.Column("min_score", sa.Float(), nullable=True),
        sa.Column("include_crop", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("include_photo", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("created_by", sa.String(64), nullable=False, server_default=""),
        sa.Column("created_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_notify_rules_endpoint_id", "notify_rules", ["endpoint_id"])
    op.create_table(
        "outbox",
        sa.Column("id", OUTBOX_ID, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column(
            "alert_id",
            sa.String(32),
            sa.ForeignKey("alerts.id", ondelete="CASCADE", name="fk_outbox_alert"),
            nullable=True,
        ),
        sa.Column(
            "endpoint_id", sa.String(32), sa.ForeignKey("notify_endpoints.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column(
            "rule_id", sa.String(32), sa.ForeignKey("notify_rules.id", ondelete="SET NULL", name="fk_outbox_rule")
        ),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("include_crop", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("include_photo", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("next_attempt_at", UtcDateTime(), nullable=False),
        sa.Column("abandon_at", UtcDateTime(), nullable=False),
        sa.Column("claimed_by", sa.String(64), nullable=True),
        sa.Column("claimed_until", UtcDateTime(), nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=False, server_default=""),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("delivered_at", UtcDateTime(), nullable=True),
        sa.UniqueConstraint("event_id", "endpoint_id", name="uq_outbox_event_endpoint"),
        sa.CheckConstraint("status in ('pending', 'delivered', 'abandoned')", name="ck_outbox_status"),
    )
    op.create_index("ix_outbox_due", "outbox", ["status", "next_attempt_at"])
    op.create_index("ix_outbox_alert_id", "outbox", ["alert_id"])
    op.create_index("ix_outbox_endpoint_id", "outbox", ["endpoint_id"])


def downgrade() -> None:
    op.drop_table("outbox")
    op.drop_table("notify_rules")
    op.drop_table("notify_endpoints")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("locale")
        batch.drop_column("camera_groups")
    with op.batch_alter_table("alerts") as batch:
        for name in ("acknowledged_by", "escalated_at", "acknowledged_at"):
            batch.drop_column(name)
    with op.batch_alter_table("categories") as batch:
        batch.drop_column("ack_within_s")
