"""The audit log: every action worth checking afterwards, written by the service that performs it.

Tamper evidence: entries are numbered 1, 2, 3 … without gaps, and each carries
``hash = HMAC-SHA256(key, canonical JSON of [id, at, actor, action, object type, object id, source,
details, previous entry's hash])``. Editing an entry changes its hash; deleting one leaves a gap;
inserting or reordering breaks the numbering or the links. The key lives in a file outside the
database (``<data-dir>/audit.key`` unless ``VIGIL_AUDIT_KEY_FILE`` says otherwise), so someone who can
write to the database cannot recompute the chain. What a chain alone cannot show is the loss of its
newest entries: anchors (``vigil.domain.audit_anchor``: the signed head, published elsewhere) do.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vigil.domain.vocabulary import AuditAction
from vigil.store.db import Database
from vigil.store.models import AuditEvent

GENESIS = "0" * 64


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    action: str
    object_type: str
    object_id: str
    source: str
    details: dict[str, Any]


@dataclass(frozen=True)
class Actor:
    """Who changes something, and from where (a client address, or "cli"): what a domain service writes
    into the audit entry it commits together with the change."""

    username: str
    source: str = ""


@dataclass(frozen=True)
class Verification:
    ok: bool
    entries: int
    head: str  # the last entry's hash
    first_bad: int | None = None
    reason: str = ""
    # the entry recording the restore the missing entries were lost in (an anchor newer than the archive)
    lost_in_restore: int | None = None


def load_key(path: Path) -> bytes:
    """The chain key, created (random, owner-only) on first use."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
    return bytes.fromhex(path.read_text().strip())


def canonical_details(details: dict[str, Any] | None) -> dict[str, Any]:
    return json.loads(json.dumps(details or {}, default=str, sort_keys=True))  # type: ignore[no-any-return]


def entry_hash(
    key: bytes,
    entry_id: int,
    at: datetime,
    actor: str,
    action: str,
    object_type: str,
    object_id: str,
    source: str,
    details: dict[str, Any],
    prev_hash: str,
) -> str:
    stamp = at.astimezone(UTC).isoformat(timespec="microseconds")
    payload = json.dumps(
        [entry_id, stamp, actor, action, object_type, object_id, source, details, prev_hash],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hmac.new(key, payload.encode(), hashlib.sha256).hexdigest()


class AuditLog:
    _append_lock = threading.RLock()  # one writer at a time in this process (other processes: retry / advisory lock)

    def __init__(self, db: Database, key: bytes | None = None, *, key_file: Path | None = None) -> None:
        self.db = db
        if key is None:
            if key_file is None:
                raise ValueError("give the audit key or its file")
            key = load_key(key_file)
        self.key = key

    def record(
        self,
        actor: str,
        action: AuditAction,
        *,
        object_type: str = "",
        object_id: str = "",
        source: str = "",
        details: dict[str, Any] | None = None,
        session: Session | None = None,
    ) -> int:
        """Append an entry; returns its number. With ``session`` the entry is written in that transaction,
        so it commits (or rolls back) with the change it records."""
        clean = canonical_details(details)
        fields = (actor[:64], action[:64], object_type[:32], object_id[:64], source[:64])
        if session is not None:
            with self._append_lock:
                return self._append(session, fields, clean)
        for _attempt in range(20):
            with self._append_lock:
                try:
                    with self.db.session() as own:
                        return self._append(own, fields, clean)
                except IntegrityError:
                    continue  # another process appended the same number first: take the next one
        raise RuntimeError("could not append to the audit log")

    @contextmanager
    def exclusive(self, session: Session) -> Iterator[None]:
        """The log's write lock, held in ``session``'s transaction: a check that reads the log and the entry
        written after it are one step, with no other writer between them (a limit counted from the log)."""
        with self._append_lock:
            self._lock_chain(session)
            yield

    @staticmethod
    def _lock_chain(session: Session) -> None:
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("SELECT pg_advisory_xact_lock(7320141)"))
        else:  # SQLite: take the database's write lock now (a write that changes nothing), not at the insert
            session.execute(text("UPDATE audit_events SET id = id WHERE id = -1"))

    def _append(self, session: Session, fields: tuple[str, str, str, str, str], details: dict[str, Any]) -> int:
        self._lock_chain(session)
        last = session.execute(select(AuditEvent.id, AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)).first()
        entry_id = (last[0] + 1) if last else 1
        prev = (last[1] or GENESIS) if last else GENESIS
        at = datetime.now(UTC)
        digest = entry_hash(self.key, entry_id, at, *fields, details, prev)
        session.add(
            AuditEvent(
                id=entry_id,
                at=at,
                actor=fields[0],
                action=fields[1],
                object_type=fields[2],
                object_id=fields[3],
                source=fields[4],
                details=details,
                prev_hash=prev,
                hash=digest,
            )
        )
        session.flush()
        return entry_id

    def entries(
        self,
        *,
        limit: int = 200,
        action: str | None = None,
        offset: int = 0,
        actor: str | None = None,
        object_type: str | None = None,
        object_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        before: int | None = None,
    ) -> list[AuditEntry]:
        """Newest first; each filter given narrows the list (``before``: entries older than that id, the
        next page after one that ended there)."""
        query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(max(1, min(limit, 5001))).offset(offset)
        if action:
            query = query.where(AuditEvent.action == action)
        if actor:
            query = query.where(AuditEvent.actor == actor)
        if object_type:
            query = query.where(AuditEvent.object_type == object_type)
        if object_id:
            query = query.where(AuditEvent.object_id == object_id)
        if since is not None:
            query = query.where(AuditEvent.at >= since)
        if until is not None:
            query = query.where(AuditEvent.at <= until)
        if before is not None:
            query = query.where(AuditEvent.id < before)
        with self.db.session() as session:
            return [
                AuditEntry(e.id, e.at, e.actor, e.action, e.object_type, e.object_id, e.source, dict(e.details))
                for e in session.scalars(query)
            ]

    def record_change(
        self,
        session: Session,
        by: Actor,
        action: AuditAction,
        *,
        object_type: str = "",
        object_id: str = "",
        details: dict[str, Any] | None = None,
    ) -> int:
        """The entry of a change, written in the change's own transaction: both commit or neither."""
        return self.record(
            by.username,
            action,
            object_type=object_type,
            object_id=object_id,
            source=by.source,
            details=details,
            session=session,
        )

    def hash_of(self, entry_id: int) -> str | None:
        """The stored hash of entry ``entry_id`` (None if there is no such entry)."""
        with self.db.session() as session:
            value = session.execute(text("SELECT hash FROM audit_events WHERE id = :id"), {"id": entry_id}).scalar()
        return value if isinstance(value, str) else None

    def _stored_rows(self) -> Iterator[tuple[Any, ...]]:
        with self.db.session() as session:
            yield from stored_rows(session.connection())

    def verify(self) -> Verification:
        """Walk the chain from entry 1 (see :func:`verify_chain`)."""
        return verify_chain(self.key, self._stored_rows())


