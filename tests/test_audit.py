"""The audit log's keyed hash chain: randomised tampering with the database itself (edit, delete,
insert, reorder) is detected at the exact entry; concurrent writers keep it intact; the CLI exits
non-zero naming the entry."""

from __future__ import annotations

import json
import random
import shutil
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from tests.helpers.cli import vigil

from vigil.domain.audit import AuditLog
from vigil.settings import VigilSettings
from vigil.store.db import Database, create_db_engine, open_database

KEY = bytes(range(32))
ENTRIES = 60
INSERT_COLUMNS = "id, at, actor, action, object_type, object_id, source, details, prev_hash, hash"
FIELDS = ("actor", "action", "object_type", "object_id", "source", "details", "at")


def _fill(log: AuditLog, count: int, rng: random.Random) -> None:
    for i in range(count):
        log.record(
            rng.choice(["operator", "supervisor", "admin", "cli"]),
            rng.choice(["login", "alert-decided", "subject-enrolled", "photo-viewed"]),
            object_type="alert",
            object_id=f"a{i}",
            source="127.0.0.1",
            details={"reason": f"entry {i}", "n": i, "ok": i % 2 == 0},
        )


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("audit") / "vigil.db"
    db = open_database(VigilSettings(data_dir=path.parent), url=f"sqlite:///{path}")
    _fill(AuditLog(db, KEY), ENTRIES, random.Random(1))
    db.dispose()
    return path


def _verify(path: Path):  # type: ignore[no-untyped-def]
    db = Database(create_db_engine(f"sqlite:///{path}"))
    try:
        return AuditLog(db, KEY).verify()
    finally:
        db.dispose()


def _tamper(path: Path, kind: str, rng: random.Random) -> int:
    """Change the database behind Vigil's back; returns the entry where the chain must break."""
    con = sqlite3.connect(path)
    try:
        if kind == "edit":
            k, field = rng.randint(1, ENTRIES), rng.choice(FIELDS)
            value = {"details": '{"reason": "nothing happened"}', "at": "2020-01-01 00:00:00.000000"}.get(
                field, "forged"
            )
            con.execute(f"UPDATE audit_events SET {field} = ? WHERE id = ?", (value, k))
            return k
        if kind == "delete":
            k = rng.randint(1, ENTRIES - 1)  # (the newest entries: see the head check)
            con.execute("DELETE FROM audit_events WHERE id = ?", (k,))
            return k
        if kind == "insert":
            k = rng.randint(1, ENTRIES)
            for i in range(ENTRIES, k - 1, -1):
                con.execute("UPDATE audit_events SET id = id + 1 WHERE id = ?", (i,))
            prev = con.execute("SELECT hash FROM audit_events WHERE id = ?", (k - 1,)).fetchone()
            con.execute(
                f"INSERT INTO audit_events ({INSERT_COLUMNS})"
                " VALUES (?, '2026-11-26 10:00:00.000000', 'admin', 'login', '', '', '', '{}', ?, ?)",
                (k, prev[0] if prev else "0" * 64, "f" * 64),
            )
            return k
        if kind == "append":
            head = con.execute("SELECT hash FROM audit_events ORDER BY id DESC LIMIT 1").fetchone()[0]
            con.execute(
                f"INSERT INTO audit_events ({INSERT_COLUMNS})"
                " VALUES (?, '2026-11-26 10:00:00.000000', 'admin', 'export', '', '', '', '{}', ?, ?)",
                (ENTRIES + 1, head, "e" * 64),
            )
            return ENTRIES + 1
        # reorder: swap the contents (not the numbers) of two entries
        k, j = sorted(rng.sample(range(1, ENTRIES + 1), 2))
        columns = "at, actor, action, object_type, object_id, source, details, prev_hash, hash"
        a = con.execute(f"SELECT {columns} FROM audit_events WHERE id = ?", (k,)).fetchone()
        b = con.execute(f"SELECT {columns} FROM audit_events WHERE id = ?", (j,)).fetchone()
        sets = ", ".join(f"{c.strip()} = ?" for c in columns.split(","))
        con.execute(f"UPDATE audit_events SET {sets} WHERE id = ?", (*b, k))
        con.execute(f"UPDATE audit_events SET {sets} WHERE id = ?", (*a, j))
        return k
    finally:
        con.commit()
        con.close()


def test_intact_chain_verifies(chain: Path) -> None:
    result = _verify(chain)
    assert result.ok and result.entries == ENTRIES and len(result.head) == 64


