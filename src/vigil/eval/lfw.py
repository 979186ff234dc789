"""Labeled Faces in the Wild: reading the protocol files and running Vigil's face engine on them.

* Verification (View 2): ``pairs.txt``, 10 folds of 300 matched and 300 mismatched pairs.
* Open-set identification: gallery = the first K images of every person with more than K images;
  mated probes = their remaining images; non-mated probes = every person with a single image.

Images where the detector finds no face are counted and handled as failures, never dropped: a
verification pair with such an image scores -1 (a rejection), a gallery image is not enrolled, and a
probe cannot be identified (a miss when mated, no alert when non-mated).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vigil.errors import DatasetError, ImageError
from vigil.eval.metrics import IdentificationScores, identify, verification_10fold
from vigil.vision.engine import FaceEngine
from vigil.vision.image import load_image
from vigil.vision.types import central_face


@dataclass(frozen=True)
class Pair:
    fold: int
    name1: str
    index1: int
    name2: str
    index2: int

    @property
    def same(self) -> bool:
        return self.name1 == self.name2


class LfwDataset:
    """An LFW folder: ``images/<Name>/<Name>_NNNN.jpg`` plus ``pairs.txt``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.images_dir = self.root / "images"
        if not self.images_dir.is_dir():
            raise DatasetError(f"{self.root}: expected an LFW folder with images/<Name>/<Name>_NNNN.jpg")

    def image_path(self, name: str, index: int) -> Path:
        return self.images_dir / name / f"{name}_{index:04d}.jpg"

    def people(self) -> dict[str, int]:
        """Person name -> number of images, in name order."""
        out = {}
        for folder in sorted(p for p in self.images_dir.iterdir() if p.is_dir()):
            count = len(list(folder.glob("*.jpg")))
            if count:
                out[folder.name] = count
        return out

    def pairs(self) -> list[Pair]:
        path = self.root / "pairs.txt"
        if not path.is_file():
            raise DatasetError(f"{path} is missing")
        lines = path.read_text().split("\n")
        header = lines[0].split()
        try:
            folds, per_fold = int(header[0]), int(header[1])
        except (IndexError, ValueError) as exc:
            raise DatasetError(f"{path}: first line should be '<folds> <pairs per fold>'") from exc
        pairs: list[Pair] = []
        rows = [line.split() for line in lines[1:] if line.strip()]
        if len(rows) != folds * per_fold * 2:
            raise DatasetError(f"{path}: expected {folds * per_fold * 2} pairs, found {len(rows)}")
        for i, row in enumerate(rows):
            fold = i // (2 * per_fold)
            if len(row) == 3:
                pairs.append(Pair(fold, row[0], int(row[1]), row[0], int(row[2])))
            elif len(row) == 4:
                pairs.append(Pair(fold, row[0], int(row[1]), row[2], int(row[3])))
            else:
                raise DatasetError(f"{path}: malformed pair line {i + 2}: {' '.join(row)}")
        return pairs


def embed_paths(
    engine: FaceEngine,
    paths: list[Path],
    *,
    progress: Callable[[int, int], None] | None = None,
    batch: int = 64,
) -> tuple[np.ndarray, np.ndarray]:
    """Embed the central face of each image: returns ((n, dim) vectors, (n,) bool face-found)."""
    vectors: np.ndarray | None = None
    found = np.zeros(len(paths), dtype=bool)
    pending_chips: list[np.ndarray] = []
    pending_rows: list[int] = []

    def flush() -> None:
        nonlocal vectors
        if not pending_chips:
            return
        emb = engine.embedder.embed(np.stack(pending_chips)).vectors
        if vectors is None:
            vectors = np.zeros((len(paths), emb.shape[1]), dtype=np.float32)
        vectors[pending_rows] = emb
        pending_chips.clear()
        pending_rows.clear()

    for row, path in enumerate(paths):
        try:
            image = load_image(path)
        except ImageError:
            continue
        faces = engine.detect(image)
        if len(faces) == 0:
            continue
        face = faces[central_face(faces, image.shape[1], image.shape[0])]
        pending_chips.append(engine.chips(image, face)[0])
        pending_rows.append(row)
        found[row] = True
        if len(pending_chips) >= batch:
            flush()
        if progress is not None:
            progress(row + 1, len(paths))
    flush()
    if vectors is None:
        raise DatasetError("no face was found in any image")
    return vectors, found


