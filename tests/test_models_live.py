"""Issue 26: a model switched under a running `vigil serve` whose camera raises alerts — the running
pipeline takes the new model up without a restart, no alert is lost, the new model's alerts carry its
name, /metrics names the model (and its file's checksum) the process runs, and rolling back to the
bundled model works the same way. A real server process, a real clip camera, the real command line."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from sqlalchemy import create_engine, text
from tests.conftest import LFW, SHARED_MODELS
from tests.helpers import authorise, jpeg, live_fields, with_approvers
from tests.helpers.scaleout import VIGIL, wait_for
from tests.helpers.streaming import free_port, read_clip, write_clip

from vigil.settings import VigilSettings
from vigil.vision.engine import FaceEngine

MOBILEFACENET = SHARED_MODELS / "MobileFaceNet__foamliu.onnx"
needs_shared = pytest.mark.skipif(
    not (MOBILEFACENET.is_file() and (LFW / "images").is_dir()),
    reason=f"the shared MobileFaceNet ({MOBILEFACENET}) or LFW ({LFW}) is absent",
)
CALIBRATION = ("--calibrate-on", str(LFW), "--people", "80", "--looks", "2")
TOKEN = "metrics-token-for-the-live-switch"
FPS = 4
FACE_S, GAP_S = 3, 32  # the face, then an empty street longer than the 30 s re-arming window: a fresh alert a loop


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*VIGIL, *args], env=env, capture_output=True, text=True, timeout=600)


def _alerts(db_file: Path) -> list[tuple[str, str | None, str]]:
    db = create_engine(f"sqlite:///{db_file}")
    try:
        with db.connect() as connection:
            rows = connection.execute(text("SELECT subject_id, model, first_seen FROM alerts ORDER BY first_seen"))
            return [(str(s), m, str(f)) for s, m, f in rows]
    finally:
        db.dispose()


def _metrics(base: str) -> str:
    return httpx.get(base + "/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10).text


def _a_camera_and_an_added_model(
    tmp_path: Path, settings: VigilSettings, engine: FaceEngine, astronaut: np.ndarray, name: str
) -> tuple[Path, dict[str, str], str]:
    """A data folder with one person enrolled under the bundled dlib-resnet, a clip camera whose loop shows
    her for FACE_S then an empty street for GAP_S, and the shared MobileFaceNet added as ``name`` through the
    real command line: (data folder, the environment of the processes under test, her subject id)."""
    from vigil.domain.cameras import CameraRegistry
    from vigil.samples import portrait_clip
    from vigil.services import open_watchlist

    data, models = tmp_path / "data", tmp_path / "models"
    data.mkdir()
    (data / "cache").symlink_to(settings.cache_dir, target_is_directory=True)  # dlib's converted model
    local = VigilSettings(data_dir=data, models_dir=models)
    watchlist = with_approvers(open_watchlist(local, engine=engine))  # enrolled with the bundled dlib-resnet
    subject = watchlist.enroll(live_fields("Eileen Collins"), [("a.jpg", jpeg(astronaut))]).subject_id
    face = read_clip(portrait_clip(astronaut, tmp_path / "face.mp4", seconds=FACE_S, fps=FPS, size=(480, 270)))
    street = np.full_like(face[0], 90)
    clip = write_clip(face + [street] * (GAP_S * FPS), tmp_path / "loop.mp4", fps=FPS)
    CameraRegistry(watchlist.db).add("gate", str(clip), latitude=51.5, longitude=-0.1, analysis_fps=2.0)
    authorise(watchlist.db, ["gate"])
    watchlist.replica.close()
    watchlist.db.dispose()

    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    env.update(
        VIGIL_DATA_DIR=str(data),
        VIGIL_MODELS_DIR=str(models),
        VIGIL_MEDIA_STORE="files",
        VIGIL_METRICS_TOKEN=TOKEN,
        PYTHONUNBUFFERED="1",
    )
    added = _cli(env, "models", "add", str(MOBILEFACENET), "--name", name, "--licence", "Force licence 14",
                 *CALIBRATION)  # fmt: skip
    assert added.returncode == 0, added.stderr
    return data, env, subject


@needs_shared
def test_a_running_serve_switches_model_live_and_rolls_back(
    tmp_path: Path, settings: VigilSettings, engine: FaceEngine, astronaut: np.ndarray
) -> None:
    from vigil.vision.onnx_utils import file_sha256

    data, env, subject = _a_camera_and_an_added_model(tmp_path, settings, engine, astronaut, "mfn-live")
    digest = file_sha256(MOBILEFACENET)

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = (tmp_path / "serve.log").open("wb")
    server = subprocess.Popen(
        [*VIGIL, "serve", "--host", "127.0.0.1", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    db_file = data / "vigil.db"
    try:
        wait_for(lambda: len(_alerts(db_file)) >= 1, 120, "the camera raised no alert under the bundled model")
        assert _alerts(db_file)[0][:2] == (subject, "dlib-resnet")
        assert 'vigil_model_info{name="dlib-resnet"' in _metrics(base)

        switched = _cli(env, "models", "use", "mfn-live", "--reason", "licensed by the force, tender 14")
        assert switched.returncode == 0, switched.stderr
        wait_for(lambda: f'name="mfn-live",version="{digest[:12]}",sha256="{digest}"' in _metrics(base), 60,
                 "the running server did not take the new model up")  # fmt: skip
        wait_for(lambda: any(m == "mfn-live" for _, m, _ in _alerts(db_file)), FACE_S + GAP_S + 60,
                 "no alert under the new model")  # fmt: skip

        back = _cli(env, "models", "use", "dlib-resnet", "--reason", "roll back: pilot ended")
        assert back.returncode == 0, back.stderr
        wait_for(lambda: 'vigil_model_info{name="dlib-resnet"' in _metrics(base), 60, "no roll-back in the server")
        wait_for(lambda: _alerts(db_file)[-1][1] == "dlib-resnet" and len(_alerts(db_file)) >= 3,
                 FACE_S + GAP_S + 60, "no alert after rolling back")  # fmt: skip
        assert server.poll() is None, "the server restarted or died"
    finally:
        server.terminate()
        server.wait(30)
        log.close()
    alerts = _alerts(db_file)
    models_seen = [m for _, m, _ in alerts]
    # every pass of the person raised its alert (none lost around either switch), each under the model running
    assert all(s == subject for s, _, _ in alerts)
    assert models_seen[0] == "dlib-resnet" and "mfn-live" in models_seen and models_seen[-1] == "dlib-resnet"
    runs = [m for i, m in enumerate(models_seen) if i == 0 or models_seen[i - 1] != m]
    assert runs == ["dlib-resnet", "mfn-live", "dlib-resnet"], models_seen  # each switch once, at one moment
    logged = (tmp_path / "serve.log").read_text()
    assert logged.count("face model switched in this process") == 2, logged[-3000:]
    assert "Traceback" not in logged, logged[-3000:]
    starts = [time.mktime(time.strptime(f[:19], "%Y-%m-%d %H:%M:%S")) for _, _, f in alerts]
    loop = (FACE_S + GAP_S) * 1.0
    assert all(b - a < 2 * loop for a, b in itertools.pairwise(starts)), starts  # no pass went by unflagged
    print(f"alerts: {[(m, f) for _, m, f in alerts]}", file=sys.stderr)


def test_a_switch_waits_for_the_frame_being_analysed_and_holds_new_ones_off() -> None:
    import threading

    from vigil.vision.engine import ModelLock

    lock = ModelLock()
    swapped, entered = threading.Event(), threading.Event()

    def switch() -> None:
        with lock.switching():
            swapped.set()
            time.sleep(0.2)

    def next_frame() -> None:
        with lock.using() as generation:
            assert swapped.is_set() and generation == 1  # it waited for the swap to end, and sees the new model
            entered.set()

    with lock.using() as generation:
        assert generation == 0
        switcher = threading.Thread(target=switch)
        switcher.start()
        time.sleep(0.2)
        assert not swapped.is_set()  # no swap while a frame is being analysed
    switcher_started = time.monotonic()
    while not swapped.is_set() and time.monotonic() - switcher_started < 5:
        time.sleep(0.01)
    frame = threading.Thread(target=next_frame)
    frame.start()
    time.sleep(0.05)
    assert not entered.is_set()  # held off while the swap runs
    switcher.join(5)
    frame.join(5)
    assert entered.is_set() and lock.generation == 1


class _Renamed:
    """The same network under another model name (a second model without a second file)."""

    def __init__(self, inner, name: str, on_embed=None) -> None:  # type: ignore[no-untyped-def]
        self.inner, self.name, self.template, self.on_embed = inner, name, inner.template, on_embed

    @property
    def dim(self) -> int:
        return int(self.inner.dim)

    @property
    def version(self) -> str:
        return str(self.inner.version)

    def prepare(self) -> None:
        self.inner.prepare()

    def embed(self, chips):  # type: ignore[no-untyped-def]
        from vigil.vision.types import Embeddings

        vectors = self.inner.embed(chips).vectors
        if self.on_embed is not None:  # the switch lands right after this photo was embedded
            self.on_embed()
        return Embeddings(vectors, model=self.name, version=self.version)


def test_a_photo_enrolled_while_the_model_switches_keeps_the_name_of_the_model_that_embedded_it(
    tmp_path: Path, settings: VigilSettings, engine: FaceEngine, astronaut: np.ndarray
) -> None:
    """The race issue 26 left open: a photo embedded by the old model, stored after the switch, was filed
    under the new model's name (a wrong template that the new model would have matched against)."""
    from sqlalchemy import select

    from vigil.store.models import PhotoEmbedding

    new = _Renamed(engine.embedder, "licensed-model")
    switched: list[bool] = []

    def switch_now() -> None:
        if not switched:
            switched.append(True)
            watchlist.switch_model(new)  # what the follower does between two frames

    old = _Renamed(engine.embedder, "old-model", on_embed=switch_now)
    from tests.helpers import fields, make_service

    from vigil.clock import system_clock

    watchlist = make_service(
        settings.model_copy(update={"data_dir": tmp_path / "data"}), FaceEngine(engine.detector, old), system_clock
    )
    enrolled = watchlist.enroll(fields("Eileen Collins"), [("a.jpg", jpeg(astronaut))])
    assert switched and watchlist.model == "licensed-model"

    def templates() -> list[str]:
        with watchlist.db.session() as session:
            return sorted(session.scalars(select(PhotoEmbedding.model)).all())

    assert templates() == ["old-model"]  # named by the model that embedded it, not the one running at the store
    assert watchlist.reembed() == 1  # what the follower runs after a switch: the new model's template added
    assert templates() == ["licensed-model", "old-model"]
    hits = watchlist.search(watchlist.engine.analyse(astronaut).embeddings.vectors, k=1)
    assert hits[0][0].subject_id == enrolled.subject_id  # the new model's gallery finds her


