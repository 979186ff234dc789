"""The control-room demo's set-up: offline (bundled portraits) and with ../shared (crowd clip, LFW)."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import needs_video
from tests.helpers import live_service, live_settings
from tests.helpers.cli import vigil

from vigil.demo_room import CAMERAS, LOOP_S, WALK_S, setup_demo
from vigil.domain.audit import AuditLog
from vigil.domain.authorisations import AuthorisationService
from vigil.domain.cameras import CameraRegistry
from vigil.domain.users import UserService


def test_offline_demo_builds_users_watchlist_and_four_clip_cameras(tmp_path: Path, settings, engine) -> None:  # type: ignore[no-untyped-def]
    run_settings = live_settings(tmp_path, settings)
    watchlist = live_service(run_settings, engine)
    room = setup_demo(run_settings, watchlist, say=lambda _m: None, offline=True)
    assert "offline" in room.source
    assert sorted(room.subjects) == ["Eileen Collins", "Grace Hopper"]
    cameras = CameraRegistry(watchlist.db).cameras()
    assert [c.name for c in cameras] == sorted(room.cameras) and len(cameras) == 4
    assert all(Path(c.url).is_file() and c.url.endswith(".mp4") for c in cameras)
    users = UserService(watchlist.db)
    for username, password in room.passwords.items():
        assert users.authenticate(username, password).role == username.rstrip("2")
    for subject in watchlist.list_subjects():  # two people: proposed by one supervisor, approved by the other
        assert (subject.proposed_by, subject.approved_by, subject.status) == ("supervisor", "supervisor2", "active")
    authorisations = AuthorisationService(watchlist.db, AuditLog(watchlist.db, key=b"k" * 32))
    (signed,) = authorisations.all()  # the demo's cameras scan under one authorisation, two people signed
    assert sorted(signed.cameras) == sorted(room.cameras) and signed.requested_by != signed.authorised_by
    assert signed.authorised_by == "authoriser" and signed.thresholds
    again = setup_demo(run_settings, watchlist, say=lambda _m: None, offline=True)  # idempotent, new passwords
    assert len(CameraRegistry(watchlist.db).cameras()) == 4 and len(watchlist.list_subjects()) == 2
    assert len(authorisations.all()) == 1
    assert again.passwords["admin"] != room.passwords["admin"]


@needs_video
def test_vigil_demo_no_serve_uses_the_shared_data(tmp_path: Path) -> None:
    result = vigil("demo", "--no-serve", data_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "LFW" in result.stdout and ", ".join(c.name for c in CAMERAS) in result.stdout
    assert "not enrolled" not in result.stdout  # at most one line about the sample photos skipped
    assert sum("skipped" in line for line in result.stdout.splitlines()) <= 1
    assert "admin " in result.stdout and "operator " in result.stdout


def test_the_demo_raises_a_fresh_red_flag_soon_and_again_every_loop_at_lucknow_places(  # type: ignore[no-untyped-def]
    tmp_path: Path, settings, engine
) -> None:
    """Issue 28: the demo raised its three red flags before anyone could log in, and re-arming folded the
    repeats of its looping clips. Now the first walker comes by 10 s into the loop, the cameras take turns,
    each camera's walker comes back every LOOP_S (more than the re-arming window later: a new red flag),
    and each person passes several cameras at public places in Lucknow (a trail)."""
    import itertools
    import time
    from collections import Counter

    from sqlalchemy import select

    from vigil.domain.alerts import AlertRecorder
    from vigil.domain.matching import WatchlistMatcher
    from vigil.pipeline.analyser import AnalysisSettings, CameraAnalyser
    from vigil.pipeline.offline import sample_frames
    from vigil.store.models import Alert
    from vigil.video.sources import Frame

    assert min(c.enters_s for c in CAMERAS) + WALK_S < 60  # an operator who logs in at the start sees one arrive
    assert LOOP_S <= 120 and AnalysisSettings().rearm_s < LOOP_S - WALK_S  # every 2 minutes, never folded
    entries = sorted(c.enters_s for c in CAMERAS)
    assert all(b - a >= 20 for a, b in itertools.pairwise(entries))  # cameras take turns
    assert all(n >= 2 for n in Counter(c.walker for c in CAMERAS).values())  # each person on several cameras
    assert all(26.75 <= c.latitude <= 26.95 and 80.85 <= c.longitude <= 81.05 for c in CAMERAS)  # Lucknow

    run_settings = live_settings(tmp_path, settings)
    watchlist = live_service(run_settings, engine)
    setup_demo(run_settings, watchlist, say=lambda _m: None, offline=True)
    first = CAMERAS[0]
    camera = next(c for c in CameraRegistry(watchlist.db).cameras() if c.name == first.name)
    assert 26.75 <= camera.latitude <= 26.95 and 80.85 <= camera.longitude <= 81.05
    frames = sample_frames(Path(camera.url), 4.0)
    assert abs(len(frames) / 4.0 - LOOP_S) < 1  # one loop
    recorder = AlertRecorder(watchlist.db, watchlist.media)
    analyser = CameraAnalyser(first.name, watchlist.engine, WatchlistMatcher(watchlist), recorder, AnalysisSettings())
    start = time.time()
    index = 0
    for loop in range(2):  # the source loops: media time goes on, as AvSource's looping frames do
        for frame in frames:
            if not first.enters_s - 2 <= frame.timestamp <= first.enters_s + WALK_S + 2:
                continue  # nobody in the picture (skipped to keep the test short)
            t = frame.timestamp + loop * LOOP_S
            analyser.process(Frame(frame.image, index, t, start + t, start + t))
            index += 1
    analyser.finish()
    with watchlist.db.session() as session:
        alerts = session.scalars(select(Alert).order_by(Alert.first_seen)).all()
        seen = [(a.first_seen.timestamp() - start, a.subject_id) for a in alerts]
    collins = watchlist.find_by_ref("demo:collins")
    assert collins is not None
    assert len(seen) == 2, seen  # two red flags, one per pass of the loop
    assert all(subject == collins.id for _, subject in seen)
    assert first.enters_s - 1 <= seen[0][0] <= first.enters_s + WALK_S  # within a minute of the start
    assert LOOP_S - 5 <= seen[1][0] - seen[0][0] <= LOOP_S + 5
