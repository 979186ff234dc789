"""Detection zones and masks per camera (polygons in frame pixels, as JSON; NULL: the whole frame), and
the detection scheduler's counts a worker reports with each camera's health (JSON, counts only).

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("cameras", sa.Column("zones", sa.Text(), nullable=True))
    op.add_column("camera_leases", sa.Column("detection", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("camera_leases") as batch:
        batch.drop_column("detection")
    with op.batch_alter_table("cameras") as batch:
        batch.drop_column("zones")
