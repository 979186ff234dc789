"""Live push: every connected browser gets every event, in order, from any thread."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from typing import Any

log = logging.getLogger(__name__)

QUEUE_LIMIT = 1000  # a client this far behind is disconnected rather than buffered without bound


class PushHub:
    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._clients: set[asyncio.Queue[str | None]] = set()
        self._lock = threading.Lock()
        self.published = 0

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    @property
    def clients(self) -> int:
        return len(self._clients)

    def subscribe(self) -> asyncio.Queue[str | None]:
        queue: asyncio.Queue[str | None] = asyncio.Queue(QUEUE_LIMIT)
        with self._lock:
            self._clients.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[str | None]) -> None:
        with self._lock:
            self._clients.discard(queue)

    def publish(self, event: dict[str, Any]) -> None:
        """Thread-safe: hand ``event`` to every client (from a camera thread, say)."""
        if self._loop is None or self._loop.is_closed():
            return
        message = json.dumps(event, default=str)
        self._loop.call_soon_threadsafe(self._fan_out, message)

    def _fan_out(self, message: str) -> None:
        self.published += 1
        with self._lock:
            clients = list(self._clients)
        for queue in clients:
            try:
                queue.put_nowait(message)
            except asyncio.QueueFull:
                log.warning("a live client fell %d events behind and was disconnected", QUEUE_LIMIT)
                self.unsubscribe(queue)
                queue._queue.clear()  # type: ignore[attr-defined]
                queue.put_nowait(None)
