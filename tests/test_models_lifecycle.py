"""Issue 26: a licensed recogniser put into service in one command — `vigil models add` (checked, its
SHA-256 recorded, copied, calibrated), `list`, `use` (re-embedded, resumable, audited), `remove`, and
processes that refuse a different file under the active name. Real files, a real database."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from sqlalchemy import func, select
from tests.conftest import LFW, SHARED_MODELS, _postgres_reachable, fresh_postgres
from tests.helpers import live_fields, make_service

from vigil.clock import system_clock
from vigil.errors import ModelLoadError, ModelMismatchError
from vigil.settings import VigilSettings
from vigil.store.db import open_database
from vigil.store.models import Calibration, FaceModel, PhotoEmbedding
from vigil.vision.embedders.check import check_embedder_file
from vigil.vision.engine import FaceEngine

MOBILEFACENET = SHARED_MODELS / "MobileFaceNet__foamliu.onnx"
YUNET = SHARED_MODELS / "face_detection_yunet_2023mar.onnx"
needs_shared = pytest.mark.skipif(
    not (MOBILEFACENET.is_file() and (LFW / "images").is_dir()),
    reason=f"the shared MobileFaceNet ({MOBILEFACENET}) or LFW ({LFW}) is absent",
)
CALIBRATION = ("--calibrate-on", str(LFW), "--people", "80", "--looks", "2")  # 20 people with 2+ photos


def tiny_embedder(path: Path, *, size: int = 112, dim: int = 32, inputs: int = 1) -> Path:
    """A small ArcFace-shaped ONNX file: (N, 3, S, S) -> 8x8 strided conv -> global average -> (N, dim)."""
    rng = np.random.default_rng(0)
    weights = helper.make_tensor("w", TensorProto.FLOAT, [dim, 3, 8, 8], rng.normal(size=(dim, 3, 8, 8)).ravel())
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], kernel_shape=[8, 8], strides=[8, 8]),
        helper.make_node("GlobalAveragePool", ["c"], ["g"]),
        helper.make_node("Flatten", ["g"], ["emb"]),
    ]
    graph_inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, size, size])]
    if inputs == 2:
        graph_inputs.append(helper.make_tensor_value_info("extra", TensorProto.FLOAT, ["N", 3]))
    graph = helper.make_graph(
        nodes, "tiny", graph_inputs, [helper.make_tensor_value_info("emb", TensorProto.FLOAT, ["N", dim])], [weights]
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def run(data: Path, models: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real command line with a models folder of the test's own (the shared one is read-only)."""
    cmd = [sys.executable, "-m", "vigil.cli.main", "--data-dir", str(data), "--models-dir", str(models), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600)


def test_a_small_onnx_file_built_here_passes_the_checks_and_bad_ones_are_refused(
    tmp_path: Path, astronaut: np.ndarray
) -> None:
    kps = np.array([[190, 110], [245, 105], [222, 140], [198, 170], [240, 168]], np.float32)
    report = check_embedder_file(tiny_embedder(tmp_path / "tiny.onnx"), astronaut, kps)
    assert (report.input_size, report.dim, report.repeat_difference) == (112, 32, 0.0) and len(report.sha256) == 64
    declared = check_embedder_file(tiny_embedder(tmp_path / "tiny96.onnx", size=96), astronaut, kps)
    assert declared.input_size == 96  # the size the file declares, chips aligned to the scaled template
    with pytest.raises(ModelLoadError, match="one image input"):
        check_embedder_file(tiny_embedder(tmp_path / "two.onnx", inputs=2), astronaut, kps)
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes((tmp_path / "tiny.onnx").read_bytes()[:500])
    with pytest.raises(ModelLoadError, match=r"could not be parsed|could not load"):
        check_embedder_file(truncated, astronaut, kps)


def _nothing_stored(data: Path, models: Path) -> None:
    listed = run(data, models, "models", "list")
    assert listed.returncode == 0, listed.stderr
    assert "added models (0;" in listed.stdout
    assert not (models / "added").exists() or not any((models / "added").iterdir())
    db = open_database(VigilSettings(data_dir=data, models_dir=models))
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(FaceModel)) == 0
        assert session.scalar(select(func.count()).select_from(Calibration)) == 0


