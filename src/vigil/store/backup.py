"""What a backup holds and how its parts are taken and put back: a consistent snapshot of the database
(SQLite's online backup API; ``pg_dump`` in custom format inside an exported snapshot for PostgreSQL),
the media files, the audit key, the evidence-signing key, and a manifest (versions, migration head, row
counts, SHA-256 and size of every part). The archive around them is :mod:`vigil.store.archive`; the
procedure with its audit, retention and checks is :mod:`vigil.domain.backup`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import Connection, create_engine, func, inspect, select, table, text
from sqlalchemy.engine import make_url

from vigil.errors import ConfigurationError, VigilError
from vigil.store.db import create_db_engine, current_revision

MANIFEST = "manifest.json"
SQLITE_PART = "database/vigil.db"
POSTGRES_PART = "database/vigil.pgdump"
AUDIT_KEY_PART = "keys/audit.key"
EVIDENCE_KEY_PART = "keys/evidence.key"  # the Ed25519 key evidence packs are signed with
MEDIA_PREFIX = "media/"
FORMAT = 1
# what makes a target "not empty": rows the force would lose (seeded categories and logs do not count)
DATA_TABLES = ("audit_events", "users", "subjects", "alerts", "cameras", "authorisations", "media_blobs")


class BackupError(VigilError):
    """A backup that cannot be taken, or an archive that cannot be restored here."""


@dataclass(frozen=True)
class Part:
    sha256: str
    bytes: int


@dataclass(frozen=True)
class Manifest:
    """What an archive holds: enough to check it and to know whether this Vigil can restore it."""

    created_at: str
    vigil_version: str
    database: str  # "sqlite" | "postgresql"
    database_version: str  # SQLite library / PostgreSQL server the snapshot was taken from
    migration_head: str | None
    media_store: str  # "files" | "database"
    counts: dict[str, int]  # rows per table in the snapshot
    audit_entries: int
    audit_head: str
    audit_intact: bool
    parts: dict[str, Part] = field(default_factory=dict)
    media_missing: list[str] = field(default_factory=list)  # referenced by the snapshot, gone from the disk
    format: int = FORMAT

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True, indent=1).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Manifest:
        try:
            raw = json.loads(data)
            if raw.get("format") != FORMAT:
                raise ValueError(f"manifest format {raw.get('format')!r}, this Vigil reads {FORMAT}")
            raw["parts"] = {name: Part(**part) for name, part in raw["parts"].items()}
            return cls(**raw)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise BackupError(f"the archive's manifest is not one this Vigil reads ({exc})") from None


class HashingReader:
    """Reads through to ``source`` and keeps the SHA-256 and size of what was read."""

    def __init__(self, source: BinaryIO) -> None:
        self.source = source
        self.digest = hashlib.sha256()
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        data = self.source.read(size)
        self.digest.update(data)
        self.size += len(data)
        return data

    def part(self) -> Part:
        return Part(self.digest.hexdigest(), self.size)


def file_part(path: Path) -> Part:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return Part(digest.hexdigest(), path.stat().st_size)


def backend(url: str) -> str:
    try:
        return make_url(url).get_backend_name()
    except Exception as exc:
        raise ConfigurationError("invalid database URL") from exc


def libpq(url: str) -> tuple[str, dict[str, str]]:
    """A URL for pg_dump and pg_restore with the password moved into their environment (not argv)."""
    parsed = make_url(url).set(drivername="postgresql")
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
        parsed = parsed.set(password=None)
    return parsed.render_as_string(hide_password=False), env


def _tool(name: str) -> str:
    found = shutil.which(name)
    if not found:
        raise BackupError(f"{name} not found on PATH: install the PostgreSQL client tools (the server's version)")
    return found


def _run(args: list[str], env: dict[str, str], what: str) -> None:
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        raise BackupError(f"{what} failed: {lines[-1] if lines else f'exit status {done.returncode}'}")


def table_counts(connection: Connection) -> dict[str, int]:
    """Rows in every table (the migration bookkeeping aside)."""
    names = sorted(n for n in inspect(connection).get_table_names() if n != "alembic_version")
    return {
        name: int(connection.execute(select(func.count()).select_from(table(name))).scalar() or 0) for name in names
    }


def referenced_media(connection: Connection) -> set[str]:
    """``kind/name`` of every photo and crop the database refers to."""
    photos = connection.execute(text("SELECT media_name FROM photos")).scalars()
    crops = set(connection.execute(text("SELECT crop_name FROM alerts WHERE crop_name IS NOT NULL")).scalars())
    if "evidence_media" in {c["name"] for c in inspect(connection).get_columns("alerts")}:  # from 0018 on
        for media in connection.execute(
            text("SELECT evidence_media FROM alerts WHERE evidence_media IS NOT NULL")
        ).scalars():
            data = json.loads(media)
            crops.update(f["name"] for f in data.get("faces", []))
            if data.get("scene"):
                crops.add(data["scene"]["name"])
    return {f"photos/{n}" for n in photos} | {f"crops/{n}" for n in crops}


def database_version(connection: Connection) -> str:
    if connection.dialect.name == "postgresql":
        return str(connection.execute(text("SHOW server_version")).scalar())
    return f"SQLite {sqlite3.sqlite_version}"


@contextmanager
def database_snapshot(url: str, dest: Path) -> Iterator[Connection]:
    """Write a consistent snapshot of the database at ``url`` to ``dest`` while it keeps serving, and
    yield a connection that reads exactly that snapshot (for its counts and its audit chain).

    SQLite: the online backup API copies every page in one step under a read transaction (writers go
    on meanwhile in WAL mode); the copy is then a standalone file (rollback journal). PostgreSQL: a
    REPEATABLE READ transaction exports its snapshot and ``pg_dump --snapshot`` dumps that same state."""
    kind = backend(url)
    if kind == "sqlite":
        source_path = make_url(url).database
        if not source_path or source_path == ":memory:" or not Path(source_path).is_file():
            raise BackupError(f"no SQLite database at {source_path}")
        source = sqlite3.connect(f"file:{source_path}?mode=ro", uri=True, timeout=30)
        copy = sqlite3.connect(dest)
        try:
            source.backup(copy)  # pages=-1: the whole database in one step, so one consistent state
            copy.execute("PRAGMA journal_mode=DELETE")
        finally:
            copy.close()
            source.close()
        os.chmod(dest, 0o600)
        engine = create_engine(f"sqlite:///{dest}")
        try:
            with engine.connect() as connection:
                yield connection
        finally:
            engine.dispose()
        return
    if kind != "postgresql":
        raise BackupError(f"cannot back up a {kind} database")
    engine = create_db_engine(url)
    try:
        with engine.connect() as raw:
            connection = raw.execution_options(isolation_level="REPEATABLE READ")
            with connection.begin():
                connection.execute(text("SET TRANSACTION READ ONLY"))
                snapshot = connection.execute(text("SELECT pg_export_snapshot()")).scalar()
                target, env = libpq(url)
                args = [_tool("pg_dump"), "--format=custom", f"--snapshot={snapshot}", f"--file={dest}", target]
                _run(args, env, "pg_dump")
                os.chmod(dest, 0o600)
                yield connection
    finally:
        engine.dispose()


def target_contents(url: str, media_root: Path) -> list[str]:
    """What a restore target already holds that a restore would replace (empty: safe to restore into)."""
    found: list[str] = []
    kind = backend(url)
    present = kind != "sqlite" or Path(make_url(url).database or "").is_file()
    if present:
        engine = create_db_engine(url)
        try:
            with engine.connect() as connection:
                names = set(inspect(connection).get_table_names())
                for name in DATA_TABLES:
                    if name in names:
                        rows = int(connection.execute(select(func.count()).select_from(table(name))).scalar() or 0)
                        if rows:
                            found.append(f"{rows} {name.replace('_', ' ')}")
        finally:
            engine.dispose()
    files = sum(1 for p in media_root.rglob("*") if p.is_file()) if media_root.is_dir() else 0
    if files:
        found.append(f"{files} media files")
    return found


def install_sqlite(snapshot: Path, url: str) -> None:
    """Put the snapshot in place as the database at ``url`` (a rename within the folder: all or nothing)."""
    target = Path(make_url(url).database or "")
    target.parent.mkdir(parents=True, exist_ok=True)
    incoming = target.with_name(f".{target.name}.restoring")
    shutil.copyfile(snapshot, incoming)
    os.chmod(incoming, 0o600)
    with incoming.open("rb+") as handle:
        os.fsync(handle.fileno())
    for suffix in ("-wal", "-shm"):  # the replaced database's journal must not be replayed onto the new one
        target.with_name(target.name + suffix).unlink(missing_ok=True)
    os.replace(incoming, target)


def install_postgres(dump: Path, url: str) -> None:
    """Replace the schema of the database at ``url`` with the dump's (one transaction for the restore)."""
    engine = create_db_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
    finally:
        engine.dispose()
    target, env = libpq(url)
    args = [
        _tool("pg_restore"),
        "--no-owner",
        "--no-privileges",
        "--single-transaction",
        "--exit-on-error",
        f"--dbname={target}",
        str(dump),
    ]
    _run(args, env, "pg_restore")


def snapshot_revision(url: str) -> str | None:
    engine = create_db_engine(url)
    try:
        with engine.connect() as connection:
            return current_revision(connection)
    finally:
        engine.dispose()
