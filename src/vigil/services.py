"""Wiring: builds the long-lived services from the settings (one place, used by every command)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from vigil.bus import Bus
from vigil.clock import Clock, system_clock
from vigil.domain.adjudication import AlertService
from vigil.domain.alerts import AlertRecorder
from vigil.domain.audit import Actor, AuditLog
from vigil.domain.health import HealthChecks
from vigil.domain.matching import WatchlistMatcher
from vigil.domain.models import ModelFollower, ModelRegistry, ModelSwitched, running_model
from vigil.domain.models import switch_active_model as switch_model_in
from vigil.domain.outbox import Deliverer, Outbox
from vigil.domain.pending import PendingAlerts
from vigil.domain.replica import GalleryReplica
from vigil.domain.retention import RetentionPolicy, RetentionService
from vigil.domain.thresholds import AnalysisCounter
from vigil.domain.vocabulary import AuditAction
from vigil.domain.watchlist import WatchlistService
from vigil.pipeline.analyser import AnalysisSettings
from vigil.pipeline.gate import Coverage
from vigil.pipeline.runtime import CameraConfig, LiveRunner, StreamPolicy
from vigil.settings import VigilSettings
from vigil.store.db import Database, open_database
from vigil.store.media import media_folder, open_media
from vigil.video.camera import CameraStatus
from vigil.vision.catalogue import default_threshold
from vigil.vision.embedders.base import Embedder
from vigil.vision.engine import FaceEngine

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from fastapi import FastAPI

    from vigil.domain.evidence import EvidenceService
    from vigil.scaleout.worker import Worker


def with_active_model(settings: VigilSettings, registry: ModelRegistry) -> VigilSettings:
    """The settings with the database's active model as the embedder, unless one was given explicitly
    (``--embedder`` / ``VIGIL_EMBEDDER``), in which case it must be the active one (checked on prepare)."""
    active = registry.active()
    if active is None or "embedder" in settings.model_fields_set:
        return settings
    return settings.model_copy(update={"embedder": active.name})


def embedder_file(embedder: Embedder) -> tuple[str, str]:
    """(path, SHA-256) of an embedder's ONNX file, or ("", "") for a bundled model checked by version."""
    model = running_model(embedder)
    return model.path, model.sha256


def _model_triple(embedder: Embedder) -> tuple[str, str, str]:
    """(name, version, file SHA-256) of the model an embedder runs, as /metrics names it."""
    return embedder.name, embedder.version, embedder_file(embedder)[1]


def check_active_model(registry: ModelRegistry, embedder: Embedder) -> None:
    """Refuse (ModelMismatchError) when this process's embedder is not the active model or its file differs."""
    if registry.active() is None:
        return
    path, digest = embedder_file(embedder)
    registry.check_process(embedder.name, embedder.version, digest, path)


def model_label(embedder: Embedder) -> str:
    """The model this process runs, as readiness names it: name, version and the file's SHA-256 (none for
    the bundled weights, checked by their version)."""
    _, digest = embedder_file(embedder)
    return f"{embedder.name} {embedder.version}" + (f" (SHA-256 {digest})" if digest else " (bundled weights)")


def model_check(registry: ModelRegistry, current: Callable[[], Embedder]) -> Callable[[], str | None]:
    """Asked at every heartbeat: why this process may not run cameras (the active model changed to
    another, or to a different file, and this process has not taken it up), or None. Each file's checksum
    is taken once: it is what was loaded."""
    from vigil.errors import ModelMismatchError

    def check() -> str | None:
        model = running_model(current())
        try:
            registry.check_process(model.name, model.version, model.sha256, model.path)
        except ModelMismatchError as exc:
            return str(exc)
        return None

    return check


def follow_active_model(settings: VigilSettings, watchlist: WatchlistService, *, reembed: bool = True) -> ModelFollower:
    """The follower that switches this process's running pipeline to the active model when ``vigil models
    use`` (or the admin page) changes it — no restart (docs/models.md). Not started: its owner starts it
    with the cameras and closes it with them (``start()`` / ``close()``). With ``reembed`` (a process that
    enrolls: serve, run) it then embeds the photos enrolled under the old model while the switch was under
    way; a worker enrolls nobody and leaves that to them and to `models use`."""
    from vigil.vision.catalogue import create_embedder

    def build(name: str) -> Embedder:
        embedder = create_embedder(name, settings)
        embedder.prepare()
        return embedder

    follower = ModelFollower(
        ModelRegistry(watchlist.db, AuditLog(watchlist.db, key_file=settings.resolved_audit_key_file)),
        watchlist.switch_model,
        lambda: watchlist.engine.embedder,
        build,
        after=watchlist.reembed if reembed else None,  # photos enrolled with the old model meanwhile
        poll_s=settings.watchlist_poll_s,
    )
    return follower


