"""Outages with real processes (`vigil worker` ×2, `vigil serve`) against the suite's OWN PostgreSQL and
Redis (started here from their binaries on free ports, so they can be stopped and started mid-test;
never the machine's): PostgreSQL restarted, Redis restarted, the media disk full.

What each test shows is in its docstring. Skipped, with the reason, where the PostgreSQL server
binaries or redis-server are missing (and the disk-full test where no small filesystem can be made).
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine, create_engine, text
from tests.helpers.scaleout import (
    Deployment,
    LiveClient,
    Population,
    PrivatePostgres,
    PrivateRedis,
    add_cameras,
    populate,
    wait_for,
)
from tests.helpers.streaming import free_port

pytestmark = [pytest.mark.services, pytest.mark.slow]


def _readyz(base: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(base + "/readyz", timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())
    except OSError:
        return 0, {}


def _rows(db: Engine, sql: str, **params: object) -> list:  # type: ignore[type-arg]
    with db.connect() as conn:
        return list(conn.execute(text(sql), params).all())


@dataclass
class Outage:
    dep: Deployment
    postgres: PrivatePostgres
    redis: PrivateRedis
    population: Population
    hopper_clip: Path
    hopper: np.ndarray
    db: Engine
    engine: object
    health: dict[str, str]  # process → its /healthz and /readyz base URL

    def start_worker(self, name: str, **env: str) -> None:
        port = free_port()
        self.dep.start_worker(
            name,
            VIGIL_DATA_DIR=str(self.dep.own_data_dir(name)),  # its own on-disk alert queue
            VIGIL_WORKER_HEALTH_PORT=str(port),
            VIGIL_WORKER_HEALTH_HOST="127.0.0.1",
            **env,
        )
        self.health[name] = f"http://127.0.0.1:{port}"

    def start_server(self, name: str, **env: str) -> str:
        url = self.dep.start_server(name, VIGIL_DATA_DIR=str(self.dep.own_data_dir(name)), **env)
        self.health[name] = url
        return url

    def queued(self) -> int:
        """Alerts waiting in the workers' on-disk queues."""
        folders = [self.dep.data_dir.parent / f"data-{n}" / "pending-alerts" for n in self.health]
        return sum(len(list(f.glob("*.json"))) for f in folders if f.is_dir())

    def stored(self) -> list[tuple[str, str]]:
        return [(c, s) for c, s in _rows(self.db, "SELECT camera, subject_id FROM alerts")]

    def alert_ids(self) -> set[str]:
        return {a for (a,) in _rows(self.db, "SELECT id FROM alerts")}

    def leases(self) -> dict[str, tuple[str, int]]:
        return {c: (w, t) for c, w, t in _rows(self.db, "SELECT camera, worker_id, token FROM camera_leases")}

    def streaming(self) -> set[str]:
        return {c for (c,) in _rows(self.db, "SELECT camera FROM camera_leases WHERE state = 'streaming'")}

    def all_ready(self, names: list[str], want: int) -> bool:
        return all(_readyz(self.health[n])[0] == want for n in names)


@pytest.fixture
def outage(tmp_path: Path, settings, engine, astronaut: np.ndarray, hopper: np.ndarray) -> Iterator[Outage]:  # type: ignore[no-untyped-def]
    postgres = PrivatePostgres()
    redis = PrivateRedis(tmp_path)
    why = postgres.missing() or (None if redis.binary else "redis-server is not installed here")
    if why:
        pytest.skip(why)
    from vigil.samples import portrait_clip

    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "cache").symlink_to(settings.cache_dir, target_is_directory=True)  # converted models, once
    logs = tmp_path / "logs"
    logs.mkdir()
    postgres.init()
    redis.start()
    db = create_engine(postgres.url.replace("postgresql://", "postgresql+psycopg://"), pool_pre_ping=True)
    dep = Deployment(data_dir, postgres.url, redis.url, logs)
    try:
        # Eileen Collins is on the watchlist from the start; Grace Hopper is enrolled by a test when it wants
        # red flags raised at a moment of its choosing (her cameras run meanwhile and match nobody)
        population = populate(dep, engine, {"Eileen Collins": astronaut})
        clip = portrait_clip(hopper, data_dir / "clips" / "hopper.mp4", seconds=4.0, fps=10, seed=7, size=(480, 270))
        yield Outage(dep, postgres, redis, population, clip, hopper, db, engine, {})
    finally:
        dep.close()
        db.dispose()
        redis.stop()
        postgres.close()


def _enroll_hopper(out: Outage) -> str:
    from tests.helpers import jpeg, live_fields, with_approvers

    from vigil.services import open_watchlist
    from vigil.settings import VigilSettings

    settings = VigilSettings(data_dir=out.dep.data_dir, database_url=out.postgres.url, media_store="database")
    watchlist = with_approvers(open_watchlist(settings, engine=out.engine, start=False))  # type: ignore[arg-type]
    subject = watchlist.enroll(live_fields("Grace Hopper"), [("hopper.jpg", jpeg(out.hopper))]).subject_id
    watchlist.db.dispose()
    return subject


