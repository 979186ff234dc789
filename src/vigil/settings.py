"""One typed settings tree, loaded once (CLI flags > environment ``VIGIL_*`` > defaults) and passed down."""

from __future__ import annotations

import ipaddress
import os
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from vigil.netguard import parse_networks


def _default_data_dir() -> Path:
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "share"
    return base / "vigil"


# Settings renamed since a release: their former environment names are still read (the new name wins).
FORMER_NAMES = {"VIGIL_HEALTH_PORT": "worker_health_port", "VIGIL_HEALTH_HOST": "worker_health_host"}


class _FormerNames(PydanticBaseSettingsSource):
    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        return {field: os.environ[name] for name, field in FORMER_NAMES.items() if os.environ.get(name)}


class VigilSettings(BaseSettings):
    """Everything Vigil can be configured with. Environment variables use the ``VIGIL_`` prefix."""

    model_config = SettingsConfigDict(env_prefix="VIGIL_", extra="forbid", frozen=True)

    data_dir: Path = Field(
        default_factory=_default_data_dir,
        description="Where Vigil keeps its database, media and converted models.",
        json_schema_extra={"flag": "--data-dir", "shown_default": "`$XDG_DATA_HOME/vigil` or `~/.local/share/vigil`"},
    )
    models_dir: Path | None = Field(
        default=None,
        description="Folder holding user-supplied model files (YuNet, ArcFace-style ONNX). "
        "Defaults to <data_dir>/models.",
        json_schema_extra={"flag": "--models-dir", "shown_default": "`<data-dir>/models`"},
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the database, e.g. postgresql://user@host/vigil. "
        "Defaults to SQLite (WAL) at <data_dir>/vigil.db.",
        json_schema_extra={"shown_default": "SQLite (WAL) at `<data-dir>/vigil.db`", "secret": True},
    )
    detector: str = Field(
        default="centerface",
        min_length=1,
        description="Face detector backend name (`vigil models list`).",
        json_schema_extra={"flag": "--detector (on commands)"},
    )
    embedder: str = Field(
        default="dlib-resnet",
        min_length=1,
        description="Face embedder backend name (`vigil models list`).",
        json_schema_extra={"flag": "--embedder (before any command; on eval/bench too)"},
    )
    embed_flip: bool | None = Field(
        default=None,
        description="Average each face's embedding with its mirror image's (twice the cost). "
        "Unset: each model's measured default (on for dlib-resnet, off for mobilefacenet).",
        json_schema_extra={"shown_default": "per model"},
    )
    threads: int = Field(
        default=0,
        ge=0,
        le=256,
        description="CPU threads per model session; 0 lets ONNX Runtime decide (camera workers run best with 1).",
        json_schema_extra={"flag": "--threads"},
    )
    max_image_pixels: int = Field(
        default=50_000_000,
        ge=1_000,
        le=1_000_000_000,
        description="Images with more pixels than this are refused (decompression-bomb guard).",
    )

    max_photo_bytes: int = Field(
        default=20_000_000, ge=10_000, le=500_000_000, description="Largest enrollment photo accepted, in bytes."
    )

    audit_key_file: Path | None = Field(
        default=None,
        description="File holding the audit chain's HMAC key (created on first use). Keep it off the "
        "database server. Defaults to <data_dir>/audit.key.",
        json_schema_extra={"shown_default": "`<data-dir>/audit.key`"},
    )
    evidence_key_file: Path | None = Field(
        default=None,
        description="File holding the Ed25519 private key evidence packs are signed with (created on first "
        "use, owner-only; `vigil evidence key` prints its public key for courts and the defence). Keep it "
        "off the database server, like the audit key. Defaults to <data_dir>/evidence.key.",
        json_schema_extra={"shown_default": "`<data-dir>/evidence.key`"},
    )
    audit_anchor: str | None = Field(
        default=None,
        description="Where the audit log's signed head is published (an anchor line appended to a file on "
        "another volume or host, or POSTed to an http(s) URL): `vigil serve` does it every "
        "audit_anchor_every_s, `vigil audit anchor` on demand, and `vigil audit verify` checks against the "
        "last one, so cutting off the newest entries is detected.",
        json_schema_extra={"shown_default": "unset (no anchoring)"},
    )
    audit_anchor_every_s: float = Field(
        default=3600.0, ge=10.0, le=86_400.0, description="How often `vigil serve` publishes an audit anchor."
    )
    audit_verify_every_s: float = Field(
        default=3600.0,
        ge=10.0,
        le=86_400.0,
        description="How often `vigil serve` verifies the whole audit chain (at start, then at this interval); "
        "/metrics reports the result (`vigil_audit_chain_ok`) for an alert when it fails.",
    )
    retention_rejected_hours: float = Field(
        default=24.0,
        ge=0.0,
        le=24 * 365,
        description="Crops of rejected or inconclusive alerts are deleted this many hours after the decision.",
    )
    retention_sighting_days: float = Field(
        default=30.0, ge=0.0, le=3650, description="Confirmed sightings are deleted this many days after last seen."
    )
    expiry_grace_days: float = Field(
        default=7.0,
        ge=0.0,
        le=365,
        description="A subject's photos and embeddings are deleted this many days after its expiry.",
    )
    live_min_quality: float = Field(
        default=0.3, ge=0.0, le=1.0, description="Live faces below this quality are tracked but never embedded."
    )
    live_max_faces: int = Field(default=10, ge=1, le=100, description="Embedded faces kept per face track.")
    detect_schedule: Literal["adaptive", "full"] = Field(
        default="adaptive",
        description="Where the detector looks on each analysed frame: 'adaptive' (around followed faces and "
        "unexplained motion, the whole frame at start, on a scene change and every detect_full_every_s) or "
        "'full' (every analysed frame whole: the reference, as before the scheduler; docs/capacity.md).",
    )
    detect_full_every_s: float = Field(
        default=3.0,
        gt=0.0,
        le=60.0,
        description="Adaptive schedule: the longest time between two searches of the whole frame while the "
        "picture changes (an unchanged picture is not searched again).",
    )
    stall_timeout_s: float = Field(
        default=5.0, gt=0.0, le=600.0, description="A stream without a frame for this long is restarted."
    )
    reconnect_max_s: float = Field(
        default=8.0,
        gt=0.0,
        le=3600.0,
        description="Longest wait between reconnection attempts (bounds how long a camera stays down after "
        "its server is back).",
    )

    media_store: Literal["files", "database"] = Field(
        default="files",
        description="Where enrolled photos and alert crops are kept: 'files' under <data_dir>/media, or "
        "'database' (a table of the configured database, so workers and web servers on other machines "
        "share them; use it for scale-out).",
    )
    redis_url: str | None = Field(
        default=None,
        description="Redis URL, e.g. redis://host:6379/0. Set it to run scaled out: workers publish alerts "
        "and web servers push them to browsers through it. Unset: everything in one process.",
        json_schema_extra={"shown_default": "unset (embedded)", "secret": True},
    )
    map_tiles: str = Field(
        default="",
        max_length=2000,
        description="Raster map tiles under the pages' maps: a URL template of the force's tile server "
        "(https://tiles.example/{z}/{x}/{y}.png; its host is added to the pages' image policy) or a local "
        ".mbtiles or .pmtiles (v3) file of PNG/JPEG/WebP tiles that Vigil serves itself to signed-in users. "
        "Unset: the cameras on a scaled grid with a north arrow and scale bar.",
    )
    map_attribution: str = Field(
        default="",
        max_length=500,
        description="The attribution the tile source requires, shown on every map (an .mbtiles or .pmtiles "
        "file's own 'attribution' metadata is used when this is unset).",
    )
    nearby_km: float = Field(
        default=2.0,
        gt=0,
        le=100,
        description="The subject page lists the cameras within this many kilometres of where the person was "
        "last seen, with the officers of their camera groups and the routing rules that would send a red flag "
        "from them.",
    )
    shift_hours: float = Field(
        default=12.0,
        gt=0,
        le=48,
        description="A red flag an officer acknowledged, is on the way to or did not find stays on that "
        "officer's field view for this many hours, even once it is decided or outside the officer's areas.",
    )
    media_views_per_hour: int = Field(
        default=600,
        ge=1,
        le=1_000_000,
        description="The most different enrolled photos and alert crops one user may open in an hour; past "
        "it the control room refuses (audited, and marked in the auditors' access summary).",
    )
    trusted_proxies: str = Field(
        default="",
        description="Comma-separated addresses or ranges (CIDR) of the reverse proxies in front of the "
        "control room. Only a request from one of them has its X-Forwarded-For (client address) and "
        "X-Forwarded-Proto believed; from anyone else they are ignored. Empty: believed from no one.",
        json_schema_extra={"shown_default": "empty (no proxy trusted)"},
    )
    metrics_token: str | None = Field(
        default=None,
        min_length=16,
        description="The bearer token a Prometheus scraper sends to /metrics. Without it only a signed-in "
        "admin or auditor can read /metrics.",
        json_schema_extra={"shown_default": "unset (admins and auditors only)", "secret": True},
    )
    outbound_allowed_networks: str = Field(
        default="",
        description="Comma-separated networks (CIDR) that webhooks and MQTT brokers may be reached in although "
        "they are private, loopback or link-local (a broker on the server's own network). Cameras are "
        "not affected: they may always be in private ranges, and only `web_cameras_local` lets the "
        "control room add local ones. Empty: webhooks and brokers must have public addresses.",
        json_schema_extra={"shown_default": "empty (public addresses only)"},
    )
    web_cameras_local: bool = Field(
        default=False,
        description="Let the control room register camera sources on the server itself: files, webcams, "
        "loopback and link-local addresses (demos and tests). Off, the web takes network cameras only; "
        "`vigil camera add` on the server takes any source.",
    )
    watchlist_poll_s: float = Field(
        default=1.0,
        gt=0.0,
        le=60.0,
        description="How often a running process reads the watchlist change log to bring its gallery in step "
        "with changes made by other processes. On PostgreSQL a notification wakes it at once; this is the "
        "fallback.",
    )
    lease_s: float = Field(
        default=8.0,
        ge=2.0,
        le=300.0,
        description="Scale-out: how long a worker's claim on a camera lasts without a heartbeat. A dead "
        "worker's cameras move to live workers within lease_s + heartbeat_s.",
    )
    heartbeat_s: float = Field(
        default=2.0, gt=0.0, le=60.0, description="Scale-out: how often a worker renews its leases and claims cameras."
    )
    worker_max_cameras: int = Field(
        default=64, ge=1, le=10_000, description="Scale-out: the most cameras one worker process runs."
    )
    worker_health_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="`vigil worker`: serve /healthz (alive, heartbeat turning), /readyz (database, Redis, "
        "migrations at head, the active model loaded; 503 naming what is not ready) and /metrics (its "
        "cameras, frames, detection time, leases, gallery version, queued alerts, outbox lag, model) on this "
        "port, for Kubernetes probes and Prometheus. No login, no personal data. Unset: no health port "
        "(`vigil serve` has the same on its own port). VIGIL_HEALTH_PORT, its former name, is still read.",
        json_schema_extra={"shown_default": "unset"},
    )
    worker_health_host: str = Field(
        default="0.0.0.0",
        min_length=1,
        description="The address the worker's health port listens on (all interfaces, so a probe can reach "
        "the pod's address). VIGIL_HEALTH_HOST, its former name, is still read.",
    )
    log_format: Literal["text", "json"] = Field(
        default="text",
        description="How log lines are written to stderr: 'text' (one readable line) or 'json' (one JSON "
        "object per line: time, level, logger, message and, where known, camera, worker, request_id, user; "
        "for a log collector). Faces, embeddings and boxes are never logged in either.",
    )
    alert_queue_max: int = Field(
        default=10_000,
        ge=1,
        le=1_000_000,
        description="Alerts a process keeps on disk (<data_dir>/pending-alerts) while the database is "
        "unreachable, stored when it returns; beyond this, new alerts are dropped, counted and logged.",
    )

    public_url: str = Field(
        default="http://127.0.0.1:8000",
        description="The control room's address as its users reach it: the link in every event sent out "
        "(opening it needs a login).",
    )
    notify: bool = Field(
        default=True,
        description="Whether this process delivers the outbox (webhooks, MQTT) and escalates unacknowledged "
        "red flags. Every process may: each delivery is claimed by one at a time.",
    )
    notify_poll_s: float = Field(
        default=0.5,
        gt=0.0,
        le=60.0,
        description="How often a delivering process looks for events another process stored (its own are "
        "sent at once).",
    )
    notify_retry_base_s: float = Field(
        default=1.0, gt=0.0, le=3600.0, description="A failed delivery's first retry waits up to this long."
    )
    notify_retry_max_s: float = Field(
        default=300.0,
        gt=0.0,
        le=86_400.0,
        description="The longest wait between retries (exponential backoff with full jitter up to it).",
    )
    notify_failing_after_s: float = Field(
        default=300.0,
        gt=0.0,
        description="An endpoint whose deliveries have all failed for this long is flagged to admins.",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """The usual sources, then the former names of renamed settings (the new name wins)."""
        return init_settings, env_settings, dotenv_settings, file_secret_settings, _FormerNames(settings_cls)

    @property
    def trusted_proxy_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        return tuple(
            ipaddress.ip_network(part.strip(), strict=False) for part in self.trusted_proxies.split(",") if part.strip()
        )

    @property
    def outbound_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        return parse_networks(self.outbound_allowed_networks)

    @model_validator(mode="after")
    def _outbound_parse(self) -> VigilSettings:
        try:
            self.outbound_networks  # noqa: B018
        except ValueError as exc:
            raise ValueError(f"outbound_allowed_networks: {exc}") from None
        return self

    @model_validator(mode="after")
    def _map_tiles_check(self) -> VigilSettings:
        tiles = self.map_tiles
        if tiles and not (tiles.endswith((".mbtiles", ".pmtiles")) or re.match(r"^https?://[^/\s]+/\S*$", tiles)):
            raise ValueError("map_tiles: an http(s) URL template with {z}, {x} and {y}, or a .mbtiles or .pmtiles file")
        if tiles.startswith(("http://", "https://")) and not all(k in tiles for k in ("{z}", "{x}", "{y}")):
            raise ValueError("map_tiles: a URL template needs {z}, {x} and {y}")
        return self

    @model_validator(mode="after")
    def _proxies_parse(self) -> VigilSettings:
        try:
            self.trusted_proxy_networks  # noqa: B018
        except ValueError as exc:
            raise ValueError(f"trusted_proxies: {exc}") from None
        return self

    @model_validator(mode="after")
    def _heartbeat_within_lease(self) -> VigilSettings:
        if self.heartbeat_s * 3 > self.lease_s:
            raise ValueError("heartbeat_s must be at most a third of lease_s, so a live worker never loses a lease")
        return self

    @property
    def resolved_models_dir(self) -> Path:
        """The folder searched for user-supplied model files."""
        return self.models_dir if self.models_dir is not None else self.data_dir / "models"

    @property
    def resolved_audit_key_file(self) -> Path:
        return self.audit_key_file if self.audit_key_file is not None else self.data_dir / "audit.key"

    @property
    def resolved_evidence_key_file(self) -> Path:
        return self.evidence_key_file if self.evidence_key_file is not None else self.data_dir / "evidence.key"

    @property
    def cache_dir(self) -> Path:
        """Where converted models are cached (e.g. dlib's network as ONNX)."""
        return self.data_dir / "cache"


def settings_table() -> str:
    """The README's settings table, generated from the fields (tests/test_settings.py keeps them equal)."""
    lines = ["| setting | flag | environment | default |", "|---|---|---|---|"]
    for name, field in VigilSettings.model_fields.items():
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        flag = f"`{extra['flag']}`" if "flag" in extra else "—"
        if "shown_default" in extra:
            default = str(extra["shown_default"])
        else:
            value = field.get_default()
            default = (
                "unset"
                if value is None
                else f"`{value}`"
                if isinstance(value, str)
                else f"{value:g}"
                if isinstance(value, float)
                else str(value)
            )
        description = re.sub(r"<([a-z_-]+)>", r"`<\1>`", (field.description or "").replace("|", "\\|"))
        lines.append(f"| {description} | {flag} | `VIGIL_{name.upper()}` | {default} |")
    return "\n".join(lines) + "\n"


def load_settings(**overrides: object) -> VigilSettings:
    """Build the settings once: explicit overrides (None means "not given") win over the environment."""
    given = {key: value for key, value in overrides.items() if value is not None}
    return VigilSettings(**given)  # type: ignore[arg-type]
