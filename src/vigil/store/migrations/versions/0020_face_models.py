"""Issue 26: licensed recognisers added with ``vigil models add`` (file, SHA-256, licence, source, the
calibration measured when added) and the one active embedder every process must run (name, version,
SHA-256).

Two new tables; nothing existing changes.

Revision ID: 0020
Revises: 0019
"""

import sqlalchemy as sa
from alembic import op

from vigil.store.models import UtcDateTime

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "face_models",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("file_name", sa.String(255), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("licence", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("input_size", sa.Integer(), nullable=False),
        sa.Column("dim", sa.Integer(), nullable=False),
        sa.Column("added_at", UtcDateTime(), nullable=False),
        sa.Column("added_by", sa.String(64), nullable=False),
        sa.Column("calibration_id", sa.Integer(), nullable=True),
        sa.Column("calibrated_on", sa.String(255), nullable=False),
    )
    op.create_table(
        "active_model",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("since", UtcDateTime(), nullable=False),
        sa.Column("by", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("active_model")
    op.drop_table("face_models")
