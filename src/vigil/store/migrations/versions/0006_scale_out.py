"""Scale-out: workers, camera leases, media in the database, the watchlist version with its triggers.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

from vigil.store.models import UtcDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

WATCHED_TABLES = ("subjects", "photos", "embeddings", "categories")
CHANNEL = "vigil_watchlist"


def upgrade() -> None:
    op.create_table(
        "workers",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", UtcDateTime(), nullable=False),
        sa.Column("heartbeat_at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "camera_leases",
        sa.Column("camera", sa.String(64), sa.ForeignKey("cameras.name", ondelete="CASCADE"), primary_key=True),
        sa.Column("worker_id", sa.String(64), nullable=True, index=True),
        sa.Column("lease_until", UtcDateTime(), nullable=True),
        sa.Column("token", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("state", sa.String(16), nullable=True),
        sa.Column("analysed_fps", sa.Float(), nullable=True),
        sa.Column("dropped_frames", sa.Integer(), nullable=True),
        sa.Column("last_frame_at", UtcDateTime(), nullable=True),
    )
    op.create_table(
        "media_blobs",
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "watchlist_version",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("version", sa.Integer(), nullable=False, server_default="0"),
    )
    op.execute("INSERT INTO watchlist_version (id, version) VALUES (1, 0)")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"""
            CREATE FUNCTION vigil_watchlist_changed() RETURNS trigger LANGUAGE plpgsql AS $$
            DECLARE v integer;
            BEGIN
                UPDATE watchlist_version SET version = version + 1 WHERE id = 1 RETURNING version INTO v;
                PERFORM pg_notify('{CHANNEL}', v::text);
                RETURN NULL;
            END $$
            """
        )
        for table in WATCHED_TABLES:
            op.execute(
                f"CREATE TRIGGER {table}_watchlist_changed AFTER INSERT OR UPDATE OR DELETE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION vigil_watchlist_changed()"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in WATCHED_TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_watchlist_changed ON {table}")
        op.execute("DROP FUNCTION IF EXISTS vigil_watchlist_changed()")
    op.drop_table("watchlist_version")
    op.drop_table("media_blobs")
    op.drop_table("camera_leases")
    op.drop_table("workers")