def _log_times(log: str, needle: str) -> list[float]:
    return [
        datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()
        for line in log.splitlines()
        if needle in line and re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}", line)
    ]


def test_postgres_restart_alerts_wait_on_disk_none_lost_none_doubled(outage: Outage) -> None:
    """PostgreSQL stopped for about ten seconds and started again while two workers and a web server run
    (lease 30 s, so the workers keep analysing through it). Shows: red flags raised during the outage are
    queued on the workers' disks and stored after it, each exactly once; every process reconnects by
    itself (workers renew and claim a camera added after, the web server serves and pushes); no camera
    changes hands (same worker, same lease token before and after: never two workers on one camera);
    `/readyz` is 503 naming the database on all three during the outage and 200 after; browsers get
    every red flag, one that was offline through the outage on reconnecting."""
    out = outage
    fast = {"VIGIL_LEASE_S": "30", "VIGIL_HEARTBEAT_S": "2"}
    out.start_worker("w1", **fast)
    out.start_worker("w2", **fast)
    server = out.start_server("web", **fast)
    watching, offline = LiveClient(server, out.population.token), LiveClient(server, out.population.token)
    assert watching.connected.wait(20) and offline.connected.wait(20)
    collins = out.population.clips["Eileen Collins"]
    add_cameras(out.postgres.url, {"c1": collins, "c2": collins, "h1": out.hopper_clip, "h2": out.hopper_clip})
    wait_for(lambda: out.streaming() == {"c1", "c2", "h1", "h2"}, 120, "the four cameras did not start")
    wait_for(lambda: len(out.stored()) == 2, 90, "Eileen Collins's cameras raised no alerts")
    before = out.leases()
    assert {w for w, _ in before.values()} == {"w1", "w2"}, before
    offline.go_offline()

    applied = {w: out.dep.log(w).count("changes applied") for w in ("w1", "w2")}
    hopper = _enroll_hopper(out)  # her two cameras raise red flags in the next few seconds...
    wait_for(
        lambda: all(out.dep.log(w).count("changes applied") > applied[w] for w in ("w1", "w2")),
        10,
        "the workers did not apply the enrollment",
    )
    stopped = time.monotonic()
    out.postgres.stop()  # ...while PostgreSQL is down
    wait_for(lambda: out.all_ready(["web", "w1", "w2"], 503), 15, "/readyz did not go 503 in the outage")
    _code, body = _readyz(server)
    assert body["failed"] == ["database"], body
    assert "OperationalError" in str(body["checks"]["database"]["detail"])  # type: ignore[index]
    wait_for(lambda: out.queued() >= 1, 20, "no red flag was queued on a worker's disk during the outage")
    time.sleep(max(0.0, 10.0 - (time.monotonic() - stopped)))
    queued = out.queued()
    out.postgres.start()
    back = time.monotonic()
    print(f"PostgreSQL down {back - stopped:.1f} s; {queued} alerts queued on the workers' disks")

    wait_for(lambda: out.all_ready(["web", "w1", "w2"], 200), 30, "/readyz did not return to 200")
    print(f"/readyz 200 on all three {time.monotonic() - back:.1f} s after PostgreSQL was back")
    expected = {("c1", s) for s in [out.population.subjects["Eileen Collins"]]}
    expected |= {("c2", out.population.subjects["Eileen Collins"]), ("h1", hopper), ("h2", hopper)}
    wait_for(lambda: set(out.stored()) == expected and out.queued() == 0, 60, "queued alerts were not stored")
    add_cameras(out.postgres.url, {"after": out.hopper_clip})  # claimed and run after the outage
    expected.add(("after", hopper))
    wait_for(lambda: set(out.stored()) == expected, 90, "a camera added after the outage raised nothing")

    offline.come_back()
    for client in (watching, offline):
        wait_for(lambda c=client: c.seen() >= out.alert_ids(), 30, "a browser is missing a red flag")
    time.sleep(4)  # a replay or a second store would show by now
    assert Counter(out.stored()) == Counter(expected), Counter(out.stored())
    assert Counter(watching.alert_ids()).most_common(1)[0][1] == 1, "a red flag was pushed twice"
    assert offline.fetched >= {a for a in out.alert_ids()} - set(offline.alert_ids())
    after = out.leases()
    assert {c: after[c] for c in before} == before, (before, after)  # same worker, same token: never moved
    logs = out.dep.log("w1") + out.dep.log("w2")
    assert "queued on disk" in logs and "queued while the database was unreachable" in logs
    assert "stopping all" not in logs  # shorter than the fence: nothing stopped
    assert all(p.poll() is None for p in out.dep.processes.values()), "a process died"
    watching.close()
    offline.close()


