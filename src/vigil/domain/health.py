"""Liveness and readiness, for an operator and for Kubernetes probes (``/healthz``, ``/readyz``).

Liveness says the process answers. Readiness asks each dependency, each with a time limit: the
database (``SELECT 1``), its schema (at this Vigil's last migration, or at a newer one during a rolling
upgrade), the face model (the one this process loaded is the active one, file checksum included),
Redis when the process is scaled out (``PING``), and the media folder when media are files (free space,
and whether the last crop could be written). The database, schema, model and Redis are **required**:
any failing makes the process not ready (HTTP 503). The media folder is **degraded**
only: alerts are still stored (their crops marked missing), and a control room that can show them must
not be taken out of its load balancer — every replica shares the disk and would be pulled at once.

The answers carry dependency names, states and error texts (credentials scrubbed): no personal data.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import text

from vigil.redaction import redact_text
from vigil.store.db import Database, current_revision, migration_revisions

log = logging.getLogger(__name__)

MEDIA_MIN_FREE_BYTES = 64 * 1024 * 1024  # below this the media disk is reported nearly full


class Pingable(Protocol):
    def ping(self) -> None:
        """Raise if the broker cannot be reached now."""
        ...


@dataclass(frozen=True)
class Check:
    """One dependency's answer: ``ok``, whether it is required for readiness, and why not."""

    name: str
    ok: bool
    required: bool = True
    detail: str = "ok"
    elapsed_ms: float = 0.0

    def as_json(self) -> dict[str, object]:
        return {"ok": self.ok, "required": self.required, "detail": self.detail, "ms": round(self.elapsed_ms, 1)}


@dataclass(frozen=True)
class Readiness:
    checks: tuple[Check, ...]
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        return all(c.ok for c in self.checks if c.required)

    @property
    def status(self) -> str:
        if not self.ready:
            return "unavailable"
        return "ok" if all(c.ok for c in self.checks) else "degraded"

    @property
    def failed(self) -> list[str]:
        return [c.name for c in self.checks if not c.ok]

    def as_json(self) -> dict[str, object]:
        return {
            "status": self.status,
            "failed": self.failed,
            "checks": {c.name: c.as_json() for c in self.checks},
            **self.extra,
        }