@needs_shared
def test_each_refusal_is_one_error_line_and_stores_nothing(tmp_path: Path) -> None:
    data, models = tmp_path / "data", tmp_path / "models"
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(MOBILEFACENET.read_bytes()[:100_000])
    unlabelled = tmp_path / "flat"
    (unlabelled / "images").mkdir(parents=True)
    small = tmp_path / "small"
    for person in ("Ann_One", "Bob_Two", "Cy_Three"):
        (small / "images" / person).mkdir(parents=True)
        for i in (1, 2):
            shutil.copyfile(
                min((LFW / "images").glob("*/*_0001.jpg")), small / "images" / person / f"{person}_000{i}.jpg"
            )
    common = ("--name", "licensed", "--licence", "Force licence 2026-14")
    cases = [
        ((str(truncated), *common, *CALIBRATION), "could not be parsed"),
        ((str(YUNET), *common, *CALIBRATION), "expected an (N, D) embedding output"),
        ((str(MOBILEFACENET), *common, "--calibrate-on", str(tmp_path / "nowhere")), "no such folder"),
        ((str(MOBILEFACENET), *common, "--calibrate-on", str(unlabelled)), "no labelled photos"),
        ((str(MOBILEFACENET), *common, "--calibrate-on", str(small)), "needs at least 20 such people"),
        ((str(MOBILEFACENET), *common, "--calibrate-on", str(LFW), "--people", "60"), "needs at least 20"),
        ((str(MOBILEFACENET), "--name", "dlib-resnet", "--licence", "x y z", *CALIBRATION), "bundled model"),
        ((str(MOBILEFACENET), "--name", "Bad Name", "--licence", "x y z", *CALIBRATION), "model name"),
    ]
    for args, message in cases:
        result = run(data, models, "models", "add", *args)
        lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        assert result.returncode == 2 and len(lines) == 1 and message in lines[0], (args, result.stderr)
        _nothing_stored(data, models)
    assert "3 of the first 3 people" in run(data, models, "models", "add", *cases[4][0]).stderr  # says how many