def test_postgres_restart_longer_than_a_lease_time_to_every_camera_analysing_again(outage: Outage) -> None:
    """Default lease (8 s) and heartbeat (2 s); PostgreSQL stopped for 15 s, three times. Shows: each
    worker stops its cameras before their leases can expire (so no camera is ever run by two workers), and
    after PostgreSQL returns every camera is analysing again (state streaming, a frame analysed after the
    return) on its own — the figure for BENCHMARKS.md."""
    out = outage
    out.start_worker("w1")
    out.start_worker("w2")
    collins = out.population.clips["Eileen Collins"]
    cameras = {f"r{i}": collins if i % 2 else out.hopper_clip for i in range(4)}
    add_cameras(out.postgres.url, cameras)
    wait_for(lambda: out.streaming() == set(cameras), 120, "the four cameras did not start")
    lease_s = 8.0
    figures: list[tuple[float, float]] = []
    for _round in range(3):
        held = {w for w, _ in out.leases().values()}
        stop_wall = time.time()
        stopped = time.monotonic()
        out.postgres.stop()
        time.sleep(15.0)
        out.postgres.start()
        back_wall, back = time.time(), time.monotonic()

        def analysing(back_wall: float = back_wall) -> bool:
            rows = _rows(out.db, "SELECT camera, state, last_frame_at FROM camera_leases WHERE lease_until > now()")
            fresh = {c for c, state, last in rows if state == "streaming" and last and last.timestamp() > back_wall}
            return fresh == set(cameras)

        wait_for(analysing, 90, "the cameras did not all analyse again after PostgreSQL returned")
        again = time.monotonic()
        figures.append((again - back, again - stopped))
        # every worker that held cameras stopped them within one lease of the database going away
        for worker in held:
            fences = [t for t in _log_times(out.dep.log(worker), "stopping all") if t > stop_wall]
            assert fences, f"{worker} did not stop its cameras in the outage"
            assert fences[0] - stop_wall < lease_s, f"{worker} stopped its cameras {fences[0] - stop_wall:.1f} s in"
        assert len(out.leases()) == len(cameras)
    for back_s, total_s in figures:
        print(f"PostgreSQL back -> every camera analysing again: {back_s:.1f} s (stop -> analysing {total_s:.1f} s)")
    print(f"median {statistics.median(b for b, _ in figures):.1f} s, max {max(b for b, _ in figures):.1f} s")
    assert all(p.poll() is None for p in out.dep.processes.values()), "a process died"
    assert max(b for b, _ in figures) < 30


def test_redis_restart_red_flags_raised_meanwhile_reach_browsers(outage: Outage) -> None:
    """The suite's Redis stopped and started again (empty: no persistence) while two workers and a web
    server run. Shows: `/readyz` is 503 naming Redis on all three meanwhile and 200 after; red flags raised
    while Redis is down are stored and reach a browser that stayed connected and one that reconnects
    after, each once; every process reconnects by itself."""
    out = outage
    out.start_worker("w1")
    out.start_worker("w2")
    server = out.start_server("web")
    watching, offline = LiveClient(server, out.population.token), LiveClient(server, out.population.token)
    assert watching.connected.wait(20) and offline.connected.wait(20)
    collins = out.population.clips["Eileen Collins"]
    add_cameras(out.postgres.url, {"a1": collins, "a2": collins})
    wait_for(lambda: watching.seen() == out.alert_ids() and len(out.alert_ids()) == 2, 90, "first alerts missing")

    offline.go_offline()
    out.redis.stop()
    wait_for(lambda: out.all_ready(["web", "w1", "w2"], 503), 15, "/readyz did not go 503 without Redis")
    _code, body = _readyz(out.health["w1"])
    assert body["failed"] == ["redis"] and "ConnectionError" in str(body["checks"]["redis"]["detail"]), body  # type: ignore[index]
    add_cameras(out.postgres.url, {"b1": collins, "b2": collins})
    wait_for(lambda: len(out.alert_ids()) == 4, 90, "alerts were not stored while Redis was down")
    out.redis.start()
    wait_for(lambda: out.all_ready(["web", "w1", "w2"], 200), 30, "/readyz did not return to 200")
    add_cameras(out.postgres.url, {"c1": collins})
    wait_for(lambda: len(out.alert_ids()) == 5, 90, "an alert after the restart was not stored")
    offline.come_back()
    for client in (watching, offline):
        wait_for(lambda c=client: c.seen() >= out.alert_ids(), 30, "a browser is missing a red flag")
    time.sleep(3)
    assert Counter(watching.alert_ids()).most_common(1)[0][1] == 1, "a red flag was pushed twice"
    assert len(out.stored()) == len(set(out.stored())) == 5
    assert all(p.poll() is None for p in out.dep.processes.values()), "a process died"
    watching.close()
    offline.close()


