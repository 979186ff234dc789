"""Licensed face models in service (issue 26): which embedders were added (file, SHA-256, licence,
provenance, calibration), which one every process must run, and the audited switch between them.

The measurement itself (``vigil.eval.curves``) and the re-embedding (``WatchlistService.reembed``) are
run by the caller; this service records what they produced and refuses what breaks a rule.
"""

from __future__ import annotations

import logging
import re
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import delete, select

from vigil.clock import Clock, system_clock
from vigil.domain.audit import Actor, AuditLog
from vigil.domain.telemetry import model_lines
from vigil.domain.vocabulary import AuditAction
from vigil.errors import ModelMismatchError, ModelRegistryError
from vigil.settings import VigilSettings
from vigil.store.db import Database
from vigil.store.media import MediaStore
from vigil.store.models import ActiveModel, AuditEvent, Calibration, FaceModel, PhotoEmbedding
from vigil.vision.catalogue import ONNX_PREFIX, is_catalogued
from vigil.vision.embedders.base import Embedder
from vigil.vision.onnx_utils import file_sha256

log = logging.getLogger(__name__)

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,47}$")
ACTIVE_ROW = 1


@dataclass(frozen=True)
class AddedModel:
    name: str
    file_name: str
    sha256: str
    version: str
    licence: str
    source: str
    input_size: int
    dim: int
    added_at: datetime
    added_by: str
    calibration_id: int | None
    calibrated_on: str
    calibrated_at: datetime | None


@dataclass(frozen=True)
class ActiveEmbedder:
    name: str
    version: str
    sha256: str  # empty for a bundled model (its weights ship in a package, checked by its version)
    since: datetime
    by: str
    reason: str


def _added(row: FaceModel, calibrated_at: datetime | None) -> AddedModel:
    return AddedModel(
        row.name,
        row.file_name,
        row.sha256,
        row.version,
        row.licence,
        row.source,
        row.input_size,
        row.dim,
        row.added_at,
        row.added_by,
        row.calibration_id,
        row.calibrated_on,
        calibrated_at,
    )