STORED_COLUMNS = "id, at, actor, action, object_type, object_id, source, details, prev_hash, hash"


def stored_rows(connection: Connection) -> Iterator[tuple[Any, ...]]:
    """Every entry as stored, column by column, without the ORM's parsing (an edited value that no
    longer parses must be reported, not raise); read through ``connection`` (a backup reads its snapshot)."""
    for row in connection.execute(text(f"SELECT {STORED_COLUMNS} FROM audit_events ORDER BY id")):
        yield tuple(row)


ENTRY_FIELDS = ("id", "at", "actor", "action", "object_type", "object_id", "source", "details", "prev_hash", "hash")


def entry_record(row: tuple[Any, ...]) -> dict[str, Any]:
    """A stored entry (a row of :data:`STORED_COLUMNS`) as a JSON object carrying exactly what its hash
    covers (the time as the hash writes it), so that the key's holder can recompute the hash from it
    alone (:func:`record_hash`). Raises TypeError/ValueError for a row Vigil did not write."""
    values = list(_read_stored(row))
    values[1] = values[1].astimezone(UTC).isoformat(timespec="microseconds")
    return dict(zip(ENTRY_FIELDS, values, strict=True))


def record_hash(key: bytes, record: dict[str, Any]) -> str:
    """The keyed hash of an entry given as :func:`entry_record` writes it."""
    return entry_hash(
        key,
        int(record["id"]),
        datetime.fromisoformat(str(record["at"])),
        str(record["actor"]),
        str(record["action"]),
        str(record["object_type"]),
        str(record["object_id"]),
        str(record["source"]),
        canonical_details(record["details"]),
        str(record["prev_hash"]),
    )


