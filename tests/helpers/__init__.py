"""Helpers shared by the watchlist tests: a controllable clock, photo encoding, valid fields, and a
snapshot of everything the watchlist stores (rows and files) to prove a failure changed nothing."""

from __future__ import annotations

import contextlib
import io
from datetime import UTC, datetime, timedelta

import numpy as np
from PIL import Image
from sqlalchemy import func, select

from vigil.domain.enrollment import SubjectFields
from vigil.domain.users import ensure_supervisors
from vigil.domain.watchlist import WatchlistService
from vigil.pipeline.events import TrackMatch
from vigil.settings import VigilSettings
from vigil.store.db import open_database
from vigil.store.media import FolderMediaStore
from vigil.store.models import Photo, PhotoEmbedding, Subject

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
PROPOSER, APPROVER = "insp.proposer", "insp.approver"  # the two supervisors test entries are enrolled under


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def jpeg(image: np.ndarray, quality: int = 92) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def fields(name: str = "Eileen Collins", **changes: object) -> SubjectFields:
    values: dict[str, object] = {
        "display_name": name,
        "category": "missing-person",
        "legal_basis_type": "missing person report",
        "legal_basis_reference": "MP-2026-0042",
        "approved_by": APPROVER,
        "proposed_by": PROPOSER,
        "expires_at": NOW + timedelta(days=90),
    }
    values.update(changes)
    return SubjectFields(**values)  # type: ignore[arg-type]


def snapshot(service: WatchlistService) -> tuple[int, int, int, list[str]]:
    with service.db.session() as session:
        counts = tuple(session.scalar(select(func.count()).select_from(t)) for t in (Subject, Photo, PhotoEmbedding))
    files = (
        sorted(str(p.relative_to(service.media.root)) for p in service.media.root.rglob("*") if p.is_file())
        if service.media.root.exists()
        else []
    )
    return (*counts, files)  # type: ignore[return-value]


def make_service(settings: VigilSettings, engine: object, clock: Clock) -> WatchlistService:
    """A started watchlist over the settings' database and media folder (its changes audited with the
    settings' audit key), with the two supervisors that :func:`fields` names as proposer and approver."""
    from vigil.domain.audit import AuditLog

    db = open_database(settings)
    service = WatchlistService(
        db,
        FolderMediaStore(settings.data_dir / "media"),
        engine,  # type: ignore[arg-type]
        settings,
        duplicate_threshold=0.956,
        clock=clock,
        audit=AuditLog(db, key_file=settings.resolved_audit_key_file),
    )
    service.start()
    ensure_supervisors(service.db, PROPOSER, APPROVER)
    return service


def with_approvers(service: WatchlistService) -> WatchlistService:
    """``service`` with the two supervisors :func:`fields` names (for watchlists opened another way)."""
    ensure_supervisors(service.db, PROPOSER, APPROVER)
    return service


def live_settings(tmp_path: object, base: VigilSettings) -> VigilSettings:
    """Settings for a live test: a data dir of its own (the session's engine is passed in, already loaded)."""
    from pathlib import Path

    data_dir = Path(str(tmp_path)) / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    return base.model_copy(update={"data_dir": data_dir})


def live_service(settings: VigilSettings, engine: object) -> WatchlistService:
    """A started watchlist on the real clock (live tests search at the frames' wall-clock time)."""
    from vigil.clock import system_clock

    return make_service(settings, engine, system_clock)  # type: ignore[arg-type]


def live_fields(name: str, category: str = "wanted") -> SubjectFields:
    return fields(name, category=category, expires_at=datetime.now(UTC) + timedelta(days=90))


def enroll_lfw_people(service: WatchlistService, lfw_dir: object, count: int) -> int:
    """Enroll the first photo of LFW people (alphabetical) until ``count`` are enrolled; returns how many."""
    from pathlib import Path

    from vigil.domain.enrollment import EnrollmentError

    enrolled = 0
    for folder in sorted(p for p in (Path(str(lfw_dir)) / "images").iterdir() if p.is_dir()):
        photo = min(folder.glob("*.jpg"))
        try:
            service.enroll(
                live_fields(folder.name.replace("_", " "), category="missing-person"),
                [(photo.name, photo.read_bytes())],
            )
        except EnrollmentError:
            continue
        enrolled += 1
        if enrolled >= count:
            break
    return enrolled


