"""Pieces of the Prometheus text format that the control room's and the workers' ``/metrics`` share:
a metric family, the disks a process writes to, the face model it runs. Counts, sizes and names of
cameras, models and volumes only — never anything about a person."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

Sample = tuple[dict[str, str], float | int]


def _label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def family(name: str, kind: str, help_text: str, samples: Iterable[Sample]) -> list[str]:
    """``# HELP``, ``# TYPE`` and one line per (labels, value)."""
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
    for labels, value in samples:
        label_text = ",".join(f'{k}="{_label_value(v)}"' for k, v in labels.items())
        number = f"{value:.6g}" if isinstance(value, float) else str(value)
        lines.append(f"{name}{{{label_text}}} {number}" if label_text else f"{name} {number}")
    return lines


def _existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:  # not made yet: the disk it will be on
        path = path.parent
    return path


def disk_lines(volumes: dict[str, Path]) -> list[str]:
    """Free and total bytes of each volume a process writes to (``data``: the data directory with the
    on-disk alert queue; ``media``: photos and crops when they are files)."""
    free: list[Sample] = []
    size: list[Sample] = []
    for volume, path in volumes.items():
        try:
            stat = os.statvfs(_existing(path))
        except OSError:
            continue
        free.append(({"volume": volume}, stat.f_bavail * stat.f_frsize))
        size.append(({"volume": volume}, stat.f_blocks * stat.f_frsize))
    return family(
        "vigil_disk_free_bytes", "gauge", "Bytes free to Vigil on the volume (data directory, media).", free
    ) + family("vigil_disk_size_bytes", "gauge", "Size of the volume in bytes.", size)


def model_lines(name: str, version: str, sha256: str) -> list[str]:
    """The face embedder this process runs: its name, version and file checksum (empty for the bundled
    weights, which are checked by their version)."""
    labels = {"name": name, "version": version, "sha256": sha256}
    return family("vigil_model_info", "gauge", "The face embedder this process matches with.", [(labels, 1)])
