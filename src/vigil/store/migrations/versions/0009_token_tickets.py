"""Single-use tickets for the live socket, tied to the session or API token they were issued from.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("auth_tokens") as batch:
        batch.drop_constraint("ck_auth_tokens_kind", type_="check")
        batch.create_check_constraint("ck_auth_tokens_kind", "kind in ('session', 'api', 'ticket')")
        batch.add_column(sa.Column("parent_id", sa.String(32), nullable=True))
        batch.create_foreign_key("fk_auth_tokens_parent", "auth_tokens", ["parent_id"], ["id"], ondelete="CASCADE")


def downgrade() -> None:
    op.execute("DELETE FROM auth_tokens WHERE kind = 'ticket'")
    with op.batch_alter_table("auth_tokens") as batch:
        batch.drop_constraint("fk_auth_tokens_parent", type_="foreignkey")
        batch.drop_column("parent_id")
        batch.drop_constraint("ck_auth_tokens_kind", type_="check")
        batch.create_check_constraint("ck_auth_tokens_kind", "kind in ('session', 'api')")
