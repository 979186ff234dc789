"""The walk-by benchmark: clips a camera could have taken (small moving faces, blur, noise, light, H.264),
and `vigil eval walkby` through the real live pipeline with its JSON contract."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from tests.conftest import LFW, needs_lfw
from tests.helpers.cli import vigil

from vigil.eval.walkby import per_frame_alerts, tolerance_as_similarity, vote_rule_alerts
from vigil.eval.walkby_render import (
    FPS,
    HEIGHT,
    IOD_LARGE,
    IOD_SMALL,
    WIDTH,
    cctv_still,
    draw_scene,
    encode_h264,
    render_frames,
    street_background,
)
from vigil.pipeline.offline import sample_frames
from vigil.vision.quality import assess_quality

SHIPPED_CURVES = Path(__file__).parents[1] / "src" / "vigil" / "recognition" / "curves" / "dlib-resnet.json"

pytestmark = [pytest.mark.slow]


def test_background_has_no_faces(engine) -> None:  # type: ignore[no-untyped-def]
    background = street_background(np.random.default_rng(3))
    assert background.shape == (HEIGHT, WIDTH, 3) and background.dtype == np.uint8
    assert len(engine.detect(background)) == 0


def test_a_walkby_clip_crosses_cctv_sizes_and_survives_h264(engine, astronaut, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    faces = engine.detect(astronaut)
    iod = float(np.linalg.norm(faces.kps[0][1] - faces.kps[0][0]))
    rng = np.random.default_rng(7)
    scene = draw_scene(rng)
    assert 2.0 <= scene.seconds <= 3.0 and 1e6 <= scene.bitrate <= 2e6
    assert IOD_SMALL[0] <= min(scene.iod_start, scene.iod_end) <= IOD_SMALL[1]
    assert IOD_LARGE[0] <= max(scene.iod_start, scene.iod_end) <= IOD_LARGE[1]
    frames = render_frames(astronaut, faces.xyxy[0], iod, street_background(rng), scene)
    assert len(frames) == round(scene.seconds * FPS)
    clip = encode_h264(frames, tmp_path / "walk.mp4", bitrate=scene.bitrate)
    assert clip.stat().st_size < scene.seconds * scene.bitrate / 8 * 1.5  # compressed at about the bitrate
    decoded = sample_frames(clip, 5.0)  # the cameras' decoder at the default analysis rate
    assert len(decoded) == pytest.approx(scene.seconds * 5, abs=1)
    eyes = []
    for frame in decoded:
        found = engine.detect(frame.image)
        if len(found):
            eyes.append(float(assess_quality(frame.image, found).inter_eye_px.max()))
    assert len(eyes) >= len(decoded) - 3  # the smallest, blurriest faces may be missed, as on a camera
    small, large = sorted([scene.iod_start, scene.iod_end])
    assert min(eyes) < small + 8 and max(eyes) > large - 10


def test_cctv_stills_are_small_and_degraded(engine, astronaut) -> None:  # type: ignore[no-untyped-def]
    faces = engine.detect(astronaut)
    iod = float(np.linalg.norm(faces.kps[0][1] - faces.kps[0][0]))
    rng = np.random.default_rng(0)
    drawn = [cctv_still(astronaut, iod, rng) for _ in range(6)]
    for image, wanted in drawn:
        assert image.shape[0] >= 320 and IOD_SMALL[0] <= wanted <= IOD_LARGE[1]
    found = [engine.detect(image) for image, _ in drawn]
    measured = [float(np.linalg.norm(f.kps[0][1] - f.kps[0][0])) for f in found if len(f)]
    assert len(measured) >= 4
    assert max(measured) < IOD_LARGE[1] + 8


def test_reference_rules_replay_on_the_same_judgements() -> None:
    from vigil.eval.walkby import Judgement

    def judged(qualities: list[float], scores: list[list[float]]) -> Judgement:
        s = np.array(scores)
        return Judgement("t", np.array(qualities), ["a", "b"], s, np.full(len(qualities), 30.0), s.mean(axis=0))

    faces = [
        judged([0.8], [[0.96, 0.90]]),
        judged([0.8, 0.9], [[0.96, 0.90], [0.97, 0.91]]),
        judged([0.8, 0.9, 0.7], [[0.96, 0.90], [0.97, 0.91], [0.95, 0.92]]),
    ]
    assert per_frame_alerts(faces, 0.955) == {"a"} and per_frame_alerts(faces, 0.98) == set()
    assert vote_rule_alerts(faces, 0.95) == {"a"}  # three faces at 0.95 or more, mean above it
    assert vote_rule_alerts(faces, 0.96) == set()  # only two faces reach 0.96
    assert tolerance_as_similarity(0.6) == pytest.approx(0.82)


@needs_lfw
def test_eval_walkby_command_reports_each_watchlist_size(tmp_path: Path) -> None:
    groups = tmp_path / "groups.csv"
    people = sorted(p.name for p in (LFW / "images").iterdir())
    groups.write_text("person,group\n" + "".join(f"{n},{'g' + str(i % 2)}\n" for i, n in enumerate(people)))
    out = tmp_path / "walkby.json"
    result = vigil(
        "eval",
        "walkby",
        "--data",
        str(LFW),
        "--json",
        str(out),
        "--watchlist-size",
        "10",
        "--watchlist-size",
        "40",
        "--enrolled",
        "3",
        "--distractors",
        "3",
        "--groups",
        str(groups),
        "--compare",
        str(SHIPPED_CURVES),
        data_dir=tmp_path / "data",
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    assert report["protocol"] == "single-photo"
    assert [r["watchlist_size"] for r in report["results"]] == [10, 40]
    assert report["seconds"] > 0 and report["curves"].startswith("shipped")
    for row in report["results"]:
        for key in (
            "hit_rate",
            "wrong_subject_rate",
            "false_alerts_per_1000",
            "operating_point",
            "todays_rule_hit_rate",
            "per_frame_hit_rate",
            "per_frame_at_tolerance_0_6",
            "sighting_template",
            "groups",
            "fused_rule_hit_rate",
            "fused_rule_threshold",
            "fused_rule_false_alerts_per_1000",
        ):
            assert key in row, key
        assert 0.0 <= row["hit_rate"] <= 1.0 and row["enrolled_walkbys"] == 3
        assert row["passerby_trials"] == 3 * 5 and row["operating_point"]["rule"] == "looks+pooled"
        # the shipped rule replayed as a candidate on the same walk-bys: at its own threshold it is the
        # rule under test, so it finds exactly what the analyser raised
        again = row["candidate_rules"]["dlib-resnet"]
        assert again["at_own_threshold"]["hit_rate"] == row["hit_rate"]
        assert again["at_own_threshold"]["false_alerts_per_1000"] == row["false_alerts_per_1000"]
        assert set(row["groups"]["per_group"]) <= {"g0", "g1"}
    assert report["results"][0]["operating_point"]["threshold"] <= report["results"][1]["operating_point"]["threshold"]
    assert "N=   10" in result.stdout
    assert list((tmp_path / "walkby-clips").glob("*.mp4"))  # clips kept for reuse, beside the report


@needs_lfw
def test_eval_walkby_varied_looks_shows_several_photos_of_each_person(tmp_path: Path) -> None:
    out = tmp_path / "walkby.json"
    result = vigil(
        "eval",
        "walkby",
        "--data",
        str(LFW),
        "--json",
        str(out),
        "--watchlist-size",
        "10",
        "--enrolled",
        "2",
        "--distractors",
        "2",
        "--varied-looks",
        data_dir=tmp_path / "data",
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    assert report["protocol"] == "varied-looks" and report["results"][0]["enrolled_walkbys"] == 2
    assert "sighting_template" not in report["results"][0]  # the next photo is already in the walk-by
    assert len(list((tmp_path / "walkby-clips").glob("*-v0.mp4"))) == 2


def test_varied_walkby_cuts_between_photos(engine, astronaut) -> None:  # type: ignore[no-untyped-def]
    faces = engine.detect(astronaut)
    box, kps = faces.xyxy[0], faces.kps[0]
    iod = float(np.linalg.norm(kps[1] - kps[0]))
    other = np.ascontiguousarray(astronaut[:, ::-1])  # a second "photo": the mirror image
    mirrored = engine.detect(other)
    rng = np.random.default_rng(2)
    background, scene = street_background(rng), draw_scene(rng)
    plain = render_frames(astronaut, box, iod, background, scene)
    varied = render_frames(astronaut, box, iod, background, scene, [(other, mirrored.xyxy[0], iod)])
    assert len(plain) == len(varied)
    assert np.array_equal(plain[0], varied[0])  # the first half shows the first photo, the same pixels
    assert not np.array_equal(plain[-1], varied[-1])  # the second half the other one


def test_eval_walkby_refuses_bad_input(tmp_path: Path) -> None:
    result = vigil(
        "eval",
        "walkby",
        "--data",
        str(LFW),
        "--json",
        str(tmp_path / "o.json"),
        "--watchlist-size",
        "0",
        data_dir=tmp_path,
    )
    assert result.returncode == 2 and "watchlist-size" in result.stderr
    result = vigil(
        "eval",
        "walkby",
        "--data",
        str(LFW),
        "--json",
        str(tmp_path / "o.json"),
        "--groups",
        str(tmp_path / "no.csv"),
        data_dir=tmp_path,
    )
    assert result.returncode == 2 and "no such groups file" in result.stderr
    other = tmp_path / "curves.json"
    other.write_text(json.dumps({"embedder": "someone-else", "version": "x"}))
    result = vigil(
        "eval",
        "walkby",
        "--data",
        str(LFW),
        "--json",
        str(tmp_path / "o.json"),
        "--curves",
        str(other),
        data_dir=tmp_path,
    )
    assert result.returncode == 2 and "curves of someone-else@x" in result.stderr
    assert not (tmp_path / "o.json").exists()
