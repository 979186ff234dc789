"""Backup and restore time and archive size for N subjects (one enrolled LFW photo and one 128-d
template each) and N alerts (one crop each): `vigil backup` and `vigil restore` as a user runs them.

    python benchmarks/backup_restore.py --subjects 10000 --alerts 10000 --json OUT [--database-url URL --target-url URL]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from PIL import Image

from vigil.settings import VigilSettings
from vigil.store.db import open_database
from vigil.store.models import Alert, Photo, PhotoEmbedding, Subject

LFW = Path(__file__).resolve().parents[2] / "shared" / "data" / "lfw" / "images"
PASSPHRASE = "benchmark passphrase, long enough"


def _photos(count: int) -> list[bytes]:
    files = sorted(LFW.glob("*/*.jpg"))[:count] if LFW.is_dir() else []
    if files:
        return [f.read_bytes() for f in files]
    rng = np.random.default_rng(0)  # no LFW: noise images of the same size
    out = []
    for _ in range(count):
        buffer = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (250, 250, 3), dtype=np.uint8)).save(buffer, "JPEG", quality=90)
        out.append(buffer.getvalue())
    return out


def _crop(photo: bytes) -> bytes:
    image = Image.open(io.BytesIO(photo)).convert("RGB").crop((69, 69, 181, 181))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def fill(settings: VigilSettings, subjects: int, alerts: int) -> None:
    db = open_database(settings)
    media = settings.data_dir / "media"
    (media / "photos").mkdir(parents=True, exist_ok=True)
    (media / "crops").mkdir(parents=True, exist_ok=True)
    photos = _photos(min(subjects, 2000))
    now = datetime.now(UTC)
    rng = np.random.default_rng(1)
    ids: list[str] = []
    rows: dict[str, list[object]] = {"subjects": [], "photos": [], "embeddings": []}
    with db.session() as session:
        for i in range(subjects):
            sid, pid, name = uuid.uuid4().hex, uuid.uuid4().hex, f"{uuid.uuid4().hex}.jpg"
            data = photos[i % len(photos)]
            (media / "photos" / name).write_bytes(data)
            rows["subjects"].append(
                Subject(
                    id=sid,
                    display_name=f"Subject {i}",
                    category="wanted",
                    legal_basis_type="warrant",
                    legal_basis_reference=f"W-{i}",
                    approved_by="bench",
                    expires_at=now + timedelta(days=90),
                )
            )
            rows["photos"].append(
                Photo(
                    id=pid,
                    subject_id=sid,
                    media_name=name,
                    sha256=f"{i:064x}",
                    width=250,
                    height=250,
                    face_box=[69, 69, 181, 181],
                    landmarks=[[0, 0]] * 5,
                    detector="bench",
                    detector_score=0.9,
                    inter_eye_px=40,
                    sharpness=1,
                    yaw=0,
                    pitch=0,
                    quality=0.8,
                )
            )
            vector = rng.standard_normal(128).astype(np.float32)
            rows["embeddings"].append(
                PhotoEmbedding(photo_id=pid, model="bench", version="1", dim=128, vector=vector.tobytes())
            )
            ids.append(sid)
        for group in rows.values():  # parents before the rows that refer to them
            session.add_all(group)
            session.flush()
        crops = [_crop(p) for p in photos[:200]]
        for i in range(alerts):
            name = f"{uuid.uuid4().hex}.jpg"
            (media / "crops" / name).write_bytes(crops[i % len(crops)])
            at = now - timedelta(minutes=i)
            session.add(
                Alert(
                    key=uuid.uuid4().hex,
                    subject_id=ids[i % len(ids)],
                    camera="gate",
                    track_id=f"t-{i}",
                    first_seen=at,
                    last_seen=at,
                    best_score=0.97,
                    threshold=0.95,
                    faces=3,
                    crop_name=name,
                    decisive_capture_at=at,
                )
            )
    db.dispose()


def _vigil(data_dir: Path, env: dict[str, str], *args: str) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "vigil.cli.main", "--data-dir", str(data_dir), *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subjects", type=int, default=10_000)
    parser.add_argument("--alerts", type=int, default=10_000)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--target-url", default=None)
    parser.add_argument("--json", type=Path, required=True)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        source, target = root / "source", root / "target"
        fill(VigilSettings(data_dir=source, database_url=args.database_url), args.subjects, args.alerts)
        env = {**os.environ, "VIGIL_BENCH_PASSPHRASE": PASSPHRASE}
        env.pop("VIGIL_DATABASE_URL", None)
        if args.database_url:
            env["VIGIL_DATABASE_URL"] = args.database_url
        archive = root / "bench.vbk"
        backup_s = _vigil(source, env, "backup", "--out", str(archive), "--passphrase-env", "VIGIL_BENCH_PASSPHRASE")
        if args.target_url:
            env["VIGIL_DATABASE_URL"] = args.target_url
        restore_s = _vigil(target, env, "restore", str(archive), "--passphrase-env", "VIGIL_BENCH_PASSPHRASE")
        media_bytes = sum(p.stat().st_size for p in (source / "media").rglob("*") if p.is_file())
        result = {
            "database": "postgresql" if args.database_url else "sqlite",
            "subjects": args.subjects,
            "alerts": args.alerts,
            "media_bytes": media_bytes,
            "archive_bytes": archive.stat().st_size,
            "backup_s": round(backup_s, 2),
            "restore_s": round(restore_s, 2),
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
