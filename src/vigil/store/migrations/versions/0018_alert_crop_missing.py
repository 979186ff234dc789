"""Alerts remember why their face crop is missing when it could not be written (the media disk full):
the alert is stored without it rather than lost. Nullable and additive, so workers of the previous
release keep storing alerts while it is applied (docs/operations.md, rolling upgrades).

Revision ID: 0018
Revises: 0017
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("alerts", sa.Column("crop_missing", sa.String(200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("crop_missing")
