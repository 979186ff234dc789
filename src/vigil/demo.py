"""The face-engine demo: runs on public-domain portraits that ship inside PyPI packages, so it works
offline on a fresh machine. Later issues grow it into the full control-room demo."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from vigil.settings import VigilSettings
from vigil.vision.engine import FaceEngine


@dataclass(frozen=True)
class DemoImage:
    name: str
    person: str
    pixels: np.ndarray


def demo_images() -> list[DemoImage]:
    """Two public-domain portraits (NASA's Eileen Collins; US Navy's Grace Hopper), each also mirrored and
    shrunk so the demo can show that the same person matches across views and different people do not."""
    from vigil.samples import sample_images

    astronaut, hopper = sample_images()
    out = []
    for person, image in (("Eileen Collins", astronaut), ("Grace Hopper", hopper)):
        out.append(DemoImage(f"{person} (original)", person, image))
        out.append(DemoImage(f"{person} (mirrored)", person, np.ascontiguousarray(image[:, ::-1])))
        small = cv2.resize(image, (image.shape[1] // 2, image.shape[0] // 2), interpolation=cv2.INTER_AREA)
        out.append(DemoImage(f"{person} (half size)", person, small))
    return out


def annotate(image: np.ndarray, boxes: np.ndarray, kps: np.ndarray, labels: list[str]) -> np.ndarray:
    canvas = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    for box, points, label in zip(boxes, kps, labels, strict=True):
        x1, y1, x2, y2 = (int(v) for v in box)
        cv2.rectangle(canvas, (x1, y1), (x2, y2), (0, 0, 255), 2)
        for x, y in points:
            cv2.circle(canvas, (int(x), int(y)), 2, (0, 255, 255), -1)
        cv2.putText(canvas, label, (x1, max(12, y1 - 6)), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 255), 1)
    return canvas


def run_engine_demo(settings: VigilSettings, echo: object = print) -> Path:
    """Detect, assess and embed the demo portraits; print a similarity table; save annotated images."""
    say = echo if callable(echo) else print
    out_dir = settings.data_dir / "demo"
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    engine = FaceEngine.from_settings(settings).prepare()
    say(
        f"face engine: detector={engine.detector.name} embedder={engine.embedder.name}@{engine.embedder.version} "
        f"(ready in {time.perf_counter() - started:.1f} s; the first run converts dlib's network to ONNX)"
    )
    images = demo_images()
    vectors, names = [], []
    for item in images:
        t0 = time.perf_counter()
        faces = engine.analyse(item.pixels)
        ms = (time.perf_counter() - t0) * 1000
        labels = [f"q={q:.2f}" for q in faces.quality.score]
        say(
            f"  {item.name:28s} {item.pixels.shape[1]}x{item.pixels.shape[0]}: {len(faces)} face(s), "
            f"quality {', '.join(f'{q:.2f}' for q in faces.quality.score) or '-'}, {ms:.0f} ms"
        )
        slug = item.name.lower().replace(" ", "_").replace("(", "").replace(")", "")
        cv2.imwrite(
            str(out_dir / f"{slug}.jpg"), annotate(item.pixels, faces.detections.xyxy, faces.detections.kps, labels)
        )
        if len(faces):
            best = int(np.argmax(faces.quality.score))
            vectors.append(faces.embeddings.vectors[best])
            names.append(item)
    if vectors:
        sims = np.stack(vectors) @ np.stack(vectors).T
        say("\ncosine similarity between the best face of each image:")
        say(" " * 30 + "".join(f"{i:>7d}" for i in range(len(names))))
        for i, item in enumerate(names):
            say(f"  {i} {item.name:26s}" + "".join(f"{sims[i, j]:7.3f}" for j in range(len(names))))
        same = [
            sims[i, j]
            for i in range(len(names))
            for j in range(i + 1, len(names))
            if names[i].person == names[j].person
        ]
        diff = [
            sims[i, j]
            for i in range(len(names))
            for j in range(i + 1, len(names))
            if names[i].person != names[j].person
        ]
        if same and diff:
            say(
                f"\nsame person: lowest {min(same):.3f}; different people: highest {max(diff):.3f} "
                f"({'separated' if min(same) > max(diff) else 'NOT separated'})"
            )
    say(f"\nannotated images written to {out_dir}")
    run_watchlist_demo(settings, engine, images, say)
    return out_dir


def run_watchlist_demo(settings: VigilSettings, engine: FaceEngine, images: list[DemoImage], say: Any) -> None:
    """Enroll one portrait on a demo watchlist (once) and ask the gallery about every demo image."""
    import io
    from datetime import UTC, datetime, timedelta

    from PIL import Image

    from vigil.domain.enrollment import SubjectFields
    from vigil.domain.users import ensure_supervisors
    from vigil.services import open_watchlist

    watchlist = open_watchlist(settings, engine=engine)
    enrolled = images[0]
    if watchlist.find_by_ref("demo:collins") is None:
        proposer, approver = ensure_supervisors(watchlist.db, "demo.proposer", "demo.approver")
        buffer = io.BytesIO()
        Image.fromarray(enrolled.pixels).save(buffer, format="JPEG", quality=92)
        watchlist.enroll(
            SubjectFields(
                display_name=enrolled.person,
                category="missing-person",
                legal_basis_type="demonstration",
                legal_basis_reference="DEMO-1 (public-domain NASA portrait)",
                approved_by=approver,
                expires_at=datetime.now(UTC) + timedelta(days=30),
                external_ref="demo:collins",
                proposed_by=proposer,
            ),
            [("eileen_collins.jpg", buffer.getvalue())],
        )
    threshold = watchlist.duplicate_threshold
    say(
        f"\nwatchlist: {len(watchlist.list_subjects())} subject(s) in {settings.data_dir}; "
        f"provisional threshold {threshold:.3f}"
    )
    for item in images[1:]:
        faces = engine.analyse(item.pixels)
        if len(faces) == 0:
            continue
        best = watchlist.search(faces.embeddings.vectors[:1], k=1)[0]
        if best and best[0].score >= threshold:
            name = watchlist.get(best[0].subject_id).display_name
            say(f"  {item.name:28s} MATCH {name} (score {best[0].score:.3f})")
        else:
            top = f"best {best[0].score:.3f}" if best else "empty gallery"
            say(f"  {item.name:28s} no match ({top})")
    watchlist.db.dispose()
