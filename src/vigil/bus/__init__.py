"""The event bus: one small publish/subscribe interface.

In the embedded default events stay in the process (:class:`LocalBus`); scaled out they travel through
Redis streams (:class:`~vigil.bus.redis_bus.RedisBus`), so every web server sees every worker's alerts.
Events are small JSON objects that name rows of the database (the system of record), never faces.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any, Protocol

log = logging.getLogger(__name__)

Event = dict[str, Any]
Handler = Callable[[Event], None]


class Bus(Protocol):
    def publish(self, topic: str, event: Event) -> None:
        """Send ``event`` to every subscriber of ``topic``; never blocks on the network."""
        ...

    def subscribe(self, topic: str, handler: Handler, *, on_reconnect: Callable[[], object] | None = None) -> None:
        """Call ``handler(event)`` for each event published on ``topic`` from now on. ``on_reconnect`` is
        called after the connection came back, when events may have been missed (catch up from the
        database then)."""
        ...

    @property
    def connected(self) -> bool: ...

    @property
    def reconnects(self) -> int:
        """Times the connection came back after a loss."""
        ...

    def ping(self) -> None:
        """Raise if the broker cannot be reached now (readiness); in-process: never."""
        ...

    def close(self) -> None: ...


class LocalBus:
    """In-process delivery, in publication order, on the bus's own thread: a publisher (a camera's
    analysis thread, a request handler) never runs a subscriber's work (the web feed's queries and
    serialisation)."""

    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = {}
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[tuple[str, Event] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._pending = 0
        self._idle = threading.Condition()
        self._closed = False

    def publish(self, topic: str, event: Event) -> None:
        with self._lock:
            if self._closed:
                return
            if self._thread is None:
                self._thread = threading.Thread(target=self._dispatch, name="local-bus", daemon=True)
                self._thread.start()
        with self._idle:
            self._pending += 1
        self._queue.put((topic, event))

    def _dispatch(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            topic, event = item
            with self._lock:
                handlers = list(self._handlers.get(topic, ()))
            for handler in handlers:
                try:
                    handler(event)
                except Exception:
                    log.exception("event handler for %s failed", topic)
            with self._idle:
                self._pending -= 1
                if self._pending == 0:
                    self._idle.notify_all()

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every event published so far has been handled; False after ``timeout``."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def subscribe(self, topic: str, handler: Handler, *, on_reconnect: Callable[[], object] | None = None) -> None:
        with self._lock:
            self._handlers.setdefault(topic, []).append(handler)

    @property
    def connected(self) -> bool:
        return True

    @property
    def reconnects(self) -> int:
        return 0

    def ping(self) -> None:
        return None

    def close(self) -> None:
        self.flush(2.0)
        with self._lock:
            self._closed = True
            thread, self._thread = self._thread, None
            self._handlers.clear()
        if thread is not None:
            self._queue.put(None)
            thread.join(2.0)


def open_bus(redis_url: str | None) -> Bus:
    """Redis when a URL is configured, else in-process."""
    if redis_url:
        from vigil.bus.redis_bus import RedisBus

        return RedisBus(redis_url)
    return LocalBus()
