"""The control-room demo: a demo data directory with users, a small watchlist and four looping cameras at
public places in Lucknow.

Each camera plays a street scene that loops every ``LOOP_S`` seconds; in it one watchlisted person (the
public-domain portraits that ship in scikit-image and matplotlib) walks through once, at a different
moment on each camera. So an operator who logs in sees a red flag arrive within a minute of the start and
a fresh one every ``LOOP_S / len(CAMERAS)`` seconds or so; each camera raises its own again every
``LOOP_S`` seconds, long after the analyser's re-arming window (30 s), so repeats are new red flags, not
folded into the last. Both people walk past two cameras each, so a trail forms once sightings are
confirmed. Where ``../shared/data/lfw`` is present, twenty LFW people join the watchlist (a fuller list
to search); photos the enrollment rules refuse are skipped and counted in one line. Running it again
reuses what exists and issues fresh passwords; it works offline on a fresh machine.
"""

from __future__ import annotations

import io
import secrets
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from vigil.domain.cameras import CameraError, CameraRegistry
from vigil.domain.enrollment import EnrollmentError, SubjectFields
from vigil.domain.users import UserError, UserService
from vigil.domain.watchlist import WatchlistService
from vigil.settings import VigilSettings

LOOP_S = 100.0  # every demo clip's length: each camera raises a fresh red flag this often
WALK_S = 7.0  # how long a walker takes to cross a camera's picture


@dataclass(frozen=True)
class DemoCamera:
    name: str
    place: str
    latitude: float  # WGS84, approximate (../shared/FIELD.md)
    longitude: float
    group: str
    walker: str  # "collins" or "hopper": whose portrait walks past
    enters_s: float  # when in the loop the walker enters the picture


# Public places in Lucknow; the walkers come by 10, 35, 60 and 85 s into each 100 s loop.
CAMERAS = (
    DemoCamera("charbagh-station", "Charbagh railway station", 26.8320, 80.9200, "charbagh", "collins", 10.0),
    DemoCamera("hazratganj-crossing", "Hazratganj", 26.8500, 80.9460, "hazratganj", "hopper", 35.0),
    DemoCamera("aminabad-market", "Aminabad market", 26.8460, 80.9270, "charbagh", "collins", 60.0),
    DemoCamera("bara-imambara-gate", "Bara Imambara", 26.8690, 80.9130, "chowk", "hopper", 85.0),
)
OLD_CAMERAS = ("north-gate", "market-street", "station")  # the demo's cameras before issue 28 (removed)
DEMO_USERS = [
    ("admin", "admin", "Demo Admin"),
    ("supervisor", "supervisor", "Demo Supervisor"),
    ("supervisor2", "supervisor", "Demo Second Supervisor"),  # approves what the first proposes
    ("operator", "operator", "Demo Operator"),
    ("auditor", "auditor", "Demo Auditor"),
    ("authoriser", "authoriser", "Demo Authoriser"),
]


@dataclass
class DemoRoom:
    data_dir: Path
    passwords: dict[str, str] = field(default_factory=dict)
    cameras: list[str] = field(default_factory=list)
    subjects: list[str] = field(default_factory=list)
    source: str = ""


def shared_data() -> Path | None:
    """``../shared/data`` next to the current directory or the repository, if present."""
    candidates = [Path.cwd().parent / "shared" / "data", Path(__file__).resolve().parents[3] / "shared" / "data"]
    for candidate in candidates:
        if (candidate / "video" / "crowd_walk_1080p.mp4").is_file():
            return candidate
    return None


def _jpeg(image: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=92)
    return buffer.getvalue()


def _fields(name: str, ref: str, basis: str, category: str = "missing-person") -> SubjectFields:
    return SubjectFields(
        display_name=name,
        category=category,
        legal_basis_type="demonstration",
        legal_basis_reference=basis,
        approved_by="supervisor2",
        expires_at=datetime.now(UTC) + timedelta(days=30),
        external_ref=ref,
        proposed_by="supervisor",
    )


def _enroll(watchlist: WatchlistService, fields: SubjectFields, photo: bytes) -> str | None:
    """Enroll unless enrolled already; the enrollment rule that refused the photo, if one did."""
    assert fields.external_ref is not None
    if watchlist.find_by_ref(fields.external_ref) is not None:
        return None
    try:
        watchlist.enroll(fields, [(f"{fields.external_ref}.jpg", photo)])
    except EnrollmentError as exc:
        return exc.rule
    return None


