"""Issue 28: per alert, the track's best faces and a scene frame around the face (their media names in one
JSON column beside the crop, under the crop's retention).

A plain ADD COLUMN (no SQLite rebuild on the way up).

Revision ID: 0019
Revises: 0018
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("alerts", sa.Column("evidence_media", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("evidence_media")