class ModelRegistry:
    def __init__(self, db: Database, audit: AuditLog, clock: Clock = system_clock) -> None:
        self.db = db
        self.audit = audit
        self.clock = clock

    # ------------------------------------------------------------ added models
    def check_new_name(self, name: str) -> None:
        """Refuse a name that is malformed, a bundled model's or already taken (before any long work)."""
        if not NAME_PATTERN.match(name) or name.startswith(ONNX_PREFIX.rstrip(":")):
            raise ModelRegistryError(
                f"model name {name!r}: use lower-case letters, digits, '.', '_' or '-' (at most 48), not 'onnx…'"
            )
        if is_catalogued(name):
            raise ModelRegistryError(f"model name {name!r} is a bundled model's; choose another name")
        if self.get(name) is not None:
            raise ModelRegistryError(f"a model named {name!r} is already added (`vigil models list`)")

    def add(
        self,
        *,
        name: str,
        file_name: str,
        sha256: str,
        version: str,
        licence: str,
        source: str,
        input_size: int,
        dim: int,
        calibration_id: int,
        calibrated_on: str,
        by: Actor,
    ) -> AddedModel:
        if len(licence.strip()) < 3:
            raise ModelRegistryError("--licence: say under which licence the force holds this model")
        self.check_new_name(name)
        with self.db.session() as session:
            row = FaceModel(
                name=name,
                file_name=file_name[:255],
                sha256=sha256,
                version=version,
                licence=licence,
                source=source,
                input_size=input_size,
                dim=dim,
                added_at=self.clock(),
                added_by=by.username[:64],
                calibration_id=calibration_id,
                calibrated_on=calibrated_on[:255],
            )
            session.add(row)
            session.flush()
            self.audit.record_change(
                session,
                by,
                AuditAction.MODEL_ADDED,
                object_type="model",
                object_id=name,
                details={
                    "sha256": sha256,
                    "licence": licence,
                    "source": source,
                    "input_size": input_size,
                    "dim": dim,
                    "calibration_id": calibration_id,
                    "calibrated_on": calibrated_on,
                },
            )
        added = self.get(name)
        assert added is not None
        return added

    def get(self, name: str) -> AddedModel | None:
        with self.db.session() as session:
            row = session.get(FaceModel, name)
            if row is None:
                return None
            calibration = session.get(Calibration, row.calibration_id) if row.calibration_id is not None else None
            return _added(row, calibration.at if calibration is not None else None)

    def list(self) -> list[AddedModel]:
        with self.db.session() as session:
            rows = list(session.scalars(select(FaceModel).order_by(FaceModel.added_at, FaceModel.name)))
            calibrated = {
                c.id: c.at
                for c in session.scalars(
                    select(Calibration).where(Calibration.id.in_([r.calibration_id for r in rows if r.calibration_id]))
                )
            }
            return [_added(r, calibrated.get(r.calibration_id or -1)) for r in rows]

    def remove(self, name: str, *, by: Actor) -> AddedModel:
        """Forget an added model and delete its templates (biometric data no process uses once it cannot be
        switched to); its calibration stays (numbers only). Refused while it is the active model."""
        model = self.get(name)
        if model is None:
            raise ModelRegistryError(f"no added model named {name!r} (`vigil models list`)")
        active = self.active()
        if active is not None and active.name == name:
            raise ModelRegistryError(
                f"{name!r} is the active model: switch to another first (`vigil models use OTHER --reason …`)"
            )
        with self.db.session() as session:
            row = session.get(FaceModel, name)
            if row is not None:
                session.delete(row)
            templates = session.execute(delete(PhotoEmbedding).where(PhotoEmbedding.model == name)).rowcount  # type: ignore[attr-defined]
            self.audit.record_change(
                session,
                by,
                AuditAction.MODEL_REMOVED,
                object_type="model",
                object_id=name,
                details={"sha256": model.sha256, "templates_deleted": templates},
            )
        return model

    # ------------------------------------------------------------ the active model
    def active(self) -> ActiveEmbedder | None:
        with self.db.session() as session:
            row = session.get(ActiveModel, ACTIVE_ROW)
            if row is None:
                return None
            return ActiveEmbedder(row.name, row.version, row.sha256, row.since, row.by, row.reason)

    def activate(
        self,
        name: str,
        version: str,
        sha256: str,
        *,
        by: Actor,
        reason: str,
        before: dict[str, object],
        thresholds: dict[str, object],
    ) -> ActiveEmbedder:
        """Record ``name`` as the model every process must run, with one audit entry: the reason, the old
        and new model and the thresholds before and after (the caller re-embedded first)."""
        if len(reason.strip()) < 3:
            raise ModelRegistryError("--reason: say why the model changes")
        with self.db.session() as session:
            row = session.get(ActiveModel, ACTIVE_ROW)
            old = None if row is None else {"name": row.name, "version": row.version, "sha256": row.sha256}
            if row is None:
                row = ActiveModel(id=ACTIVE_ROW)
                session.add(row)
            row.name, row.version, row.sha256 = name, version, sha256
            row.since, row.by, row.reason = self.clock(), by.username[:64], reason
            session.flush()
            self.audit.record_change(
                session,
                by,
                AuditAction.MODEL_ACTIVATED,
                object_type="model",
                object_id=name,
                details={
                    "reason": reason,
                    "old": old,
                    "new": {"name": name, "version": version, "sha256": sha256},
                    "thresholds_before": before,
                    "thresholds_after": thresholds,
                },
            )
        active = self.active()
        assert active is not None
        return active

    def check_process(self, name: str, version: str, sha256: str, path: str) -> None:
        """Refuse to run a process whose embedder is not the active one, or whose file differs from the
        one activated under the same name (ModelMismatchError naming the file and both checksums)."""
        active = self.active()
        if active is None:
            return
        if name != active.name:
            raise ModelMismatchError(
                f"this process would run embedder {name!r} but the active model is {active.name!r} "
                f"(set by {active.by} at {active.since:%Y-%m-%d %H:%M}Z): run it with --embedder {active.name} "
                "or leave the embedder unset"
            )
        if (active.sha256 and sha256 != active.sha256) or version != active.version:
            raise ModelMismatchError(
                f"model {name!r}: this process loaded {path or 'the bundled weights'} (SHA-256 {sha256 or '-'}, "
                f"version {version}) but the active model has SHA-256 {active.sha256 or '-'}, version "
                f"{active.version}: copy the activated file to every machine (or switch again)"
            )


# ------------------------------------------------------------ what a process runs
@dataclass(frozen=True)
class RunningModel:
    """The embedder a process runs: its name, the version its templates carry, and its ONNX file with that
    file's SHA-256 ("" for weights a package ships, checked by their version)."""

    name: str
    version: str
    path: str
    sha256: str


_RUNNING: weakref.WeakKeyDictionary[object, RunningModel] = weakref.WeakKeyDictionary()
_RUNNING_LOCK = threading.Lock()


