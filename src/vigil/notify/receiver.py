"""A webhook receiver on loopback that records every POST: what ``vigil bench notify`` and the tests
deliver to, and a working example of the receiving side (check each delivery with
``vigil.notify.signing.verify`` and deduplicate on ``Vigil-Event-Id``)."""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: bytes
    at: float  # Unix time of its arrival

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.body)


class WebhookReceiver:
    """Records each POST and answers ``status`` after ``delay_s``. ``stop()`` closes the socket (the
    receiver is down: connections are refused); ``start()`` opens it again on the same port."""

    def __init__(self, *, delay_s: float = 0.0, status: int = 200, port: int | None = None) -> None:
        self.port = port or free_port()
        self.delay_s = delay_s
        self.status = status
        self._received: list[Received] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> WebhookReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                arrived = time.time()
                if receiver.delay_s:
                    time.sleep(receiver.delay_s)
                with receiver._lock:
                    receiver._received.append(Received(dict(self.headers.items()), body, arrived))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def requests(self) -> list[Received]:
        with self._lock:
            return list(self._received)

    def event_ids(self) -> list[str]:
        return [r.json["event_id"] for r in self.requests()]
