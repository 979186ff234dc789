"""The report's tables, each named, with its header and rows (pure: figures in, cells out)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from vigil.domain.transparency import (
    OUTCOMES,
    AuthorisationResult,
    ReportData,
    false_alert_share,
)
from vigil.domain.vocabulary import AlertStatus, Outcome

ALERT_HEAD = [
    "alerts: confirmed",
    "rejected",
    "inconclusive",
    "open",
    "total",
    "false-alert share (rejected of decided)",
]
AUTHORISATION_HEAD = [
    "authorisation",
    "purpose",
    "from",
    "until",
    "cameras",
    "faces analysed",
    "alerts",
    "confirmed",
    "rejected (false alerts)",
    "inconclusive",
    "open",
    "engagements",
    "arrests",
    *(f"outcome: {o}" for o in Outcome),
    "median time to decide (s)",
    "90th percentile time to decide (s)",
]


@dataclass(frozen=True)
class Table:
    file: str  # the CSV file it is written to
    title: str  # its section on the page
    header: list[str]
    rows: list[list[Any]]
    note: str = ""


def rate(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f}%"


def _seconds(x: float | None) -> str:
    return "—" if x is None else f"{x:.0f}"


def _outcome_cells(counts: Counter[str]) -> list[Any]:
    return [*(counts[o] for o in OUTCOMES), sum(counts.values()), rate(false_alert_share(counts))]


def _grouped(groups: dict[Any, Counter[str]]) -> list[list[Any]]:
    return [[key, *_outcome_cells(counts)] for key, counts in sorted(groups.items(), key=lambda kv: str(kv[0]))]


def authorisation_row(r: AuthorisationResult) -> list[Any]:
    return [
        r.authorisation_id,
        r.purpose,
        r.starts_at.isoformat(),
        r.until.isoformat(),
        r.cameras,
        r.faces_analysed,
        r.alerts,
        r.confirmed,
        r.rejected,
        r.inconclusive,
        r.open,
        r.engagements,
        r.arrests,
        *(r.outcomes.get(o, 0) for o in Outcome),
        _seconds(r.median_decision_s),
        _seconds(r.p90_decision_s),
    ]


def report_tables(data: ReportData) -> dict[str, Table]:
    """Every table of the report, in the order the page shows them."""
    by_camera = [
        [
            *row,
            data.faces_by_camera.get(row[0], 0),
            data.tracks_by_camera.get(row[0], 0),
            rate(data.by_camera[row[0]][AlertStatus.REJECTED] / data.tracks_by_camera[row[0]])
            if data.tracks_by_camera.get(row[0])
            else "—",
        ]
        for row in _grouped(data.by_camera)
    ]
    by_day = [
        [d.isoformat(), data.faces_by_day.get(d, 0), *_outcome_cells(c), data.watchlist_size.get(d, "")]
        for d, c in sorted(data.by_day.items())
    ]
    return {
        "authorisations": Table(
            "authorisations.csv",
            "Per authorisation",
            AUTHORISATION_HEAD,
            [authorisation_row(r) for r in data.authorisations],
            "Each authorisation scanning ran under, over its whole period: faces analysed, alerts, how they "
            "were decided (rejected = false alerts), what officers recorded afterwards (engagements: located, "
            "spoken to or arrested) and how long a decision took.",
        ),
        "by_camera": Table(
            "by_camera.csv",
            "By camera",
            ["camera", *ALERT_HEAD, "faces analysed", "face tracks", "false alerts per track"],
            by_camera,
        ),
        "by_category": Table("by_category.csv", "By category", ["category", *ALERT_HEAD], _grouped(data.by_category)),
        "by_day": Table("by_day.csv", "By day", ["day", "faces analysed", *ALERT_HEAD, "watchlist size"], by_day),
        "thresholds": Table(
            "thresholds.csv",
            "Threshold history",
            [
                "at",
                "category",
                "before",
                "after",
                "by",
                "reason",
                "watchlist size",
                "expected false alerts per passer-by",
            ],
            [
                [
                    t["at"],
                    t["category"],
                    t["before"],
                    t["after"],
                    t["by"],
                    t["reason"],
                    t["watchlist_size"],
                    t["expected_false_alert_rate"],
                ]
                for t in data.thresholds
            ],
        ),
        "response": Table(
            "response_times.csv",
            "Time to acknowledge and to decide, per category",
            [
                "category",
                "alerts",
                "acknowledged",
                "median time to acknowledge (s)",
                "95th percentile time to acknowledge (s)",
                "decided",
                "median time to decide (s)",
                "95th percentile time to decide (s)",
                "escalated (nobody acknowledged in time)",
            ],
            [
                [
                    r.category,
                    r.alerts,
                    r.acknowledged,
                    _seconds(r.ack_p50_s),
                    _seconds(r.ack_p95_s),
                    r.decided,
                    _seconds(r.decide_p50_s),
                    _seconds(r.decide_p95_s),
                    r.escalated,
                ]
                for r in data.response
            ],
        ),
        "retention": Table(
            "retention.csv",
            "Retention runs",
            ["at", "by", "dry run", "rejected crops", "sightings", "subjects expired", "subjects purged", "photos"],
            [
                [
                    r["at"],
                    r["by"],
                    r.get("dry_run"),
                    r.get("rejected_crops"),
                    r.get("sightings"),
                    r.get("subjects_expired"),
                    r.get("subjects_purged"),
                    r.get("photos"),
                ]
                for r in data.retention
            ],
        ),
    }


def summary_lines(data: ReportData) -> list[str]:
    """The headline figures (page and PDF)."""
    totals = data.totals
    return [
        f"Faces analysed: {sum(data.faces_by_day.values())}",
        f"Alerts: {sum(totals.values())} (confirmed {totals[AlertStatus.CONFIRMED]}, rejected "
        f"{totals[AlertStatus.REJECTED]}, inconclusive {totals[AlertStatus.INCONCLUSIVE]}, open {totals['open']})",
        f"False-alert share (rejected of decided): {rate(false_alert_share(totals))}",
        f"Threshold changes: {len(data.thresholds)}; retention runs: {len(data.retention)}",
        *(
            f"Authorisation {r.authorisation_id[:8]}: {r.faces_analysed} faces, {r.alerts} alerts, "
            f"{r.rejected} false, {r.engagements} engagements, {r.arrests} arrests"
            for r in data.authorisations[:3]
        ),
    ]