def demo_clip(camera: DemoCamera, portrait: np.ndarray, folder: Path) -> Path:
    """The camera's looping street scene with the walker crossing at ``camera.enters_s`` (made once)."""
    from vigil.samples import street_scene_clip

    clip = folder / f"lucknow-{camera.name}-v1.mp4"
    if not clip.exists():
        seed = sum(map(ord, camera.name))
        street_scene_clip(
            clip,
            portrait,
            seconds=LOOP_S,
            fps=8,
            size=(960, 540),
            crossing=(camera.enters_s, camera.enters_s + WALK_S),
            face_px=110,
            seed=seed,
        )
    return clip


def setup_demo(
    settings: VigilSettings, watchlist: WatchlistService, say: Callable[[str], None] = print, *, offline: bool = False
) -> DemoRoom:
    """Users with fresh passwords, the demo watchlist and three registered cameras (idempotent)."""
    room = DemoRoom(settings.data_dir)
    users = UserService(watchlist.db)
    for username, role, name in DEMO_USERS:
        password = secrets.token_urlsafe(12)
        try:
            users.add(username, password, role, display_name=name)
        except UserError:
            users.set_password(username, password)
        room.passwords[username] = password

    clips = settings.data_dir / "clips"
    from vigil.samples import sample_images

    astronaut, hopper = sample_images()
    refused: Counter[str] = Counter()
    for fields, image in (
        (_fields("Eileen Collins", "demo:collins", "DEMO-1 public-domain NASA portrait"), astronaut),
        (_fields("Grace Hopper", "demo:hopper", "DEMO-4 public-domain US Navy portrait", "wanted"), hopper),
    ):
        rule = _enroll(watchlist, fields, _jpeg(image))
        if rule is not None:
            raise RuntimeError(f"the demo's portrait of {fields.display_name} was refused: {rule}")
    data = None if offline else shared_data()
    lfw = None if data is None else data / "lfw" / "images"
    if lfw is not None and lfw.is_dir():
        room.source = f"bundled portraits and LFW people from {data}"
        for folder in sorted(p for p in lfw.iterdir() if p.is_dir())[:20]:
            photo = min(folder.glob("*.jpg"))
            fields = _fields(folder.name.replace("_", " "), f"demo:lfw:{folder.name}", "DEMO-LFW research image")
            rule = _enroll(watchlist, fields, photo.read_bytes())
            if rule is not None:
                refused[rule] += 1
        if refused:
            why = ", ".join(f"{n} {rule}" for rule, n in sorted(refused.items()))
            say(f"  skipped {sum(refused.values())} of 20 LFW sample photos the enrollment rules refused ({why})")
    else:
        room.source = "portraits bundled with scikit-image and matplotlib (offline)"
    portraits = {"collins": astronaut, "hopper": hopper}

    registry = CameraRegistry(watchlist.db)
    known = {c.name for c in registry.cameras()}
    for old_name in OLD_CAMERAS:  # a demo directory made before the cameras moved to Lucknow
        if old_name in known:
            registry.remove(old_name)
    for camera in CAMERAS:
        source = demo_clip(camera, portraits[camera.walker], clips)
        if camera.name not in known:
            try:
                registry.add(
                    camera.name,
                    str(source),
                    latitude=camera.latitude,
                    longitude=camera.longitude,
                    group=camera.group,
                    analysis_fps=4.0,
                )
            except CameraError as exc:
                say(f"  camera {camera.name} not added: {exc}")
        room.cameras.append(camera.name)
    _authorise(settings, watchlist, room.cameras, say)
    room.subjects = [s.display_name for s in watchlist.list_subjects()]
    return room


def _authorise(
    settings: VigilSettings, watchlist: WatchlistService, cameras: list[str], say: Callable[[str], None]
) -> None:
    """The demo's cameras scan under a 30-day authorisation (asked by the demo supervisor, signed by
    the demo authoriser) unless one covers them already."""
    from vigil.domain.audit import AuditLog
    from vigil.domain.authorisations import AuthorisationService, threshold_snapshot
    from vigil.domain.thresholds import ThresholdService

    audit = AuditLog(watchlist.db, key_file=settings.resolved_audit_key_file)
    service = AuthorisationService(watchlist.db, audit)
    now = datetime.now(UTC)
    if all(service.coverage(name, now) for name in cameras):
        return
    embedder = watchlist.engine.embedder
    thresholds = ThresholdService(watchlist.db, audit, embedder.name, embedder.version).thresholds()
    view = service.add(
        cameras=cameras,
        categories=[c.name for c in watchlist.categories()],
        starts_at=now,
        ends_at=now + timedelta(days=30),
        purpose="demonstration of the control room on recorded clips",
        requested_by="supervisor",
        authorised_by="authoriser",
        reason="demo data only",
        thresholds=threshold_snapshot(thresholds),
        source="demo",
    )
    say(f"  cameras authorised until {view.ends_at:%Y-%m-%d} ({view.id})")
