"""Keeps a worker's gallery replica in step with the watchlist: a notification plus a versioned reload.

PostgreSQL triggers raise ``watchlist_version.version`` on every change to subjects, photos, templates
or category rules, and ``NOTIFY vigil_watchlist`` with the new number (migration 0006). This thread
``LISTEN``s on its own connection and, on a notification — or every ``poll_s`` in case one was missed
while the connection was down — reads the version and reloads the gallery when it grew.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import psycopg
from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)

CHANNEL = "vigil_watchlist"


def libpq_url(sqlalchemy_url: str) -> str:
    """A plain ``postgresql://`` URL for psycopg from a SQLAlchemy one."""
    return make_url(sqlalchemy_url).set(drivername="postgresql").render_as_string(hide_password=False)


class WatchlistSync:
    def __init__(self, database_url: str, reload: Callable[[], object], *, poll_s: float = 5.0) -> None:
        self.url = libpq_url(database_url)
        self.reload = reload
        self.poll_s = poll_s
        self.version = -1
        self.reloads = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="watchlist-sync", daemon=True)

    def start(self, version: int) -> None:
        """Start listening; ``version`` is the one the current gallery was loaded at."""
        self.version = version
        self._thread.start()

    @staticmethod
    def current_version(conn: psycopg.Connection) -> int:  # type: ignore[type-arg]
        row = conn.execute("SELECT version FROM watchlist_version WHERE id = 1").fetchone()
        return int(row[0]) if row else 0

    def _check(self, conn: psycopg.Connection) -> None:  # type: ignore[type-arg]
        version = self.current_version(conn)
        if version > self.version:
            self.reload()
            self.reloads += 1
            log.info("watchlist version %d → %d: gallery reloaded", self.version, version)
            self.version = version

    def _run(self) -> None:
        delay = 0.5
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.url, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self._check(conn)  # changes made while not listening
                    delay = 0.5
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=self.poll_s, stop_after=1):
                            pass
                        self._check(conn)
            except Exception as exc:  # the database went away, or the reload failed: try again shortly
                if self._stop.is_set():
                    return
                log.warning("watchlist sync: %s; retrying in %.1f s", exc, delay)
                self._stop.wait(delay)
                delay = min(8.0, delay * 2)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(self.poll_s + 2.0)
