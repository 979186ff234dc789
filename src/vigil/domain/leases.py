"""Camera leases (scale-out): which worker runs which camera, kept in PostgreSQL.

A worker holds a camera while its lease is valid: ``lease_until`` is database time, so the clocks of the
worker machines never matter. Every heartbeat a worker renews its leases, claims free or expired ones up
to its fair share with ``SELECT ... FOR UPDATE SKIP LOCKED`` (two workers never claim the same row), and
hands back any surplus when more workers have joined. A dead worker stops renewing; its leases expire
after ``lease_s`` and the next heartbeat of a live worker claims them. Each claim increases the lease's
``token``, so a worker that lost a camera can tell.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import bindparam, func, select, text

from vigil.errors import ConfigurationError
from vigil.store.db import Database
from vigil.store.models import CameraLease, WorkerRegistration
from vigil.video.camera import CameraHealth


@dataclass(frozen=True)
class Assignment:
    """Where a camera runs and how it was doing at its worker's last heartbeat."""

    camera: str
    worker_id: str | None
    lease_until: datetime | None
    token: int
    state: str | None
    analysed_fps: float | None
    dropped_frames: int | None
    last_frame_at: datetime | None
    detection: dict[str, int] | None = None  # the detection scheduler's counts, as the worker reported them


def assignments(db: Database) -> dict[str, Assignment]:
    """Every camera's lease (empty in the embedded mode, where no worker holds leases)."""
    with db.session() as session:
        rows = session.scalars(select(CameraLease)).all()
        return {
            r.camera: Assignment(
                r.camera,
                r.worker_id,
                r.lease_until,
                r.token,
                r.state,
                r.analysed_fps,
                r.dropped_frames,
                r.last_frame_at,
                json.loads(r.detection) if r.detection else None,
            )
            for r in rows
        }


def live_workers(db: Database, within_s: float) -> int:
    """Workers heard from within ``within_s`` (none in the embedded mode)."""
    since = datetime.now(UTC) - timedelta(seconds=within_s)
    query = select(func.count()).select_from(WorkerRegistration).where(WorkerRegistration.heartbeat_at > since)
    with db.session() as session:
        return int(session.scalar(query) or 0)


def worker_counts(db: Database, lease_s: float) -> tuple[int, int]:
    """(live, lost): workers heard from within a lease, and workers that stopped without handing their
    cameras back (silent for longer, not yet forgotten: a worker's row goes an hour after its last word,
    or at once on a clean exit). Both zero in the embedded mode."""
    since = datetime.now(UTC) - timedelta(seconds=lease_s)
    with db.session() as session:
        live = session.scalar(
            select(func.count()).select_from(WorkerRegistration).where(WorkerRegistration.heartbeat_at > since)
        )
        total = session.scalar(select(func.count()).select_from(WorkerRegistration))
    return int(live or 0), int(total or 0) - int(live or 0)


_INTERVAL = "make_interval(secs => :lease_s)"
_FREED = "worker_id = NULL, lease_until = NULL, state = NULL, analysed_fps = NULL"  # a lease nobody holds


