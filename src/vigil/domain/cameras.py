"""The camera registry: name, stream URL, location and analysis rate. Bad input changes nothing."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import numpy as np
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from vigil.domain.audit import Actor, AuditLog, audit_change
from vigil.domain.vocabulary import AuditAction
from vigil.errors import RuleError
from vigil.netguard import OutboundRefused, Target, checked_addresses
from vigil.pipeline.analyser import encode_jpeg
from vigil.pipeline.runtime import CameraConfig
from vigil.redaction import redact_url
from vigil.store.db import Database
from vigil.store.models import Camera
from vigil.video.sources import AddressRefused, SourceError, SourceSpec, grab_frame, parse_source
from vigil.video.zones import CameraZones, ZoneError
from vigil.vision.engine import FaceEngine
from vigil.vision.redact import blur_all_faces

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
MAX_ANALYSIS_FPS = 30.0
DEFAULT_ANALYSIS_FPS = 5.0


class CameraError(RuleError):
    """A camera request broke a rule; ``rule`` names it."""


@dataclass(frozen=True)
class CameraView:
    """A camera as it may be shown: the URL without its credentials."""

    name: str
    url: str
    kind: str
    latitude: float
    longitude: float
    analysis_fps: float
    group: str = ""  # the area it belongs to (e.g. a police station's), or ""
    zones: CameraZones | None = None  # where faces are looked for (None: the whole frame)


GROUP = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}$")


def check_group(group: str) -> str:
    group = group.strip()
    if group and not GROUP.match(group):
        raise CameraError("camera-group", f"{group!r}: use 1-64 letters, digits, spaces, '.', '_' or '-'")
    return group


def check_camera(name: str, url: str, latitude: float, longitude: float, analysis_fps: float) -> SourceSpec:
    if not NAME.match(name):
        raise CameraError("camera-name", f"{name!r}: use 1-64 letters, digits, '.', '_' or '-', starting alphanumeric")
    try:
        spec = parse_source(url)
    except SourceError as exc:
        raise CameraError("camera-url", str(exc)) from None
    if not (math.isfinite(latitude) and -90.0 <= latitude <= 90.0):
        raise CameraError("camera-location", f"latitude {latitude} is outside -90..90")
    if not (math.isfinite(longitude) and -180.0 <= longitude <= 180.0):
        raise CameraError("camera-location", f"longitude {longitude} is outside -180..180")
    if not (math.isfinite(analysis_fps) and 0 < analysis_fps <= MAX_ANALYSIS_FPS):
        raise CameraError("camera-rate", f"analysis rate {analysis_fps} must be above 0 and at most {MAX_ANALYSIS_FPS}")
    return spec


def check_network_source(
    url: str,
    *,
    allow_local: bool,
    resolve: Callable[[str], list[str]] | None = None,
) -> None:
    """A source someone asks for over the network (the control room) must be a network camera: never a
    file or a device on the server, and not the server's own loopback, link-local or unspecified
    addresses (the cloud metadata service, a database port) unless ``allow_local`` (demos and tests).
    Private ranges (10/8, 192.168/16 …) are where cameras live and are allowed. Names are resolved now
    by the outbound guard (:mod:`vigil.netguard`); a name that does not resolve here is taken (the camera
    may be reachable only from the workers), and every connection checks it again."""
    try:
        spec = parse_source(url)
    except SourceError as exc:
        raise CameraError("camera-url", str(exc)) from None
    if allow_local:
        return
    if spec.kind not in ("rtsp", "http"):
        raise CameraError(
            "camera-local",
            f"a {spec.kind} source is on the server itself: add it with `vigil camera add` on the server",
        )
    host = urlsplit(spec.url).hostname or ""
    try:
        checked_addresses(host, Target.CAMERA, resolver=resolve, unresolved_ok=True)
    except OutboundRefused as exc:
        raise CameraError("camera-local", f"{exc.detail}: not a camera") from None


def _view(camera: Camera) -> CameraView:
    kind = parse_source(camera.url).kind
    return CameraView(
        camera.name,
        redact_url(camera.url),
        kind,
        camera.latitude,
        camera.longitude,
        camera.analysis_fps,
        camera.group_name,
        zones_of(camera.zones),
    )


def checked_zones(data: object) -> CameraZones:
    """Zones and masks as submitted ({"frame": [w, h], "zones": [...], "masks": [...]}), validated; a
    :class:`~vigil.video.zones.ZoneError` names the broken rule."""
    return CameraZones.from_json(data)


def zones_of(stored: str | None) -> CameraZones | None:
    """A camera's stored zones (None: none set)."""
    if not stored:
        return None
    return CameraZones.from_json(json.loads(stored))


