"""Faces that match nobody leave no trace: after a run over the crowd clip against a watchlist that
matches nobody in it, nothing new is in the database, the data directory or the logs — no crop, no
embedding, no score or box — while the counters show that faces were analysed. The log is read in both
formats Vigil writes (VIGIL_LOG_FORMAT text and json)."""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, inspect, select, text
from tests.conftest import VIDEO, needs_video
from tests.helpers import authorised_gate, jpeg, live_fields, live_service, live_settings

from vigil.domain.alerts import AlertRecorder
from vigil.domain.authorisations import AuthorisationCounter
from vigil.domain.matching import WatchlistMatcher
from vigil.domain.thresholds import AnalysisCounter
from vigil.logs import ContextFilter, formatter
from vigil.pipeline.runtime import CameraConfig, LiveRunner
from vigil.store.models import Alert, AnalysisCount
from vigil.video.sources import parse_source

CROWD = VIDEO / "crowd_walk_1080p.mp4"


def _files(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_size for p in root.rglob("*") if p.is_file()}


def _row_counts(service) -> dict[str, int]:  # type: ignore[no-untyped-def]
    with service.db.session() as session:
        tables = inspect(session.get_bind()).get_table_names()
        return {t: session.execute(text(f'SELECT COUNT(*) FROM "{t}"')).scalar_one() for t in tables}


SOAK_SECONDS = float(os.environ.get("VIGIL_SOAK_SECONDS", "600"))


