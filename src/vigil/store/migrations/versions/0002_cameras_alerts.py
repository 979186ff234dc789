"""Cameras, alerts, and the per-category track decision rule.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

from vigil.store.models import UtcDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("categories") as batch:
        batch.add_column(sa.Column("match_threshold", sa.Float(), nullable=True))
        batch.add_column(sa.Column("min_faces", sa.Integer(), nullable=False, server_default="3"))
    op.create_table(
        "cameras",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("latitude", sa.Float(), nullable=False),
        sa.Column("longitude", sa.Float(), nullable=False),
        sa.Column("analysis_fps", sa.Float(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.CheckConstraint("latitude >= -90 and latitude <= 90", name="ck_cameras_latitude"),
        sa.CheckConstraint("longitude >= -180 and longitude <= 180", name="ck_cameras_longitude"),
        sa.CheckConstraint("analysis_fps > 0", name="ck_cameras_fps"),
    )
    op.create_table(
        "alerts",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("key", sa.String(64), nullable=False, unique=True),
        sa.Column("subject_id", sa.String(32), sa.ForeignKey("subjects.id", ondelete="CASCADE"), nullable=False),
        sa.Column("camera", sa.String(64), nullable=False),
        sa.Column("track_id", sa.String(64), nullable=False),
        sa.Column("first_seen", UtcDateTime(), nullable=False),
        sa.Column("last_seen", UtcDateTime(), nullable=False),
        sa.Column("best_score", sa.Float(), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("faces", sa.Integer(), nullable=False),
        sa.Column("crop_name", sa.String(64), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("decisive_capture_at", UtcDateTime(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_alerts_subject_id", "alerts", ["subject_id"])
    op.create_index("ix_alerts_camera", "alerts", ["camera"])
    op.create_index("ix_alerts_created_at", "alerts", ["created_at"])


def downgrade() -> None:
    op.drop_table("alerts")
    op.drop_table("cameras")
    with op.batch_alter_table("categories") as batch:
        batch.drop_column("min_faces")
        batch.drop_column("match_threshold")