def test_randomised_tampering_is_detected_at_the_exact_entry(chain: Path, tmp_path: Path) -> None:
    rng = random.Random(20261126)
    kinds = ["edit", "delete", "insert", "append", "reorder"]
    cases = 0
    for case in range(125):
        copy = tmp_path / f"case{case}.db"
        shutil.copy(chain, copy)
        kind = kinds[case % len(kinds)]
        expected = _tamper(copy, kind, rng)
        result = _verify(copy)
        assert not result.ok, (case, kind)
        assert result.first_bad == expected, (case, kind, result)
        copy.unlink()
        cases += 1
    assert cases >= 100


def test_the_chain_needs_the_key(chain: Path) -> None:
    db = Database(create_db_engine(f"sqlite:///{chain}"))
    try:
        result = AuditLog(db, b"another key" * 3).verify()
    finally:
        db.dispose()
    assert not result.ok and result.first_bad == 1


def test_concurrent_writers_keep_the_chain_whole(database_url: str, tmp_path: Path) -> None:
    db = open_database(VigilSettings(data_dir=tmp_path), url=database_url)
    log = AuditLog(db, KEY)
    threads = [threading.Thread(target=_fill, args=(log, 25, random.Random(i))) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result = log.verify()
    assert result.ok and result.entries == 100
    with db.session() as session:
        from sqlalchemy import text

        session.execute(text("UPDATE audit_events SET actor = 'nobody' WHERE id = 42"))
    assert log.verify().first_bad == 42
    db.dispose()


def test_vigil_audit_verify_exits_non_zero_and_names_the_entry(tmp_path: Path) -> None:
    settings = VigilSettings(data_dir=tmp_path)
    db = open_database(settings)
    _fill(AuditLog(db, key_file=settings.resolved_audit_key_file), 5, random.Random(3))
    db.dispose()
    intact = vigil("audit", "verify", data_dir=tmp_path)
    assert intact.returncode == 0 and "intact: 5 entries" in intact.stdout
    con = sqlite3.connect(tmp_path / "vigil.db")
    con.execute("UPDATE audit_events SET details = '{}' WHERE id = 3")
    con.commit()
    con.close()
    broken = vigil("audit", "verify", data_dir=tmp_path)
    assert broken.returncode == 1 and "BROKEN at entry 3" in broken.stderr


def test_settings_changes_are_recorded_once_each(tmp_path: Path) -> None:
    from vigil.services import audit_settings

    db = open_database(VigilSettings(data_dir=tmp_path))
    log = AuditLog(db, KEY)
    first = VigilSettings(data_dir=tmp_path, database_url="postgresql://vigil:s3cret@db/vigil")
    assert audit_settings(log, first) and not audit_settings(log, first)
    assert audit_settings(log, first.model_copy(update={"retention_sighting_days": 7.0}))
    entries = log.entries(action="settings-changed")
    assert entries[0].details["changed"] == ["retention_sighting_days"]
    assert "s3cret" not in str(entries) and log.verify().ok


WRONG_VALUES = {  # what a hand on the database file can write (NOT NULL and the integer id hold)
    "at": ["2026-12-01 06:27:00.999255x", "yesterday", "", 12345, 3.5, "2026-13-45 99:99:99"],
    "actor": [42, 3.5, b"\x00\xff"],
    "action": [7, b"x"],
    "object_id": [1.25],
    "details": ["not json", "[1, 2]", "{", 17],
    "prev_hash": [99, b"\x02"],
    "hash": [12, b"\x01"],
}


def test_the_verifier_reports_values_of_the_wrong_type_instead_of_crashing(chain: Path, tmp_path: Path) -> None:
    """Issue 14: an edited time that no longer parses made `vigil audit verify` die with a traceback."""
    rng = random.Random(7)
    cases = [(column, value) for column, values in WRONG_VALUES.items() for value in values]
    for column, value in cases:
        copy = tmp_path / "copy.db"
        shutil.copy(chain, copy)
        k = rng.randint(2, ENTRIES)
        con = sqlite3.connect(copy)
        con.execute(f"UPDATE audit_events SET {column} = ? WHERE id = ?", (value, k))
        con.commit()
        con.close()
        result = _verify(copy)  # never raises
        assert not result.ok, (column, value)
        assert result.first_bad == k, (column, value, result)


def test_vigil_audit_verify_names_an_entry_whose_time_no_longer_parses(tmp_path: Path) -> None:
    settings = VigilSettings(data_dir=tmp_path)
    db = open_database(settings)
    _fill(AuditLog(db, key_file=settings.resolved_audit_key_file), 5, random.Random(3))
    db.dispose()
    con = sqlite3.connect(tmp_path / "vigil.db")
    con.execute("UPDATE audit_events SET at = '2026-12-01 06:27:00.999255x' WHERE id = 4")
    con.commit()
    con.close()
    broken = vigil("audit", "verify", data_dir=tmp_path)
    assert broken.returncode == 1 and "BROKEN at entry 4" in broken.stderr and "Traceback" not in broken.stderr


def test_the_database_file_is_the_owners_only(tmp_path: Path) -> None:
    """Issue 14, item 12: the SQLite file holding the watchlist and the audit chain is created 0600."""
    import os
    import stat

    db = open_database(VigilSettings(data_dir=tmp_path))
    AuditLog(db, KEY).record("cli", "login")  # a write: the WAL file exists now
    for name in ("vigil.db", "vigil.db-wal"):
        mode = stat.S_IMODE(os.stat(tmp_path / name).st_mode)
        assert mode == 0o600, (name, oct(mode))
    db.dispose()
    (tmp_path / "old.db").touch(mode=0o644)  # a file from before: tightened when opened
    other = open_database(VigilSettings(data_dir=tmp_path), url=f"sqlite:///{tmp_path / 'old.db'}")
    assert stat.S_IMODE(os.stat(tmp_path / "old.db").st_mode) == 0o600
    other.dispose()


# ---------------------------------------------------------------- anchors (issue 14, item 12)
def _cut_newest(path: Path, count: int) -> None:
    con = sqlite3.connect(path)
    con.execute("DELETE FROM audit_events WHERE id > (SELECT max(id) FROM audit_events) - ?", (count,))
    con.commit()
    con.close()


def test_an_anchor_on_another_volume_shows_that_the_newest_entries_were_cut_off(tmp_path: Path) -> None:
    settings = VigilSettings(data_dir=tmp_path / "data")
    db = open_database(settings)
    log = AuditLog(db, key_file=settings.resolved_audit_key_file)
    _fill(log, 8, random.Random(5))
    anchors = tmp_path / "elsewhere" / "anchors.jsonl"  # another volume, in real life
    made = vigil("audit", "anchor", "--to", str(anchors), data_dir=settings.data_dir)
    assert made.returncode == 0 and "anchored 8 entries" in made.stdout, made.stderr
    assert (anchors.stat().st_mode & 0o777) == 0o600
    _fill(log, 2, random.Random(6))  # the log goes on after the anchor: fine
    ok = vigil("audit", "verify", "--anchor", str(anchors), data_dir=settings.data_dir)
    assert ok.returncode == 0 and "intact: 10 entries" in ok.stdout and "saw 8 entries" in ok.stdout
    db.dispose()

    _cut_newest(settings.data_dir / "vigil.db", 3)  # someone with the database hides their last actions
    plain = vigil("audit", "verify", data_dir=settings.data_dir)
    assert plain.returncode == 0  # the chain alone cannot tell
    anchored = vigil("audit", "verify", "--anchor", str(anchors), data_dir=settings.data_dir)
    assert anchored.returncode == 1 and "cut off" in anchored.stderr and "saw 8 entries" in anchored.stderr

    forged = tmp_path / "forged.jsonl"
    line = json.loads(anchors.read_text().splitlines()[-1])
    forged.write_text(json.dumps({**line, "entries": 7}) + "\n")
    refused = vigil("audit", "verify", "--anchor", str(forged), data_dir=settings.data_dir)
    assert refused.returncode == 1 and "not a genuine anchor" in refused.stderr


def test_anchors_go_to_a_url_and_are_checked_from_it(tmp_path: Path) -> None:
    """A real HTTP receiver stands in for the force's write-once store: POSTed lines, GET the last."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from vigil.domain.audit_anchor import last_anchor, make_anchor, publish, verify_against

    received: list[str] = []

    class Store(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(self.rfile.read(int(self.headers["Content-Length"])).decode())
            self.send_response(201)
            self.end_headers()

        def do_GET(self) -> None:
            body = (received[-1] + "\n").encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Store)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/anchors"
    try:
        db = open_database(VigilSettings(data_dir=tmp_path), url=f"sqlite:///{tmp_path / 'v.db'}")
        log = AuditLog(db, KEY)
        _fill(log, 4, random.Random(7))
        publish(make_anchor(log), url)
        assert len(received) == 1 and json.loads(received[0])["entries"] == 4
        assert verify_against(log, last_anchor(url)).ok
        _cut_newest(tmp_path / "v.db", 1)
        result = verify_against(log, last_anchor(url))
        assert not result.ok and result.first_bad == 4
        db.dispose()
    finally:
        server.shutdown()


def test_the_server_anchors_at_start_when_told_where(tmp_path: Path, settings) -> None:  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    from vigil.web.app import create_app
    from vigil.web.context import WebContext

    anchors = tmp_path / "anchors.jsonl"
    run = settings.model_copy(update={"data_dir": tmp_path / "data", "audit_anchor": str(anchors)})
    ctx = WebContext.build(run, open_database(run))
    ctx.audit.record("cli", "settings-changed")
    with TestClient(create_app(ctx)):
        deadline = time.monotonic() + 10
        while not anchors.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    assert json.loads(anchors.read_text().splitlines()[0])["entries"] >= 1
