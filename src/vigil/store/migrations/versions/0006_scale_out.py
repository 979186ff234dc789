"""Scale-out: workers, camera leases, media in the database, the watchlist change log with its triggers.

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

SUBJECT_TABLES = ("subjects", "photos", "embeddings")
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
        "watchlist_changes",
        sa.Column(
            "version", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True
        ),
        sa.Column("subject_id", sa.String(32), nullable=True),  # NULL: category rules changed
        sa.Column("at", UtcDateTime(), nullable=False, server_default=sa.func.now()),
    )
    op.create_index("ix_watchlist_changes_at", "watchlist_changes", ["at"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """
            CREATE FUNCTION vigil_subject_changed() RETURNS trigger LANGUAGE plpgsql AS $$
            DECLARE sid varchar;
            DECLARE row_data record;
            BEGIN
                IF TG_OP = 'DELETE' THEN row_data := OLD; ELSE row_data := NEW; END IF;
                IF TG_TABLE_NAME = 'subjects' THEN
                    sid := row_data.id;
                ELSIF TG_TABLE_NAME = 'photos' THEN
                    sid := row_data.subject_id;
                ELSE  -- embeddings: through their photo (gone already when a subject is deleted: recorded then)
                    SELECT subject_id INTO sid FROM photos WHERE id = row_data.photo_id;
                END IF;
                IF sid IS NOT NULL THEN
                    INSERT INTO watchlist_changes (subject_id) VALUES (sid);
                END IF;
                RETURN NULL;
            END $$
            """
        )
        op.execute(
            """
            CREATE FUNCTION vigil_rules_changed() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                INSERT INTO watchlist_changes (subject_id) VALUES (NULL);
                RETURN NULL;
            END $$
            """
        )
        op.execute(
            f"""
            CREATE FUNCTION vigil_watchlist_notify() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                PERFORM pg_notify('{CHANNEL}', '');  -- one per transaction: equal payloads are folded
                RETURN NULL;
            END $$
            """
        )
        for table in SUBJECT_TABLES:
            op.execute(
                f"CREATE TRIGGER {table}_subject_changed AFTER INSERT OR UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION vigil_subject_changed()"
            )
        op.execute(
            "CREATE TRIGGER categories_rules_changed AFTER INSERT OR UPDATE OR DELETE ON categories "
            "FOR EACH STATEMENT EXECUTE FUNCTION vigil_rules_changed()"
        )
        for table in (*SUBJECT_TABLES, "categories"):
            op.execute(
                f"CREATE TRIGGER {table}_watchlist_notify AFTER INSERT OR UPDATE OR DELETE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION vigil_watchlist_notify()"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in (*SUBJECT_TABLES, "categories"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_watchlist_notify ON {table}")
        for table in SUBJECT_TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_subject_changed ON {table}")
        op.execute("DROP TRIGGER IF EXISTS categories_rules_changed ON categories")
        for function in ("vigil_watchlist_notify", "vigil_rules_changed", "vigil_subject_changed"):
            op.execute(f"DROP FUNCTION IF EXISTS {function}()")
    op.drop_table("watchlist_changes")
    op.drop_table("media_blobs")
    op.drop_table("camera_leases")
    op.drop_table("workers")
