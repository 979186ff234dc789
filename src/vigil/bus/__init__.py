"""The event bus: one small publish/subscribe interface.

In the embedded default events stay in the process (:class:`LocalBus`); scaled out they travel through
Redis streams (:class:`~vigil.bus.redis_bus.RedisBus`), so every web server sees every worker's alerts.
Events are small JSON objects that name rows of the database (the system of record), never faces.
"""

from __future__ import annotations

import logging
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

    def close(self) -> None: ...


class LocalBus:
    """In-process delivery: handlers run in the publisher's thread, in order."""

    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = {}
        self._lock = threading.Lock()

    def publish(self, topic: str, event: Event) -> None:
        with self._lock:
            handlers = list(self._handlers.get(topic, ()))
        for handler in handlers:
            try:
                handler(event)
            except Exception:
                log.exception("event handler for %s failed", topic)

    def subscribe(self, topic: str, handler: Handler, *, on_reconnect: Callable[[], object] | None = None) -> None:
        with self._lock:
            self._handlers.setdefault(topic, []).append(handler)

    @property
    def connected(self) -> bool:
        return True

    @property
    def reconnects(self) -> int:
        return 0

    def close(self) -> None:
        with self._lock:
            self._handlers.clear()


def open_bus(redis_url: str | None) -> Bus:
    """Redis when a URL is configured, else in-process."""
    if redis_url:
        from vigil.bus.redis_bus import RedisBus

        return RedisBus(redis_url)
    return LocalBus()
