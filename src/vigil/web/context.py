"""Everything the web app needs, built once: services over one database, the push hub and metrics."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from vigil.bus import Bus, LocalBus, open_bus
from vigil.domain.access import AccessWatch
from vigil.domain.adjudication import AlertService
from vigil.domain.audit import AuditLog, RefusalRecorder
from vigil.domain.authorisations import AuthorisationService
from vigil.domain.cameras import CameraRegistry
from vigil.domain.channels import ChannelService
from vigil.domain.fleet import CameraFleet, LeasedFleet
from vigil.domain.health import HealthChecks
from vigil.domain.models import ModelFollower, ModelSwitchJob
from vigil.domain.outbox import Deliverer, Outbox
from vigil.domain.users import UserService
from vigil.settings import VigilSettings
from vigil.store.db import Database
from vigil.store.media import MediaStore, media_folder, open_media
from vigil.web.feed import AlertFeed
from vigil.web.metrics import Metrics
from vigil.web.push import PushHub
from vigil.web.trails import TrailReads

if TYPE_CHECKING:
    from vigil.domain.evidence import EvidenceService
    from vigil.domain.matching import WatchlistMatcher
    from vigil.domain.retention import RetentionService
    from vigil.domain.watchlist import WatchlistService

MAX_UPLOAD_BYTES = 20_000_000


@dataclass
class WebContext:
    settings: VigilSettings
    db: Database
    media: MediaStore
    users: UserService
    alerts: AlertService
    audit: AuditLog
    cameras: CameraRegistry
    authorisations: AuthorisationService
    outbox: Outbox  # where decisions, acknowledgements and escalations are sent out (the delivery log reads it)
    watchlist: WatchlistService | None = None
    fleet: CameraFleet = field(init=False)  # the cameras, whichever process runs them (given by services)
    matcher: WatchlistMatcher | None = None  # the in-process pipeline's (its replica follows the change log)
    retention: RetentionService | None = None  # run hourly while serving
    hub: PushHub = field(default_factory=PushHub)
    metrics: Metrics = field(default_factory=Metrics)
    bus: Bus = field(default_factory=LocalBus)
    feed: AlertFeed = field(init=False)
    refusals: RefusalRecorder = field(init=False)  # 401/403s into the audit log, rate-limited per source
    access: AccessWatch = field(init=False)  # view limits and the auditors' access summary
    secure_cookies: bool = False
    deliverer: Deliverer | None = None  # sends the outbox from this process (started with the app)
    channels: ChannelService = field(init=False)  # endpoints and routing rules (admins)
    # signed evidence packs of confirmed alerts (given by services: its PDFs are laid out above this layer)
    evidence: EvidenceService | None = None
    health: HealthChecks = field(init=False)  # /readyz: the database, Redis when scaled out, the media disk
    trail_reads: TrailReads = field(default_factory=TrailReads)  # refreshes are not audited as reads
    model_switch: ModelSwitchJob = field(init=False)  # a switch started on the admin page (one at a time)
    # keeps the in-process cameras on the active model (started and stopped with the app; None: no cameras here)
    model_follower: ModelFollower | None = None

    def __post_init__(self) -> None:
        self.feed = AlertFeed(self.alerts, self.hub, self.metrics, self.bus)
        self.refusals = RefusalRecorder(self.audit)
        self.access = AccessWatch(self.db, views_per_hour=self.settings.media_views_per_hour)
        self.fleet = LeasedFleet(self.db)
        self.model_switch = ModelSwitchJob(self.db, self.media, self.settings)
        self.channels = ChannelService(self.db, audit=self.audit, allowed=self.settings.outbound_networks)
        settings = self.settings
        self.health = HealthChecks(
            self.db,
            bus=self.bus if settings.redis_url else None,
            media_folder=media_folder(settings) if settings.media_store == "files" else None,
            secrets=tuple(s for s in (settings.database_url, settings.redis_url) if s),
        )

    @classmethod
    def build(
        cls,
        settings: VigilSettings,
        db: Database,
        *,
        watchlist: WatchlistService | None = None,
        fleet: CameraFleet | None = None,
        matcher: WatchlistMatcher | None = None,
        retention: RetentionService | None = None,
        bus: Bus | None = None,
        outbox: Outbox | None = None,
    ) -> WebContext:
        """Every service over ``db``; ``fleet`` defaults to the cameras the workers report (no cameras here)."""
        audit = AuditLog(db, key_file=settings.resolved_audit_key_file)
        outbox = outbox or Outbox(db, public_url=settings.public_url)  # every decision here is sent out too
        context = cls(
            settings=settings,
            db=db,
            media=open_media(settings, db),
            users=UserService(db, audit=audit),
            alerts=AlertService(db, audit, outbox=outbox),
            audit=audit,
            cameras=CameraRegistry(db, audit=audit),
            authorisations=AuthorisationService(db, audit),
            watchlist=watchlist,
            matcher=matcher,
            retention=retention,
            bus=bus if bus is not None else open_bus(settings.redis_url),
            outbox=outbox,
        )
        if fleet is not None:
            context.fleet = fleet
        return context