def running_model(embedder: Embedder) -> RunningModel:
    """What ``embedder`` is: name, version, file and checksum. The file is hashed the first time this is
    asked for an embedder (right after it was loaded) and remembered for that embedder: it is what the
    process loaded, even if the file on disk is replaced later."""
    inner = getattr(embedder, "inner", embedder)
    with _RUNNING_LOCK:
        known = _RUNNING.get(inner)
    if known is not None and (known.name, known.version) == (embedder.name, embedder.version):
        return known
    path = getattr(inner, "model_path", None)
    if not isinstance(path, Path) or not path.is_file():
        model = RunningModel(embedder.name, embedder.version, "", "")
    else:
        model = RunningModel(embedder.name, embedder.version, str(path), file_sha256(path))
    with _RUNNING_LOCK:
        _RUNNING[inner] = model
    return model


def model_metrics(embedder: Embedder) -> str:
    """Prometheus text naming the face model this process runs (name, version, SHA-256 of the file it
    loaded), for every process's /metrics: the web server's and a worker's (follows a live switch)."""
    model = running_model(embedder)
    return "\n".join(model_lines(model.name, model.version, model.sha256)) + "\n"


class ModelFollower:
    """Keeps a running process on the active model (live reload): every ``poll_s`` it reads the active
    model; when it is another than the one running, it builds and checks it (``build``: the prepared
    embedder by name) and switches the watchlist to it between two frames, then embeds any photo enrolled
    meanwhile that lacks a template. A file that differs from the activated one is refused (one error in
    the log, naming both checksums), and the process goes on with the model it runs."""

    def __init__(
        self,
        registry: ModelRegistry,
        switch: Callable[[Embedder], None],
        current: Callable[[], Embedder],
        build: Callable[[str], Embedder],
        *,
        after: Callable[[], object] | None = None,
        poll_s: float = 2.0,
    ) -> None:
        self.registry = registry
        self.switch = switch
        self.current = current
        self.build = build
        self.after = after
        self.poll_s = poll_s
        self.switches = 0
        self.refused: str | None = None  # why the active model could not be taken up (None: it runs)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def check(self) -> bool:
        """Follow the active model once; True when this call switched."""
        active = self.registry.active()
        running = self.current()
        if active is None or (active.name, active.version) == (running.name, running.version):
            self.refused = None
            return False
        try:
            embedder = self.build(active.name)
            model = running_model(embedder)
            self.registry.check_process(model.name, model.version, model.sha256, model.path)
        except Exception as exc:  # a missing or different file: refused; the process keeps its model
            if str(exc) != self.refused:
                log.error("not switching to the active model: %s", exc)
            self.refused = str(exc)
            return False
        self.switch(embedder)
        self.switches += 1
        self.refused = None
        if self.after is not None:
            self.after()
        return True

    @property
    def following(self) -> bool:
        """Whether the follower's thread runs (it will take the active model up within ``poll_s``)."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="model-follower", daemon=True)
        self._thread.start()

    def close(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stop.set()
            thread.join(self.poll_s + 5.0)

    def _run(self) -> None:
        while not self._stop.wait(self.poll_s):
            try:
                self.check()
            except Exception as exc:  # the database went away: try again at the next poll
                log.warning("model follower: %s", exc)


@dataclass(frozen=True)
class ModelSwitched:
    name: str
    version: str
    embedded: int  # photos embedded with the new model by this switch
    before: dict[str, float]  # category -> threshold under the old model
    after: dict[str, float]  # category -> threshold under the new one


def switch_active_model(
    db: Database,
    media: MediaStore,
    settings: VigilSettings,
    name: str,
    *,
    reason: str,
    by: Actor,
    progress: Callable[[int, int], None] | None = None,
) -> ModelSwitched:
    """Switch every process to a model (``vigil models use`` and the admin page): re-embed every enrolled
    photo with it (resumable; the old templates stay and matching goes on until the new ones are
    complete), let each category's threshold follow the new curves at its policy and the watchlist size,
    and record one audit entry. Nothing is switched when a check fails."""
    from vigil.domain.thresholds import ThresholdService
    from vigil.domain.watchlist import WatchlistService
    from vigil.vision.catalogue import added_model_path, create_embedder, default_threshold, model_spec
    from vigil.vision.engine import FaceEngine

    audit_log = AuditLog(db, key_file=settings.resolved_audit_key_file)
    registry = ModelRegistry(db, audit_log)
    if len(reason.strip()) < 3:
        raise ModelRegistryError("--reason: say why the model changes")
    if is_catalogued(name):
        if model_spec(name).kind != "embedder":
            raise ModelRegistryError(f"{name!r} is a detector, not an embedder")
    else:
        added = registry.get(name)
        if added is None:
            raise ModelRegistryError(f"no model named {name!r}: add it first (`vigil models add FILE --name {name} …`)")
        path = added_model_path(settings, name)
        if not path.is_file():
            raise ModelMismatchError(f"model {name!r}: its file {path} is missing (added with sha256 {added.sha256})")
        digest = file_sha256(path)
        if digest != added.sha256:
            raise ModelMismatchError(
                f"model {name!r}: the file {path} has SHA-256 {digest} but {added.sha256} was added"
            )
    active = registry.active()
    if active is not None:
        old_name, old_version = active.name, active.version
    else:
        old = create_embedder(settings.embedder, settings)
        old.prepare()
        old_name, old_version = old.name, old.version
    before = {t.category: t.threshold for t in ThresholdService(db, audit_log, old_name, old_version).thresholds()}
    engine = FaceEngine.from_settings(settings.model_copy(update={"embedder": name})).prepare()
    new = ThresholdService(db, audit_log, engine.embedder.name, engine.embedder.version)
    if new.curves() is None:
        raise ModelRegistryError(
            f"{name!r} has no error curves: calibrate it first (`vigil calibrate --embedder …`); nothing switched"
        )
    watchlist = WatchlistService(
        db, media, engine, settings, duplicate_threshold=default_threshold(name), audit=audit_log
    )
    embedded = watchlist.reembed(progress=progress)
    for threshold in new.thresholds():
        if threshold.calibrated:  # set by hand on the old model's similarity scale: the policy takes over
            new.set_policy(
                threshold.category,
                threshold.false_alerts_per_1000,
                by=by.username,
                reason=f"model switched to {name}: {reason}",
                source=by.source,
            )
    after = {t.category: t.threshold for t in new.thresholds()}
    model = running_model(engine.embedder)
    registry.activate(
        model.name,
        model.version,
        model.sha256,
        by=by,
        reason=reason,
        before={"embedder": f"{old_name}@{old_version}", **before},
        thresholds={"embedder": f"{model.name}@{model.version}", **after},
    )
    return ModelSwitched(model.name, model.version, embedded, before, after)


@dataclass
class SwitchProgress:
    """A switch started from the admin page, as the page follows it."""

    name: str
    by: str
    state: str = "running"  # running, done, failed
    done: int = 0
    total: int = 0
    error: str | None = None
    result: ModelSwitched | None = None


class ModelSwitchJob:
    """Runs one switch at a time in the background (the re-embedding takes minutes with a large
    watchlist) and tells how far it got."""

    def __init__(self, db: Database, media: MediaStore, settings: VigilSettings) -> None:
        self.db, self.media, self.settings = db, media, settings
        self.current: SwitchProgress | None = None
        self._lock = threading.Lock()

    def start(self, name: str, *, reason: str, by: Actor) -> SwitchProgress:
        """Start switching to ``name`` (ModelRegistryError if one is under way or a check fails at once)."""
        if len(reason.strip()) < 3:
            raise ModelRegistryError("reason: say why the model changes")
        with self._lock:
            if self.current is not None and self.current.state == "running":
                raise ModelRegistryError(f"a switch to {self.current.name!r} is under way; wait for it to finish")
            progress = SwitchProgress(name, by.username)
            self.current = progress

        def advance(done: int, total: int) -> None:
            progress.done, progress.total = done, total

        def run() -> None:
            try:
                progress.result = switch_active_model(
                    self.db, self.media, self.settings, name, reason=reason, by=by, progress=advance
                )
                progress.state = "done"
            except Exception as exc:  # told on the page; nothing was switched
                log.warning("switch to %s failed: %s", name, exc)
                progress.error, progress.state = str(exc), "failed"

        threading.Thread(target=run, name="model-switch", daemon=True).start()
        return progress

    def previous(self) -> str | None:
        """The model active before the current one (what a roll back returns to), from the audit log."""
        return self.previous_of(self.db)

    @staticmethod
    def previous_of(db: Database) -> str | None:
        with db.session() as session:
            entry = session.scalar(
                select(AuditEvent)
                .where(AuditEvent.action == AuditAction.MODEL_ACTIVATED)
                .order_by(AuditEvent.id.desc())
                .limit(1)
            )
            if entry is None:
                return None
            details = entry.details if isinstance(entry.details, dict) else {}
            before = details.get("thresholds_before") or {}
            old = details.get("old") or {}
            named = old.get("name") if isinstance(old, dict) else None
            if not named and isinstance(before, dict) and isinstance(before.get("embedder"), str):
                named = str(before["embedder"]).split("@")[0]
            return str(named) if named else None


def bundled_embedders() -> list[str]:
    """The embedders that ship with Vigil (a roll back to one of them needs no file)."""
    from vigil.vision.catalogue import CATALOGUE

    return [spec.name for spec in CATALOGUE if spec.kind == "embedder"]
