"""Keeps a worker's gallery replica in step with the watchlist: a notification plus a versioned change log.

PostgreSQL triggers (migration 0006) write a row to ``watchlist_changes`` — a growing version and the
subject concerned, or none for category rules — whenever a subject, photo or template changes, and
``NOTIFY vigil_watchlist`` once per transaction. This thread ``LISTEN``s on its own connection and, on a
notification or every ``poll_s`` (in case one was missed while the connection was down), applies every
change it has not applied yet, one subject at a time: the gallery is never rebuilt for a change, which
at a hundred thousand templates would take most of a minute.

Versions are handed out when a row is written, not when its transaction commits, so a later version can
become visible before an earlier one. The thread therefore re-reads a window of recent changes (by time,
wider than any watchlist transaction lasts) and skips those it has applied. After a longer outage than
the log keeps it reloads the whole gallery.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from datetime import datetime, timedelta
from typing import Protocol

import psycopg
from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)

CHANNEL = "vigil_watchlist"
WINDOW = timedelta(minutes=2)  # re-read changes this far back: covers transactions committed out of order
KEEP = timedelta(days=1)  # the change log is pruned beyond this
APPLIED_MEMORY = 100_000


class Replica(Protocol):
    def refresh(self, *, force: bool = False) -> bool: ...

    def apply_changes(self, subject_ids: set[str], *, rules: bool = False) -> None: ...


def libpq_url(sqlalchemy_url: str) -> str:
    """A plain ``postgresql://`` URL for psycopg from a SQLAlchemy one."""
    return make_url(sqlalchemy_url).set(drivername="postgresql").render_as_string(hide_password=False)


class WatchlistSync:
    def __init__(self, database_url: str, replica: Replica, *, poll_s: float = 5.0) -> None:
        self.url = libpq_url(database_url)
        self.replica = replica
        self.poll_s = poll_s
        self.applied: OrderedDict[int, None] = OrderedDict()
        self.since: datetime | None = None  # database time of the last check
        self.full_reloads = 0
        self.changes_applied = 0
        self._last_prune = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="watchlist-sync", daemon=True)

    def start(self) -> None:
        """Load the whole gallery now (the worker starts on it), then follow changes in the background."""
        with psycopg.connect(self.url, autocommit=True, connect_timeout=10) as conn:
            self._reload_all(conn)
        self._thread.start()

    def _now(self, conn: psycopg.Connection) -> datetime:  # type: ignore[type-arg]
        row = conn.execute("SELECT now()").fetchone()
        assert row is not None
        return row[0]  # type: ignore[no-any-return]

    def _reload_all(self, conn: psycopg.Connection) -> None:  # type: ignore[type-arg]
        since = self._now(conn)
        self.replica.refresh(force=True)
        self.applied.clear()
        self.since = since - WINDOW  # changes committed meanwhile are applied again: harmless
        self.full_reloads += 1

    def check(self, conn: psycopg.Connection) -> int:  # type: ignore[type-arg]
        """Apply changes not applied yet; returns how many."""
        now = self._now(conn)
        if self.since is None or now - self.since > KEEP - WINDOW:
            self._reload_all(conn)
            return 0
        rows = conn.execute(
            "SELECT version, subject_id FROM watchlist_changes WHERE at >= %s ORDER BY version",
            (self.since - WINDOW,),
        ).fetchall()
        fresh = [(version, subject) for version, subject in rows if version not in self.applied]
        if fresh:
            subjects = {subject for _, subject in fresh if subject is not None}
            rules = any(subject is None for _, subject in fresh)
            self.replica.apply_changes(subjects, rules=rules)
            for version, _ in fresh:
                self.applied[version] = None
            while len(self.applied) > APPLIED_MEMORY:
                self.applied.popitem(last=False)
            self.changes_applied += len(fresh)
            log.info(
                "watchlist: %d changes applied (%d subjects%s)", len(fresh), len(subjects), ", rules" if rules else ""
            )
        self.since = now
        if time.monotonic() - self._last_prune > 3600:
            self._last_prune = time.monotonic()
            conn.execute("DELETE FROM watchlist_changes WHERE at < now() - %s", (KEEP,))
        return len(fresh)

    def _run(self) -> None:
        delay = 0.5
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.url, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self.check(conn)  # changes made while not listening
                    delay = 0.5
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=self.poll_s, stop_after=1):
                            pass
                        self.check(conn)
            except Exception as exc:  # the database went away, or applying failed: try again shortly
                if self._stop.is_set():
                    return
                log.warning("watchlist sync: %s; retrying in %.1f s", exc, delay)
                self._stop.wait(delay)
                delay = min(8.0, delay * 2)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(self.poll_s + 2.0)