class MediaWrites:
    """Whether the last crop written to the media folder got there (kept by the alert recorder)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.failures = 0
        self.last_error: str | None = None  # the error of the latest write, None once one succeeded since

    def failed(self, exc: BaseException) -> None:
        with self._lock:
            self.failures += 1
            self.last_error = f"{type(exc).__name__}: {exc}"

    def succeeded(self) -> None:
        with self._lock:
            self.last_error = None


def _why(exc: BaseException, secrets: tuple[str, ...]) -> str:
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    for secret in secrets:
        if secret:
            message = message.replace(secret, redact_text(secret))
    return redact_text(f"{type(exc).__name__}: {message}"[:300])


class HealthChecks:
    """Asks a process's dependencies whether they answer (see the module's docstring)."""

    def __init__(
        self,
        db: Database,
        *,
        bus: Pingable | None = None,
        media_folder: Path | None = None,
        media_writes: MediaWrites | None = None,
        queued: Callable[[], int] | None = None,
        model: Callable[[], str | None] | None = None,
        model_name: str | Callable[[], str] = "",
        schema: bool = True,
        timeout_s: float = 3.0,
        media_min_free_bytes: int = MEDIA_MIN_FREE_BYTES,
        secrets: tuple[str, ...] = (),
    ) -> None:
        self.db = db
        self.bus = bus  # None: not scaled out, no Redis to ask
        self.media_folder = media_folder  # None: media in the database
        self.media_writes = media_writes
        self.queued = queued  # alerts waiting on disk for the database
        self.model = model  # why the loaded model is not the active one, or None (None: no model to check)
        self.model_name = model_name  # what this process runs, as the answer names it (asked each time: a live switch)
        self.schema = schema  # whether the database's migration is checked
        self._known: list[str] | None = None  # this Vigil's migrations, oldest first
        self.timeout_s = timeout_s
        self.media_min_free_bytes = media_min_free_bytes
        self.secrets = secrets
        self._last_failed = ""
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="health")

    # ------------------------------------------------------------ the checks
    def _timed(self, name: str, probe: Callable[[], str | None], *, required: bool = True) -> Check:
        """``probe`` returns None when all is well, a text starting with ``ok:`` when all is well but worth
        saying, else the problem."""
        started = time.monotonic()
        future = self._pool.submit(probe)
        try:
            problem = future.result(timeout=self.timeout_s)
        except FutureTimeout:
            problem = f"no answer within {self.timeout_s:g} s"
        except Exception as exc:
            problem = _why(exc, self.secrets)
        elapsed = (time.monotonic() - started) * 1000
        ok = problem is None or problem.startswith("ok:")
        return Check(name, ok, required, problem or "ok", elapsed)

    def _database(self) -> str | None:
        with self.db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return None

    def _schema(self) -> str | None:
        """At this Vigil's last migration; at a newer one is fine (an additive migration of a rolling
        upgrade, docs/operations.md); at an older one or none, not ready."""
        if self._known is None:
            self._known = migration_revisions()
        with self.db.engine.connect() as connection:
            current = current_revision(connection)
        head = self._known[-1]
        if current == head:
            return f"ok: at migration {head}"
        if current is None:
            return "the database has no Vigil schema"
        if current not in self._known:
            return f"ok: at migration {current}, newer than this Vigil knows ({head}): a rolling upgrade"
        return f"the database is at migration {current}, not at this Vigil's {head}: migrate it (any vigil command)"

    def _model(self) -> str | None:
        assert self.model is not None
        refusal = self.model()
        name = self.model_name() if callable(self.model_name) else self.model_name
        return refusal if refusal is not None else f"ok: {name}" if name else None

    def _redis(self) -> str | None:
        assert self.bus is not None
        self.bus.ping()
        return None

    def _media(self) -> str | None:
        """Every problem with the media folder and its crops folder (a disk of its own, perhaps)."""
        root = self.media_folder
        assert root is not None
        problems = []
        for folder in (root, root / "crops"):
            probe = folder
            while not probe.exists() and probe != probe.parent:  # not made yet: ask the disk it will be on
                probe = probe.parent
            if not os.access(probe, os.W_OK | os.X_OK):
                problems.append(f"{folder} is not writable")
                continue
            stat = os.statvfs(probe)
            free = stat.f_bavail * stat.f_frsize
            if free < self.media_min_free_bytes:
                problems.append(
                    f"the media disk is nearly full: {free} bytes free at {folder} (want {self.media_min_free_bytes})"
                )
        writes = self.media_writes
        if writes is not None and writes.last_error is not None:
            problems.append(f"the last crop could not be written ({writes.last_error}); alerts are stored without it")
        return "; ".join(dict.fromkeys(problems)) or None

    # ------------------------------------------------------------ answers
    def ready(self) -> Readiness:
        checks = [self._timed("database", self._database)]
        if checks[0].ok:  # both read the database: when it does not answer, that is the one problem
            if self.schema:
                checks.append(self._timed("schema", self._schema))
            if self.model is not None:
                checks.append(self._timed("model", self._model))
        if self.bus is not None:
            checks.append(self._timed("redis", self._redis))
        if self.media_folder is not None:
            checks.append(self._timed("media", self._media, required=False))
        extra: dict[str, Any] = {}
        if self.queued is not None:
            try:
                extra["queued_alerts"] = self.queued()
            except OSError as exc:
                extra["queued_alerts"] = None
                log.warning("could not count the queued alerts: %s", exc)
        if self.media_writes is not None:
            extra["crops_not_written"] = self.media_writes.failures
        readiness = Readiness(tuple(checks), extra)
        failed = "; ".join(f"{c.name}: {c.detail}" for c in checks if not c.ok)
        if failed != self._last_failed:  # logged when it changes, not at every probe
            if failed:
                log.warning("readiness: %s", failed)
            else:
                log.info("readiness: every dependency answers again")
            self._last_failed = failed
        return readiness

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