def open_watchlist(
    settings: VigilSettings,
    *,
    engine: FaceEngine | None = None,
    clock: Clock = system_clock,
    start: bool = True,
    check_model: bool = True,
) -> WatchlistService:
    """The watchlist over the configured database, media folder and face engine. The engine runs the
    database's active model (``vigil models use``) and, with ``check_model``, a process whose embedder or
    file differs from it refuses to start."""
    db = open_database(settings)
    registry = ModelRegistry(db, AuditLog(db, key_file=settings.resolved_audit_key_file))
    face_engine = engine or FaceEngine.from_settings(with_active_model(settings, registry)).prepare()
    embedder = face_engine.embedder
    if check_model:
        check_active_model(registry, embedder)
    replica = GalleryReplica(
        db,
        model=embedder.name,
        version=embedder.version,
        dim=embedder.dim,
        clock=clock,
        poll_s=settings.watchlist_poll_s,
    )
    service = WatchlistService(
        db,
        open_media(settings, db),
        face_engine,
        settings,
        duplicate_threshold=default_threshold(embedder.name),
        clock=clock,
        replica=replica,
        audit=AuditLog(db, key_file=settings.resolved_audit_key_file),
    )
    if start:
        service.start()
    return service


def open_outbox(settings: VigilSettings, db: Database) -> Outbox:
    """Where every event that leaves Vigil is written, in the transaction that stores it."""
    return Outbox(db, public_url=settings.public_url)


def open_deliverer(
    settings: VigilSettings, db: Database, outbox: Outbox, alerts: AlertService, bus: Bus, *, owner: str
) -> Deliverer | None:
    """The thread that sends the outbox and escalates unacknowledged red flags (None if the settings say
    this process does not deliver)."""
    if not settings.notify:
        return None
    from vigil.domain.channels import ChannelService
    from vigil.notify.dispatcher import Dispatcher, RetryPolicy
    from vigil.notify.mqtt import check_broker

    audit = AuditLog(db, key_file=settings.resolved_audit_key_file)
    return Dispatcher(
        outbox,
        ChannelService(db, audit=audit, broker_check=check_broker, allowed=settings.outbound_networks),
        open_media(settings, db),
        owner=owner,
        alerts=alerts,
        audit=audit,
        bus=bus,
        poll_s=settings.notify_poll_s,
        retry=RetryPolicy(base_s=settings.notify_retry_base_s, max_s=settings.notify_retry_max_s),
        failing_after_s=settings.notify_failing_after_s,
    )


def process_name(kind: str) -> str:
    import os
    import socket
    import uuid

    return f"{kind}-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def open_live(
    settings: VigilSettings,
    watchlist: WatchlistService,
    cameras: list[CameraConfig],
    *,
    on_status: Callable[[CameraStatus], None] | None = None,
    outbox: Outbox | None = None,
) -> tuple[LiveRunner, AlertRecorder, WatchlistMatcher]:
    """A runner for ``cameras`` against the watchlist, the recorder its alerts go through (each stored
    alert's event written into the outbox with it), and the matcher (whose ``refresh`` picks up watchlist
    changes made by other processes). Camera states go into the outbox too (MQTT's retained state)."""
    from vigil.domain.authorisations import AuthorisationBook, AuthorisationCounter

    outbox = outbox or open_outbox(settings, watchlist.db)
    pending = PendingAlerts(settings.data_dir / "pending-alerts", max_entries=settings.alert_queue_max)
    recorder = AlertRecorder(watchlist.db, watchlist.media, outbox=outbox, pending=pending)

    def status_changed(status: CameraStatus) -> None:
        try:
            outbox.enqueue_camera_state(status.camera, status.state)
        except Exception:
            log.exception("could not write camera %s's state into the outbox", status.camera)
        if on_status is not None:
            on_status(status)

    matcher = WatchlistMatcher(watchlist)
    audit = AuditLog(watchlist.db, key_file=settings.resolved_audit_key_file)

    def record_coverage(camera: str, coverage: Coverage) -> None:
        try:
            if coverage:
                audit.record(
                    "system",
                    AuditAction.CAMERA_SCANNING_STARTED,
                    object_type="camera",
                    object_id=camera,
                    details={"authorisations": list(coverage.authorisation_ids)},
                )
            else:
                audit.record(
                    "system",
                    AuditAction.CAMERA_SCANNING_STOPPED,
                    object_type="camera",
                    object_id=camera,
                    details={"why": coverage.why_not},
                )
        except Exception:
            log.exception("could not audit camera %s starting or stopping", camera)

    runner = LiveRunner(
        cameras,
        watchlist.engine,
        matcher,
        recorder,
        gate=AuthorisationBook(watchlist.db, clock=watchlist.clock),
        analysis=AnalysisSettings.from_settings(settings),
        policy=StreamPolicy(stall_timeout_s=settings.stall_timeout_s, backoff_cap_s=settings.reconnect_max_s),
        on_status=status_changed,
        on_coverage=record_coverage,
        counts_sink=AnalysisCounter(watchlist.db).add,
        authorisation_counts_sink=AuthorisationCounter(watchlist.db).add,
    )
    return runner, recorder, matcher