class LeaseBook:
    """One worker's view of the leases; every method is one short transaction."""

    def __init__(self, db: Database, worker_id: str, *, lease_s: float, max_cameras: int) -> None:
        if db.engine.dialect.name != "postgresql":
            raise ConfigurationError(
                "workers share cameras through PostgreSQL: set VIGIL_DATABASE_URL to a postgresql:// URL"
            )
        self.db = db
        self.worker_id = worker_id
        self.lease_s = lease_s
        self.max_cameras = max_cameras

    def _params(self, **extra: object) -> dict[str, object]:
        return {"me": self.worker_id, "lease_s": self.lease_s, **extra}

    def register(self, host: str, pid: int) -> None:
        """Announce this worker (and forget workers silent for an hour)."""
        with self.db.session() as session:
            session.execute(
                text(
                    "INSERT INTO workers (id, host, pid, started_at, heartbeat_at) "
                    "VALUES (:me, :host, :pid, now(), now()) "
                    "ON CONFLICT (id) DO UPDATE SET host = :host, pid = :pid, heartbeat_at = now()"
                ),
                self._params(host=host, pid=pid),
            )
            session.execute(text("DELETE FROM workers WHERE heartbeat_at < now() - interval '1 hour'"))

    def renew(self) -> dict[str, int]:
        """Extend every lease this worker holds; returns them (camera → token). A camera missing from
        the answer is no longer this worker's (removed from the registry, or taken after expiry)."""
        with self.db.session() as session:
            session.execute(text("UPDATE workers SET heartbeat_at = now() WHERE id = :me"), self._params())
            rows = session.execute(
                text(
                    f"UPDATE camera_leases SET lease_until = now() + {_INTERVAL} "
                    "WHERE worker_id = :me RETURNING camera, token"
                ),
                self._params(),
            ).all()
        return {camera: token for camera, token in rows}

    def fair_share(self) -> int:
        """How many cameras each live worker should run: all cameras over the workers heard from
        within a lease period (capped by this worker's limit)."""
        with self.db.session() as session:
            cameras, workers = session.execute(
                text(
                    "SELECT (SELECT count(*) FROM cameras), "
                    f"(SELECT count(*) FROM workers WHERE heartbeat_at > now() - {_INTERVAL})"
                ),
                self._params(),
            ).one()
        return min(self.max_cameras, math.ceil(cameras / max(1, workers)))

    def claim(self, n: int) -> dict[str, int]:
        """Take up to ``n`` cameras that nobody holds or whose lease expired; returns camera → token."""
        if n <= 0:
            return {}
        with self.db.session() as session:
            session.execute(
                text(
                    "INSERT INTO camera_leases (camera, token) SELECT name, 0 FROM cameras "
                    "ON CONFLICT (camera) DO NOTHING"
                )
            )
            rows = session.execute(
                text(
                    "WITH free AS ("
                    "  SELECT camera FROM camera_leases"
                    "  WHERE worker_id IS NULL OR lease_until IS NULL OR lease_until < now()"
                    "  ORDER BY lease_until NULLS FIRST, camera LIMIT :n FOR UPDATE SKIP LOCKED) "
                    f"UPDATE camera_leases AS l SET worker_id = :me, lease_until = now() + {_INTERVAL}, "
                    "  token = l.token + 1, state = NULL, analysed_fps = NULL "
                    "FROM free WHERE l.camera = free.camera RETURNING l.camera, l.token"
                ),
                self._params(n=n),
            ).all()
        return {camera: token for camera, token in rows}

    def release(self, cameras: list[str]) -> None:
        """Hand cameras back (after this worker stopped them) so another worker can claim them at once."""
        if not cameras:
            return
        with self.db.session() as session:
            session.execute(
                text(f"UPDATE camera_leases SET {_FREED} WHERE worker_id = :me AND camera IN :cameras").bindparams(
                    bindparam("cameras", expanding=True)
                ),
                self._params(cameras=list(cameras)),
            )

    def report(self, health: list[CameraHealth], detection: dict[str, dict[str, int]] | None = None) -> None:
        """Record each held camera's state (and the detection scheduler's counts) for the control room."""
        if not health:
            return
        counts = detection or {}
        with self.db.session() as session:
            session.execute(
                text(
                    "UPDATE camera_leases SET state = :state, analysed_fps = :fps, dropped_frames = :dropped, "
                    "last_frame_at = :last, detection = :detection WHERE camera = :camera AND worker_id = :me"
                ),
                [
                    self._params(
                        camera=h.camera,
                        state=h.state.value,
                        fps=round(h.analysed_fps, 3),
                        dropped=h.dropped_frames,
                        last=datetime.fromtimestamp(h.last_frame_at, UTC) if h.last_frame_at else None,
                        detection=json.dumps(counts[h.camera]) if h.camera in counts else None,
                    )
                    for h in health
                ],
            )

    def retire(self) -> None:
        """A clean exit: hand back every camera and leave the list of workers."""
        with self.db.session() as session:
            session.execute(
                text(f"UPDATE camera_leases SET {_FREED} WHERE worker_id = :me"),
                self._params(),
            )
            session.execute(text("DELETE FROM workers WHERE id = :me"), self._params())
