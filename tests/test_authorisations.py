"""Authorisations: a camera analyses only while one covering it is active, matches only its scope, and
bad requests change nothing. Real databases (SQLite and PostgreSQL), the real analyser and runner."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select
from tests.helpers import AUTHORISER, REQUESTER, authorise, jpeg, live_fields, live_service, live_settings

from vigil.domain.alerts import AlertRecorder
from vigil.domain.audit import AuditLog
from vigil.domain.authorisations import (
    AuthorisationBook,
    AuthorisationError,
    AuthorisationService,
    AuthorisationView,
    coverage_at,
)
from vigil.domain.matching import WatchlistMatcher
from vigil.domain.users import UserService
from vigil.domain.vocabulary import Role
from vigil.pipeline.analyser import CameraAnalyser
from vigil.pipeline.runtime import CameraConfig, LiveRunner
from vigil.store.models import Alert, AuditEvent, Authorisation
from vigil.video.camera import CameraState
from vigil.video.sources import Frame, parse_source

START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
END = START + timedelta(hours=2)
US = timedelta(microseconds=1)
BOUNDARIES = [(START - US, False), (START, True), (END - US, True), (END, False)]


def _view(**changes: object) -> AuthorisationView:
    values: dict[str, object] = {
        "id": "a1",
        "purpose": "p",
        "reason": "",
        "requested_by": "s",
        "authorised_by": "a",
        "cameras": ("gate",),
        "camera_groups": (),
        "categories": ("wanted",),
        "subjects": (),
        "starts_at": START,
        "ends_at": END,
        "review_date": None,
        "thresholds": {},
        "created_at": START,
        "ended_at": None,
        "ended_by": None,
        "end_reason": "",
    }
    values.update(changes)
    return AuthorisationView(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(("at", "covered"), BOUNDARIES)
def test_coverage_starts_at_its_start_and_stops_at_its_end(at: datetime, covered: bool) -> None:
    assert bool(coverage_at([_view()], "gate", "", at)) is covered
    assert not coverage_at([_view()], "other-camera", "", START + timedelta(minutes=1))


def test_coverage_by_group_ended_early_and_the_reason_when_none() -> None:
    grouped = _view(cameras=(), camera_groups=("Hazratganj",))
    assert coverage_at([grouped], "gate", "Hazratganj", START)
    assert not coverage_at([grouped], "gate", "Aminabad", START)
    ended = _view(ended_at=START + timedelta(minutes=30))
    assert coverage_at([ended], "gate", "", START + timedelta(minutes=30) - US)
    assert not coverage_at([ended], "gate", "", START + timedelta(minutes=30))
    early = coverage_at([_view()], "gate", "", START - US)
    assert "next starts 2026-12-01T09:00:00+00:00" in early.why_not and early.resumes_at == START.timestamp()
    assert "last ended" in coverage_at([_view()], "gate", "", END).why_not
    assert coverage_at([], "gate", "", START).why_not == "no authorisation covers this camera"


def test_overlapping_authorisations_admit_the_union_and_name_the_first_that_admits() -> None:
    wanted = _view(id="a1", categories=("wanted",))
    missing = _view(id="a2", categories=(), subjects=("s-9",), starts_at=START + US)
    both = coverage_at([missing, wanted], "gate", "", START + timedelta(minutes=1))
    assert both.authorisation_ids == ("a1", "a2")
    assert both.admits("s-1", "wanted") and both.admits("s-9", "missing-person")
    assert not both.admits("s-2", "missing-person")
    assert both.authorisation_for("s-9", "missing-person") == "a2"


# ------------------------------------------------------------------------------ the real analyser
def _frame(image: np.ndarray, at: datetime, index: int = 0) -> Frame:
    t = at.timestamp()
    return Frame(image, index, float(index), t, t)


@pytest.fixture
def scanned(tmp_path: Path, settings, engine, astronaut, hopper, database_url):  # type: ignore[no-untyped-def]
    """A watchlist on SQLite or PostgreSQL with Collins (missing person) and Hopper (wanted), and an
    authorisation of camera ``gate`` for the wanted category from START to END."""
    run_settings = live_settings(tmp_path, settings).model_copy(update={"database_url": database_url})
    service = live_service(run_settings, engine)
    collins = service.enroll(live_fields("Eileen Collins", "missing-person"), [("c.jpg", jpeg(astronaut))])
    hopper_id = service.enroll(live_fields("Grace Hopper", "wanted"), [("h.jpg", jpeg(hopper))]).subject_id
    clock_now = START - timedelta(hours=1)
    authorise(service.db, ["gate"], categories=["wanted"], starts_at=START, ends_at=END, clock=lambda: clock_now)
    yield service, collins.subject_id, hopper_id
    service.db.dispose()


def _analyse(service, image: np.ndarray, at: datetime):  # type: ignore[no-untyped-def]
    recorder = AlertRecorder(service.db, service.media)
    gate = AuthorisationBook(service.db, clock=lambda: START)
    analyser = CameraAnalyser("gate", service.engine, WatchlistMatcher(service), recorder, gate=gate)
    raised = analyser.process(_frame(image, at))
    analyser.finish()
    return analyser.counters, raised


@pytest.mark.parametrize(("at", "covered"), BOUNDARIES)
def test_no_frame_is_analysed_and_nobody_matched_outside_the_authorisation(scanned, hopper, at, covered) -> None:  # type: ignore[no-untyped-def]
    service, _collins, hopper_id = scanned
    counters, raised = _analyse(service, hopper, at)
    assert counters.frames == (1 if covered else 0)
    assert counters.unauthorised_frames == (0 if covered else 1)
    assert [a.subject_id for a in raised] == ([hopper_id] if covered else [])
    with service.db.session() as session:
        stored = session.scalars(select(Alert)).all()
        (authorisation_id,) = session.scalars(select(Authorisation.id)).all()
    assert len(stored) == (1 if covered else 0)
    if covered:
        assert stored[0].authorisation_id == authorisation_id
        assert counters.by_authorisation == {authorisation_id: [1, 1, 1]}


def test_a_subject_outside_the_scope_never_matches_on_that_camera(scanned, astronaut) -> None:  # type: ignore[no-untyped-def]
    service, collins, _hopper = scanned
    inside = START + timedelta(minutes=5)
    counters, raised = _analyse(service, astronaut, inside)
    assert counters.frames == 1 and counters.embedded == 1  # analysed, embedded, but not in scope
    assert raised == []
    # the same face matches once Collins is named in a scope of her own
    clock_now = START - timedelta(hours=1)
    authorise(service.db, ["gate"], subjects=[collins], starts_at=START, ends_at=END, clock=lambda: clock_now)
    _counters, raised = _analyse(service, astronaut, inside)
    assert [a.subject_id for a in raised] == [collins]


# ------------------------------------------------------------------------------ bad input
@pytest.fixture
def authorisations(tmp_path: Path, database_url):  # type: ignore[no-untyped-def]
    from vigil.settings import VigilSettings
    from vigil.store.db import open_database

    db = open_database(VigilSettings(data_dir=tmp_path / "data", database_url=database_url))
    users = UserService(db)
    users.add(REQUESTER, "correct horse battery", Role.SUPERVISOR)
    users.add(AUTHORISER, "correct horse battery", Role.AUTHORISER)
    users.add("op.one", "correct horse battery", Role.OPERATOR)
    yield db, AuthorisationService(db, AuditLog(db, key=b"k" * 32), clock=lambda: START - timedelta(hours=1))
    db.dispose()


GOOD: dict[str, object] = {
    "cameras": ["gate"],
    "categories": ["wanted"],
    "starts_at": START,
    "ends_at": END,
    "purpose": "match day at the stadium",
    "requested_by": REQUESTER,
    "authorised_by": AUTHORISER,
}


@pytest.mark.parametrize(
    ("changes", "rule"),
    [
        ({"cameras": []}, "authorisation-cameras"),
        ({"ends_at": START - timedelta(minutes=1)}, "authorisation-period"),
        ({"ends_at": START}, "authorisation-period"),
        ({"categories": ["wanted", "shoplifters"]}, "authorisation-scope"),
        ({"categories": [], "subjects": []}, "authorisation-scope"),
        ({"authorised_by": REQUESTER}, "authorisation-two-person"),
        ({"requested_by": AUTHORISER}, "authorisation-two-person"),
        ({"authorised_by": "op.one"}, "authorisation-authoriser"),
        ({"requested_by": "op.one"}, "authorisation-requester"),
        ({"authorised_by": "nobody"}, "authorisation-authoriser"),
        ({"camera_groups": ["no-such-group"], "cameras": []}, "authorisation-cameras"),
        ({"ends_at": START + timedelta(days=60)}, "authorisation-review"),
        ({"purpose": "  "}, "authorisation-purpose"),
    ],
)
def test_bad_authorisations_name_the_rule_and_save_nothing(authorisations, changes, rule) -> None:  # type: ignore[no-untyped-def]
    db, service = authorisations

    def counts() -> tuple[int, int]:
        with db.session() as session:
            return (
                session.scalar(select(func.count()).select_from(Authorisation)) or 0,
                session.scalar(select(func.count()).select_from(AuditEvent)) or 0,
            )

    before = counts()
    with pytest.raises(AuthorisationError) as error:
        service.add(**{**GOOD, **changes})
    assert error.value.rule == rule
    assert counts() == before


def test_an_authorisation_is_audited_with_its_thresholds_and_can_be_ended_once(authorisations) -> None:  # type: ignore[no-untyped-def]
    db, service = authorisations
    long = service.add(
        **{**GOOD, "ends_at": START + timedelta(days=365), "review_date": (START + timedelta(days=90)).date()},
        thresholds={"wanted": {"threshold": 0.95}},
    )
    assert long.requested_by == REQUESTER and long.authorised_by == AUTHORISER
    assert [a.id for a in service.due(100)] == [long.id]  # its review falls within 100 days
    ended = service.end(long.id, by="supervisor", reason="operation over")
    assert ended.ended_at is not None and ended.state(START + timedelta(days=1)) == "ended"
    with pytest.raises(AuthorisationError, match="authorisation-over"):
        service.end(long.id, by="supervisor", reason="again")
    audit = AuditLog(db, key=b"k" * 32)
    actions = [(e.action, e.object_id) for e in reversed(audit.entries())]
    assert actions == [("authorisation-added", long.id), ("authorisation-ended", long.id)]
    added = audit.entries(action="authorisation-added")[0]
    assert added.details["thresholds"] == {"wanted": {"threshold": 0.95}} and added.actor == AUTHORISER
    assert audit.verify().ok


# ------------------------------------------------------------------------------ the runner
def test_an_idle_camera_is_not_decoded_until_authorised_and_stops_when_the_authorisation_ends(
    tmp_path: Path, settings, engine
) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import VIDEO

    clip = VIDEO / "carphone_176x144.mp4"
    if not clip.is_file():
        pytest.skip(f"video not found at {clip}")
    service = live_service(live_settings(tmp_path, settings), engine)
    gate = AuthorisationBook(service.db, refresh_s=0.0)
    runner = LiveRunner(
        [CameraConfig("lobby", parse_source(str(clip), loop=True), 5.0)],
        engine,
        WatchlistMatcher(service),
        AlertRecorder(service.db, service.media),
        gate=gate,
    )
    runner.start()
    try:
        time.sleep(1.5)
        (health,) = runner.health()
        assert health.state == CameraState.IDLE and health.detail == "no authorisation covers this camera"
        assert "lobby" not in runner.runs and runner.counters()["lobby"].frames == 0  # never opened
        authorisation_id = authorise(service.db, ["lobby"])
        deadline = time.monotonic() + 15
        while runner.counters()["lobby"].frames < 3 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert runner.counters()["lobby"].frames >= 3
        AuthorisationService(service.db, AuditLog(service.db, key=b"k" * 32)).end(
            authorisation_id, by="supervisor", reason="test over"
        )
        deadline = time.monotonic() + 10
        while "lobby" in runner.runs and time.monotonic() < deadline:
            time.sleep(0.2)
        (health,) = runner.health()
        assert health.state == CameraState.IDLE and "last ended" in health.detail
        frames = runner.counters()["lobby"].frames
        time.sleep(1.0)
        assert runner.counters()["lobby"].frames == frames  # nothing more is analysed
    finally:
        runner.close()