def open_control_room(
    settings: VigilSettings,
    *,
    run_cameras: bool = True,
    watchlist: WatchlistService | None = None,
    loop_files: bool = True,
    host: str = "127.0.0.1",
) -> FastAPI:
    """The web app over the configured database; with ``run_cameras`` the registered cameras run in the
    same process and their alerts are pushed to the browsers. Served on a ``host`` other than loopback
    (so behind TLS), the session cookie is ``Secure``."""
    from vigil.bus import open_bus
    from vigil.domain.cameras import CameraRegistry
    from vigil.domain.fleet import EmbeddedFleet
    from vigil.web.app import alert_listener, create_app
    from vigil.web.context import WebContext

    watchlist = watchlist or open_watchlist(settings)
    db = watchlist.db
    retention = open_retention(settings, db)
    retention.sweep_orphan_crops()  # before any camera runs: crops left by a crash
    bus = open_bus(settings.redis_url)
    outbox = open_outbox(settings, db)
    fleet, matcher = None, None
    if run_cameras:
        from vigil.domain.leases import live_workers
        from vigil.errors import ConfigurationError

        if live_workers(db, settings.lease_s):
            raise ConfigurationError(
                "`vigil worker` processes are running this database's cameras: serve with VIGIL_REDIS_URL set "
                "(scaled out) or with --no-cameras, so that no camera is analysed twice"
            )
        registry = CameraRegistry(db)
        runner, recorder, matcher = open_live(settings, watchlist, registry.configs(loop=loop_files), outbox=outbox)
        fleet = EmbeddedFleet(runner, registry)
    ctx = WebContext.build(
        settings, db, watchlist=watchlist, fleet=fleet, matcher=matcher, retention=retention, bus=bus, outbox=outbox
    )
    if run_cameras:  # started and closed with the app
        ctx.model_follower = follow_active_model(settings, watchlist)
    from vigil.notify.mqtt import check_broker

    ctx.channels.broker_check = check_broker  # an MQTT endpoint is connected to before it is saved
    ctx.deliverer = open_deliverer(settings, db, outbox, ctx.alerts, bus, owner=process_name("serve"))
    if run_cameras:  # each alert to this server's browsers (and, scaled out, others')
        recorder.subscribe(alert_listener(ctx))
        ctx.health.media_writes = recorder.media_writes
        ctx.health.queued = recorder.queued
    # /readyz: the model this process enrolls (and, embedded, matches) with is still the active one
    ctx.health.model = model_check(ModelRegistry(db, ctx.audit), lambda: watchlist.engine.embedder)
    ctx.health.model_name = lambda: model_label(watchlist.engine.embedder)  # follows a live switch
    ctx.evidence = open_evidence(settings, db)  # the supervisors' evidence packs
    ctx.secure_cookies = not is_loopback(host)
    audit_settings(ctx.audit, settings)
    return create_app(ctx)