@needs_video
@pytest.mark.parametrize(
    "seconds",
    [pytest.param(0.0, marks=pytest.mark.slow), pytest.param(SOAK_SECONDS, marks=[pytest.mark.slow, pytest.mark.soak])],
    ids=["clip-once", "looped-soak"],
)
def test_a_run_that_matches_nobody_writes_nothing_about_any_face(
    tmp_path, settings, engine, astronaut, seconds
) -> None:  # type: ignore[no-untyped-def]
    """Once through the clip as fast as analysis goes, and looped in real time for ``VIGIL_SOAK_SECONDS``
    (default 10 minutes; issue 6's target)."""
    run_settings = live_settings(tmp_path, settings)
    service = live_service(run_settings, engine)
    service.enroll(live_fields("Eileen Collins"), [("collins.jpg", jpeg(astronaut))])
    gate = authorised_gate(service.db, ["plaza"])
    rows_before = _row_counts(service)
    files_before = _files(run_settings.data_dir)

    log_file = tmp_path / "vigil.log"
    handler = logging.FileHandler(log_file)
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(formatter("text"))
    json_file = tmp_path / "vigil.jsonl"  # the same records as VIGIL_LOG_FORMAT=json writes them
    json_handler = logging.FileHandler(json_file)
    json_handler.setLevel(logging.DEBUG)
    json_handler.setFormatter(formatter("json"))
    json_handler.addFilter(ContextFilter())
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    root = logging.getLogger()
    keep = Keep(logging.DEBUG)
    previous_level = root.level
    root.addHandler(handler)
    root.addHandler(json_handler)
    root.addHandler(keep)
    root.setLevel(logging.DEBUG)
    try:
        source = parse_source(str(CROWD), realtime=False) if not seconds else parse_source(str(CROWD), loop=True)
        runner = LiveRunner(
            [CameraConfig("plaza", source, 5.0)],
            engine,
            WatchlistMatcher(service),
            AlertRecorder(service.db, service.media),
            gate=gate,
            counts_sink=AnalysisCounter(service.db).add,
            authorisation_counts_sink=AuthorisationCounter(service.db).add,
        )
        runner.start()
        if seconds:
            time.sleep(seconds)
            runner.stop()
        assert runner.wait(300)
        runner.close()
    finally:
        root.removeHandler(handler)
        root.removeHandler(json_handler)
        root.removeHandler(keep)
        root.setLevel(previous_level)
        handler.close()
        json_handler.close()

    counters = runner.counters()["plaza"]
    assert counters.faces > 100 and counters.embedded > 30 and counters.alerts == 0  # faces were analysed
    # under the default (adaptive) detection schedule: its motion maps and regions were made and kept nowhere
    plans = counters.schedule
    assert plans.full_passes >= 1 and plans.region_passes >= 1, plans
    assert plans.pixels_detected < plans.pixels_seen
    if seconds:
        assert counters.frames > 2 * seconds  # real time at ~4-5 analysed frames/s
    # The counts — and only the counts — were stored.
    with service.db.session() as session:
        stored = session.scalars(select(AnalysisCount)).all()
    totals: dict[str, tuple[int, int]] = {}  # counts are kept per camera and day: a run may cross midnight
    for c in stored:
        faces, frames = totals.get(c.camera, (0, 0))
        totals[c.camera] = (faces + c.faces, frames + c.frames)
    assert totals == {"plaza": (counters.faces, counters.frames)}

    # The database: not one row more anywhere, the counts aside.
    rows_after = _row_counts(service)
    assert rows_after.pop("analysis_counts") == 1
    assert rows_after.pop("authorisation_counts") == 1  # the same counts, for the authorisation's results
    rows_before.pop("analysis_counts")
    rows_before.pop("authorisation_counts")
    assert rows_after == rows_before
    with service.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Alert)) == 0
    # The data directory: no new file (the database's own files aside), no crop.
    files_after = _files(run_settings.data_dir)
    database_files = {"vigil.db", "vigil.db-wal", "vigil.db-shm"}
    assert {f for f in files_after if f not in database_files} == {f for f in files_before if f not in database_files}
    assert not (run_settings.data_dir / "media" / "crops").exists() or not any(
        (run_settings.data_dir / "media" / "crops").iterdir()
    )

    # No embedding of a passer-by, in any byte of any file or the log.
    frame = next(iter(_decoded_frames(CROWD, [10, 40, 80])))
    analysed = engine.analyse(frame)
    passers = analysed.embeddings.vectors
    assert len(passers) >= 3
    logs = [log_file.read_bytes(), json_file.read_bytes()]
    blobs = [p.read_bytes() for p in run_settings.data_dir.rglob("*") if p.is_file()] + logs
    for vector in passers:
        for fragment in (vector[:8].astype(np.float32).tobytes(), vector[:8].astype(np.float64).tobytes()):
            assert not any(fragment in blob for blob in blobs)
    # No JPEG in the database.
    for name in database_files:
        path = run_settings.data_dir / name
        if path.exists():
            assert b"\xff\xd8\xff" not in path.read_bytes()

    # The logs, in both formats: lines about the camera, none carrying a passer-by's embedding (its first
    # components as text) or box (a corner as a pair of numbers), no score.
    lines = {"text": log_file.read_text().splitlines(), "json": json_file.read_text().splitlines()}
    assert len(lines["text"]) == len(lines["json"]) > 0
    parsed = [json.loads(line) for line in lines["json"]]  # one JSON object per line, every one
    assert all({"time", "level", "logger", "message"} <= set(r) for r in parsed)
    assert any(r.get("camera") == "plaza" for r in parsed)  # the camera's threads name it
    embedding_text = {f"{abs(float(x)):.5f}" for vector in passers for x in vector[:4]}
    corners = {
        f"{a}{sep}{b}"
        for x1, y1, x2, y2 in analysed.detections.xyxy.round().astype(int)
        for a, b in ((x1, y1), (x2, y2))
        for sep in (", ", " ", ",", ":", "x")
    } | {  # as floats, the way an f-string or numpy would print them
        f"{a:.{d}f}{sep}{b:.{d}f}"
        for x1, y1, x2, y2 in analysed.detections.xyxy
        for a, b in ((x1, y1), (x2, y2))
        for d in (1, 2)
        for sep in (", ", " ", "  ")
    }
    # what the code wrote (the time a format puts in front cannot carry a face)
    written = [line[24:] for line in lines["text"]] + [f"{r['message']} {r.get('exception', '')}" for r in parsed]
    for line in written:
        assert not any(v in line for v in embedding_text), line
        assert not any(corner in line for corner in corners), line
        assert "score" not in line.lower(), line
    # no numbers about faces as arguments (no arrays, boxes or scores)
    for record in records:
        for arg in record.args if isinstance(record.args, tuple) else ():
            assert not isinstance(arg, np.ndarray | float | np.floating), record.getMessage()
        assert "score" not in record.getMessage().lower()


def _decoded_frames(video: Path, indices: list[int]):  # type: ignore[no-untyped-def]
    from tests.helpers.streaming import read_clip

    frames = read_clip(video)
    return [frames[i] for i in indices]
