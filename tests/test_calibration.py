"""Thresholds from measured error rates: the maths, the stored calibration, the floor, the history,
live figures with drift warnings, and `vigil calibrate` on LFW."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import update
from tests.conftest import LFW, needs_lfw
from tests.helpers import alert_event, jpeg, live_fields, live_service, live_settings
from tests.helpers.cli import vigil

from vigil.domain.alerts import AlertRecorder
from vigil.domain.audit import AuditLog
from vigil.domain.thresholds import AnalysisCounter, ThresholdError, ThresholdService
from vigil.eval.curves import MeasuredLooks, fit_all, fit_curves, look_track_scores, measure_looks, scores_of
from vigil.recognition.calibration import (
    operating_point,
    passerby_false_alert_rate,
    score_curve,
    target_fmr,
    validated_floor,
)
from vigil.store.models import Alert


def _synthetic(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return np.clip(rng.normal(0.97, 0.01, 2000), 0, 1), np.clip(rng.normal(0.90, 0.02, 200_000), 0, 1)


def test_threshold_rises_with_the_watchlist_and_rates_follow() -> None:
    curve = score_curve(*_synthetic())
    points = [operating_point(curve, 0.001, n) for n in (1, 10, 100, 1000)]
    assert [p.threshold for p in points] == sorted(p.threshold for p in points)
    assert points[0].threshold < points[-1].threshold
    for p in points[:3]:
        assert p.resolved and p.false_alert_rate <= 0.001 * 1.05
        assert p.miss_rate == pytest.approx(curve.at(p.threshold)[1])
    assert not points[3].resolved  # 1e-6 per comparison is below what 200,000 impostor scores resolve
    assert target_fmr(0.001, 1000) == pytest.approx(1e-6, rel=0.01)
    assert passerby_false_alert_rate(1e-6, 1000) == pytest.approx(0.001, rel=0.01)
    unresolvable = operating_point(curve, 1e-9, 10_000)
    assert not unresolvable.resolved and unresolvable.threshold > curve.max_impostor
    assert curve.at(validated_floor(curve))[0] <= 1e-3


UNKNOWN_VERSION = "weights-nobody-measured"


@pytest.fixture
def thresholds(tmp_path: Path, settings, engine):  # type: ignore[no-untyped-def]
    """A watchlist and a threshold service for embedder weights without shipped curves."""
    watchlist = live_service(live_settings(tmp_path, settings), engine)
    service = ThresholdService(watchlist.db, AuditLog(watchlist.db, bytes(32)), engine.embedder.name, UNKNOWN_VERSION)
    return watchlist, service


def test_bundled_embedder_is_calibrated_out_of_the_box(tmp_path: Path, settings, engine, astronaut) -> None:  # type: ignore[no-untyped-def]
    watchlist = live_service(live_settings(tmp_path, settings), engine)
    service = ThresholdService(
        watchlist.db, AuditLog(watchlist.db, bytes(32)), engine.embedder.name, engine.embedder.version
    )
    curves = service.curves()
    assert curves is not None and curves.model is not None and curves.source.startswith("shipped")
    listed = {t.category: t for t in service.thresholds()}
    assert listed["wanted"].source == "policy" and listed["wanted"].rule == "looks+pooled"
    assert listed["wanted"].false_alerts_per_1000 == 0.1 and listed["wanted"].expected_hit_rate is not None
    small = listed["wanted"].threshold
    for i in range(3):
        watchlist.enroll(live_fields(f"Person {i}"), [(f"{i}.jpg", jpeg(np.ascontiguousarray(astronaut[:, i:])))])
    assert {t.category: t for t in service.thresholds()}["wanted"].threshold >= small  # rises with the watchlist
    with pytest.raises(ThresholdError, match="threshold-floor"):
        service.set("wanted", validated_floor(curves.curve) - 0.01, by="sup", reason="fewer misses")
    stricter = service.set_policy("wanted", 0.01, by="sup", reason="fewer false alerts at night")
    assert stricter.threshold > small and stricter.false_alerts_per_1000 == 0.01
    with pytest.raises(ThresholdError, match="policy"):
        service.set_policy("wanted", 0.0, by="sup", reason="none at all")
    assert service.audit.entries()[0].action == "policy-changed"


def test_thresholds_are_refused_below_the_floor_and_every_change_is_recorded(thresholds, astronaut) -> None:  # type: ignore[no-untyped-def]
    watchlist, service = thresholds
    watchlist.enroll(live_fields("Eileen Collins"), [("c.jpg", jpeg(astronaut))])
    with pytest.raises(ThresholdError, match="threshold-floor"):  # no curves yet: not below the default
        service.set("wanted", 0.90, by="sup", reason="try lower")
    with pytest.raises(ThresholdError, match="no-calibration"):
        service.recommend({"wanted": 0.001})
    with pytest.raises(ThresholdError, match="no-calibration"):
        service.set_policy("wanted", 1.0, by="sup", reason="follow the curves")
    assert {t.source for t in service.thresholds()} == {"provisional"}
    curve = service.store_calibration(*_synthetic(), source="synthetic", actor="sup")
    floor = validated_floor(curve)
    with pytest.raises(ThresholdError, match="threshold-floor"):
        service.set("wanted", floor - 0.01, by="sup", reason="fewer misses")
    with pytest.raises(ThresholdError, match="reason"):
        service.set("wanted", floor + 0.01, by="sup", reason="")
    recommended = service.recommend({"wanted": 0.0001, "missing-person": 0.01})
    assert recommended["wanted"][0] > recommended["missing-person"][0]  # stricter target, higher threshold
    change = service.set("wanted", recommended["wanted"][0], by="sup", reason="calibrated 2026-11-26")
    assert change.before is None and change.watchlist_size == 1 and change.expected_false_alert_rate is not None
    service.set("wanted", recommended["wanted"][0] + 0.005, by="sup2", reason="second review")
    history = service.history()
    assert [(h.changed_by, h.before is None) for h in history] == [("sup", True), ("sup2", False)]
    listed = {t.category: t for t in service.thresholds()}
    assert listed["wanted"].calibrated and listed["wanted"].expected_false_alert_rate is not None
    assert not listed["missing-person"].calibrated and listed["missing-person"].source == "policy"
    assert listed["missing-person"].rule == "votes"  # a calibration without a fusion model
    assert [e.action for e in service.audit.entries()][:3] == [
        "threshold-changed",
        "threshold-changed",
        "calibration-stored",
    ]


def test_live_figures_warn_when_observed_false_alerts_drift_above_the_calibration(thresholds, astronaut) -> None:  # type: ignore[no-untyped-def]
    watchlist, service = thresholds
    subject = watchlist.enroll(live_fields("Eileen Collins"), [("c.jpg", jpeg(astronaut))]).subject_id
    service.store_calibration(*_synthetic(), source="synthetic", actor="sup")
    recorder = AlertRecorder(watchlist.db, watchlist.media)
    for i in range(5):
        stored = recorder.raise_alert(alert_event(subject, track=f"t{i}"))
        assert stored is not None
        with watchlist.db.session() as session:
            session.execute(
                update(Alert).where(Alert.id == stored.alert_id).values(status="rejected" if i < 4 else "confirmed")
            )
    AnalysisCounter(watchlist.db).add("gate", frames=1000, faces=5000, tracks=400, embedded=900)
    (figure,) = service.live_figures()
    assert (figure.camera, figure.rejected, figure.confirmed, figure.tracks) == ("gate", 4, 1, 400)
    assert figure.observed_false_alert_rate == pytest.approx(0.01) and figure.drift


@pytest.mark.slow
@needs_lfw
def test_measure_on_lfw_and_the_calibrate_command(tmp_path: Path, engine) -> None:  # type: ignore[no-untyped-def]
    looks = measure_looks(engine, LFW, people=80, looks=3)
    assert looks.vectors.shape[0] == len(looks.iods) == len(looks.qualities) == len(looks.track)
    assert looks.iods.min() >= 10 and looks.iods.max() <= 70  # CCTV sizes, as the detector measured them
    again = tmp_path / "looks.npz"
    looks.save(again)
    assert np.array_equal(MeasuredLooks.load(again).vectors, looks.vectors)
    scores = scores_of(looks)
    assert scores.templates >= 75 and scores.tracks >= 10 and len(scores.genuine) >= 25
    assert len(scores.impostor) == len(scores.genuine) * (scores.templates - 1)
    assert np.median(scores.genuine) > np.median(scores.impostor) + 0.05  # CCTV-like stills, separate photos
    curve, model = fit_curves(scores)
    assert 0.0 <= model.rho <= 1.0 and curve.genuine == len(scores.genuine)
    assert model.llr_of(np.median(scores.genuine)) > 0 > model.llr_of(np.median(scores.impostor))
    # round two: the rule's own track-level scores, judged after every face as live tracks are
    fitted = fit_all(looks, rule="looks+pooled", best=2)
    assert fitted.looks.pooled is not None and len(fitted.looks.bands) == len(fitted.looks.edges) + 1
    genuine, impostor = look_track_scores(looks, fitted.looks)
    assert len(genuine) == looks.tracks and len(impostor) >= looks.tracks * (scores.templates - 2)
    assert np.median(genuine) > np.median(impostor) + 0.05
    assert fitted.tracks.genuine == len(genuine)
    out = tmp_path / "cal.json"
    groups = tmp_path / "groups.csv"
    names = sorted(p.name for p in (LFW / "images").iterdir())[:60]
    groups.write_text("".join(f"{n},{'x' if i % 3 else 'y'}\n" for i, n in enumerate(names)))
    result = vigil(
        "calibrate",
        "--groups",
        str(groups),
        "--data",
        str(LFW),
        "--people",
        "60",
        "--looks",
        "2",
        "--target",
        "wanted=0.0001",
        "--json",
        str(out),
        data_dir=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    assert report["categories"]["wanted"]["threshold"] >= report["validated_floor"]
    assert 0.0 <= report["rho"] <= 1.0 and report["rule"] == "looks+pooled"
    assert set(report["groups"]["wanted"]["per_group"]) == {"x", "y"}
    assert "false alerts per passer-by" in result.stdout
    listed = vigil("thresholds", "list", data_dir=tmp_path)
    assert listed.returncode == 0 and "wanted" in listed.stdout and "no calibration yet" not in listed.stdout
