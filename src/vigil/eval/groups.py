"""Error rates per operator-supplied group, and the gap between groups with its confidence interval.

LFW carries no demographic labels; Vigil never infers them from faces. An operator who holds labels
for their own evaluation set (or obtains a labelled research set) supplies them as a CSV of
``person,group``; every evaluation then reports its rates per group.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

from vigil.errors import DatasetError

Z_95 = 1.959964


def rate_gap(counts: dict[str, tuple[int, int]]) -> dict[str, object] | None:
    """``counts``: group → (events, trials). The largest minus the smallest rate among groups with trials,
    with a 95 % interval for that difference (normal approximation for two independent proportions)."""
    usable = {g: (k, n) for g, (k, n) in counts.items() if n > 0}
    if len(usable) < 2:
        return None
    rates = {g: k / n for g, (k, n) in usable.items()}
    high = max(rates, key=lambda g: rates[g])
    low = min(rates, key=lambda g: rates[g])
    (k1, n1), (k2, n2) = usable[high], usable[low]
    p1, p2 = k1 / n1, k2 / n2
    gap = p1 - p2
    se = math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
    return {
        "highest": high,
        "lowest": low,
        "gap": round(gap, 4),
        "ci95": [round(gap - Z_95 * se, 4), round(gap + Z_95 * se, 4)],
    }


def read_groups(path: Path | None) -> dict[str, str]:
    """person → group from an operator's CSV (columns ``person,group``; a header row is allowed; names as
    the data set's folders, with spaces or underscores)."""
    if path is None:
        return {}
    if not path.is_file():
        raise DatasetError(f"{path}: no such groups file")
    groups: dict[str, str] = {}
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.reader(handle):
            if len(row) < 2 or not row[0].strip() or row[0].strip().lower() == "person":
                continue
            groups[row[0].strip().replace(" ", "_")] = row[1].strip()
    if not groups:
        raise DatasetError(f"{path}: no person,group rows")
    return groups
