"""The gallery replica: this process's in-memory copy of every matchable template, kept in step with the
watchlist through one change feed, whoever made the change.

Triggers on both databases (migrations 0006 and 0010) write a row to ``watchlist_changes`` — a growing
version and the subject concerned, or none for a category rule — whenever a subject, photo or template
changes. :meth:`GalleryReplica.catch_up` reads the rows it has not applied and brings each named subject
in line with the database, one subject at a time: the gallery is never rebuilt for a change (at a
hundred thousand templates a rebuild takes most of a minute). It is called

* after each of this process's own watchlist writes (so an enrollment matches at once), and
* by the follower thread (:meth:`follow`) when PostgreSQL notifies or, on SQLite, every ``poll_s``.

The whole gallery is loaded only at start and after a gap longer than the log keeps (or when a change
touches so many subjects that loading is cheaper). PostgreSQL hands out versions when a row is written,
not when its transaction commits, so a later version can become visible before an earlier one: each
read re-reads a window of recent changes (by time, wider than any watchlist transaction lasts) and skips
those already applied.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import delete, func, select

from vigil.clock import Clock, system_clock
from vigil.domain.vocabulary import SubjectStatus
from vigil.recognition.gallery import Candidate, Gallery
from vigil.store.db import Database
from vigil.store.models import Photo, PhotoEmbedding, Subject, WatchlistChange
from vigil.store.notify import ChangeSignal, change_signal

log = logging.getLogger(__name__)

WINDOW = timedelta(minutes=2)  # re-read changes this far back: covers transactions committed out of order
KEEP = timedelta(days=1)  # the change log is pruned beyond this; a longer gap means a full load
APPLIED_MEMORY = 100_000  # versions remembered as applied (more than a window ever holds)
PRUNE_EVERY_S = 3600.0


@dataclass(frozen=True)
class ReplicaChange:
    """What one catch-up changed: these subjects, the category rules, or (``reloaded``) everything."""

    subjects: frozenset[str]
    rules: bool = False
    reloaded: bool = False


ChangeListener = Callable[[ReplicaChange], None]


class GalleryReplica:
    """Thread-safe. Searches run on the gallery as it is; a full load swaps in a new one in one step."""

    def __init__(
        self,
        db: Database,
        *,
        model: str,
        version: str,
        dim: int,
        clock: Clock = system_clock,
        poll_s: float = 1.0,
        signal: Callable[[], ChangeSignal] | None = None,
    ) -> None:
        self.db = db
        self.model = model
        self.version = version
        self.dim = dim
        self.clock = clock  # decides who is matchable (expiry); the log's window runs on the database's time
        self.poll_s = poll_s
        self._signal_factory = signal or (lambda: change_signal(db.engine))
        self._gallery: Gallery | None = None
        self._applied: OrderedDict[int, None] = OrderedDict()
        self._since: datetime | None = None  # database time of the last read of the log
        self._lock = threading.RLock()
        self._listeners: list[ChangeListener] = []
        self._last_prune = -float("inf")
        self._follower: threading.Thread | None = None
        self._signal: ChangeSignal | None = None
        self._stop = threading.Event()
        self.full_loads = 0
        self.changes_applied = 0
        self.applied_version = 0  # the newest change of the log this gallery reflects (/metrics)

    # ------------------------------------------------------------ reading
    @property
    def gallery(self) -> Gallery:
        gallery = self._gallery
        if gallery is None:
            self.load()
            gallery = self._gallery
        assert gallery is not None
        return gallery

    @property
    def subjects(self) -> int:
        return self.gallery.subjects

    def search(
        self, vectors: np.ndarray, k: int, *, at: float, admit: Callable[[str], bool] | None = None
    ) -> list[list[Candidate]]:
        return self.gallery.search(vectors, k, at=at, admit=admit)

    def subject_scores(self, vectors: np.ndarray, subject_ids: list[str]) -> np.ndarray:
        return self.gallery.subject_scores(vectors, subject_ids)

    def subscribe(self, listener: ChangeListener) -> None:
        """Call ``listener`` after each catch-up that changed something (on the thread that caught up)."""
        self._listeners.append(listener)

    # ------------------------------------------------------------ keeping in step
    def load(self) -> None:
        """Build the whole gallery from the database (at start, or after a gap longer than the log)."""
        with self._lock:
            since = self._database_now()
            with self.db.session() as session:
                newest = session.scalar(select(func.max(WatchlistChange.version)))
            gallery = self._new_gallery(self._matchable_templates())
            self._gallery = gallery
            self._applied.clear()
            self._since = since - WINDOW  # changes committed during the load are applied again: harmless
            self.full_loads += 1
            self.applied_version = max(self.applied_version, int(newest or 0))
        self._tell(ReplicaChange(frozenset(), rules=True, reloaded=True))

    def switch_model(
        self, model: str, version: str, dim: int, *, hold: AbstractContextManager[object], apply: Callable[[], None]
    ) -> None:
        """Follow another embedder's templates: the new gallery is built while searches go on in the old
        one, then installed together with ``apply`` (the caller's swap of the embedder) inside ``hold``
        (no frame is analysed meanwhile), so a face is never searched among another model's templates."""
        with self._lock:
            old = (self.model, self.version, self.dim)
            since = self._database_now()
            self.model, self.version, self.dim = model, version, dim
            try:
                gallery = self._new_gallery(self._matchable_templates())
            except BaseException:
                self.model, self.version, self.dim = old
                raise
            with hold:
                self._gallery = gallery
                apply()
                self._tell(ReplicaChange(frozenset(), rules=True, reloaded=True))  # rules follow the new curves
            self._applied.clear()
            self._since = since - WINDOW
            self.full_loads += 1

    def catch_up(self) -> int:
        """Apply every logged change not applied yet; returns how many log rows were applied. Nothing to
        do before the gallery is first loaded (e.g. a one-shot command that never searches)."""
        with self._lock:
            if self._gallery is None:
                return 0
            now = self._database_now()
            assert self._since is not None
            if now - self._since > KEEP - WINDOW:
                log.info("watchlist: the change log no longer covers the gap; loading the whole gallery")
                self.load()
                return 0
            with self.db.session() as session:
                rows = session.execute(
                    select(WatchlistChange.version, WatchlistChange.subject_id)
                    .where(WatchlistChange.at >= self._since - WINDOW)
                    .order_by(WatchlistChange.version)
                ).all()
            fresh = [(v, s) for v, s in rows if v not in self._applied]
            self._since = now
            if not fresh:
                return 0
            subjects = frozenset(s for _, s in fresh if s is not None)
            rules = any(s is None for _, s in fresh)
            if len(subjects) > max(1000, self._gallery.subjects // 4):  # e.g. re-embedding everyone
                self.load()
            else:
                for subject_id in sorted(subjects):
                    self._refresh_subject(self._gallery, subject_id)
            for version, _ in fresh:
                self._applied[version] = None
            while len(self._applied) > APPLIED_MEMORY:
                self._applied.popitem(last=False)
            self.changes_applied += len(fresh)
            self.applied_version = max(self.applied_version, max(v for v, _ in fresh))
        log.info("watchlist: %d changes applied (%d subjects%s)", len(fresh), len(subjects), ", rules" if rules else "")
        self._tell(ReplicaChange(subjects, rules=rules))
        return len(fresh)

    def follow(self) -> None:
        """Catch up in the background from now on: at each notification (PostgreSQL) or every ``poll_s``."""
        if self._follower is not None:
            return
        self.gallery  # noqa: B018 — loaded before the follower starts, so searches never wait on it
        self._stop.clear()
        self._signal = self._signal_factory()
        self._follower = threading.Thread(target=self._follow, name="gallery-replica", daemon=True)
        self._follower.start()

    def close(self) -> None:
        """Stop following (the gallery stays usable as it is)."""
        follower, self._follower = self._follower, None
        if follower is None:
            return
        self._stop.set()
        assert self._signal is not None
        self._signal.close()
        follower.join(self.poll_s + 5.0)

    def _follow(self) -> None:
        signal = self._signal
        assert signal is not None
        delay = 0.5
        while not self._stop.is_set():
            try:
                signal.wait(self.poll_s)
                if self._stop.is_set():
                    break
                self.catch_up()
                self._prune()
                delay = 0.5
            except Exception as exc:  # the database went away, or applying failed: try again shortly
                log.warning("watchlist replica: %s; retrying in %.1f s", exc, delay)
                self._stop.wait(delay)
                delay = min(8.0, delay * 2)

    def _prune(self) -> None:
        if time.monotonic() - self._last_prune < PRUNE_EVERY_S:
            return
        self._last_prune = time.monotonic()
        with self.db.session() as session:
            session.execute(delete(WatchlistChange).where(WatchlistChange.at < self._database_now() - KEEP))

    def _tell(self, change: ReplicaChange) -> None:
        for listener in list(self._listeners):
            try:
                listener(change)
            except Exception:
                log.exception("a watchlist change listener failed")

    # ------------------------------------------------------------ the database
    def _database_now(self) -> datetime:
        """The clock the log's ``at`` is written by: PostgreSQL's (every process shares it) or, on SQLite,
        this machine's (a SQLite file is only ever shared by processes on one machine)."""
        if self.db.engine.dialect.name != "postgresql":
            return datetime.now(UTC)
        with self.db.session() as session:
            now = session.scalar(select(func.now()))
        assert now is not None
        return now if now.tzinfo else now.replace(tzinfo=UTC)

    def _matchable_templates(self, subject_id: str | None = None) -> list[Any]:
        """(subject id, expiry, vector bytes, dim) of every template of this embedder version whose subject
        matches now — all subjects, or just ``subject_id``."""
        query = (
            select(Subject.id, Subject.expires_at, PhotoEmbedding.vector, PhotoEmbedding.dim)
            .join(Photo, Photo.subject_id == Subject.id)
            .join(PhotoEmbedding, PhotoEmbedding.photo_id == Photo.id)
            .where(Subject.status == SubjectStatus.ACTIVE, Subject.expires_at > self.clock())
            .where(PhotoEmbedding.model == self.model, PhotoEmbedding.version == self.version)
            .order_by(Subject.id)
        )
        if subject_id is not None:
            query = query.where(Subject.id == subject_id)
        with self.db.session() as session:
            return list(session.execute(query).all())

    def _new_gallery(self, rows: list[Any]) -> Gallery:
        gallery = Gallery(int(rows[0][3]) if rows else self.dim)
        _add_templates(gallery, rows)
        return gallery

    def _refresh_subject(self, gallery: Gallery, subject_id: str) -> None:
        rows = self._matchable_templates(subject_id)
        vectors = np.stack([np.frombuffer(row[2], np.float32) for row in rows]) if rows else np.zeros((0, gallery.dim))
        gallery.replace(subject_id, vectors, rows[0][1].timestamp() if rows else 0.0)


def _add_templates(gallery: Gallery, rows: list[Any]) -> None:
    if rows:
        gallery.add_many(
            [row[0] for row in rows],
            np.stack([np.frombuffer(row[2], np.float32) for row in rows]),
            np.array([row[1].timestamp() for row in rows]),
        )