def is_loopback(host: str) -> bool:
    """Whether ``host`` is this machine only (plain HTTP is acceptable there, nowhere else)."""
    import ipaddress

    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def open_worker(
    settings: VigilSettings, *, worker_id: str | None = None, engine: FaceEngine | None = None, loop_files: bool = True
) -> Worker:
    """A scale-out camera worker over the shared database, with its collaborators built here."""
    import os
    import socket
    import uuid

    from vigil.bus import open_bus
    from vigil.domain.alerts import announcer
    from vigil.domain.cameras import CameraRegistry
    from vigil.domain.leases import LeaseBook
    from vigil.errors import ConfigurationError
    from vigil.scaleout.worker import Worker

    if not settings.database_url:
        raise ConfigurationError("a worker needs the shared database: set VIGIL_DATABASE_URL (postgresql://...)")
    if not settings.redis_url:
        log.warning("no VIGIL_REDIS_URL: alerts reach web servers only through their periodic catch-up")
    name = worker_id or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    watchlist = open_watchlist(settings, engine=engine, start=False)
    bus = open_bus(settings.redis_url)
    outbox = open_outbox(settings, watchlist.db)
    runner, recorder, _ = open_live(settings, watchlist, [], outbox=outbox)
    recorder.subscribe(announcer(bus))
    audit = AuditLog(watchlist.db, key_file=settings.resolved_audit_key_file)
    alerts = AlertService(watchlist.db, audit, outbox=outbox)
    check = model_check(ModelRegistry(watchlist.db, audit), lambda: watchlist.engine.embedder)
    health = HealthChecks(
        watchlist.db,
        bus=bus if settings.redis_url else None,
        media_folder=media_folder(settings) if settings.media_store == "files" else None,
        media_writes=recorder.media_writes,
        queued=recorder.queued,
        model=check,
        model_name=lambda: model_label(watchlist.engine.embedder),
        secrets=tuple(s for s in (settings.database_url, settings.redis_url) if s),
    )
    return Worker(
        settings,
        worker_id=name,
        runner=runner,
        leases=LeaseBook(watchlist.db, name, lease_s=settings.lease_s, max_cameras=settings.worker_max_cameras),
        replica=watchlist.replica,
        registry=CameraRegistry(watchlist.db),
        bus=bus,
        loop_files=loop_files,
        deliverer=open_deliverer(settings, watchlist.db, outbox, alerts, bus, owner=name),
        health=health,
        model_check=check,
        model=lambda: _model_triple(watchlist.engine.embedder),  # follows a live switch
        follower=follow_active_model(settings, watchlist, reembed=False),
        recorder=recorder,
        outbox=outbox,
        data_dir=settings.data_dir,
    )


def open_evidence(settings: VigilSettings, db: Database | None = None) -> EvidenceService:
    """Evidence packs of confirmed alerts over the configured database and media, signed with the evidence
    key and laid out by the PDFs ``vigil.reports.evidence`` makes."""
    from vigil.domain.evidence import EvidenceService
    from vigil.reports.evidence import EvidencePdfs

    database = db or open_database(settings)
    return EvidenceService(
        database,
        open_media(settings, database),
        AuditLog(database, key_file=settings.resolved_audit_key_file),
        settings,
        EvidencePdfs(),
    )


def open_retention(settings: VigilSettings, db: Database | None = None) -> RetentionService:
    """The retention job over the configured database and media folder, with the configured periods."""

    database = db or open_database(settings)
    return RetentionService(
        database,
        open_media(settings, database),
        AuditLog(database, key_file=settings.resolved_audit_key_file),
        RetentionPolicy(
            rejected_hours=settings.retention_rejected_hours,
            sighting_days=settings.retention_sighting_days,
            grace_days=settings.expiry_grace_days,
        ),
    )


def settings_snapshot(settings: VigilSettings) -> dict[str, object]:
    """The settings as recorded in the (forever, hash-chained) audit log, with no secret in them: every
    text value goes through one redaction path, and a setting marked secret that is not a URL is masked
    whole."""
    from vigil.redaction import MASK, redact_text

    values = settings.model_dump(mode="json")
    for name, field in VigilSettings.model_fields.items():
        value = values.get(name)
        if not isinstance(value, str):
            continue
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        redacted = redact_text(value)
        if extra.get("secret") and redacted == value and "://" not in value:
            redacted = MASK
        values[name] = redacted
    return values


def audit_settings(audit: AuditLog, settings: VigilSettings, actor: str = "system") -> bool:
    """Record the settings a server starts with when they differ from the last recorded ones."""
    current = settings_snapshot(settings)
    last = audit.entries(limit=1, action="settings-changed")
    before = last[0].details.get("after") if last else None
    if before == current:
        return False
    changed = sorted(k for k in current if not isinstance(before, dict) or before.get(k) != current[k])
    audit.record(
        actor,
        AuditAction.SETTINGS_CHANGED,
        source="serve",
        details={"before": before, "after": current, "changed": changed},
    )
    return True


def switch_active_model(
    settings: VigilSettings,
    name: str,
    *,
    reason: str,
    by: Actor,
    progress: Callable[[int, int], None] | None = None,
) -> ModelSwitched:
    """``vigil models use``: :func:`vigil.domain.models.switch_active_model` over the configured database
    and media."""
    db = open_database(settings)
    return switch_model_in(db, open_media(settings, db), settings, name, reason=reason, by=by, progress=progress)
