"""The live pipeline on the 1080p crowd clip: one red flag for an enrolled passer-by, none against a
gallery of 1,000 LFW people, and fewer false flags than per-frame matching at the same threshold."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select
from tests.conftest import LFW, VIDEO, needs_lfw, needs_video
from tests.helpers import (
    authorised_gate,
    cli_authorise,
    cli_supervisors,
    enroll_lfw_people,
    in_months,
    jpeg,
    live_fields,
    live_service,
    live_settings,
)
from tests.helpers.streaming import read_clip, write_clip
from typer.testing import CliRunner

from vigil.bench.live import compare_rules
from vigil.cli.main import app
from vigil.domain.alerts import AlertRecorder
from vigil.domain.matching import WatchlistMatcher
from vigil.pipeline.offline import sample_frames
from vigil.pipeline.runtime import CameraConfig, LiveRunner
from vigil.store.models import Alert
from vigil.video.sources import parse_source
from vigil.vision.quality import assess_quality

CROWD = VIDEO / "crowd_walk_1080p.mp4"
ENROLL_FRAME = 5  # 0.2 s into the clip
REST_FROM = 10  # the pipeline sees the clip from 0.4 s on

pytestmark = [pytest.mark.slow, needs_video]


@pytest.fixture(scope="module")
def crowd_frames() -> list[np.ndarray]:
    return read_clip(CROWD)


@pytest.fixture(scope="module")
def passerby_crop(crowd_frames: list[np.ndarray], engine) -> np.ndarray:  # type: ignore[no-untyped-def]
    """The best-quality face of an early frame, cropped with a margin as an enrollment photo (RGB)."""
    frame = crowd_frames[ENROLL_FRAME]
    faces = engine.detect(frame)
    best = int(np.argmax(assess_quality(frame, faces).score))
    x1, y1, x2, y2 = faces.xyxy[best]
    cx, cy, side = (x1 + x2) / 2, (y1 + y2) / 2, 2.2 * max(x2 - x1, y2 - y1)
    return frame[int(cy - side / 2) : int(cy + side / 2), int(cx - side / 2) : int(cx + side / 2)].copy()


@pytest.fixture(scope="module")
def rest_of_clip(crowd_frames: list[np.ndarray], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_clip(crowd_frames[REST_FROM:], tmp_path_factory.mktemp("clip") / "crowd_rest.mp4", fps=25)


def test_vigil_run_raises_exactly_one_alert_for_the_enrolled_passerby(
    tmp_path: Path,
    settings,
    passerby_crop: np.ndarray,
    rest_of_clip: Path,  # type: ignore[no-untyped-def]
) -> None:
    data_dir = tmp_path / "data"
    runner = CliRunner()
    base = ["--data-dir", str(data_dir), "--models-dir", str(settings.resolved_models_dir)]
    photo = tmp_path / "passerby.jpg"
    photo.write_bytes(jpeg(passerby_crop))
    added = runner.invoke(
        app,
        [
            *base,
            "watchlist",
            "add",
            str(photo),
            "--name",
            "Passer By",
            "--category",
            "wanted",
            "--legal-basis",
            "warrant: W-2026-77",
            *cli_supervisors(base),
            "--expires",
            in_months(6),
        ],
    )
    assert added.exit_code == 0, added.output
    subject_id = added.stdout.strip().splitlines()[-1]
    out = tmp_path / "alerts.jsonl"
    cli_authorise(base, "plaza", categories="wanted")
    result = runner.invoke(
        app, [*base, "run", "--camera", f"plaza={rest_of_clip}", "--until-end", "--fast", "--json", str(out)]
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == 1, lines
    alert = lines[0]
    assert alert["subject_id"] == subject_id and alert["subject_name"] == "Passer By"
    assert alert["camera"] == "plaza" and alert["faces"] >= 1
    # the fused rule: the track's evidence reaches what one face at the threshold would give
    assert alert["evidence"] >= alert["threshold"] and alert["score"] <= 1.0
    assert alert["first_seen"] <= alert["last_seen"]
    summary = json.loads(result.stderr.strip().splitlines()[-1])
    assert summary["camera"] == "plaza" and summary["alerts"] == 1 and summary["dropped_frames"] == 0
    from vigil.store.db import open_database

    db = open_database(settings.model_copy(update={"data_dir": data_dir}))
    with db.session() as session:
        rows = session.scalars(select(Alert)).all()
    assert len(rows) == 1 and rows[0].crop_name is not None
    assert (data_dir / "media" / "crops" / rows[0].crop_name).stat().st_size > 1000
    assert rows[0].last_seen > rows[0].first_seen  # updated as the track went on


@pytest.fixture(scope="module")
def lfw_watchlist(tmp_path_factory: pytest.TempPathFactory, settings, engine):  # type: ignore[no-untyped-def]
    if not (LFW / "pairs.txt").is_file():
        pytest.skip(f"LFW not found at {LFW}")
    service = live_service(live_settings(tmp_path_factory.mktemp("lfw1000"), settings), engine)
    assert enroll_lfw_people(service, LFW, 1000) == 1000
    return service


@needs_lfw
def test_no_alert_with_a_gallery_of_1000_lfw_people_not_in_the_clip(lfw_watchlist, engine) -> None:  # type: ignore[no-untyped-def]
    assert lfw_watchlist.replica.subjects >= 1000
    recorder = AlertRecorder(lfw_watchlist.db, lfw_watchlist.media)
    runner = LiveRunner(
        [CameraConfig("plaza", parse_source(str(CROWD), realtime=False), 5.0)],
        engine,
        WatchlistMatcher(lfw_watchlist),
        recorder,
        gate=authorised_gate(lfw_watchlist.db, ["plaza"]),
    )
    runner.start()
    assert runner.wait(300)
    runner.close()
    counters = runner.counters()["plaza"]
    assert counters.frames == 21 and counters.faces > 100 and counters.embedded > 30
    with lfw_watchlist.db.session() as session:
        assert session.scalars(select(Alert)).all() == []
    assert counters.alerts == 0 and runner.errors() == {}


@needs_lfw
def test_track_rule_raises_fewer_false_flags_than_per_frame_matching(  # type: ignore[no-untyped-def]
    lfw_watchlist, engine, passerby_crop: np.ndarray
) -> None:
    subject = lfw_watchlist.enroll(live_fields("Passer By"), [("p.jpg", jpeg(passerby_crop))]).subject_id
    try:
        frames = sample_frames(CROWD, 5.0, start_s=REST_FROM / 25)
        matcher = WatchlistMatcher(lfw_watchlist)
        rows = compare_rules(engine, matcher, frames, [0.94, 0.95, 0.956], expected_subject=subject)
    finally:
        lfw_watchlist.remove(subject)
    print(json.dumps(rows, indent=1))
    for row in rows:
        assert row["track_false_alerts"] <= row["per_frame_false_flags"]
    assert any(row["track_false_alerts"] < row["per_frame_false_flags"] for row in rows)
    default = rows[-1]
    assert default["track_false_alerts"] == 0 and default["track_alert_subjects"] == [subject]