def _small_filesystem(folder: Path, size_kb: int = 64) -> str | None:
    """Mount a tmpfs of ``size_kb`` on ``folder`` (root only); None, or why not."""
    if os.geteuid() != 0:
        return "not root: no small filesystem can be mounted"
    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_kb}k,mode=0700", "tmpfs", str(folder)], capture_output=True
    )
    return None if done.returncode == 0 else f"tmpfs could not be mounted: {done.stderr.decode().strip()}"


def test_media_disk_full_alert_stored_with_its_crop_marked_missing(tmp_path: Path, settings, engine, astronaut) -> None:  # type: ignore[no-untyped-def]
    """An embedded `vigil serve` (SQLite, media as files) whose crops folder is a tiny filesystem filled
    to the last byte (a tmpfs; needs root) — the alerts' crops cannot be written. Shows: the red flag is
    stored all the same with its crop marked missing (also in the API), the failure is logged, the
    process and its camera go on, and `/readyz` says why (degraded, not failed)."""
    from tests.helpers import authorise, jpeg, live_fields, with_approvers

    from vigil.domain.cameras import CameraRegistry
    from vigil.domain.users import UserService
    from vigil.samples import portrait_clip
    from vigil.services import open_watchlist
    from vigil.settings import VigilSettings

    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "cache").symlink_to(settings.cache_dir, target_is_directory=True)
    crops = data_dir / "media" / "crops"
    why = _small_filesystem(crops)
    if why:
        pytest.skip(why)
    try:
        fd = os.open(crops / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
        try:  # fill it: the next write finds no space
            while os.write(fd, b"\0" * 4096):
                pass
        except OSError:
            pass
        finally:
            os.close(fd)
        local = VigilSettings(data_dir=data_dir)
        watchlist = with_approvers(open_watchlist(local, engine=engine))
        subject = watchlist.enroll(live_fields("Eileen Collins"), [("a.jpg", jpeg(astronaut))]).subject_id
        clip = portrait_clip(astronaut, data_dir / "clip.mp4", seconds=4.0, fps=10, seed=3, size=(480, 270))
        CameraRegistry(watchlist.db).add("dock", str(clip), latitude=51.5, longitude=-0.12, analysis_fps=2.0)
        authorise(watchlist.db, ["dock"])
        users = UserService(watchlist.db)
        token = users.issue(users.add("operator", "correct horse battery", "operator"), "api", label="t").secret
        watchlist.db.dispose()

        logs = tmp_path / "logs"
        logs.mkdir()
        dep = Deployment(data_dir, "", "", logs)
        env = {k: v for k, v in dep.env().items() if k not in ("VIGIL_DATABASE_URL", "VIGIL_REDIS_URL")}
        env["VIGIL_MEDIA_STORE"] = "files"
        port = free_port()
        log = (logs / "serve.log").open("wb")
        from tests.helpers.scaleout import VIGIL

        process = subprocess.Popen(
            [*VIGIL, "serve", "--host", "127.0.0.1", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT
        )
        base = f"http://127.0.0.1:{port}"
        try:
            db = create_engine(f"sqlite:///{data_dir / 'vigil.db'}")
            wait_for(
                lambda: _rows(db, "SELECT crop_name, crop_missing FROM alerts"),
                120,
                "no alert was stored on a full disk",
            )
            ((crop_name, missing),) = _rows(db, "SELECT crop_name, crop_missing FROM alerts")
            assert crop_name is None and "No space left on device" in missing, missing
            code, body = _readyz(base)
            print(f"/readyz with the media disk full: {code} {json.dumps(body)}")
            assert code == 200 and body["status"] == "degraded" and body["failed"] == ["media"], body
            detail = str(body["checks"]["media"]["detail"])  # type: ignore[index]
            assert "media disk is nearly full" in detail and "No space left on device" in detail, detail
            assert body["crops_not_written"] >= 1
            import httpx

            alerts = httpx.get(base + "/api/alerts", headers={"Authorization": f"Bearer {token}"}, timeout=10).json()
            (alert,) = alerts["alerts"]
            assert alert["crop_url"] is None and "No space left on device" in alert["crop_missing"]
            assert alert["subject_id"] == subject
            time.sleep(4)  # the camera goes on: its track's later looks find the disk still full
            assert process.poll() is None, "the server died"
            text_log = (logs / "serve.log").read_text()
            assert "stored without its crop" in text_log
            states = httpx.get(base + "/api/cameras", headers={"Authorization": f"Bearer {token}"}, timeout=10)
            assert states.status_code in (200, 403)
            db.dispose()
        finally:
            process.terminate()
            process.wait(30)
    finally:
        subprocess.run(["umount", "-l", str(crops)], capture_output=True)
