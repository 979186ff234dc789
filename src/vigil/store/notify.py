"""Being woken when the watchlist changes: ``LISTEN`` on PostgreSQL, a plain timer on SQLite.

PostgreSQL's triggers (migration 0006) ``NOTIFY vigil_watchlist`` once per committing transaction; a
:class:`ListenSignal` holds its own autocommit connection listening on that channel and returns from
``wait`` at a notification or after ``timeout`` (the change log is read either way, so a notification
missed while the connection was down costs at most one timeout). SQLite cannot notify another
process: :class:`TimerSignal` just waits.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any, Protocol

from sqlalchemy import Engine
from sqlalchemy.engine import make_url

CHANNEL = "vigil_watchlist"


class ChangeSignal(Protocol):
    def wait(self, timeout: float) -> None:
        """Return at a change notification or after ``timeout`` seconds (sooner after ``close``). Only
        one thread waits on a signal. Raises if the database cannot be reached (the caller backs off and
        calls again)."""

    def close(self) -> None: ...


class TimerSignal:
    def __init__(self) -> None:
        self._closed = threading.Event()

    def wait(self, timeout: float) -> None:
        self._closed.wait(timeout)

    def close(self) -> None:
        self._closed.set()


def libpq_url(engine: Engine) -> str:
    """A plain ``postgresql://`` URL for psycopg from a SQLAlchemy engine's."""
    return make_url(engine.url).set(drivername="postgresql").render_as_string(hide_password=False)


class ListenSignal:
    def __init__(self, engine: Engine, *, channel: str = CHANNEL) -> None:
        self.url = libpq_url(engine)
        self.channel = channel
        self._conn: Any = None
        self._closed = threading.Event()

    def wait(self, timeout: float) -> None:
        import psycopg

        if self._closed.is_set():
            return
        if self._conn is None:  # (re)connect and return: changes made while not listening are read now
            self._conn = psycopg.connect(self.url, autocommit=True, connect_timeout=5)
            self._conn.execute(f"LISTEN {self.channel}")
            return
        try:
            for _ in self._conn.notifies(timeout=timeout, stop_after=1):
                pass
        except Exception:
            self._drop()
            raise
        if self._closed.is_set():  # the connection is only ever touched by the waiting thread
            self._drop()

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):  # already broken
                conn.close()

    def close(self) -> None:
        """Stop listening: the wait in progress ends within its timeout and lets the connection go."""
        self._closed.set()


def change_signal(engine: Engine) -> ChangeSignal:
    """The best wake-up the engine's database offers."""
    return ListenSignal(engine) if engine.dialect.name == "postgresql" else TimerSignal()