class CameraRegistry:
    """``audit``: where additions and removals are recorded, each in the transaction that makes it."""

    def __init__(self, db: Database, *, audit: AuditLog | None = None) -> None:
        self.db = db
        self.audit = audit

    def add(
        self,
        name: str,
        url: str,
        *,
        latitude: float,
        longitude: float,
        analysis_fps: float = DEFAULT_ANALYSIS_FPS,
        group: str = "",
        by: Actor | None = None,
    ) -> CameraView:
        check_camera(name, url, latitude, longitude, analysis_fps)
        camera = Camera(
            name=name,
            url=url,
            latitude=latitude,
            longitude=longitude,
            analysis_fps=analysis_fps,
            group_name=check_group(group),
        )
        try:
            with self.db.session() as session:
                if session.scalar(select(Camera.id).where(Camera.name == name)) is not None:
                    raise CameraError("camera-exists", f"a camera named {name!r} is registered already")
                session.add(camera)
                session.flush()
                view = _view(camera)
                details = {"url": view.url, "latitude": latitude, "longitude": longitude, "group": view.group}
                audit_change(
                    self.audit,
                    session,
                    by,
                    AuditAction.CAMERA_ADDED,
                    object_type="camera",
                    object_id=name,
                    details=details,
                )
                return view
        except IntegrityError:
            raise CameraError("camera-exists", f"a camera named {name!r} is registered already") from None

    def cameras(self) -> list[CameraView]:
        with self.db.session() as session:
            return [_view(c) for c in session.scalars(select(Camera).order_by(Camera.name))]

    def remove(self, name: str, *, by: Actor | None = None) -> None:
        with self.db.session() as session:
            camera = session.scalar(select(Camera).where(Camera.name == name))
            if camera is None:
                raise CameraError("camera-unknown", f"no camera named {name!r}")
            session.delete(camera)
            audit_change(self.audit, session, by, AuditAction.CAMERA_REMOVED, object_type="camera", object_id=name)

    def set_zones(self, name: str, zones: CameraZones | None, *, by: Actor | None = None) -> CameraView:
        """Replace a camera's zones and masks (None or empty: search the whole frame). ``zones`` come
        validated (:func:`vigil.video.zones.check_zones`); the change is audited in its transaction."""
        if zones is not None and not isinstance(zones, CameraZones):
            raise ZoneError("zone-format", "zones must be checked first")
        stored = None if zones is None or zones.empty else json.dumps(zones.as_json(), separators=(",", ":"))
        with self.db.session() as session:
            camera = session.scalar(select(Camera).where(Camera.name == name))
            if camera is None:
                raise CameraError("camera-unknown", f"no camera named {name!r}")
            camera.zones = stored
            details: dict[str, object] = (
                {"zones": 0, "masks": 0}
                if zones is None
                else {"frame": list(zones.frame), "zones": len(zones.zones), "masks": len(zones.masks)}
            )
            audit_change(
                self.audit,
                session,
                by,
                AuditAction.CAMERA_ZONES_SET,
                object_type="camera",
                object_id=name,
                details=details,
            )
            return _view(camera)

    def zones(self, names: list[str]) -> dict[str, CameraZones | None]:
        """The zones of the named cameras that are registered."""
        with self.db.session() as session:
            rows = session.execute(select(Camera.name, Camera.zones).where(Camera.name.in_(names))).all()
        return {name: zones_of(stored) for name, stored in rows}

    def frame_size(self, name: str) -> tuple[int, int]:
        """(width, height) of the camera's frames now (one frame read and dropped)."""
        image = self._grab(name)
        return image.shape[1], image.shape[0]

    def _grab(self, name: str) -> np.ndarray:
        """One frame of the camera as it is now, read from its source and kept nowhere."""
        with self.db.session() as session:
            url = session.scalar(select(Camera.url).where(Camera.name == name))
        if url is None:
            raise CameraError("camera-unknown", f"no camera named {name!r}")
        try:
            return grab_frame(parse_source(url))
        except AddressRefused as exc:  # nothing was connected to
            raise CameraError(AddressRefused.rule, str(exc)) from None

    def connection_details(self, names: list[str]) -> list[tuple[str, str, float]]:
        """(name, URL with credentials, analysis rate) of the named cameras that are registered."""
        with self.db.session() as session:
            rows = session.execute(
                select(Camera.name, Camera.url, Camera.analysis_fps).where(Camera.name.in_(names))
            ).all()
        return [(name, url, rate) for name, url, rate in rows]

    def configs(
        self, names: list[str] | None = None, *, loop: bool = False, realtime: bool = True
    ) -> list[CameraConfig]:
        """What the runner needs to run the registered cameras (all, or those named that are registered):
        the one place a registry row becomes a camera configuration. Files loop with ``loop``."""
        query = select(Camera.name, Camera.url, Camera.analysis_fps, Camera.zones).order_by(Camera.name)
        if names is not None:
            query = query.where(Camera.name.in_(names))
        with self.db.session() as session:
            rows = session.execute(query).all()
        return [
            CameraConfig(name, parse_source(url, loop=loop, realtime=realtime), rate, zones_of(zones))
            for name, url, rate, zones in rows
        ]

    def blurred_frame(self, name: str, engine: FaceEngine) -> tuple[bytes, int]:
        """One frame of the camera as it is now, as JPEG with every face blurred, and how many faces were
        blurred. Read from the source on request; kept nowhere."""
        image = self._grab(name)
        faces = engine.detect(image)
        return encode_jpeg(blur_all_faces(image, faces.xyxy)), len(faces)

    def sources(self) -> list[tuple[str, SourceSpec, float]]:
        """(name, source, analysis rate) of every registered camera — with credentials, for connecting only."""
        with self.db.session() as session:
            return [
                (c.name, parse_source(c.url), c.analysis_fps)
                for c in session.scalars(select(Camera).order_by(Camera.name))
            ]
