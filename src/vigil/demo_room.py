"""The control-room demo: a demo data directory with users, a small watchlist and three looping cameras.

Where ``../shared/data`` is present it uses the crowd clip (a passer-by from an early frame is on the
watchlist), the single-face clip (its caller too) and a few LFW people; otherwise it builds its watchlist
and its clips from the public-domain portraits that ship in scikit-image and matplotlib, so it works
offline on a fresh machine. Running it again reuses what exists and issues fresh passwords.
"""

from __future__ import annotations

import io
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from vigil.domain.cameras import CameraError, CameraRegistry
from vigil.domain.enrollment import EnrollmentError, SubjectFields
from vigil.domain.users import UserError, UserService
from vigil.domain.watchlist import WatchlistService
from vigil.samples import portrait_clip
from vigil.settings import VigilSettings

# Three cameras around a square (latitude, longitude), a couple of hundred metres apart.
PLACES = [("north-gate", 51.50853, -0.12803), ("market-street", 51.50715, -0.12600), ("station", 51.50620, -0.12935)]
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


def _enroll(watchlist: WatchlistService, fields: SubjectFields, photo: bytes, say: Callable[[str], None]) -> None:
    assert fields.external_ref is not None
    if watchlist.find_by_ref(fields.external_ref) is not None:
        return
    try:
        watchlist.enroll(fields, [(f"{fields.external_ref}.jpg", photo)])
    except EnrollmentError as exc:
        say(f"  not enrolled {fields.display_name}: {exc}")


def _best_face_crop(watchlist: WatchlistService, frame: np.ndarray) -> np.ndarray:
    from vigil.pipeline.analyser import face_crop
    from vigil.vision.quality import assess_quality

    faces = watchlist.engine.detect(frame)
    best = int(np.argmax(assess_quality(frame, faces).score))
    return face_crop(frame, faces.xyxy[best], margin=2.2)


def _first_frames(video: Path, count: int) -> list[np.ndarray]:
    import av

    with av.open(str(video)) as container:
        frames = []
        for frame in container.decode(video=0):
            frames.append(frame.to_ndarray(format="rgb24"))
            if len(frames) >= count:
                break
    return frames


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
    data = None if offline else shared_data()
    if data is not None:
        room.source = f"shared data at {data}"
        crowd, carphone = data / "video" / "crowd_walk_1080p.mp4", data / "video" / "carphone_176x144.mp4"
        _enroll(
            watchlist,
            _fields("Passer-by (crowd clip)", "demo:crowd-passer-by", "DEMO-2 crowd clip frame 5"),
            _jpeg(_best_face_crop(watchlist, _first_frames(crowd, 6)[5])),
            say,
        )
        _enroll(
            watchlist,
            _fields("Caller (carphone clip)", "demo:caller", "DEMO-3 carphone clip frame 0", "wanted"),
            _jpeg(_first_frames(carphone, 1)[0]),
            say,
        )
        lfw = data / "lfw" / "images"
        if lfw.is_dir():
            for folder in sorted(p for p in lfw.iterdir() if p.is_dir())[:20]:
                photo = min(folder.glob("*.jpg"))
                _enroll(
                    watchlist,
                    _fields(folder.name.replace("_", " "), f"demo:lfw:{folder.name}", "DEMO-LFW research image"),
                    photo.read_bytes(),
                    say,
                )
        from vigil.samples import sample_images

        astronaut, _ = sample_images()
        portrait = clips / "portrait_walk.mp4"
        if not portrait.exists():
            portrait_clip(astronaut, portrait)
        _enroll(
            watchlist,
            _fields("Eileen Collins", "demo:collins", "DEMO-1 public-domain NASA portrait"),
            _jpeg(astronaut),
            say,
        )
        sources = [str(crowd), str(carphone), str(portrait)]
    else:
        room.source = "portraits bundled with scikit-image and matplotlib (offline)"
        from vigil.samples import sample_images

        astronaut, hopper = sample_images()
        _enroll(
            watchlist,
            _fields("Eileen Collins", "demo:collins", "DEMO-1 public-domain NASA portrait"),
            _jpeg(astronaut),
            say,
        )
        _enroll(
            watchlist,
            _fields("Grace Hopper", "demo:hopper", "DEMO-4 public-domain US Navy portrait", "wanted"),
            _jpeg(hopper),
            say,
        )
        sources = []
        for name, image, seed in (
            ("collins_walk", astronaut, 1),
            ("hopper_walk", hopper, 2),
            ("collins_mirrored", np.ascontiguousarray(astronaut[:, ::-1]), 3),
        ):
            clip = clips / f"{name}.mp4"
            if not clip.exists():
                portrait_clip(image, clip, seed=seed)
            sources.append(str(clip))

    registry = CameraRegistry(watchlist.db)
    known = {c.name for c in registry.cameras()}
    for (name, lat, lon), source in zip(PLACES, sources, strict=True):
        if name not in known:
            try:
                registry.add(name, source, latitude=lat, longitude=lon, analysis_fps=4.0)
            except CameraError as exc:
                say(f"  camera {name} not added: {exc}")
        room.cameras.append(name)
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
