"""The database: SQLite (WAL) in the data directory by default, PostgreSQL through a URL.

The schema is owned by Alembic migrations (``vigil/store/migrations``); :func:`open_database` brings
any database to the latest revision before handing out sessions.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from vigil.errors import ConfigurationError
from vigil.settings import VigilSettings

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")
MIGRATION_LOCK = 0x5669_6769_6C00  # "Vigil": the advisory lock that serialises schema upgrades


def database_url(settings: VigilSettings) -> str:
    return settings.database_url or f"sqlite:///{settings.data_dir / 'vigil.db'}"


def redact_url(url: str) -> str:
    """The URL with any password replaced, for logs and messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable database URL>"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _owner_only(path: Path) -> None:
    """The SQLite file readable and writable by its owner only (SQLite gives its -wal and -shm files the
    same mode): the watchlist and the audit chain are in it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    if path.stat().st_mode & 0o077:
        path.chmod(0o600)


def create_db_engine(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except Exception as exc:
        raise ConfigurationError(f"invalid database URL {redact_url(url)!r}") from exc
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            _owner_only(Path(parsed.database))
        engine = create_engine(url, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if parsed.get_backend_name() == "postgresql":
        if parsed.drivername == "postgresql":
            url = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
        return create_engine(url, pool_pre_ping=True)
    raise ConfigurationError(f"unsupported database {parsed.get_backend_name()!r}: use SQLite or PostgreSQL")


def migration_revisions() -> list[str]:
    """Every migration this Vigil knows, oldest first (the last is the head)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return [script.revision for script in reversed(list(ScriptDirectory.from_config(config).walk_revisions()))]


def current_revision(connection: Connection) -> str | None:
    """The migration a database is at (None: not a Vigil database, or an empty one)."""
    if not inspect(connection).has_table("alembic_version"):
        return None
    value = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    return str(value) if value is not None else None


def upgrade_schema(engine: Engine, revision: str = "head") -> None:
    """Run Alembic migrations up to ``revision`` (default: head) on ``engine``.

    A database already at a migration this Vigil does not know was migrated by a newer Vigil: in a
    rolling upgrade an old process (re)starts beside new ones. It runs on that schema as it is, with a
    warning, rather than refusing to start — which is safe because migrations are additive within a
    release (new tables, nullable columns, indexes) and anything they remove goes a release later
    (docs/operations.md, rolling upgrades)."""
    if revision == "head":
        with engine.connect() as connection:
            current = current_revision(connection)
        if current is not None and current not in migration_revisions():
            log.warning(
                "the database is at migration %s, newer than this Vigil knows (%s): running on it as it is "
                "(a rolling upgrade); upgrade this process",
                current,
                migration_revisions()[-1],
            )
            return
    _migrate(engine, "upgrade", revision)


def downgrade_schema(engine: Engine, revision: str) -> None:
    """Undo migrations down to ``revision`` ("base": all of them). For tests and rollbacks of an upgrade."""
    _migrate(engine, "downgrade", revision)


def _migrate(engine: Engine, direction: str, revision: str) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # Alembic's batch mode rebuilds a SQLite table (copy, DROP, rename); with foreign keys enforced
            # the DROP deletes every child row through ON DELETE CASCADE (a rebuilt alerts table took the
            # adjudications with it). Off for the migration (the pragma is ignored inside a transaction),
            # checked before the commit, on again after.
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()
        try:
            with connection.begin():
                if connection.dialect.name == "postgresql":
                    # processes started together (a web server and its workers) migrate one at a time
                    connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
                config.attributes["connection"] = connection
                before = current_revision(connection)
                getattr(command, direction)(config, revision)
                if sqlite and current_revision(connection) != before:
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise ConfigurationError(f"migrating to {revision} would break foreign keys: {broken[:3]}")
        finally:
            if sqlite:
                connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                connection.commit()


class Database:
    """An engine with its session factory; sessions commit on success and roll back on error."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        session = self._sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()


def open_database(settings: VigilSettings, *, url: str | None = None) -> Database:
    """Connect (creating the SQLite file if needed) and migrate to the latest schema."""
    engine = create_db_engine(url or database_url(settings))
    upgrade_schema(engine)
    return Database(engine)
