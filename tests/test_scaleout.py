"""The scale-out building blocks against the real PostgreSQL and Redis of this machine: camera leases,
the watchlist version notifications, media in the database, the Redis bus and the web alert feed.
Each skips with the reason where its service is not reachable."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import text
from tests.conftest import _postgres_reachable, fresh_postgres
from tests.helpers import APPROVER, PROPOSER, jpeg, live_fields, with_approvers
from tests.helpers.scaleout import PrivateRedis, redis_reachable, wait_for

from vigil.bus import LocalBus
from vigil.domain.adjudication import AlertService
from vigil.domain.cameras import CameraRegistry
from vigil.domain.leases import LeaseBook, assignments
from vigil.errors import ConfigurationError
from vigil.settings import VigilSettings
from vigil.store.db import Database, create_db_engine, open_database
from vigil.store.media import DatabaseMediaStore

pytestmark = [pytest.mark.services]

needs_postgres = pytest.mark.skipif(bool(_postgres_reachable()), reason=_postgres_reachable() or "")
needs_redis = pytest.mark.skipif(bool(redis_reachable()), reason=redis_reachable() or "")


@pytest.fixture
def pg(tmp_path: Path) -> Iterator[tuple[str, Database]]:
    if _postgres_reachable():
        pytest.skip(_postgres_reachable() or "")
    with fresh_postgres() as url:
        db = open_database(VigilSettings(data_dir=tmp_path / "data"), url=url)
        try:
            yield url, db
        finally:
            db.dispose()


def _add_cameras(db: Database, count: int) -> list[str]:
    registry = CameraRegistry(db)
    names = [f"cam{i:02d}" for i in range(count)]
    for name in names:
        registry.add(name, "/nonexistent/clip.mp4", latitude=51.5, longitude=-0.1, analysis_fps=1.0)
    return names


# ---------------------------------------------------------------- leases
def test_leases_need_postgresql(tmp_path: Path) -> None:
    db = open_database(VigilSettings(data_dir=tmp_path))
    with pytest.raises(ConfigurationError, match="PostgreSQL"):
        LeaseBook(db, "w1", lease_s=8, max_cameras=10)


@needs_postgres
def test_leases_share_cameras_fairly_and_never_twice(pg) -> None:  # type: ignore[no-untyped-def]
    _, db = pg
    cameras = _add_cameras(db, 10)
    books = [LeaseBook(db, f"w{i}", lease_s=8, max_cameras=100) for i in range(3)]
    for book in books:
        book.register("host", 1)
    assert books[0].fair_share() == 4  # ceil(10 / 3)
    claimed: list[dict[str, int]] = [{} for _ in books]

    def claim(i: int) -> None:
        claimed[i] = books[i].claim(4)

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    taken = [c for got in claimed for c in got]
    assert sorted(taken) == cameras  # all claimed, none twice (SKIP LOCKED)
    assert sorted(len(got) for got in claimed) == [2, 4, 4]
    assert all(token == 1 for got in claimed for token in got.values())
    # renewing returns exactly what a worker holds
    assert books[0].renew() == claimed[0]
    # a release makes cameras claimable at once
    books[1].release(list(claimed[1]))
    assert set(books[2].claim(10)) == set(claimed[1])


@needs_postgres
def test_leases_expire_and_move_with_a_new_token(pg) -> None:  # type: ignore[no-untyped-def]
    _, db = pg
    _add_cameras(db, 2)
    dead = LeaseBook(db, "dead", lease_s=2, max_cameras=10)
    live = LeaseBook(db, "live", lease_s=2, max_cameras=10)
    dead.register("host", 1)
    live.register("host", 2)
    held = dead.claim(2)
    assert live.claim(2) == {}  # held and valid: nothing to take
    time.sleep(2.3)  # the dead worker never renews
    moved = live.claim(2)
    assert set(moved) == set(held) and all(moved[c] == held[c] + 1 for c in held)
    assert dead.renew() == {}  # the dead worker, back, learns it holds nothing
    state = assignments(db)
    assert {a.worker_id for a in state.values()} == {"live"}
    # workers silent for longer than a lease are not counted in the fair share
    assert live.fair_share() == 2


@needs_postgres
def test_leases_of_removed_cameras_disappear(pg) -> None:  # type: ignore[no-untyped-def]
    _, db = pg
    _add_cameras(db, 2)
    book = LeaseBook(db, "w", lease_s=8, max_cameras=10)
    book.register("host", 1)
    assert len(book.claim(5)) == 2
    CameraRegistry(db).remove("cam00")
    assert set(book.renew()) == {"cam01"}
    book.retire()
    assert all(a.worker_id is None for a in assignments(db).values())
    with db.session() as session:
        assert session.execute(text("SELECT count(*) FROM workers")).scalar() == 0


@needs_postgres
def test_a_workers_report_carries_its_cameras_detection_counts_to_the_control_room(pg) -> None:  # type: ignore[no-untyped-def]
    from vigil.domain.fleet import DetectionCounts, LeasedFleet
    from vigil.video.camera import CameraHealth, CameraState

    _, db = pg
    _add_cameras(db, 1)
    book = LeaseBook(db, "w", lease_s=8, max_cameras=10)
    book.register("host", 1)
    assert list(book.claim(1)) == ["cam00"]
    counts = DetectionCounts(2, 30, 18, 1_000_000, 26_000_000, 4)
    health = CameraHealth("cam00", CameraState.STREAMING, 5.0, 50, 0, 0, None, "")
    book.report([health], {"cam00": counts.as_json()})
    live = LeasedFleet(db).live()["cam00"]
    assert live.state == "streaming" and live.worker == "w" and live.detection == counts
    book.retire()


# ---------------------------------------------------------------- watchlist replicas
@needs_postgres
def test_watchlist_changes_reach_a_replica_within_2_s_without_a_rebuild(
    pg, tmp_path: Path, engine, astronaut, hopper
) -> None:  # type: ignore[no-untyped-def]
    from vigil.domain.matching import WatchlistMatcher
    from vigil.services import open_watchlist

    url, _ = pg
    settings = VigilSettings(data_dir=tmp_path / "data", database_url=url, media_store="database")
    editor = with_approvers(open_watchlist(settings, engine=engine))  # the control room
    collins = editor.enroll(live_fields("Eileen Collins"), [("a.jpg", jpeg(astronaut))]).subject_id
    worker_side = open_watchlist(settings, engine=engine, start=False)  # a worker's gallery
    matcher = WatchlistMatcher(worker_side)
    replica = worker_side.replica
    replica.poll_s = 30.0  # a notification must do it, not the poll
    replica.load()
    replica.follow()
    try:
        assert matcher.size == 1 and replica.full_loads == 1

        def timed(change, done) -> float:  # type: ignore[no-untyped-def]
            started = time.monotonic()
            change()
            wait_for(done, 2.0, "a watchlist change did not reach the replica within 2 s", every=0.01)
            return time.monotonic() - started

        hopper_id: list[str] = []
        enrolled = timed(
            lambda: hopper_id.append(editor.enroll(live_fields("Grace Hopper"), [("h.jpg", jpeg(hopper))]).subject_id),
            lambda: matcher.size == 2,
        )
        suspended = timed(lambda: editor.suspend(collins), lambda: matcher.size == 1)
        reinstated = timed(
            lambda: editor.reinstate(collins, requested_by=PROPOSER, approved_by=APPROVER), lambda: matcher.size == 2
        )
        removed = timed(lambda: editor.remove(hopper_id[0]), lambda: matcher.size == 1)
        # category rules too: a rule change reaches the replica's decisions
        category = matcher.card(collins).category

        def change_rule() -> None:
            with editor.db.session() as session:
                session.execute(text("UPDATE categories SET min_faces = 5 WHERE name = :c"), {"c": category})

        ruled = timed(change_rule, lambda: matcher.card(collins).rule.min_faces == 5)
        print(
            f"replica: enrollment {enrolled:.2f} s, suspension {suspended:.2f} s, reinstatement {reinstated:.2f} s, "
            f"removal {removed:.2f} s, rule change {ruled:.2f} s"
        )
        assert replica.full_loads == 1  # every change applied subject by subject
        hits = matcher.search(engine.analyse(astronaut).embeddings.vectors[:1], 1, time.time())
        assert hits[0][0].subject_id == collins
    finally:
        replica.close()


# ---------------------------------------------------------------- media in the database
@needs_postgres
def test_database_media_store_round_trip(pg) -> None:  # type: ignore[no-untyped-def]
    _, db = pg
    media = DatabaseMediaStore(db)
    name = media.save("crops", b"\xff\xd8jpeg", "jpg")
    assert media.read("crops", name) == b"\xff\xd8jpeg"
    assert media.names("crops") == [name] and media.names("photos") == []
    assert media.delete("crops", name) and not media.delete("crops", name)
    with pytest.raises(FileNotFoundError):
        media.read("crops", name)
    with pytest.raises(ValueError):
        media.read("crops", "../../etc/passwd")
    # sweeps see only what is old enough not to be another process's write in progress
    old, fresh = media.save("crops", b"old", "jpg"), media.save("crops", b"fresh", "jpg")
    with db.session() as session:
        session.execute(
            text("UPDATE media_blobs SET created_at = now() - interval '1 hour' WHERE name = :n"), {"n": old}
        )
    assert media.names("crops", older_than_s=600) == [old]
    assert sorted(media.names("crops")) == sorted([old, fresh])


@needs_postgres
def test_processes_starting_together_migrate_one_at_a_time(tmp_path: Path) -> None:
    from vigil.store.db import upgrade_schema

    errors: list[BaseException] = []
    with fresh_postgres() as url:

        def migrate() -> None:
            engine = create_db_engine(url)
            try:
                upgrade_schema(engine)
            except BaseException as exc:
                errors.append(exc)
            finally:
                engine.dispose()

        threads = [threading.Thread(target=migrate) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        db = Database(create_db_engine(url))
        with db.session() as session:
            assert session.execute(text("SELECT count(*) FROM watchlist_changes")).scalar() == 0
        db.dispose()


# ---------------------------------------------------------------- bus and feed
@needs_redis
def test_redis_bus_keeps_events_through_a_redis_restart(tmp_path: Path) -> None:
    from vigil.bus.redis_bus import RedisBus

    server = PrivateRedis(tmp_path)
    if server.binary is None:
        pytest.skip("redis-server is not installed here")
    server.start()
    publisher, subscriber = RedisBus(server.url), RedisBus(server.url)
    got: list[int] = []
    reconnected = threading.Event()
    subscriber.subscribe("t", lambda e: got.append(int(e["n"])), on_reconnect=reconnected.set)
    try:
        time.sleep(0.3)
        publisher.publish("t", {"n": 1})
        wait_for(lambda: got == [1], 5, "event not delivered")
        server.stop()
        publisher.publish("t", {"n": 2})  # waits in the outbox
        time.sleep(1.0)
        assert not publisher.connected and publisher.pending == 1
        server.start()
        publisher.publish("t", {"n": 3})
        wait_for(lambda: got == [1, 2, 3], 10, f"events lost or reordered across the restart: {got}")
        assert reconnected.wait(5) and subscriber.reconnects >= 1
    finally:
        publisher.close()
        subscriber.close()
        server.stop()


def test_alert_feed_pushes_each_alert_once_and_catches_up(tmp_path: Path, engine, astronaut: np.ndarray) -> None:  # type: ignore[no-untyped-def]
    from tests.helpers import alert_event

    from vigil.domain.alerts import ALERTS_TOPIC, AlertRecorder, raised_announcement
    from vigil.services import open_watchlist
    from vigil.web.feed import AlertFeed
    from vigil.web.metrics import Metrics

    settings = VigilSettings(data_dir=tmp_path / "data")
    watchlist = with_approvers(open_watchlist(settings, engine=engine))
    subject = watchlist.enroll(live_fields("Eileen Collins"), [("a.jpg", jpeg(astronaut))]).subject_id

    class Hub:
        def __init__(self) -> None:
            self.events: list[dict[str, object]] = []

        def publish(self, event: dict[str, object]) -> None:
            self.events.append(event)

    hub = Hub()
    bus = LocalBus()
    feed = AlertFeed(AlertService(watchlist.db), hub, Metrics(), bus)  # type: ignore[arg-type]
    feed.start()
    recorder = AlertRecorder(watchlist.db, watchlist.media)
    first = recorder.raise_alert(alert_event(subject, track="t-1"))
    assert first is not None and first.alert_id is not None
    bus.publish(ALERTS_TOPIC, raised_announcement(first.alert_id))
    bus.publish(ALERTS_TOPIC, raised_announcement(first.alert_id))  # announced twice (a retried publish): pushed once
    unannounced = recorder.raise_alert(alert_event(subject, track="t-2"))  # its announcement was lost
    assert unannounced is not None
    assert bus.flush()
    assert [e["alert"]["id"] for e in hub.events] == [first.alert_id]  # type: ignore[index]
    assert feed.catch_up() == 1
    assert feed.catch_up() == 0
    assert [e["alert"]["id"] for e in hub.events] == [first.alert_id, unannounced.alert_id]  # type: ignore[index]


@needs_postgres
def test_embedded_server_refuses_to_run_cameras_that_workers_run(pg, tmp_path: Path, engine) -> None:  # type: ignore[no-untyped-def]
    from vigil.services import open_control_room, open_watchlist

    url, db = pg
    settings = VigilSettings(data_dir=tmp_path / "data", database_url=url, media_store="database")
    watchlist = with_approvers(open_watchlist(settings, engine=engine))
    open_control_room(settings, run_cameras=True, watchlist=watchlist)  # no workers: fine
    LeaseBook(db, "w1", lease_s=8, max_cameras=10).register("host", 1)
    with pytest.raises(ConfigurationError, match="vigil worker"):
        open_control_room(settings, run_cameras=True, watchlist=watchlist)
    open_control_room(settings, run_cameras=False, watchlist=watchlist)  # the control room alone: fine


def _worker_with_one_camera(pg, tmp_path: Path, engine, astronaut, *, fps: float):  # type: ignore[no-untyped-def]
    """A worker, started in this process, over ``pg`` with one registered camera ``gate`` (a walk-by clip)."""
    from vigil.samples import portrait_clip
    from vigil.services import open_worker

    url, db = pg
    clip = portrait_clip(astronaut, tmp_path / "walk.mp4", seconds=2.0, fps=10, size=(320, 180))
    CameraRegistry(db).add("gate", str(clip), latitude=51.5, longitude=-0.1, analysis_fps=fps)
    settings = VigilSettings(data_dir=tmp_path / "data", database_url=url, media_store="database")
    worker = open_worker(settings, worker_id="w", engine=engine)
    worker.replica.load()
    worker.replica.follow()
    worker.runner.start()
    worker.leases.register("host", 1)
    return worker, settings


@needs_postgres
def test_worker_stops_its_cameras_when_the_database_is_gone_too_long_and_resumes(  # type: ignore[no-untyped-def]
    pg, tmp_path: Path, engine, astronaut
) -> None:
    worker, settings = _worker_with_one_camera(pg, tmp_path, engine, astronaut, fps=1.0)
    try:
        worker.beat()
        assert set(worker.running) == {"gate"}

        def unreachable() -> dict[str, int]:
            raise OSError("database unreachable")

        renew = worker.leases.renew
        worker.leases.renew = unreachable  # type: ignore[method-assign]
        worker.beat()  # one failed renewal: the lease is still valid, the camera goes on
        assert set(worker.running) == {"gate"} and worker.fenced == 0
        worker._renewed_at -= settings.lease_s  # ... and now the lease may have expired
        worker.beat()
        assert worker.running == {} and worker.fenced == 1
        assert "gate" not in {h.camera for h in worker.runner.health()}
        # what its /metrics tells an operator (issue 31): the failed renewals and the fencing
        from tests.helpers.prometheus import parse, value

        from vigil.scaleout.metrics import render_worker

        _, samples = parse(render_worker(worker))
        assert value(samples, "vigil_lease_renewals_total", outcome="ok") == 1
        assert value(samples, "vigil_lease_renewals_total", outcome="failed") == 2
        assert value(samples, "vigil_worker_fenced_total") == 1 and value(samples, "vigil_leases_held") == 0
        assert value(samples, "vigil_camera_state", camera="gate") is None  # it runs the camera no more
        worker.leases.renew = renew  # type: ignore[method-assign]
        worker.beat()  # the database is back and nobody took the camera: it runs again
        assert set(worker.running) == {"gate"}
        _, samples = parse(render_worker(worker))
        assert value(samples, "vigil_leases_held") == 1 and value(samples, "vigil_camera_state", camera="gate") == 1
    finally:
        worker.stop()
        worker._shutdown()


@needs_postgres
def test_a_worker_keeps_a_camera_it_holds_idle_outside_its_authorisation(pg, tmp_path: Path, engine, astronaut) -> None:  # type: ignore[no-untyped-def]
    """Scaled out: the lease is held, but the camera is not decoded until an authorisation covers it,
    and stops when it ends; the control room sees why through the lease row."""
    from tests.helpers import authorise

    from vigil.domain.audit import AuditLog
    from vigil.domain.authorisations import AuthorisationService

    _url, db = pg
    worker, _settings = _worker_with_one_camera(pg, tmp_path, engine, astronaut, fps=2.0)
    try:
        worker.beat()
        assert set(worker.running) == {"gate"}  # held ...
        time.sleep(1.0)
        worker.beat()
        assert assignments(db)["gate"].state == "idle"  # ... but idle, and the control room sees it
        assert worker.runner.counters()["gate"].frames == 0 and "gate" not in worker.runner.runs
        authorisation_id = authorise(db, ["gate"])
        wait_for(lambda: worker.runner.counters()["gate"].frames >= 2, 20, "the camera did not start scanning")
        worker.beat()
        assert assignments(db)["gate"].state in ("connecting", "streaming")
        AuthorisationService(db, AuditLog(db, key=b"k" * 32)).end(authorisation_id, by="supervisor", reason="over")
        wait_for(lambda: "gate" not in worker.runner.runs, 20, "the camera did not stop")
        worker.beat()
        assert assignments(db)["gate"].state == "idle"
        frames = worker.runner.counters()["gate"].frames
        time.sleep(1.5)
        assert worker.runner.counters()["gate"].frames == frames
    finally:
        worker.stop()
        worker._shutdown()


def test_the_local_bus_runs_subscribers_on_its_own_thread_in_order() -> None:
    """A camera's analysis thread publishing an alert never runs the web feed's work itself."""
    bus = LocalBus()
    seen: list[tuple[int, str]] = []
    bus.subscribe("t", lambda event: seen.append((event["n"], threading.current_thread().name)))
    for n in range(50):
        bus.publish("t", {"n": n})
    assert bus.flush()
    assert [n for n, _ in seen] == list(range(50))
    assert {name for _, name in seen} == {"local-bus"} != {threading.current_thread().name}
    bus.close()
    bus.publish("t", {"n": 99})  # closed: dropped, not delivered
    assert len(seen) == 50


def test_track_updates_are_announced_throttled_per_alert(tmp_path: Path, engine, astronaut) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    from tests.helpers import alert_event

    from vigil.domain.alerts import ALERTS_TOPIC, AlertRecorder, announcer
    from vigil.services import open_watchlist

    watchlist = with_approvers(open_watchlist(VigilSettings(data_dir=tmp_path / "data"), engine=engine))
    subject = watchlist.enroll(live_fields("Eileen Collins"), [("a.jpg", jpeg(astronaut))]).subject_id
    bus = LocalBus()
    events: list[dict[str, object]] = []
    bus.subscribe(ALERTS_TOPIC, events.append)
    recorder = AlertRecorder(watchlist.db, watchlist.media)
    recorder.subscribe(announcer(bus, update_every_s=0.5))
    event = alert_event(subject, track="t-1")
    stored = recorder.raise_alert(event)
    assert stored is not None
    for faces in range(4, 10):  # the track goes on: six updates at once, then one after the interval
        recorder.update_alert(replace(event, faces=faces))
    time.sleep(0.6)
    recorder.update_alert(replace(event, faces=12))
    assert bus.flush()
    assert [e["type"] for e in events] == ["alert-raised", "alert-updated"]
    assert all(e["alert_id"] == stored.alert_id for e in events)


def test_forged_or_stale_bus_messages_are_not_pushed_as_red_flags(tmp_path: Path, engine, astronaut) -> None:  # type: ignore[no-untyped-def]
    """Issue 14, item 10: a forged `alert-raised` for an old alert was pushed as a fresh red flag, and
    `latency_ms: "NaN"` poisoned a metric."""
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import update
    from tests.helpers import alert_event

    from vigil.domain.alerts import ALERTS_TOPIC, AlertRecorder, raised_announcement
    from vigil.services import open_watchlist
    from vigil.store.models import Alert
    from vigil.web.feed import AlertFeed
    from vigil.web.metrics import Metrics

    watchlist = with_approvers(open_watchlist(VigilSettings(data_dir=tmp_path / "data"), engine=engine))
    subject = watchlist.enroll(live_fields("Eileen Collins"), [("a.jpg", jpeg(astronaut))]).subject_id
    pushed: list[dict[str, object]] = []

    class Hub:
        def publish(self, event: dict[str, object]) -> None:
            pushed.append(event)

    bus, metrics = LocalBus(), Metrics()
    feed = AlertFeed(AlertService(watchlist.db), Hub(), metrics, bus)  # type: ignore[arg-type]
    feed.start()
    recorder = AlertRecorder(watchlist.db, watchlist.media)
    old = recorder.raise_alert(alert_event(subject, track="yesterday"))
    fresh = recorder.raise_alert(alert_event(subject, track="now"))
    assert old is not None and fresh is not None and old.alert_id and fresh.alert_id
    with watchlist.db.session() as session:
        session.execute(
            update(Alert).where(Alert.id == old.alert_id).values(created_at=datetime.now(UTC) - timedelta(days=1))
        )
    for forged in (
        raised_announcement(old.alert_id),  # a replay of yesterday's alert
        {"type": "alert-raised", "alert_id": fresh.alert_id, "latency_ms": "NaN"},
        {"type": "alert-raised", "alert_id": fresh.alert_id, "latency_ms": float("inf")},
        {"type": "alert-raised", "alert_id": "../../etc/passwd"},
        {"type": "alert-raised", "alert_id": 12345},
        {"type": "something-else", "alert_id": fresh.alert_id},
        {"alert_id": fresh.alert_id},
    ):
        bus.publish(ALERTS_TOPIC, forged)
    assert bus.flush()
    assert pushed == []  # none of them reached a screen
    bus.publish(ALERTS_TOPIC, raised_announcement(fresh.alert_id, 120.0))
    assert bus.flush()
    assert [e["alert"]["id"] for e in pushed] == [fresh.alert_id]  # type: ignore[index]
    assert "NaN" not in metrics.render([], 0, 0) and "nan" not in metrics.render([], 0, 0)
