"""A scaled-out Vigil for the failover tests: a fresh PostgreSQL database, Redis, and real `vigil worker`
and `vigil serve` processes (so that `kill -9` is real), with WebSocket clients that record what they get."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from tests.conftest import _postgres_reachable
from tests.helpers.streaming import free_port

METRICS_TOKEN = "failover-test-scraper-token"  # what Prometheus would send to /metrics
REDIS_URL = os.environ.get("VIGIL_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")
VIGIL = [sys.executable, "-m", "vigil.cli.main"]


def redis_reachable(url: str = REDIS_URL) -> str | None:
    try:
        import redis

        redis.Redis.from_url(url, socket_connect_timeout=3).ping()
        return None
    except Exception as exc:
        return f"Redis not reachable at {url} ({type(exc).__name__})"


def services_missing() -> str | None:
    """Why the scale-out tests cannot run here, or None."""
    return _postgres_reachable() or redis_reachable()


def _postgres_bin() -> Path | None:
    for folder in (
        os.environ.get("VIGIL_TEST_POSTGRES_BIN"),
        "/usr/lib/postgresql/15/bin",
        "/usr/lib/postgresql/16/bin",
    ):
        if folder and (Path(folder) / "pg_ctl").is_file() and (Path(folder) / "initdb").is_file():
            return Path(folder)
    found = shutil.which("pg_ctl")
    return Path(found).parent if found and shutil.which("initdb") else None


class PrivatePostgres:
    """A PostgreSQL server of our own (initdb in a temporary folder, a free port, no fsync), to stop and
    start mid-test. As root it runs as the ``postgres`` user (PostgreSQL refuses root)."""

    def __init__(self) -> None:
        self.bin = _postgres_bin()
        self.port = free_port()
        self.folder: Path | None = None
        self._user: tuple[int, int] | None = None

    def missing(self) -> str | None:
        """Why one cannot be run here, or None."""
        if self.bin is None:
            return "PostgreSQL server binaries (initdb, pg_ctl) not found (VIGIL_TEST_POSTGRES_BIN)"
        if os.geteuid() == 0:
            import pwd

            try:
                entry = pwd.getpwnam("postgres")
            except KeyError:
                return "running as root without a postgres user to run a private PostgreSQL as"
            self._user = (entry.pw_uid, entry.pw_gid)
        return None

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/vigil"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        assert self.bin is not None
        user = self._user

        def drop() -> None:
            if user is not None:
                os.setgid(user[1])
                os.setuid(user[0])

        return subprocess.run(
            [str(self.bin / args[0]), *args[1:]], preexec_fn=drop, capture_output=True, check=check, timeout=120
        )

    def init(self) -> PrivatePostgres:
        import tempfile

        self.folder = Path(tempfile.mkdtemp(prefix="vigil-pg-"))
        if self._user is not None:
            os.chown(self.folder, *self._user)
        self._run("initdb", "-D", str(self.folder / "data"), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync")
        self.start()
        import psycopg

        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{self.port}/postgres", autocommit=True) as conn:
            conn.execute("CREATE DATABASE vigil")
        return self

    def start(self) -> None:
        assert self.folder is not None
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        self._run(
            "pg_ctl", "-D", str(self.folder / "data"), "-o", options, "-l", str(self.folder / "log"), "-w", "start"
        )

    def stop(self, mode: str = "fast") -> None:
        assert self.folder is not None
        self._run("pg_ctl", "-D", str(self.folder / "data"), "-m", mode, "-w", "stop", check=False)

    def close(self) -> None:
        if self.folder is not None:
            self.stop("immediate")
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None


class PrivateRedis:
    """A redis-server of our own on a free port (no persistence), to stop and start mid-test."""

    def __init__(self, workdir: Path) -> None:
        self.binary = shutil.which("redis-server")
        self.port = free_port()
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        assert self.binary is not None
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            cwd=self.workdir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while redis_reachable(self.url) is not None:
            assert time.monotonic() < deadline, "private redis-server did not start"
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None


@dataclass
class Deployment:
    """The environment every process of one scaled-out Vigil shares, and the processes started."""

    data_dir: Path
    database_url: str
    redis_url: str
    logs: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
        env.update(
            VIGIL_DATA_DIR=str(self.data_dir),
            VIGIL_DATABASE_URL=self.database_url,
            VIGIL_REDIS_URL=self.redis_url,
            VIGIL_MEDIA_STORE="database",
            VIGIL_METRICS_TOKEN=METRICS_TOKEN,
            VIGIL_OUTBOUND_ALLOWED_NETWORKS="127.0.0.0/8",  # the tests' own receivers, through the guard
            PYTHONUNBUFFERED="1",
        )
        env.update(extra)  # may replace any of the above (a worker's own data directory)
        return env

    def _spawn(
        self, name: str, args: list[str], *, program: list[str] = VIGIL, **extra: str
    ) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{name}.log").open("wb")
        process = subprocess.Popen([*program, *args], env=self.env(**extra), stdout=log, stderr=subprocess.STDOUT)
        self.processes[name] = process
        return process

    def start_worker(self, name: str, **extra: str) -> subprocess.Popen[bytes]:
        return self._spawn(name, ["worker", "--id", name], **extra)

    def own_data_dir(self, name: str) -> Path:
        """A data directory for one process (its own on-disk alert queue), sharing the converted models."""
        folder = self.data_dir.parent / f"data-{name}"
        folder.mkdir(exist_ok=True)
        if not (folder / "cache").exists():
            (folder / "cache").symlink_to((self.data_dir / "cache").resolve(), target_is_directory=True)
        return folder

    def start_server(self, name: str, **extra: str) -> str:
        port = free_port()
        self._spawn(name, ["serve", "--host", "127.0.0.1", "--port", str(port)], **extra)
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: _answers(url), 90, f"web server {name} did not start (see {self.logs / name}.log)")
        return url

    def kill(self, name: str) -> None:
        process = self.processes[name]
        process.send_signal(signal.SIGKILL)
        process.wait(10)

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")

    def close(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()


def _answers(url: str) -> bool:
    import httpx

    try:
        return httpx.get(url + "/login", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def wait_for(condition: Callable[[], object], timeout: float, message: str, every: float = 0.25) -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(message)
        time.sleep(every)


class LiveClient:
    """A WebSocket client of /api/alerts/live that records every message (and reconnects if dropped)."""

    def __init__(self, base_url: str, token: str) -> None:
        self.base_url = base_url
        self.token = token  # an API token: each connection opens with a single-use ticket fetched with it
        self.url = base_url.replace("http://", "ws://") + "/api/alerts/live"
        self.messages: list[dict[str, object]] = []
        self.fetched: set[str] = set()  # alert ids read from the API after each reconnect, as the Live page does
        self.connects = 0
        self.connected = threading.Event()
        self._stop = threading.Event()
        self._offline = threading.Event()  # a browser whose network went away (a laptop lid, a tunnel)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        from websockets.sync.client import connect

        while not self._stop.is_set():
            if self._offline.is_set():
                time.sleep(0.1)
                continue
            try:
                ticket = httpx.post(
                    self.base_url + "/api/auth/ticket", headers={"Authorization": f"Bearer {self.token}"}, timeout=5
                ).json()["ticket"]
                with connect(f"{self.url}?ticket={ticket}", open_timeout=5) as ws:
                    hello = json.loads(ws.recv(timeout=5))
                    if hello.get("type") != "hello":
                        raise ConnectionError("the live socket refused the ticket")
                    self.connects += 1
                    if self.connects > 1:  # a reconnect: pushes sent meanwhile are not replayed; read them
                        page = httpx.get(
                            self.base_url + "/api/alerts?limit=50",
                            headers={"Authorization": f"Bearer {self.token}"},
                            timeout=5,
                        ).json()
                        self.fetched.update(str(a["id"]) for a in page["alerts"])
                    self.connected.set()
                    while not self._stop.is_set() and not self._offline.is_set():
                        try:
                            self.messages.append(json.loads(ws.recv(timeout=0.5)))
                        except TimeoutError:
                            continue
            except Exception:
                time.sleep(0.5)
            self.connected.clear()

    def alert_ids(self, kind: str = "alert") -> list[str]:
        return [str(m["alert"]["id"]) for m in list(self.messages) if m.get("type") == kind]  # type: ignore[index]

    def go_offline(self) -> None:
        """Drop the socket and stay away until :meth:`come_back` (pushes meanwhile are missed)."""
        self._offline.set()

    def come_back(self) -> None:
        self._offline.clear()

    def seen(self) -> set[str]:
        """Every red flag this browser shows: pushed, or read after a reconnect."""
        return set(self.alert_ids()) | self.fetched

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)


@dataclass
class Population:
    subjects: dict[str, str]  # display name → subject id
    clips: dict[str, Path]  # display name → a clip of that person
    token: str  # an operator's API token, for the WebSocket clients


def populate(deployment: Deployment, engine: object, portraits: dict[str, object]) -> Population:
    """The shared database: migrated, one subject per portrait, an operator with an API token, and a
    short small clip of each portrait (cameras are added by the tests)."""
    import numpy as np
    from tests.helpers import jpeg, live_fields, with_approvers

    from vigil.domain.users import UserService
    from vigil.samples import portrait_clip
    from vigil.services import open_watchlist
    from vigil.settings import VigilSettings

    settings = VigilSettings(data_dir=deployment.data_dir, database_url=deployment.database_url, media_store="database")
    watchlist = with_approvers(open_watchlist(settings, engine=engine))  # type: ignore[arg-type]
    subjects, clips = {}, {}
    for seed, (name, image) in enumerate(portraits.items(), start=1):
        pixels = np.asarray(image)
        subjects[name] = watchlist.enroll(live_fields(name), [(f"{name}.jpg", jpeg(pixels))]).subject_id
        clips[name] = portrait_clip(
            pixels, deployment.data_dir / "clips" / f"{seed}.mp4", seconds=4.0, fps=10, seed=seed, size=(480, 270)
        )
    users = UserService(watchlist.db)
    operator = users.add("operator", "correct horse battery", "operator", display_name="Test Operator")
    token = users.issue(operator, "api", label="failover test").secret
    watchlist.db.dispose()
    return Population(subjects, clips, token)


def add_cameras(database_url: str, cameras: dict[str, Path], analysis_fps: float = 2.0) -> None:
    from tests.helpers import authorise

    from vigil.domain.cameras import CameraRegistry
    from vigil.store.db import Database, create_db_engine

    db = Database(create_db_engine(database_url))
    registry = CameraRegistry(db)
    for name, clip in cameras.items():
        registry.add(name, str(clip), latitude=51.5, longitude=-0.12, analysis_fps=analysis_fps)
    authorise(db, list(cameras))  # the workers analyse them only under an authorisation
    db.dispose()
