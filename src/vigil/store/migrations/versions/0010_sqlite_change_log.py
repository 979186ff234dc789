"""The watchlist change log on SQLite too: triggers like PostgreSQL's (0006), so that every process's
gallery replica follows one change feed, whatever the database.

SQLite has no statement triggers or notifications: each row change writes its own log row (a category
change writes one with no subject) and replicas poll. ``at`` is written in the format SQLAlchemy stores
datetimes in, so that it compares with bound values. Caution for later migrations: Alembic's batch mode
recreates a SQLite table and with it drops that table's triggers; recreate them after.

Revision ID: 0010
Revises: 0009
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

NOW = "strftime('%Y-%m-%d %H:%M:%f', 'now') || '000'"
SUBJECT_OF = {  # table -> how a changed row names its subject (ROW is NEW or OLD)
    "subjects": "ROW.id",
    "photos": "ROW.subject_id",
    "embeddings": "(SELECT subject_id FROM photos WHERE id = ROW.photo_id)",  # gone with a deleted subject
}
EVENTS = {"INSERT": "NEW", "UPDATE": "NEW", "DELETE": "OLD"}


def _triggers() -> list[tuple[str, str]]:
    triggers = []
    for event, row in EVENTS.items():
        for table, subject in SUBJECT_OF.items():
            value = subject.replace("ROW", row)
            triggers.append(
                (
                    f"{table}_{event.lower()}_logged",
                    f"AFTER {event} ON {table} WHEN {value} IS NOT NULL BEGIN "
                    f"INSERT INTO watchlist_changes (subject_id, at) VALUES ({value}, {NOW}); END",
                )
            )
        triggers.append(
            (
                f"categories_{event.lower()}_logged",
                f"AFTER {event} ON categories BEGIN "
                f"INSERT INTO watchlist_changes (subject_id, at) VALUES (NULL, {NOW}); END",
            )
        )
    return triggers


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name, body in _triggers():
            op.execute(f"CREATE TRIGGER {name} {body}")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name, _ in _triggers():
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