@needs_shared
def test_add_use_refuse_and_roll_back_the_shared_mobilefacenet(
    tmp_path: Path, settings: VigilSettings, engine: FaceEngine, astronaut: np.ndarray, hopper: np.ndarray
) -> None:
    from tests.helpers import jpeg

    from vigil.services import open_watchlist

    data, models = tmp_path / "data", tmp_path / "models"
    mine = settings.model_copy(update={"data_dir": data, "models_dir": models})
    watchlist = make_service(mine, engine, system_clock)  # enrolled with the bundled dlib-resnet
    watchlist.enroll(live_fields("Eileen Collins"), [("a.jpg", jpeg(astronaut))])
    watchlist.enroll(live_fields("Grace Hopper"), [("h.jpg", jpeg(hopper))])
    watchlist.replica.close()
    source = "foamliu/MobileFaceNet, trained on MS-Celeb-1M (withdrawn 2019)"
    licence = ("--licence", "Force licence 2026-14", "--source", source)
    added = run(data, models, "models", "add", str(MOBILEFACENET), "--name", "mfn-licensed", *licence, *CALIBRATION)
    assert added.returncode == 0, added.stderr
    assert "calibrating mfn-licensed" in added.stderr  # progress shown
    digest = added.stdout.split("sha256 ")[1].split()[0]
    assert (models / "added" / "mfn-licensed.onnx").read_bytes() == MOBILEFACENET.read_bytes()
    taken = run(
        data, models, "models", "add", str(MOBILEFACENET), "--name", "mfn-licensed", "--licence", "x y z", *CALIBRATION
    )
    assert taken.returncode == 2 and "already added" in taken.stderr
    listed = run(data, models, "models", "list").stdout
    for shown in (digest, "Force licence 2026-14", "MS-Celeb-1M", "calibrated:", "80 people"):
        assert shown in listed

    # resumable: a switch interrupted after the first photo keeps what it embedded and does the rest next time
    mfn = FaceEngine.from_settings(mine.model_copy(update={"embedder": "mfn-licensed"})).prepare()
    assert mfn.embedder.name == "mfn-licensed" and mfn.embedder.version == digest[:12]
    partial = open_watchlist(mine, engine=mfn, start=False, check_model=False)

    def interrupt(done: int, total: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        partial.reembed(progress=interrupt)
    switched = run(data, models, "models", "use", "mfn-licensed", "--reason", "licensed by the force, tender 14")
    assert switched.returncode == 0, switched.stderr
    assert "1 photos embedded with mfn-licensed" in switched.stdout and "re-embedding" in switched.stderr
    db = open_database(mine)
    with db.session() as session:
        versions = dict(
            session.execute(select(PhotoEmbedding.model, func.count()).group_by(PhotoEmbedding.model)).all()
        )
    assert versions == {"dlib-resnet": 2, "mfn-licensed": 2}  # the old templates are kept
    entries = [json.loads(line) for line in run(data, models, "audit", "list", "--json").stdout.splitlines()]
    activated = [e for e in entries if e["action"] == "model-activated"]
    assert len(activated) == 1
    details = activated[0]["details"]
    assert details["reason"].startswith("licensed by") and details["new"]["sha256"] == digest
    assert details["thresholds_before"]["embedder"].startswith("dlib-resnet@")
    assert details["thresholds_after"]["embedder"] == f"mfn-licensed@{digest[:12]}"
    assert details["thresholds_after"]["wanted"] < details["thresholds_before"]["wanted"]  # the new curves' scale

    refused = run(data, models, "models", "remove", "mfn-licensed")
    assert refused.returncode == 2 and "active model" in refused.stderr
    # every process now runs the active model ...
    assert open_watchlist(mine, start=False).engine.embedder.name == "mfn-licensed"
    # ... and one told to run another, or holding a different file under the same name, refuses
    with pytest.raises(ModelMismatchError, match="active model is 'mfn-licensed'"):
        open_watchlist(mine.model_copy(update={"embedder": "dlib-resnet"}), engine=engine, start=False)
    tiny_embedder(models / "added" / "mfn-licensed.onnx")
    with pytest.raises(ModelMismatchError, match=digest) as refusal:
        open_watchlist(mine, start=False)
    assert "mfn-licensed.onnx" in str(refusal.value)
    worker = run(data, models, "watchlist", "list")
    assert worker.returncode == 2 and worker.stderr.count("error:") == 1 and digest in worker.stderr
    shutil.copyfile(MOBILEFACENET, models / "added" / "mfn-licensed.onnx")
    # `--embedder NAME` before any command (or VIGIL_EMBEDDER): the active model runs, another is refused
    told = run(data, models, "--embedder", "dlib-resnet", "watchlist", "list")
    assert told.returncode == 2 and "active model is 'mfn-licensed'" in told.stderr
    assert run(data, models, "--embedder", "mfn-licensed", "watchlist", "list").returncode == 0

    back = run(data, models, "models", "use", "dlib-resnet", "--reason", "roll back: pilot ended")
    assert back.returncode == 0, back.stderr
    assert "0 photos embedded with dlib-resnet" in back.stdout  # its templates were kept: instant roll-back
    assert "ACTIVE" in run(data, models, "models", "list").stdout.split("dlib-resnet  [embedder]")[1].splitlines()[0]
    removed = run(data, models, "models", "remove", "mfn-licensed")
    assert removed.returncode == 0, removed.stderr
    assert not (models / "added" / "mfn-licensed.onnx").exists()
    with db.session() as session:  # its templates went with it; the bundled model's stay
        left = dict(session.execute(select(PhotoEmbedding.model, func.count()).group_by(PhotoEmbedding.model)).all())
    assert left == {"dlib-resnet": 2}


@pytest.mark.services
def test_a_worker_stops_claiming_cameras_while_the_active_model_is_not_its_own(
    tmp_path: Path, engine: FaceEngine, astronaut: np.ndarray
) -> None:
    """Scaled out (PostgreSQL): a running worker hands its cameras back and claims none while the active
    model is not the one it loaded, and claims again once it is."""
    if _postgres_reachable():
        pytest.skip(_postgres_reachable() or "")
    with fresh_postgres() as url:
        _worker_refuses(tmp_path, url, engine, astronaut)


def _worker_refuses(tmp_path: Path, url: str, engine: FaceEngine, astronaut: np.ndarray) -> None:
    from vigil.domain.audit import Actor, AuditLog
    from vigil.domain.cameras import CameraRegistry
    from vigil.domain.models import ModelRegistry
    from vigil.samples import portrait_clip
    from vigil.services import open_worker

    settings = VigilSettings(data_dir=tmp_path / "data", database_url=url, media_store="database")
    db = open_database(settings)
    clip = portrait_clip(astronaut, tmp_path / "walk.mp4", seconds=2.0, fps=10, size=(320, 180))
    CameraRegistry(db).add("gate", str(clip), latitude=51.5, longitude=-0.1, analysis_fps=1.0)
    worker = open_worker(settings, worker_id="w", engine=engine)
    registry = ModelRegistry(db, AuditLog(db, key_file=settings.resolved_audit_key_file))
    by = Actor("cli:test", "cli")
    try:
        worker.replica.load()
        worker.runner.start()
        worker.leases.register("host", 1)
        worker.beat()
        assert set(worker.running) == {"gate"} and worker.model_refusal is None
        # another process switched every worker to a model this one does not run
        registry.activate("vendor-r100", "0123456789ab", "f" * 64, by=by, reason="tender 14", before={}, thresholds={})
        worker.beat()
        assert worker.running == {} and "active model is 'vendor-r100'" in (worker.model_refusal or "")
        worker.beat()
        assert worker.running == {}  # claims nothing while refused
        e = engine.embedder
        registry.activate(e.name, e.version, "", by=by, reason="roll back: pilot ended", before={}, thresholds={})
        worker.beat()
        assert set(worker.running) == {"gate"} and worker.model_refusal is None
    finally:
        worker._shutdown()
        db.dispose()


@pytest.mark.services
@needs_shared
def test_a_running_worker_takes_a_switch_up_live_and_keeps_its_cameras(
    tmp_path: Path, engine: FaceEngine, astronaut: np.ndarray
) -> None:
    """Scaled out (PostgreSQL): `models use` under a running worker — its follower takes the new model up
    (the old one matching until the swap), it never hands its camera back, /metrics names the new model;
    the roll back the same; a model whose file it lacks is a refusal (camera handed back)."""
    if _postgres_reachable():
        pytest.skip(_postgres_reachable() or "")
    with fresh_postgres() as url:
        _worker_follows(tmp_path, url, engine, astronaut)


def _worker_follows(tmp_path: Path, url: str, engine: FaceEngine, astronaut: np.ndarray) -> None:
    from tests.helpers import jpeg, with_approvers
    from tests.helpers.scaleout import wait_for

    from vigil.domain.audit import Actor, AuditLog
    from vigil.domain.cameras import CameraRegistry
    from vigil.domain.models import ModelRegistry, switch_active_model
    from vigil.samples import portrait_clip
    from vigil.scaleout.metrics import render_worker
    from vigil.services import open_watchlist, open_worker
    from vigil.store.media import open_media

    data, models = tmp_path / "data", tmp_path / "models"
    settings = VigilSettings(data_dir=data, database_url=url, media_store="database", models_dir=models)
    db = open_database(settings)
    env = {**os.environ, "VIGIL_DATABASE_URL": url, "VIGIL_MEDIA_STORE": "database"}
    cmd = [sys.executable, "-m", "vigil.cli.main", "--data-dir", str(data), "--models-dir", str(models)]
    added = subprocess.run(
        [*cmd, "models", "add", str(MOBILEFACENET), "--name", "mfn-licensed", "--licence", "Force licence 2026-14",
         *CALIBRATION],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    enrolling = with_approvers(open_watchlist(settings, engine=engine, start=False))
    enrolling.enroll(live_fields("Eileen Collins"), [("a.jpg", jpeg(astronaut))])
    clip = portrait_clip(astronaut, tmp_path / "walk.mp4", seconds=2.0, fps=10, size=(320, 180))
    CameraRegistry(db).add("gate", str(clip), latitude=51.5, longitude=-0.1, analysis_fps=1.0)
    # an engine of its own: the follower swaps its embedder (the session's engine stays dlib-resnet)
    worker = open_worker(settings, worker_id="w", engine=FaceEngine(engine.detector, engine.embedder))
    assert worker.follower is not None
    by = Actor("cli:test", "cli")
    media = open_media(settings, db)

    def switch(name: str) -> None:
        switch_active_model(db, media, settings, name, reason=f"test: to {name}", by=by)
        worker.beat()  # at once, before the follower may have looked: the camera keeps running
        assert set(worker.running) == {"gate"} and worker.model_refusal is None
        wait_for(lambda: worker.model[0] == name, 60, f"the worker did not take {name} up")
        worker.beat()
        assert set(worker.running) == {"gate"} and worker.model_refusal is None
        assert f'vigil_model_info{{name="{name}"' in render_worker(worker)
        assert "vigil_worker_model_refused 0" in render_worker(worker)

    try:
        worker.replica.load()
        worker.runner.start()
        worker.leases.register("host", 1)
        worker.follower.start()
        worker.beat()
        assert set(worker.running) == {"gate"}
        switch("mfn-licensed")
        assert 'sha256="' + file_sha(MOBILEFACENET) + '"' in render_worker(worker)
        switch("dlib-resnet")  # the roll back
        # a model this worker cannot load: its follower refuses, and the worker hands the camera back
        registry = ModelRegistry(db, AuditLog(db, key_file=settings.resolved_audit_key_file))
        registry.activate("vendor-r100", "0123456789ab", "f" * 64, by=by, reason="tender 14", before={}, thresholds={})
        wait_for(lambda: worker.follower.refused, 30, "the follower did not refuse a model it cannot load")  # type: ignore[union-attr]
        worker.beat()
        assert worker.running == {} and "vendor-r100" in (worker.model_refusal or "")
        assert "vigil_worker_model_refused 1" in render_worker(worker)
    finally:
        worker._shutdown()
        assert not worker.follower.following
        db.dispose()


def file_sha(path: Path) -> str:
    from vigil.vision.onnx_utils import file_sha256

    return file_sha256(path)