def alert_event(subject_id: str, *, camera: str = "gate", track: str = "t-1", **changes: object) -> TrackMatch:
    """A plausible alert for ``subject_id`` as the pipeline would hand it over (with a crop)."""
    import time
    from dataclasses import replace

    from vigil.pipeline.analyser import encode_jpeg
    from vigil.pipeline.events import alert_key

    now = time.time()
    event = TrackMatch(
        key=alert_key(camera, track, subject_id),
        subject_id=subject_id,
        subject_name="Eileen Collins",
        category="wanted",
        camera=camera,
        track_id=track,
        first_seen=now - 2,
        last_seen=now - 1,
        score=0.97,
        evidence=0.965,
        threshold=0.956,
        faces=3,
        decisive_capture_at=now - 0.2,
        crop_jpeg=encode_jpeg(np.full((40, 40, 3), 128, np.uint8)),
    )
    return replace(event, **changes)  # type: ignore[arg-type]


REQUESTER, AUTHORISER = "requester.sup", "authoriser.one"
HELPER_PASSWORD = "correct horse battery"


def authorise(
    db: object,
    cameras: list[str],
    *,
    categories: list[str] | None = None,
    subjects: list[str] | None = None,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    clock: object = None,
) -> str:
    """Record an authorisation (signed by a test authoriser, asked by a test supervisor) covering
    ``cameras`` — by default for every category, from an hour ago for a day — and return its id."""
    from vigil.domain.audit import AuditLog
    from vigil.domain.authorisations import AuthorisationService
    from vigil.domain.users import UserError, UserService
    from vigil.domain.vocabulary import Role
    from vigil.store.models import Category

    database = db  # a vigil.store.db.Database
    users = UserService(database)  # type: ignore[arg-type]
    for username, role in ((REQUESTER, Role.SUPERVISOR), (AUTHORISER, Role.AUTHORISER)):
        with contextlib.suppress(UserError):
            users.add(username, HELPER_PASSWORD, role)
    with database.session() as session:  # type: ignore[attr-defined]
        every = list(session.scalars(select(Category.name)))
    now = datetime.now(UTC)
    kwargs = {} if clock is None else {"clock": clock}
    service = AuthorisationService(database, AuditLog(database, key=b"k" * 32), **kwargs)  # type: ignore[arg-type]
    return service.add(
        cameras=cameras,
        categories=every if categories is None and subjects is None else (categories or []),
        subjects=subjects or [],
        starts_at=starts_at or now - timedelta(hours=1),
        ends_at=ends_at or now + timedelta(days=1),
        purpose="test deployment",
        requested_by=REQUESTER,
        authorised_by=AUTHORISER,
        source="test",
    ).id


def authorised_gate(db: object, cameras: list[str], **scope: object) -> object:
    """A real gate (``AuthorisationBook``) over ``db`` after authorising ``cameras``."""
    from vigil.domain.authorisations import AuthorisationBook

    authorise(db, cameras, **scope)  # type: ignore[arg-type]
    return AuthorisationBook(db)  # type: ignore[arg-type]


def cli_supervisors(base: list[str]) -> list[str]:
    """Through the command line: the two supervisors (created if missing) an entry is proposed and
    approved by; returns the ``--proposed-by … --approved-by …`` options naming them."""
    from typer.testing import CliRunner

    from vigil.cli.main import app

    runner = CliRunner()
    env = {"VIGIL_TEST_PASSWORD": HELPER_PASSWORD}
    for username in (PROPOSER, APPROVER):
        runner.invoke(
            app,
            [*base, "users", "add", username, "--role", "supervisor", "--password-env", "VIGIL_TEST_PASSWORD"],
            env=env,
        )
    return ["--proposed-by", PROPOSER, "--approved-by", APPROVER]


def in_months(months: int = 6) -> str:
    """An expiry this many months ahead (within every category's longest validity), as YYYY-MM-DD."""
    return (datetime.now(UTC) + timedelta(days=30 * months)).date().isoformat()


def cli_authorise(base: list[str], cameras: str, *, categories: str = "missing-person,wanted") -> str:
    """Through the command line, as a script would: a supervisor and an authoriser (created if missing)
    and an authorisation of ``cameras`` from an hour ago for a day; returns its id."""
    from typer.testing import CliRunner

    from vigil.cli.main import app

    runner = CliRunner()
    env = {"VIGIL_TEST_PASSWORD": HELPER_PASSWORD}
    for username, role in ((REQUESTER, "supervisor"), (AUTHORISER, "authoriser")):
        runner.invoke(
            app, [*base, "users", "add", username, "--role", role, "--password-env", "VIGIL_TEST_PASSWORD"], env=env
        )
    now = datetime.now(UTC)
    result = runner.invoke(
        app,
        [
            *base,
            "authorisation",
            "add",
            "--cameras",
            cameras,
            "--categories",
            categories,
            "--from",
            (now - timedelta(hours=1)).isoformat(),
            "--until",
            (now + timedelta(days=1)).isoformat(),
            "--purpose",
            "test deployment",
            "--requested-by",
            REQUESTER,
            "--authorised-by",
            AUTHORISER,
        ],
    )
    assert result.exit_code == 0, result.output
    return result.stdout.strip().splitlines()[-1]
