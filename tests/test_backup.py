"""Backup and restore: the sealed archive refuses every damage; a backup of a running server raising
alerts restores into a fresh data directory with everything (SQLite and PostgreSQL); each refusal
leaves the target as it was; an older archive is migrated; an anchor newer than the archive reports the
entries lost in the restore, distinct from tampering."""

from __future__ import annotations

import hashlib
import io
import json
import sqlite3
import tarfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select, update
from tests.conftest import _postgres_reachable, fresh_postgres
from tests.helpers import alert_event, jpeg, live_fields
from tests.helpers.cli import vigil

from vigil.pipeline.analyser import encode_jpeg
from vigil.pipeline.events import alert_key
from vigil.settings import VigilSettings
from vigil.store.archive import ArchiveError, ArchiveReader, ArchiveWriter, KeyDerivation, WrongPassphraseError
from vigil.store.db import create_db_engine, upgrade_schema
from vigil.store.models import Alert, Authorisation, Photo, Subject, User

PASSPHRASE = "a long passphrase for tests"
CHEAP = KeyDerivation(b"s" * 16, time_cost=1, memory_kib=64, lanes=1)


# --- the sealed archive ---------------------------------------------------------------------------------


def _seal(plain: bytes, *, segment_size: int = 100, passphrase: str = PASSPHRASE) -> bytes:
    out = io.BytesIO()
    writer = ArchiveWriter(out, passphrase, kdf=CHEAP, segment_size=segment_size)
    writer.write(plain)
    writer.close()
    return out.getvalue()


def _open(sealed: bytes, passphrase: str = PASSPHRASE) -> bytes:
    reader = ArchiveReader(io.BytesIO(sealed), passphrase)
    data = reader.read()
    reader.finish()
    return data


@pytest.mark.parametrize("size", [0, 1, 99, 100, 101, 1000, 1234])
def test_archive_round_trip(size: int) -> None:
    plain = bytes(range(256)) * 5
    assert _open(_seal(plain[:size])) == plain[:size]


def test_archive_refuses_wrong_passphrase_truncation_and_damage() -> None:
    plain = np.random.default_rng(1).integers(0, 256, 1000, dtype=np.uint8).tobytes()
    sealed = _seal(plain)
    with pytest.raises(WrongPassphraseError, match="wrong passphrase"):
        _open(sealed, "another passphrase entirely")
    preamble = sealed.index(b"}") + 1 + 32  # header JSON, then its SHA-256
    segment = 4 + 100 + 16
    for cut in (3, preamble - 5, preamble + 2, preamble + segment, preamble + 3 * segment + 7, len(sealed) - 1):
        with pytest.raises(ArchiveError, match="truncated"):
            _open(sealed[:cut])
    for at in (20, preamble + 10, preamble + segment + 50, len(sealed) - 3):
        damaged = bytearray(sealed)
        damaged[at] ^= 0x01
        with pytest.raises(ArchiveError, match="damaged") as caught:
            _open(bytes(damaged))
        assert "truncated" not in str(caught.value)
    # two segments swapped, one dropped, data appended: each refused
    body = sealed[preamble:]
    segments = [body[i : i + segment] for i in range(0, len(body), segment)]
    swapped = sealed[:preamble] + segments[1] + segments[0] + b"".join(segments[2:])
    dropped = sealed[:preamble] + b"".join(segments[:2] + segments[3:])
    for bad in (swapped, dropped, sealed + b"x"):
        with pytest.raises(ArchiveError):
            _open(bad)
    with pytest.raises(ArchiveError, match="not a Vigil backup"):
        _open(b"PK\x03\x04" + sealed[4:])


# --- helpers for whole deployments ------------------------------------------------------------------------


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def _tree(root: Path) -> dict[str, str]:
    """Every file under ``root`` with its SHA-256 (what "untouched" is checked against)."""
    if not root.exists():
        return {}
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*") if p.is_file()
    }


def _reseal(archive: Path, out: Path, edit_manifest: dict[str, object]) -> None:
    """A copy of ``archive`` whose manifest has ``edit_manifest`` applied (sealed with the same passphrase)."""
    with archive.open("rb") as handle:
        reader = ArchiveReader(handle, PASSPHRASE)
        members = []
        with tarfile.open(fileobj=reader, mode="r|") as tar:  # type: ignore[call-overload]
            for member in tar:
                data = tar.extractfile(member).read()  # type: ignore[union-attr]
                if member.name == "manifest.json":
                    data = json.dumps({**json.loads(data), **edit_manifest}).encode()
                    member.size = len(data)
                members.append((member, data))
    with out.open("wb") as sink:
        writer = ArchiveWriter(sink, PASSPHRASE, kdf=CHEAP)
        with tarfile.open(fileobj=writer, mode="w|") as tar:  # type: ignore[call-overload]
            for member, data in members:
                tar.addfile(member, io.BytesIO(data))
        writer.close()