def evaluate_lfw(
    engine: FaceEngine,
    dataset: LfwDataset,
    *,
    gallery_images: tuple[int, ...] = (1,),
    max_pairs_per_fold: int | None = None,
    max_people: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    groups: dict[str, str] | None = None,
    deployed_threshold: float | None = None,
) -> dict[str, object]:
    """Run both protocols and return the JSON-ready report (DET data under ``_det``). With ``groups``
    (person → label, supplied by the operator), FNIR and FPIR per group at the FPIR 1 % threshold and at
    ``deployed_threshold``."""
    started = time.perf_counter()
    pairs = dataset.pairs()
    if max_pairs_per_fold is not None:
        kept: list[Pair] = []
        for fold in range(10):
            in_fold = [p for p in pairs if p.fold == fold]
            same = [p for p in in_fold if p.same][: max_pairs_per_fold // 2]
            diff = [p for p in in_fold if not p.same][: max_pairs_per_fold - len(same)]
            kept += same + diff
        pairs = kept
    people = dataset.people()
    if max_people is not None:
        people = dict(list(people.items())[:max_people])

    keys: dict[tuple[str, int], int] = {}
    for name, count in people.items():
        for index in range(1, count + 1):
            keys.setdefault((name, index), len(keys))
    for p in pairs:
        keys.setdefault((p.name1, p.index1), len(keys))
        keys.setdefault((p.name2, p.index2), len(keys))
    paths = [dataset.image_path(name, index) for name, index in keys]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise DatasetError(f"{len(missing)} images named by the protocol are missing, e.g. {missing[0]}")
    vectors, found = embed_paths(engine, paths, progress=progress)

    # Verification.
    a = np.array([keys[(p.name1, p.index1)] for p in pairs])
    b = np.array([keys[(p.name2, p.index2)] for p in pairs])
    scores = np.where(found[a] & found[b], (vectors[a] * vectors[b]).sum(axis=1), -1.0)
    verification = verification_10fold(scores, np.array([p.same for p in pairs]), np.array([p.fold for p in pairs]))

    # Open-set identification for each K.
    by_k: dict[str, dict[str, object]] = {}
    det: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    for k in gallery_images:
        ident, mated_names, nonmated_names = _identification(people, keys, vectors, found, k)
        t1, t01 = ident.threshold_at_fpir(0.01), ident.threshold_at_fpir(0.001)
        by_k[str(k)] = {
            "gallery_images": k,
            "gallery_people": int(sum(1 for c in people.values() if c > k)),
            "mated_probes": len(ident.mated_score),
            "nonmated_probes": len(ident.nonmated_score),
            "rank1": ident.rank1,
            "fnir_at_fpir_1pct": ident.fnir(t1),
            "fnir_at_fpir_0_1pct": ident.fnir(t01),
            "thresholds": {"fpir_1pct": t1, "fpir_0_1pct": t01},
        }
        if groups:
            by_k[str(k)]["groups"] = {
                "at_fpir_1pct": group_identification(ident, mated_names, nonmated_names, groups, t1),
                **(
                    {
                        "at_deployed": group_identification(
                            ident, mated_names, nonmated_names, groups, deployed_threshold
                        )
                    }
                    if deployed_threshold is not None
                    else {}
                ),
            }
        det[str(k)] = ident.det_curve()
    first = by_k[str(gallery_images[0])]
    used = found.sum()
    report: dict[str, object] = {
        "detector": engine.detector.name,
        "embedder": f"{engine.embedder.name}@{engine.embedder.version}",
        "images": len(paths),
        "no_face": int(len(paths) - used),
        "no_face_handling": "counted as failures: a pair with such an image scores -1 (rejected); such a "
        "gallery image is not enrolled; such a probe is a miss (mated) or raises no alert (non-mated)",
        "verification_pairs": len(pairs),
        "verification_accuracy": verification.accuracy,
        "verification_std": verification.std,
        "verification_fold_accuracies": verification.fold_accuracies.tolist(),
        "rank1": first["rank1"],
        "fnir_at_fpir_1pct": first["fnir_at_fpir_1pct"],
        "fnir_at_fpir_0_1pct": first["fnir_at_fpir_0_1pct"],
        "thresholds": {**first["thresholds"], "verification_mean": float(verification.fold_thresholds.mean())},  # type: ignore[dict-item]
        "gallery_images": gallery_images[0],
        "identification": by_k,
        "seconds": round(time.perf_counter() - started, 1),
        "_det": det,
    }
    return report


def _identification(
    people: dict[str, int], keys: dict[tuple[str, int], int], vectors: np.ndarray, found: np.ndarray, k: int
) -> tuple[IdentificationScores, list[str], list[str]]:
    """The scores, and the person behind each mated and each non-mated probe (for per-group rates)."""
    gallery_rows, gallery_ids, mated_rows, mated_ids, nonmated_rows = [], [], [], [], []
    mated_names: list[str] = []
    nonmated_names: list[str] = []
    for person_id, (name, count) in enumerate(people.items()):
        rows = [keys[(name, i)] for i in range(1, count + 1)]
        if count == 1:
            nonmated_rows += rows
            nonmated_names.append(name)
        elif count > k:
            for row in rows[:k]:
                if found[row]:
                    gallery_rows.append(row)
                    gallery_ids.append(person_id)
            mated_rows += rows[k:]
            mated_ids += [person_id] * (count - k)
            mated_names += [name] * (count - k)
    mated_rows_a, nonmated_rows_a = np.array(mated_rows, int), np.array(nonmated_rows, int)
    gallery = vectors[gallery_rows]
    ids = np.array(gallery_ids)
    m_id, m_score = identify(gallery, ids, vectors[mated_rows_a])
    _, n_score = identify(gallery, ids, vectors[nonmated_rows_a])
    m_score = np.where(found[mated_rows_a], m_score, -np.inf)
    n_score = np.where(found[nonmated_rows_a], n_score, -np.inf)
    correct = (m_id == np.array(mated_ids)) & found[mated_rows_a]
    return IdentificationScores(m_score, correct, n_score), mated_names, nonmated_names


def group_identification(
    ident: IdentificationScores,
    mated_names: list[str],
    nonmated_names: list[str],
    groups: dict[str, str],
    threshold: float,
) -> dict[str, object]:
    """FNIR and FPIR per operator-supplied group at ``threshold``, with the gap between groups."""
    from vigil.eval.groups import rate_gap

    hit = ident.mated_correct & (ident.mated_score >= threshold)
    alert = ident.nonmated_score >= threshold
    mated_group = np.array([groups.get(n, "") for n in mated_names])
    nonmated_group = np.array([groups.get(n, "") for n in nonmated_names])
    per: dict[str, object] = {}
    misses: dict[str, tuple[int, int]] = {}
    false: dict[str, tuple[int, int]] = {}
    for label in sorted({g for g in groups.values() if g}):
        m, n = mated_group == label, nonmated_group == label
        misses[label] = (int((~hit[m]).sum()), int(m.sum()))
        false[label] = (int(alert[n].sum()), int(n.sum()))
        per[label] = {
            "mated_probes": int(m.sum()),
            "fnir": round(float((~hit[m]).mean()), 4) if m.any() else None,
            "nonmated_probes": int(n.sum()),
            "fpir": round(float(alert[n].mean()), 4) if n.any() else None,
        }
    return {"threshold": threshold, "per_group": per, "fnir_gap": rate_gap(misses), "fpir_gap": rate_gap(false)}


def write_report(report: dict[str, object], json_path: Path) -> Path:
    """Write the JSON report and the DET plot beside it; returns the plot's path."""
    from vigil.eval.plots import plot_det

    det = report.pop("_det")
    plot_path = json_path.with_suffix(".det.png")
    plot_det(det, plot_path, title=f"LFW open-set DET — {report['detector']} + {report['embedder']}")  # type: ignore[arg-type]
    report["det_plot"] = str(plot_path)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(report, indent=2) + "\n")
    return plot_path