def test_the_model_follower_runs_with_the_control_room_and_stops_with_it(tmp_path: Path, engine: FaceEngine) -> None:
    """`vigil serve` starts the follower when it starts serving and stops it when it stops (it used to be
    started when the app was built and never stopped: it went on polling a database that was gone)."""
    from fastapi.testclient import TestClient

    from vigil.services import open_control_room, open_watchlist

    settings = VigilSettings(data_dir=tmp_path / "data")
    watchlist = with_approvers(open_watchlist(settings, engine=engine))
    app = open_control_room(settings, run_cameras=True, watchlist=watchlist)
    follower = app.state.ctx.model_follower
    assert follower is not None and follower._thread is None  # built, not started
    with TestClient(app):
        assert follower._thread is not None and follower._thread.is_alive()
        thread = follower._thread
    assert follower._thread is None and not thread.is_alive()
    assert open_control_room(settings, run_cameras=False, watchlist=watchlist).state.ctx.model_follower is None


@needs_shared
def test_a_running_vigil_run_takes_a_switch_up_live(
    tmp_path: Path, settings: VigilSettings, engine: FaceEngine, astronaut: np.ndarray
) -> None:
    """`vigil run` (not only `serve`): `models use` under it switches its running camera to the new model
    without a restart, and the next pass of the person is flagged under the new model's name."""
    data, env, subject = _a_camera_and_an_added_model(tmp_path, settings, engine, astronaut, "mfn-run")

    log = (tmp_path / "run.log").open("wb")
    runner = subprocess.Popen([*VIGIL, "run", "--loop", "--duration", "240"], env=env, stdout=log, stderr=log)
    db_file = data / "vigil.db"
    try:
        wait_for(lambda: len(_alerts(db_file)) >= 1, 120, "`vigil run` raised no alert under the bundled model")
        switched = _cli(env, "models", "use", "mfn-run", "--reason", "licensed by the force, tender 14")
        assert switched.returncode == 0, switched.stderr
        assert "`vigil run`" in switched.stdout  # it says which running processes follow
        wait_for(lambda: "face model switched in this process" in (tmp_path / "run.log").read_text(), 60,
                 "the running `vigil run` did not take the new model up")  # fmt: skip
        wait_for(lambda: any(m == "mfn-run" for _, m, _ in _alerts(db_file)), FACE_S + GAP_S + 60,
                 "no alert under the new model")  # fmt: skip
        assert runner.poll() is None, "`vigil run` restarted or died"
    finally:
        runner.terminate()
        runner.wait(30)
        log.close()
    alerts = _alerts(db_file)
    assert all(s == subject for s, _, _ in alerts) and alerts[0][1] == "dlib-resnet" and alerts[-1][1] == "mfn-run"
    assert "Traceback" not in (tmp_path / "run.log").read_text()