def verify_chain(key: bytes, rows: Iterable[tuple[Any, ...]]) -> Verification:
    """Walk the chain from entry 1; the first entry that does not fit is reported — whatever was written
    into it (values of the wrong type included): verification never raises on content."""
    expected_id, prev, count = 1, GENESIS, 0
    for row in rows:
        count += 1
        try:
            entry = _read_stored(row)
        except (TypeError, ValueError, OverflowError) as exc:
            where = row[0] if isinstance(row[0], int) else expected_id
            return Verification(False, count, prev, where, f"its stored values cannot be read ({exc})")
        event_id, at, actor, action, object_type, object_id, source, details, prev_hash, stored_hash = entry
        if event_id != expected_id:
            return Verification(
                False,
                count,
                prev,
                expected_id,
                f"entry {expected_id} is missing (found {event_id} next)"
                if event_id > expected_id
                else f"entry {event_id} is out of order",
            )
        if prev_hash != prev:
            return Verification(False, count, prev, event_id, "its link to the previous entry does not match")
        recomputed = entry_hash(key, event_id, at, actor, action, object_type, object_id, source, details, prev_hash)
        if not hmac.compare_digest(recomputed, stored_hash):
            return Verification(False, count, prev, event_id, "its content does not match its hash")
        prev, expected_id = stored_hash, expected_id + 1
    return Verification(True, count, prev)


def audit_change(
    audit: AuditLog | None,
    session: Session,
    by: Actor | None,
    action: AuditAction,
    *,
    object_type: str = "",
    object_id: str = "",
    details: dict[str, Any] | None = None,
) -> None:
    """A domain service's audit of its own change: written in the change's transaction after its rows
    are flushed (so the write lock is held), when the service has an audit log and knows who acts."""
    session.flush()
    if audit is not None and by is not None:
        audit.record_change(session, by, action, object_type=object_type, object_id=object_id, details=details)


class RefusalRecorder:
    """Audits refused requests (401/403: a missing or wrong credential, a role that may not, a bad CSRF
    token) without letting a flood of them flood the log: at most ``per_minute`` entries per source
    address a minute; what is held back is counted and written with that source's next entry."""

    def __init__(self, audit: AuditLog, *, per_minute: int = 10, clock: Any = None) -> None:
        self.audit = audit
        self.per_minute = per_minute
        self._clock = clock or time.monotonic
        self._lock = threading.Lock()
        self._windows: dict[str, tuple[float, int, int]] = {}  # source -> (window start, written, held back)

    def refused(self, actor: str, status: int, method: str, path: str, source: str, reason: str) -> bool:
        """Record one refusal; False if it was only counted (over the rate)."""
        now = self._clock()
        with self._lock:
            start, written, held = self._windows.get(source, (now, 0, 0))
            if now - start >= 60.0:
                start, written = now, 0
            if written >= self.per_minute:
                self._windows[source] = (start, written, held + 1)
                return False
            self._windows[source] = (start, written + 1, 0)
            if len(self._windows) > 10_000:  # forget quiet sources
                for key in [k for k, (t, _, h) in self._windows.items() if now - t >= 60.0 and h == 0]:
                    del self._windows[key]
        details: dict[str, Any] = {"status": status, "method": method, "path": path[:200], "reason": reason[:200]}
        if held:
            details["held_back_before"] = held  # refusals from this source not written one by one
        self.audit.record(
            actor or "anonymous", AuditAction.ACCESS_REFUSED, object_type="request", source=source, details=details
        )
        return True


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} is {type(value).__name__}, not text")
    return value


def _read_stored(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """One stored entry's values as the hash covers them; raises TypeError/ValueError for anything that
    is not what Vigil writes (a time that does not parse, a number where text belongs, broken JSON)."""
    event_id, at, actor, action, object_type, object_id, source, details, prev_hash, stored_hash = row
    if isinstance(event_id, bool) or not isinstance(event_id, int):
        raise TypeError(f"its number is {event_id!r}")
    if isinstance(at, str):
        at = datetime.fromisoformat(at)
    if not isinstance(at, datetime):
        raise TypeError(f"its time is {type(at).__name__}")
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at
    if isinstance(details, str | bytes):
        details = json.loads(details)
    if not isinstance(details, dict):
        raise TypeError("its details are not a JSON object")
    return (
        event_id,
        at,
        _text(actor, "actor"),
        _text(action, "action"),
        _text(object_type, "object type"),
        _text(object_id, "object id"),
        _text(source, "source"),
        canonical_details(details),
        _text(prev_hash, "previous hash"),
        _text(stored_hash, "hash"),
    )
