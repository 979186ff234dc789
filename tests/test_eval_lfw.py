"""The evaluation code on a small LFW subset (the full evaluation is `vigil eval lfw`, a benchmark)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.conftest import LFW, needs_lfw

from vigil.errors import DatasetError
from vigil.eval.lfw import LfwDataset, evaluate_lfw, write_report

pytestmark = [pytest.mark.slow]


def test_missing_dataset_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="expected an LFW folder"):
        LfwDataset(tmp_path)


def test_malformed_pairs_file(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    (tmp_path / "pairs.txt").write_text("10 300\nA 1 2\n")
    with pytest.raises(DatasetError, match="expected 6000 pairs"):
        LfwDataset(tmp_path).pairs()


@needs_lfw
def test_pairs_follow_the_view2_protocol() -> None:
    pairs = LfwDataset(LFW).pairs()
    assert len(pairs) == 6000
    assert sum(p.same for p in pairs) == 3000
    assert {p.fold for p in pairs} == set(range(10))


@needs_lfw
def test_subset_evaluation_produces_the_full_report(engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    report = evaluate_lfw(engine, LfwDataset(LFW), gallery_images=(1, 3), max_pairs_per_fold=16, max_people=120)
    assert report["verification_pairs"] == 160
    assert report["verification_accuracy"] > 0.9  # type: ignore[operator]
    assert 0.0 <= report["fnir_at_fpir_1pct"] <= 1.0  # type: ignore[operator]
    assert report["rank1"] > 0.8  # type: ignore[operator]
    assert set(report["identification"]) == {"1", "3"}  # type: ignore[arg-type]
    out = tmp_path / "lfw.json"
    plot = write_report(report, out)
    saved = json.loads(out.read_text())
    for key in (
        "verification_accuracy",
        "verification_std",
        "rank1",
        "fnir_at_fpir_1pct",
        "fnir_at_fpir_0_1pct",
        "thresholds",
        "images",
        "no_face",
        "seconds",
        "detector",
        "embedder",
    ):
        assert key in saved
    assert plot.is_file() and plot.stat().st_size > 5000


@needs_lfw
def test_rates_per_operator_supplied_group(engine) -> None:  # type: ignore[no-untyped-def]
    people = LfwDataset(LFW).people()
    groups = {name: ("odd" if i % 2 else "even") for i, name in enumerate(list(people)[:120])}
    report = evaluate_lfw(
        engine,
        LfwDataset(LFW),
        gallery_images=(1,),
        max_pairs_per_fold=4,
        max_people=120,
        groups=groups,
        deployed_threshold=0.95,
    )
    per = report["identification"]["1"]["groups"]  # type: ignore[index]
    assert per["at_deployed"]["threshold"] == 0.95
    for at in ("at_fpir_1pct", "at_deployed"):
        assert set(per[at]["per_group"]) == {"odd", "even"}
        for row in per[at]["per_group"].values():
            assert 0.0 <= row["fnir"] <= 1.0 and 0.0 <= row["fpir"] <= 1.0
        gap = per[at]["fnir_gap"]
        assert gap["ci95"][0] <= gap["gap"] <= gap["ci95"][1]


def test_group_error_rates_from_measured_scores() -> None:
    import numpy as np

    from vigil.eval.curves import MeasuredScores, alias_pairs, group_error_rates

    scores = MeasuredScores(
        genuine=np.array([0.97, 0.90, 0.96, 0.80]),
        genuine_track=np.array([0, 0, 1, 1]),
        impostor=np.array([0.96, 0.5, 0.5, 0.5], np.float32),
        impostor_group=np.array([0 * 3 + 1, 0 * 3 + 2, 1 * 3 + 0, 1 * 3 + 2]),
        templates=3,
        tracks=2,
        stills=4,
        no_face=0,
        probe_names=("Ann", "Bob"),
    )
    out = group_error_rates(scores, {"Ann": "a", "Bob": "b"}, 0.95)
    assert out["per_group"]["a"] == {"genuine": 2, "fnir": 0.5, "impostor": 2, "fpir": 0.5}  # type: ignore[index]
    assert out["per_group"]["b"]["fpir"] == 0.0  # type: ignore[index]
    names = ["Nan_Wang", "Wang_Nan", "Hassan_Wirajuda", "Hasan_Wirayuda", "Colin_Powell", "Condoleezza_Rice"]
    assert alias_pairs(names) == {0: [1], 1: [0], 2: [3], 3: [2]}