@contextmanager
def _database(kind: str, tmp_path: Path, name: str) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / name / 'vigil.db'}"
        return
    with fresh_postgres() as url:
        yield url


def _env(monkeypatch: pytest.MonkeyPatch, url: str, media_store: str) -> None:
    monkeypatch.setenv("VIGIL_TEST_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("VIGIL_MEDIA_STORE", media_store)
    if url.startswith("postgresql"):
        monkeypatch.setenv("VIGIL_DATABASE_URL", url)
    else:
        monkeypatch.delenv("VIGIL_DATABASE_URL", raising=False)


# --- a running server, backed up while alerts arrive, restored into a fresh data directory ---------------


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def test_backup_of_a_running_server_restores_everything(
    kind: str, tmp_path: Path, settings: VigilSettings, engine, astronaut, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    from tests.helpers.webserver import start_server

    if kind == "postgresql" and (reason := _postgres_reachable()):
        pytest.skip(reason)
    media_store = "files"  # the test server keeps media in files on both databases
    with _database(kind, tmp_path, "data") as source_url, _database(kind, tmp_path, "restored") as target_url:
        base = settings.model_copy(
            update={"database_url": source_url if kind == "postgresql" else None, "media_store": media_store}
        )
        running = start_server(tmp_path, base, engine)
        try:
            watchlist = running.watchlist
            subject = watchlist.enroll(live_fields("Eileen Collins"), [("a.jpg", jpeg(astronaut))]).subject_id
            now = datetime.now(UTC)
            running.ctx.authorisations.add(
                cameras=["gate"],
                categories=["wanted"],
                starts_at=now - timedelta(hours=1),
                ends_at=now + timedelta(days=1),
                purpose="test deployment",
                requested_by="supervisor",
                authorised_by="authoriser",
            )
            recorder = running.recorder
            first = recorder.raise_alert(alert_event(subject, track="old-rejected"))
            assert first is not None and first.alert_id
            with watchlist.db.session() as session:  # decided long ago: retention must take its crop on restore
                session.execute(
                    update(Alert)
                    .where(Alert.id == first.alert_id)
                    .values(status="rejected", updated_at=datetime.now(UTC) - timedelta(days=3))
                )
            for i in range(20):
                crop = encode_jpeg(np.full((40, 40, 3), i * 10, np.uint8))
                assert recorder.raise_alert(alert_event(subject, track=f"before-{i}", crop_jpeg=crop))
            stop = threading.Event()
            raised: list[str] = []

            def camera() -> None:  # alerts keep arriving while the backup runs, as from a camera
                i = 0
                while not stop.is_set():
                    crop = encode_jpeg(np.full((40, 40, 3), i % 250, np.uint8))
                    stored = recorder.raise_alert(
                        alert_event(subject, camera="gate", track=f"during-{i}", crop_jpeg=crop)
                    )
                    if stored is not None:
                        raised.append(stored.key)
                    i += 1
                    time.sleep(0.01)

            thread = threading.Thread(target=camera, daemon=True)
            thread.start()
            _env(monkeypatch, source_url, media_store)
            archive = tmp_path / "night.vbk"
            made = vigil(
                "backup", "--out", str(archive), "--passphrase-env", "VIGIL_TEST_PASSPHRASE", data_dir=tmp_path / "data"
            )
            time.sleep(0.2)
            stop.set()
            thread.join(10)
            assert made.returncode == 0, made.stderr
            assert raised, "no alert arrived during the backup"
            assert "database: taking a consistent snapshot" in made.stderr  # progress shown
            with watchlist.db.session() as session:
                source_alerts = {a.id: (a.key, a.crop_name) for a in session.scalars(select(Alert))}
                source_users = set(session.scalars(select(User.username)))
                source_auths = set(session.scalars(select(Authorisation.id)))
                photos = {
                    p.media_name: watchlist.media.read("photos", p.media_name) for p in session.scalars(select(Photo))
                }
            crops = {name: watchlist.media.read("crops", name) for _, name in source_alerts.values() if name}
            backups = running.ctx.audit.entries(limit=5, action="backup-made")
            assert backups and backups[0].details["archive_sha256"] in made.stdout  # its run audited
        finally:
            running.stop()
            running.watchlist.db.dispose()

        # a lost disk: restore into a fresh data directory (and an empty database)
        _env(monkeypatch, target_url, media_store)
        restored_dir = tmp_path / "restored"
        done = vigil("restore", str(archive), "--passphrase-env", "VIGIL_TEST_PASSPHRASE", data_dir=restored_dir)
        assert done.returncode == 0, done.stderr
        snapshot_head, snapshot_entries = backups[0].details["audit_head"], backups[0].details["audit_entries"]
        assert f"{snapshot_entries} entries; head {snapshot_head}" in done.stdout
        restore_entry = snapshot_entries + 1
        assert f"restore recorded as audit entry {restore_entry}" in done.stdout

        target = VigilSettings(
            data_dir=restored_dir, database_url=target_url if kind == "postgresql" else None, media_store=media_store
        )
        from vigil.domain.audit import AuditLog
        from vigil.store.db import open_database
        from vigil.store.media import open_media

        db = open_database(target)
        media = open_media(target, db)
        with db.session() as session:
            restored = {a.id: (a.key, a.crop_name) for a in session.scalars(select(Alert))}
            assert set(session.scalars(select(User.username))) == source_users
            assert set(session.scalars(select(Authorisation.id))) == source_auths
            assert session.scalar(select(Subject.id)) == subject
            restored_photos = {p.media_name for p in session.scalars(select(Photo))}
        # every alert stored before the backup began is there; the rest are exactly those the snapshot held
        keys = {key for key, _ in restored.values()}
        assert {alert_key("gate", f"before-{i}", subject) for i in range(20)} <= keys
        assert set(restored) <= set(source_alerts)
        assert len(restored) == backups[0].details["counts"]["alerts"]  # the snapshot's own count
        for alert_id, (_key, crop_name) in restored.items():
            if alert_id == first.alert_id:
                assert crop_name is None  # retention ran before anything was served
                continue
            assert crop_name == source_alerts[alert_id][1]
            assert media.read("crops", crop_name) == crops[crop_name]  # type: ignore[arg-type]
        assert restored_photos == set(photos)
        for name, data in photos.items():
            assert media.read("photos", name) == data
        audit = AuditLog(db, key_file=target.resolved_audit_key_file)
        check = audit.verify()
        assert check.ok, check.reason
        entries = audit.entries(limit=3)
        assert [e.action for e in reversed(entries[:2])] == ["backup-restored", "retention-run"]
        assert entries[1].id == restore_entry
        assert audit.hash_of(snapshot_entries) == snapshot_head
        db.dispose()


# --- refusals: each one error line, exit status 2, the target as it was --------------------------------


def _deployment(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _env(monkeypatch, "sqlite://", "files")
    monkeypatch.setenv("VIGIL_TEST_PASSWORD", "correct horse battery")
    for name in ("alice", "bob"):
        added = vigil(
            "users", "add", name, "--role", "admin", "--password-env", "VIGIL_TEST_PASSWORD", data_dir=data_dir
        )
        assert added.returncode == 0, added.stderr
    media = data_dir / "media" / "photos"
    media.mkdir(parents=True)
    (media / ("ab" * 16 + ".jpg")).write_bytes(b"not really a photo")


def test_each_refusal_leaves_the_target_as_it_was(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "source"
    _deployment(source, monkeypatch)
    assert vigil("evidence", "key", data_dir=source).returncode == 0  # its evidence-signing key, made
    archive = tmp_path / "a.vbk"
    made = vigil("backup", "--out", str(archive), "--passphrase-env", "VIGIL_TEST_PASSPHRASE", data_dir=source)
    assert made.returncode == 0, made.stderr
    sealed = archive.read_bytes()
    (tmp_path / "truncated.vbk").write_bytes(sealed[: len(sealed) // 2])
    damaged = bytearray(sealed)
    damaged[len(sealed) // 2] ^= 0x40
    (tmp_path / "damaged.vbk").write_bytes(bytes(damaged))
    _reseal(archive, tmp_path / "newer.vbk", {"migration_head": "0099"})

    occupied = tmp_path / "occupied"  # a deployment that holds data of its own
    _deployment(occupied, monkeypatch)
    assert vigil("evidence", "key", data_dir=occupied).returncode == 0  # a signing key of its own
    empty = tmp_path / "empty"
    cases = [
        ("truncated.vbk", ["--force"], occupied, "truncated"),
        ("damaged.vbk", ["--force"], occupied, "damaged"),
        ("a.vbk", ["--force"], occupied, "wrong passphrase"),
        ("newer.vbk", ["--force"], occupied, "newer schema"),
        ("a.vbk", [], occupied, "not empty"),
        ("truncated.vbk", [], empty, "truncated"),
        ("newer.vbk", [], empty, "newer schema"),
    ]
    for name, extra, target, reason in cases:
        before = _tree(target)
        env_var = "VIGIL_WRONG" if reason == "wrong passphrase" else "VIGIL_TEST_PASSPHRASE"
        monkeypatch.setenv("VIGIL_WRONG", "not the passphrase at all")
        done = vigil("restore", str(tmp_path / name), "--passphrase-env", env_var, *extra, data_dir=target)
        assert done.returncode == 2, (name, done.stdout, done.stderr)
        errors = _error_lines(done.stderr)
        assert len(errors) == 1 and reason in errors[0], (name, done.stderr)
        assert _tree(target) == before, f"{name} {extra} changed the target"
        assert not list(tmp_path.glob(".vigil-restore-*")), "staging left behind"

    # the forced restore of a good archive replaces the target and keeps what it held aside
    done = vigil("restore", str(archive), "--passphrase-env", "VIGIL_TEST_PASSPHRASE", "--force", data_dir=occupied)
    assert done.returncode == 0, done.stderr
    assert "moved to" in done.stdout and list(occupied.glob("replaced-*/vigil.db"))
    assert _tree(occupied / "media") == _tree(source / "media")
    # the archive's evidence-signing key is the target's now; the one it held is kept aside, not lost
    assert (occupied / "evidence.key").read_bytes() == (source / "evidence.key").read_bytes()
    (kept,) = occupied.glob("replaced-*/evidence.key")
    assert kept.read_bytes() != (source / "evidence.key").read_bytes()


def test_an_older_archive_is_migrated_to_head(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from vigil.domain.audit import AuditLog
    from vigil.domain.backup import make_backup
    from vigil.domain.vocabulary import AuditAction
    from vigil.store.db import Database, migration_revisions

    old = tmp_path / "old"
    settings = VigilSettings(data_dir=old)
    engine = create_db_engine(f"sqlite:///{old / 'vigil.db'}")
    previous = migration_revisions()[-2]
    upgrade_schema(engine, previous)
    log = AuditLog(Database(engine), key_file=settings.resolved_audit_key_file)
    log.record("someone", AuditAction.SETTINGS_CHANGED, details={"made": "before the upgrade"})
    result = make_backup(settings, tmp_path / "old.vbk", PASSPHRASE, audit=log)
    assert result.manifest.migration_head == previous
    engine.dispose()

    _env(monkeypatch, "sqlite://", "files")
    done = vigil(
        "restore", str(tmp_path / "old.vbk"), "--passphrase-env", "VIGIL_TEST_PASSPHRASE", data_dir=tmp_path / "new"
    )
    assert done.returncode == 0, done.stderr
    assert f"schema migrated from {previous} to {migration_revisions()[-1]}" in done.stdout
    with sqlite3.connect(tmp_path / "new" / "vigil.db") as connection:
        assert connection.execute("SELECT version_num FROM alembic_version").fetchone() == (migration_revisions()[-1],)


def test_an_anchor_newer_than_the_archive_names_the_restore(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "source"
    _deployment(source, monkeypatch)  # 2 entries
    archive = tmp_path / "a.vbk"
    assert (
        vigil("backup", "--out", str(archive), "--passphrase-env", "VIGIL_TEST_PASSPHRASE", data_dir=source).returncode
        == 0
    )
    vigil("users", "add", "carol", "--role", "operator", "--password-env", "VIGIL_TEST_PASSWORD", data_dir=source)
    anchors = tmp_path / "elsewhere" / "anchors.jsonl"
    anchored = vigil("audit", "anchor", "--to", str(anchors), data_dir=source)
    assert anchored.returncode == 0 and "anchored 4 entries" in anchored.stdout  # 2 users, the backup, carol

    time.sleep(1.1)  # the restore comes after the anchor (anchors carry whole seconds)
    lost = tmp_path / "lost-disk"
    assert vigil("restore", str(archive), "--passphrase-env", "VIGIL_TEST_PASSPHRASE", data_dir=lost).returncode == 0
    checked = vigil("audit", "verify", "--anchor", str(anchors), data_dir=lost)
    assert checked.returncode == 1
    assert "INCOMPLETE after a restore" in checked.stderr and "BROKEN" not in checked.stderr
    assert "entries 3-4" in checked.stderr and "restore of a.vbk" in checked.stderr
    assert "recorded as entry 3" in checked.stderr
    assert vigil("audit", "verify", data_dir=lost).returncode == 0  # the chain itself is whole

    with sqlite3.connect(lost / "vigil.db") as connection:  # tampering after the restore is tampering
        connection.execute("UPDATE audit_events SET actor = 'mallory' WHERE id = 1")
    checked = vigil("audit", "verify", "--anchor", str(anchors), data_dir=lost)
    assert checked.returncode == 1 and "BROKEN at entry 1" in checked.stderr and "INCOMPLETE" not in checked.stderr
