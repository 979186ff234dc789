"""Backup and restore of a whole deployment: the database, the media, the audit key and the evidence-signing
key (so that packs signed before a loss still verify against the public key the court holds), in one archive
sealed with a passphrase (:mod:`vigil.store.archive`), with a manifest (:mod:`vigil.store.backup`).

A backup runs beside a live server: the database snapshot is consistent (taken in one read
transaction), media files are added after it (a file deleted meanwhile is named in the manifest), and
the run is audited in the live log. A restore checks everything before it touches the target: the
passphrase, every segment of the archive, every part's SHA-256, that this Vigil knows the archive's
schema, that the database kinds match and that the target holds nothing (unless forced). Only then are
the parts put in place; an older schema is migrated to head, the audit chain is verified (its count and
head are the archive's), the restore is recorded as the next entry, and retention runs — all before
anything can serve the restored data, so that what expired since the backup does not come back.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tarfile
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from vigil import __version__
from vigil.domain.audit import AuditLog, Verification, stored_rows, verify_chain
from vigil.domain.retention import RetentionReport, RetentionService
from vigil.domain.vocabulary import AuditAction
from vigil.settings import VigilSettings
from vigil.store.archive import ArchiveError, ArchiveReader, ArchiveWriter, open_for_writing
from vigil.store.backup import (
    AUDIT_KEY_PART,
    EVIDENCE_KEY_PART,
    MANIFEST,
    MEDIA_PREFIX,
    POSTGRES_PART,
    SQLITE_PART,
    BackupError,
    HashingReader,
    Manifest,
    Part,
    backend,
    database_snapshot,
    database_version,
    file_part,
    install_postgres,
    install_sqlite,
    referenced_media,
    snapshot_revision,
    table_counts,
    target_contents,
)
from vigil.store.db import Database, current_revision, database_url, migration_revisions, open_database
from vigil.store.media import KINDS, FolderMediaStore, media_folder

Progress = Callable[[str], None]
MIN_PASSPHRASE = 12
MAX_PART_BYTES = 1 << 40  # a part larger than a terabyte is not one Vigil wrote


def _quiet(_: str) -> None:
    return None


@dataclass(frozen=True)
class BackupResult:
    path: Path
    manifest: Manifest
    bytes: int
    sha256: str  # of the archive file, as audited
    seconds: float


@dataclass(frozen=True)
class RestoreResult:
    manifest: Manifest
    audit: Verification  # the chain as it was in the archive
    restore_entry: int
    migrated_from: str | None
    migrated_to: str | None
    retention: RetentionReport
    replaced: Path | None  # where a forced restore moved what the target held
    seconds: float


class _HashingSink:
    """Writes through to ``sink`` and keeps the SHA-256 and size of the archive file."""

    def __init__(self, sink: BinaryIO) -> None:
        self.sink = sink
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.sink.write(data)
        self.digest.update(data)
        self.size += len(data)
        return len(data)


def _member(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, 0o600, int(time.time())
    return info


def make_backup(
    settings: VigilSettings,
    out: Path,
    passphrase: str,
    *,
    actor: str = "system",
    progress: Progress = _quiet,
    audit: AuditLog | None = None,
) -> BackupResult:
    """Write the whole deployment into ``out`` (replaced only once the new archive is complete), sealed
    with ``passphrase``; audited in the live log as ``backup-made``."""
    if len(passphrase) < MIN_PASSPHRASE:
        raise BackupError(f"the passphrase is shorter than {MIN_PASSPHRASE} characters")
    started = time.monotonic()
    url = database_url(settings)
    key_file = settings.resolved_audit_key_file
    key = bytes.fromhex(key_file.read_text().strip()) if key_file.is_file() else None
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.partial")
    kind = backend(url)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".vigil-backup-") as staging:
        snapshot = Path(staging) / ("vigil.db" if kind == "sqlite" else "vigil.pgdump")
        progress("database: taking a consistent snapshot")
        with database_snapshot(url, snapshot) as connection:
            counts = table_counts(connection)
            if "audit_events" in counts and counts["audit_events"] and key is None:
                raise BackupError(f"the audit key is missing ({key_file}): the audit log could not be verified")
            chain = verify_chain(key or b"", stored_rows(connection)) if "audit_events" in counts else None
            referenced = referenced_media(connection) if "photos" in counts else set()
            revision = current_revision(connection)
            version = database_version(connection)
        db_part = SQLITE_PART if kind == "sqlite" else POSTGRES_PART
        parts: dict[str, Part] = {db_part: file_part(snapshot)}
        progress(f"database: {parts[db_part].bytes / 1e6:.1f} MB, {counts.get('audit_events', 0)} audit entries")
        missing: list[str] = []
        try:
            with open_for_writing(partial) as raw:
                sink = _HashingSink(raw)
                writer = ArchiveWriter(sink, passphrase)  # type: ignore[arg-type]
                with tarfile.open(fileobj=writer, mode="w|", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
                    with snapshot.open("rb") as handle:
                        tar.addfile(_member(db_part, parts[db_part].bytes), handle)
                    if key is not None:
                        data = key_file.read_bytes()
                        parts[AUDIT_KEY_PART] = Part(hashlib.sha256(data).hexdigest(), len(data))
                        tar.addfile(_member(AUDIT_KEY_PART, len(data)), _BytesReader(data))
                    evidence_key = settings.resolved_evidence_key_file
                    if evidence_key.is_file():
                        data = evidence_key.read_bytes()
                        parts[EVIDENCE_KEY_PART] = Part(hashlib.sha256(data).hexdigest(), len(data))
                        tar.addfile(_member(EVIDENCE_KEY_PART, len(data)), _BytesReader(data))
                    if settings.media_store == "files":
                        missing = _add_media(tar, FolderMediaStore(media_folder(settings)), referenced, parts, progress)
                    manifest = Manifest(
                        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
                        vigil_version=__version__,
                        database=kind,
                        database_version=version,
                        migration_head=revision,
                        media_store=settings.media_store,
                        counts=counts,
                        audit_entries=chain.entries if chain else 0,
                        audit_head=chain.head if chain else "",
                        audit_intact=chain.ok if chain else True,
                        parts=parts,
                        media_missing=missing,
                    )
                    body = manifest.to_json()
                    tar.addfile(_member(MANIFEST, len(body)), _BytesReader(body))
                writer.close()
                raw.flush()
                os.fsync(raw.fileno())
            os.replace(partial, out)
        finally:
            partial.unlink(missing_ok=True)
    if missing:
        progress(f"media: {len(missing)} files the snapshot refers to were deleted meanwhile (named in the manifest)")
    result = BackupResult(out, manifest, sink.size, sink.digest.hexdigest(), time.monotonic() - started)
    log = audit or AuditLog(open_database(settings), key_file=key_file)
    log.record(
        actor,
        AuditAction.BACKUP_MADE,
        object_type="backup",
        object_id=out.name[:64],
        source="cli",
        details={
            "archive_sha256": result.sha256,
            "bytes": result.bytes,
            "migration_head": revision,
            "audit_entries": manifest.audit_entries,
            "audit_head": manifest.audit_head,
            "counts": {
                k: v for k, v in counts.items() if k in ("subjects", "photos", "alerts", "users", "audit_events")
            },
        },
    )
    return result


class _BytesReader:
    def __init__(self, data: bytes) -> None:
        self.data, self.offset = data, 0

    def read(self, size: int = -1) -> bytes:
        end = len(self.data) if size < 0 else self.offset + size
        chunk = self.data[self.offset : end]
        self.offset += len(chunk)
        return chunk


def _add_media(
    tar: tarfile.TarFile, media: FolderMediaStore, referenced: set[str], parts: dict[str, Part], progress: Progress
) -> list[str]:
    names = [(kind, name) for kind in KINDS for name in media.names(kind)]
    progress(f"media: {len(names)} files")
    for done, (kind, name) in enumerate(names, 1):
        try:
            handle = media.path(kind, name).open("rb")
        except FileNotFoundError:
            continue  # deleted since it was listed (retention): the manifest's check below names it if referenced
        with handle:
            size = os.fstat(handle.fileno()).st_size
            reader = HashingReader(handle)
            tar.addfile(_member(f"{MEDIA_PREFIX}{kind}/{name}", size), reader)
            parts[f"{MEDIA_PREFIX}{kind}/{name}"] = reader.part()
        if done % 1000 == 0:
            progress(f"media: {done}/{len(names)} files")
    return sorted(ref for ref in referenced if f"{MEDIA_PREFIX}{ref}" not in parts)


# --- restore ---------------------------------------------------------------------------------------


def _allowed(name: str) -> bool:
    if name in (MANIFEST, SQLITE_PART, POSTGRES_PART, AUDIT_KEY_PART, EVIDENCE_KEY_PART):
        return True
    kind, _, file = name.removeprefix(MEDIA_PREFIX).partition("/")
    if not name.startswith(MEDIA_PREFIX) or kind not in KINDS:
        return False
    try:
        FolderMediaStore(Path("/")).path(kind, file)  # a name Vigil generates, nothing else
    except ValueError:
        return False
    return True


def _unpack(archive: Path, passphrase: str, staging: Path, progress: Progress) -> tuple[Manifest, dict[str, Part]]:
    """Decrypt and unpack into ``staging``, authenticating every byte; returns the manifest and what
    was found (each part's SHA-256 and size as unpacked)."""
    found: dict[str, Part] = {}
    try:
        handle = archive.open("rb")
    except OSError as exc:
        raise BackupError(f"cannot read {archive}: {exc.strerror}") from None
    with handle:
        reader = ArchiveReader(handle, passphrase)
        progress("archive: passphrase accepted; unpacking")
        try:
            with tarfile.open(fileobj=reader, mode="r|") as tar:  # type: ignore[call-overload]
                for member in tar:
                    if not member.isfile() or not _allowed(member.name) or member.name in found:
                        raise ArchiveError(f"the archive holds an entry Vigil does not write: {member.name!r}")
                    if member.size > MAX_PART_BYTES:
                        raise ArchiveError(f"the archive's entry {member.name!r} is impossibly large")
                    source = tar.extractfile(member)
                    assert source is not None
                    target = staging / member.name
                    target.parent.mkdir(parents=True, exist_ok=True)
                    reading = HashingReader(source)  # type: ignore[arg-type]
                    with open_for_writing(target) as sink:
                        while chunk := reading.read(1 << 20):
                            sink.write(chunk)
                    found[member.name] = reading.part()
            reader.finish()
        except tarfile.TarError as exc:
            raise ArchiveError(f"the archive's contents are damaged ({exc})") from None
    if MANIFEST not in found:
        raise ArchiveError("the archive has no manifest")
    manifest = Manifest.from_json((staging / MANIFEST).read_bytes())
    del found[MANIFEST]
    return manifest, found


def _check_parts(manifest: Manifest, found: dict[str, Part]) -> None:
    extra = sorted(set(found) - set(manifest.parts))
    lacking = sorted(set(manifest.parts) - set(found))
    if extra or lacking:
        raise ArchiveError(f"the archive does not match its manifest (missing {lacking[:3]}, unlisted {extra[:3]})")
    for name, part in manifest.parts.items():
        if found[name] != part:
            raise ArchiveError(f"the archive's part {name} does not match its SHA-256 in the manifest")


def _check_schema(manifest: Manifest) -> list[str]:
    known = migration_revisions()
    if manifest.migration_head is not None and manifest.migration_head not in known:
        raise BackupError(
            f"the archive is from a newer schema (migration {manifest.migration_head}; this Vigil {__version__} "
            f"knows up to {known[-1]}): restore it with the Vigil it was made with, or a newer one"
        )
    return known


def _move_aside(settings: VigilSettings, url: str) -> Path:
    """A forced restore keeps what the target held (files only) in ``<data-dir>/replaced-<time>/``."""
    aside = settings.data_dir / f"replaced-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
    aside.mkdir(parents=True, mode=0o700)
    movable = [media_folder(settings), settings.resolved_audit_key_file, settings.resolved_evidence_key_file]
    if backend(url) == "sqlite":
        from sqlalchemy.engine import make_url

        db_file = Path(make_url(url).database or "")
        movable += [db_file, db_file.with_name(db_file.name + "-wal"), db_file.with_name(db_file.name + "-shm")]
    for path in movable:
        if path.exists():
            shutil.move(str(path), aside / path.name)
    return aside


def _install_key(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    incoming = target.with_name(f".{target.name}.restoring")
    shutil.copyfile(source, incoming)
    os.chmod(incoming, 0o600)
    os.replace(incoming, target)


def _keep_other_key(incoming: Path, settings: VigilSettings) -> Path | None:
    """A signing key the target already holds that differs from the archive's (made by a command run on
    the empty target) is never overwritten: anything it signed would stop verifying. It is moved to
    ``<data-dir>/replaced-<time>/`` and its new place returned."""
    target = settings.resolved_evidence_key_file
    if not target.is_file() or target.read_bytes() == incoming.read_bytes():
        return None
    aside = settings.data_dir / f"replaced-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
    aside.mkdir(parents=True, mode=0o700, exist_ok=True)
    kept = aside / target.name
    shutil.move(str(target), kept)
    return kept


def _install_media(staging: Path, settings: VigilSettings) -> int:
    root = media_folder(settings)
    moved = 0
    for kind in KINDS:
        folder = staging / MEDIA_PREFIX / kind
        if not folder.is_dir():
            continue
        (root / kind).mkdir(parents=True, exist_ok=True)
        for path in folder.iterdir():
            shutil.move(str(path), str(root / kind / path.name))  # a rename on the same volume
            moved += 1
    return moved


def restore_backup(
    settings: VigilSettings,
    archive: Path,
    passphrase: str,
    *,
    retention: Callable[[Database], RetentionService],
    force: bool = False,
    actor: str = "system",
    progress: Progress = _quiet,
) -> RestoreResult:
    """Restore ``archive`` into the settings' data directory and database. Every refusal (unreadable,
    truncated or damaged archive, wrong passphrase, newer schema, other database kind, a target that
    holds data without ``force``) raises before the target is touched."""
    started = time.monotonic()
    url = database_url(settings)
    parent = settings.data_dir.resolve().parent
    parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=parent, prefix=".vigil-restore-"))
    try:
        manifest, found = _unpack(archive, passphrase, staging, progress)
        _check_parts(manifest, found)
        known = _check_schema(manifest)
        kind = backend(url)
        if manifest.database != kind:
            raise BackupError(
                f"the archive holds a {manifest.database} database and the target is {kind}: "
                "restore into the same kind of database"
            )
        held = target_contents(url, media_folder(settings))
        if held and not force:
            raise BackupError(
                f"the target is not empty ({', '.join(held)}): restore into an empty data directory and "
                "database, or add --force to replace what it holds"
            )
        progress("target: checks passed; putting the archive's parts in place")
        replaced = _move_aside(settings, url) if held else None
        if kind == "sqlite":
            install_sqlite(staging / SQLITE_PART, url)
        else:
            install_postgres(staging / POSTGRES_PART, url)
        if (staging / AUDIT_KEY_PART).is_file():
            _install_key(staging / AUDIT_KEY_PART, settings.resolved_audit_key_file)
        if (staging / EVIDENCE_KEY_PART).is_file():
            kept = _keep_other_key(staging / EVIDENCE_KEY_PART, settings)
            if kept is not None:
                progress(f"evidence key: the target's own signing key differed; kept as {kept}")
            _install_key(staging / EVIDENCE_KEY_PART, settings.resolved_evidence_key_file)
        media = _install_media(staging, settings)
        progress(f"media: {media} files in place")
        migrated_from = snapshot_revision(url)
        db = open_database(settings)  # migrates an older archive to head
        audit = AuditLog(db, key_file=settings.resolved_audit_key_file)
        chain = audit.verify()
        entry = audit.record(
            actor,
            AuditAction.BACKUP_RESTORED,
            object_type="backup",
            object_id=archive.name[:64],
            source="cli",
            details={
                "archive_created_at": manifest.created_at,
                "archive_entries": chain.entries,
                "archive_head": chain.head,
                "audit_intact": chain.ok,
                "migrated_from": migrated_from,
                "migrated_to": known[-1],
                "forced": bool(held),
            },
        )
        report = retention(db).run(actor=actor)
        db.dispose()
        return RestoreResult(
            manifest, chain, entry, migrated_from, known[-1], report, replaced, time.monotonic() - started
        )
    finally:
        with contextlib.suppress(OSError):
            shutil.rmtree(staging)


__all__ = ["BackupError", "BackupResult", "RestoreResult", "make_backup", "restore_backup", "snapshot_revision"]
