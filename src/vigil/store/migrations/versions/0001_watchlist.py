"""Watchlist: categories, subjects, photos, embeddings.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from vigil.store.models import UtcDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

SEED_CATEGORIES = [
    {
        "name": "registered-offender",
        "label": "Registered offender (monitoring order)",
        "description": "On a sex-offender register under a court monitoring order that permits it.",
        "high_risk": True,
    },
    {
        "name": "wanted",
        "label": "Wanted person",
        "description": "Subject of an arrest warrant.",
        "high_risk": True,
    },
    {
        "name": "missing-person",
        "label": "Missing person",
        "description": "Reported missing; the aim is to find and protect them.",
        "high_risk": False,
    },
]


def upgrade() -> None:
    categories = op.create_table(
        "categories",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("high_risk", sa.Boolean(), nullable=False),
    )
    op.bulk_insert(categories, SEED_CATEGORIES)
    op.create_table(
        "subjects",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("external_ref", sa.String(200), nullable=True, unique=True),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("category", sa.String(64), sa.ForeignKey("categories.name"), nullable=False),
        sa.Column("legal_basis_type", sa.String(100), nullable=False),
        sa.Column("legal_basis_reference", sa.String(200), nullable=False),
        sa.Column("approved_by", sa.String(200), nullable=False),
        sa.Column("review_date", sa.Date(), nullable=True),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.CheckConstraint("status in ('active', 'suspended', 'expired')", name="ck_subjects_status"),
    )
    op.create_index("ix_subjects_status_expires", "subjects", ["status", "expires_at"])
    op.create_table(
        "photos",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("subject_id", sa.String(32), sa.ForeignKey("subjects.id", ondelete="CASCADE"), nullable=False),
        sa.Column("media_name", sa.String(64), nullable=False, unique=True),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("source_name", sa.String(255), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("face_box", sa.JSON(), nullable=False),
        sa.Column("landmarks", sa.JSON(), nullable=False),
        sa.Column("detector", sa.String(64), nullable=False),
        sa.Column("detector_score", sa.Float(), nullable=False),
        sa.Column("inter_eye_px", sa.Float(), nullable=False),
        sa.Column("sharpness", sa.Float(), nullable=False),
        sa.Column("yaw", sa.Float(), nullable=False),
        sa.Column("pitch", sa.Float(), nullable=False),
        sa.Column("quality", sa.Float(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.UniqueConstraint("sha256", name="uq_photos_sha256"),
    )
    op.create_index("ix_photos_subject_id", "photos", ["subject_id"])
    op.create_table(
        "embeddings",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("photo_id", sa.String(32), sa.ForeignKey("photos.id", ondelete="CASCADE"), nullable=False),
        sa.Column("model", sa.String(64), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("dim", sa.Integer(), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.UniqueConstraint("photo_id", "model", "version", name="uq_embeddings_photo_model"),
    )
    op.create_index("ix_embeddings_photo_id", "embeddings", ["photo_id"])
    op.create_index("ix_embeddings_model_version", "embeddings", ["model", "version"])


def downgrade() -> None:
    op.drop_table("embeddings")
    op.drop_table("photos")
    op.drop_table("subjects")
    op.drop_table("categories")
