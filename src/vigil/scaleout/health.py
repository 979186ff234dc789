"""A worker's health port (``VIGIL_WORKER_HEALTH_PORT``): ``/healthz``, ``/readyz`` and ``/metrics`` over
plain HTTP, answered as ``vigil serve`` answers them, for Kubernetes probes, Prometheus and operators. No
login (``/metrics`` asks for ``VIGIL_METRICS_TOKEN`` when one is set): the answers hold dependency names,
states, error texts, camera names and counts only, nothing about anyone."""

from __future__ import annotations

import hmac
import json
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from vigil.domain.health import HealthChecks

log = logging.getLogger(__name__)


class HealthServer:
    """Serves ``checks`` on ``host:port`` from a daemon thread. ``alive`` returns why the process is not
    alive (its heartbeat stalled), or None; ``metrics`` renders ``/metrics`` (None: no such path), for a
    scraper sending ``metrics_token`` as a bearer token when one is set."""

    def __init__(
        self,
        checks: HealthChecks,
        *,
        host: str,
        port: int,
        alive: Callable[[], str | None] = lambda: None,
        metrics: Callable[[], str] | None = None,
        metrics_token: str | None = None,
    ) -> None:
        self.checks = checks
        self.alive = alive
        self.metrics = metrics
        self.metrics_token = metrics_token
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
                elif path == "/metrics" and server.metrics is not None:
                    token = server.metrics_token
                    header = self.headers.get("Authorization", "")
                    if token is not None and not hmac.compare_digest(header.encode(), f"Bearer {token}".encode()):
                        self._answer(401, {"detail": "the metrics token is needed (Authorization: Bearer …)"})
                        return
                    try:
                        text = server.metrics()
                    except Exception:
                        log.exception("worker metrics could not be rendered")
                        self._answer(500, {"detail": "metrics failed; see the worker's log"})
                        return
                    self._answer(200, text, "text/plain; version=0.0.4; charset=utf-8")
                else:
                    known = "/healthz, /readyz and /metrics" if server.metrics is not None else "/healthz and /readyz"
                    self._answer(404, {"detail": f"not found: {known} only"})

            def _answer(self, code: int, body: dict[str, object] | str, kind: str = "application/json") -> None:
                data = (body if isinstance(body, str) else json.dumps(body)).encode()
                self.send_response(code)
                self.send_header("Content-Type", kind)
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
        log.info(
            "health port: http://%s:%d/healthz, /readyz%s",
            self._httpd.server_address[0],
            self.port,
            " and /metrics" if self.metrics is not None else "",
        )
        return self

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)
