"""Licensed face models in service (issue 26): which embedders were added (file, SHA-256, licence,
provenance, calibration), which one every process must run, and the audited switch between them.

The measurement itself (``vigil.eval.curves``) and the re-embedding (``WatchlistService.reembed``) are
run by the caller; this service records what they produced and refuses what breaks a rule.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select

from vigil.clock import Clock, system_clock
from vigil.domain.audit import Actor, AuditLog
from vigil.domain.vocabulary import AuditAction
from vigil.errors import ModelMismatchError, ModelRegistryError
from vigil.store.db import Database
from vigil.store.models import ActiveModel, Calibration, FaceModel, PhotoEmbedding
from vigil.vision.catalogue import ONNX_PREFIX, is_catalogued

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
