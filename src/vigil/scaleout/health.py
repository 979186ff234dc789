"""A worker's health port (``VIGIL_HEALTH_PORT``): ``/healthz`` and ``/readyz`` over plain HTTP, answered
as ``vigil serve`` answers them, for Kubernetes probes and operators. No login: the answers hold
dependency names, states and error texts only, nothing about anyone."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from vigil.domain.health import HealthChecks

log = logging.getLogger(__name__)


class HealthServer:
    """Serves ``checks`` on ``host:port`` from a daemon thread. ``alive`` returns why the process is not
    alive (its heartbeat stalled), or None."""

    def __init__(
        self, checks: HealthChecks, *, host: str, port: int, alive: Callable[[], str | None] = lambda: None
    ) -> None:
        self.checks = checks
        self.alive = alive
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/healthz":
                    problem = server.alive()
                    body: dict[str, object] = (
                        {"status": "ok"} if problem is None else {"status": "stalled", "detail": problem}
                    )
                    self._answer(200 if problem is None else 503, body)
                elif path == "/readyz":
                    readiness = server.checks.ready()
                    self._answer(200 if readiness.ready else 503, readiness.as_json())
                else:
                    self._answer(404, {"detail": "not found: /healthz and /readyz only"})

            def _answer(self, code: int, body: dict[str, object]) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:  # probes every few seconds: not logged
                return

        self._httpd = ThreadingHTTPServer((host, port), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="health-port", daemon=True)

    def start(self) -> HealthServer:
        self._thread.start()
        log.info("health port: http://%s:%d/healthz and /readyz", self._httpd.server_address[0], self.port)
        return self

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)
