"""The control-room demo's set-up: offline (bundled portraits) and with ../shared (crowd clip, LFW)."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import needs_video
from tests.helpers import live_service, live_settings
from tests.helpers.cli import vigil

from vigil.demo_room import setup_demo
from vigil.domain.audit import AuditLog
from vigil.domain.authorisations import AuthorisationService
from vigil.domain.cameras import CameraRegistry
from vigil.domain.users import UserService


def test_offline_demo_builds_users_watchlist_and_three_clip_cameras(tmp_path: Path, settings, engine) -> None:  # type: ignore[no-untyped-def]
    run_settings = live_settings(tmp_path, settings)
    watchlist = live_service(run_settings, engine)
    room = setup_demo(run_settings, watchlist, say=lambda _m: None, offline=True)
    assert "offline" in room.source
    assert sorted(room.subjects) == ["Eileen Collins", "Grace Hopper"]
    cameras = CameraRegistry(watchlist.db).cameras()
    assert [c.name for c in cameras] == sorted(room.cameras) and len(cameras) == 3
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
    assert len(CameraRegistry(watchlist.db).cameras()) == 3 and len(watchlist.list_subjects()) == 2
    assert len(authorisations.all()) == 1
    assert again.passwords["admin"] != room.passwords["admin"]


@needs_video
def test_vigil_demo_no_serve_uses_the_shared_data(tmp_path: Path) -> None:
    result = vigil("demo", "--no-serve", data_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "shared data" in result.stdout and "north-gate, market-street, station" in result.stdout
    assert "admin " in result.stdout and "operator " in result.stdout
