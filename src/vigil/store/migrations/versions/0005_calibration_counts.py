"""Calibrations, threshold changes, analysis counts.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

from vigil.store.models import UtcDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "calibrations",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("embedder", sa.String(64), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("source", sa.String(255), nullable=False),
        sa.Column("curve", sa.JSON(), nullable=False),
        sa.Column("floor", sa.Float(), nullable=False),
    )
    op.create_table(
        "threshold_changes",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("category", sa.String(64), sa.ForeignKey("categories.name"), nullable=False),
        sa.Column("before", sa.Float(), nullable=True),
        sa.Column("after", sa.Float(), nullable=False),
        sa.Column("changed_by", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("watchlist_size", sa.Integer(), nullable=False),
        sa.Column("expected_false_alert_rate", sa.Float(), nullable=True),
        sa.Column("expected_miss_rate", sa.Float(), nullable=True),
    )
    op.create_table(
        "analysis_counts",
        sa.Column("camera", sa.String(64), primary_key=True),
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("frames", sa.Integer(), nullable=False),
        sa.Column("faces", sa.Integer(), nullable=False),
        sa.Column("tracks", sa.Integer(), nullable=False),
        sa.Column("embedded", sa.Integer(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("analysis_counts")
    op.drop_table("threshold_changes")
    op.drop_table("calibrations")
