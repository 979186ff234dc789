"""The bus over Redis streams: at-least-once delivery to every subscriber, surviving Redis restarts.

Each topic is a stream (``vigil:<topic>``, capped). Publishing puts the event in an outbox that a
background thread drains with ``XADD``; while Redis is unreachable the outbox keeps the events (up to a
bound) and the thread retries with backoff, so a Redis restart loses nothing the process published.
Each subscription reads with a blocking ``XREAD`` from the last id it saw, so every process sees every
event (fan-out, not a work queue). After a lost connection it reconnects by itself, notices a stream
that was reset (a Redis without persistence restarted), and calls ``on_reconnect`` so the subscriber can
catch up from the database, which stays the system of record.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import redis

from vigil.bus import Event, Handler

log = logging.getLogger(__name__)

PREFIX = "vigil:"
OUTBOX_LIMIT = 100_000


def _id_key(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


class RedisBus:
    def __init__(
        self,
        url: str,
        *,
        maxlen: int = 100_000,
        block_ms: int = 1000,
        retry_cap_s: float = 2.0,
    ) -> None:
        self.url = url
        self.maxlen = maxlen
        self.block_ms = block_ms
        self.retry_cap_s = retry_cap_s
        self._outbox: deque[tuple[str, str]] = deque()
        self._wake = threading.Condition()
        self._stop = threading.Event()
        self._publisher: threading.Thread | None = None
        self._readers: list[threading.Thread] = []
        self._connected = False
        self._last_error_log = 0.0
        self._close_deadline = 0.0
        self.published = 0
        self.dropped = 0
        self.reconnects = 0

    # ------------------------------------------------------------ plumbing
    def _client(self) -> redis.Redis:
        client = redis.Redis.from_url(
            self.url,
            decode_responses=True,
            socket_connect_timeout=2.0,
            socket_timeout=2.0 + self.block_ms / 1000,
            health_check_interval=10,
        )
        client.ping()
        return client

    def _failed(self, what: str, exc: Exception) -> None:
        self._connected = False
        now = time.monotonic()
        if now - self._last_error_log >= 10.0:
            self._last_error_log = now
            log.warning("Redis %s failed (%s); retrying", what, exc)

    @property
    def connected(self) -> bool:
        return self._connected

    def ping(self, timeout_s: float = 2.0) -> None:
        """Ask Redis for PONG on a connection of its own (readiness); raises if it does not answer."""
        client = redis.Redis.from_url(self.url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s)
        try:
            client.ping()
        finally:
            client.close()

    @property
    def pending(self) -> int:
        return len(self._outbox)

    # ------------------------------------------------------------ publishing
    def publish(self, topic: str, event: Event) -> None:
        payload = json.dumps(event, default=str)
        with self._wake:
            if len(self._outbox) >= OUTBOX_LIMIT:
                self._outbox.popleft()
                self.dropped += 1
            self._outbox.append((topic, payload))
            if self._publisher is None:
                self._publisher = threading.Thread(target=self._drain, name="bus-publish", daemon=True)
                self._publisher.start()
            self._wake.notify()

    def _drain(self) -> None:
        client: redis.Redis | None = None
        delay = 0.1
        while True:
            with self._wake:
                while not self._outbox and not self._stop.is_set():
                    self._wake.wait(1.0)
                if not self._outbox:
                    return
                topic, payload = self._outbox[0]
            try:
                if client is None:
                    client = self._client()
                client.xadd(PREFIX + topic, {"event": payload}, maxlen=self.maxlen, approximate=True)
            except (redis.RedisError, OSError) as exc:
                client = None
                self._failed("publish", exc)
                if self._stop.is_set():
                    if time.monotonic() >= self._close_deadline:
                        return
                    time.sleep(min(delay, 0.2))
                else:
                    self._stop.wait(delay)
                delay = min(self.retry_cap_s, delay * 2)
                continue
            with self._wake:
                self._outbox.popleft()
            self.published += 1
            self._connected = True
            delay = 0.1

    # ------------------------------------------------------------ subscribing
    def subscribe(self, topic: str, handler: Handler, *, on_reconnect: Callable[[], object] | None = None) -> None:
        reader = threading.Thread(
            target=self._read, args=(PREFIX + topic, handler, on_reconnect), name=f"bus-read-{topic}", daemon=True
        )
        self._readers.append(reader)
        reader.start()

    def _newest_id(self, client: redis.Redis, stream: str) -> str:
        try:
            info = client.xinfo_stream(stream)
        except redis.ResponseError:  # no such stream yet
            return "0-0"
        return str(info["last-generated-id"])

    def _read(self, stream: str, handler: Handler, on_reconnect: Callable[[], object] | None) -> None:
        client: redis.Redis | None = None
        last_id: str | None = None
        lost = False
        delay = 0.1
        while not self._stop.is_set():
            try:
                if client is None:
                    client = self._client()
                    newest = self._newest_id(client, stream)
                    if last_id is None:
                        last_id = newest  # from now on
                    elif _id_key(newest) < _id_key(last_id):
                        last_id = "0-0"  # the stream was reset (Redis restarted empty): read all of it
                    self._connected = True
                    delay = 0.1
                    if lost:
                        lost = False
                        self.reconnects += 1
                        log.info("Redis connection for %s is back", stream)
                        if on_reconnect is not None:
                            on_reconnect()
                reply: Any = client.xread({stream: last_id or "0-0"}, block=self.block_ms, count=100)
            except (redis.RedisError, OSError) as exc:
                client = None
                lost = True
                self._failed("read", exc)
                self._stop.wait(delay)
                delay = min(self.retry_cap_s, delay * 2)
                continue
            for _name, entries in reply or []:
                for entry_id, fields in entries:
                    last_id = entry_id
                    try:
                        handler(json.loads(fields["event"]))
                    except Exception:
                        log.exception("event handler for %s failed", stream)

    # ------------------------------------------------------------ closing
    def close(self, flush_s: float = 2.0) -> None:
        """Stop reading; give the outbox up to ``flush_s`` to drain."""
        self._close_deadline = time.monotonic() + flush_s
        self._stop.set()
        with self._wake:
            self._wake.notify_all()
        if self._publisher is not None:
            self._publisher.join(flush_s + 1.0)
        for reader in self._readers:
            reader.join(self.block_ms / 1000 + 3.0)
        if self._outbox:
            log.warning("%d events were not published before closing", len(self._outbox))
