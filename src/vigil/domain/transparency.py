"""The transparency report: what Vigil did over a period, in counts — never faces or names.

Contents (HTML, CSV files and a PDF of the charts and tables): faces analysed; alerts and their outcomes
(confirmed, rejected, inconclusive, still open) and the false-alert share (rejected of decided) by
camera, category and day; false alerts per face track analysed; threshold changes; the watchlist's
size over the period; retention runs; and, per authorisation active in the period, its results in the
format forces publish (period, cameras, faces analysed, alerts, confirmed, rejected as false, the
outcomes officers recorded, time to decide). Generating a report is itself audited.
"""

from __future__ import annotations

import csv
import html
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import func, select

from vigil.domain.audit import AuditLog
from vigil.domain.vocabulary import AlertStatus, Outcome
from vigil.store.db import Database
from vigil.store.models import (
    Adjudication,
    Alert,
    AlertOutcome,
    AnalysisCount,
    Authorisation,
    AuthorisationCount,
    Subject,
    ThresholdChange,
)

OUTCOMES = (AlertStatus.CONFIRMED, AlertStatus.REJECTED, AlertStatus.INCONCLUSIVE, "open")


ENGAGED = (Outcome.LOCATED, Outcome.SPOKEN_TO, Outcome.ARRESTED)  # an officer met the person


@dataclass(frozen=True)
class AuthorisationResult:
    """One authorisation's published results: counts only."""

    authorisation_id: str
    purpose: str
    starts_at: datetime
    until: datetime  # its end, or when it was ended early
    cameras: str  # names and groups, as listed on it
    faces_analysed: int
    face_tracks: int
    alerts: int
    confirmed: int
    rejected: int  # false alerts
    inconclusive: int
    open: int
    outcomes: dict[str, int]  # the latest recorded outcome per confirmed alert
    median_decision_s: float | None  # alert stored → decided
    p90_decision_s: float | None

    @property
    def engagements(self) -> int:
        return sum(self.outcomes.get(o, 0) for o in ENGAGED)

    @property
    def arrests(self) -> int:
        return self.outcomes.get(Outcome.ARRESTED, 0)


@dataclass
class ReportData:
    start: date
    end: date  # inclusive
    by_day: dict[date, Counter[str]] = field(default_factory=dict)
    by_camera: dict[str, Counter[str]] = field(default_factory=dict)
    by_category: dict[str, Counter[str]] = field(default_factory=dict)
    faces_by_day: dict[date, int] = field(default_factory=dict)
    tracks_by_camera: dict[str, int] = field(default_factory=dict)
    faces_by_camera: dict[str, int] = field(default_factory=dict)
    thresholds: list[dict[str, Any]] = field(default_factory=list)
    watchlist_size: dict[date, int] = field(default_factory=dict)
    retention: list[dict[str, Any]] = field(default_factory=list)
    authorisations: list[AuthorisationResult] = field(default_factory=list)

    @property
    def totals(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for counts in self.by_day.values():
            total.update(counts)
        return total


def false_alert_share(counts: Counter[str]) -> float | None:
    decided = counts[AlertStatus.CONFIRMED] + counts[AlertStatus.REJECTED]
    return counts[AlertStatus.REJECTED] / decided if decided else None


def collect(db: Database, audit: AuditLog, start: date, end: date) -> ReportData:
    if end < start:
        raise ValueError("the report's end is before its start")
    t0 = datetime.combine(start, time.min, UTC)
    t1 = datetime.combine(end + timedelta(days=1), time.min, UTC)
    data = ReportData(start, end)
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    data.by_day = {d: Counter() for d in days}
    with db.session() as session:
        rows = session.execute(
            select(Alert.created_at, Alert.camera, Subject.category, Alert.status)
            .join(Subject, Subject.id == Alert.subject_id)
            .where(Alert.created_at >= t0, Alert.created_at < t1)
        ).all()
        counts = session.execute(
            select(AnalysisCount.day, AnalysisCount.camera, AnalysisCount.faces, AnalysisCount.tracks).where(
                AnalysisCount.day >= start, AnalysisCount.day <= end
            )
        ).all()
        changes = session.scalars(
            select(ThresholdChange)
            .where(ThresholdChange.at >= t0, ThresholdChange.at < t1)
            .order_by(ThresholdChange.id)
        ).all()
        data.thresholds = [
            {
                "at": c.at.isoformat(),
                "category": c.category,
                "before": c.before,
                "after": c.after,
                "by": c.changed_by,
                "reason": c.reason,
                "watchlist_size": c.watchlist_size,
                "expected_false_alert_rate": c.expected_false_alert_rate,
            }
            for c in changes
        ]
        for d in days:
            day_end = datetime.combine(d + timedelta(days=1), time.min, UTC)
            day_start = datetime.combine(d, time.min, UTC)
            data.watchlist_size[d] = int(
                session.scalar(
                    select(func.count())
                    .select_from(Subject)
                    .where(Subject.created_at < day_end, Subject.expires_at > day_start)
                )
                or 0
            )
    data.by_camera, data.by_category = defaultdict(Counter), defaultdict(Counter)
    for created, camera, category, status in rows:
        outcome = status if status in OUTCOMES else "open"
        data.by_day.setdefault(created.date(), Counter())[outcome] += 1
        data.by_camera[camera][outcome] += 1
        data.by_category[category][outcome] += 1
    data.faces_by_day = {d: 0 for d in days}
    for day, camera, faces, tracks in counts:
        data.faces_by_day[day] = data.faces_by_day.get(day, 0) + faces
        data.faces_by_camera[camera] = data.faces_by_camera.get(camera, 0) + faces
        data.tracks_by_camera[camera] = data.tracks_by_camera.get(camera, 0) + tracks
    data.retention = [
        {"at": e.at.isoformat(), "by": e.actor, **e.details}
        for e in reversed(audit.entries(limit=5000, action="retention-run"))
        if t0 <= e.at < t1
    ]
    data.authorisations = authorisation_results(db, t0, t1)
    return data


@dataclass(frozen=True)
class AlertCount:
    camera: str
    category: str
    status: str
    alerts: int


def alert_counts(db: Database) -> list[AlertCount]:
    """Alerts by camera, category and status, all time (the control room's summary: counts only)."""
    with db.session() as session:
        rows = session.execute(
            select(Alert.camera, Subject.category, Alert.status, func.count())
            .join(Subject, Subject.id == Alert.subject_id)
            .group_by(Alert.camera, Subject.category, Alert.status)
        ).all()
    return [AlertCount(camera, category, status, int(n)) for camera, category, status, n in rows]


def authorisation_results(db: Database, t0: datetime, t1: datetime) -> list[AuthorisationResult]:
    """Results of every authorisation whose period overlaps [t0, t1), over its whole period, oldest first."""
    out = []
    with db.session() as session:
        signed = session.scalars(
            select(Authorisation).where(Authorisation.starts_at < t1, Authorisation.ends_at > t0)
        ).all()
        for a in sorted(signed, key=lambda a: (a.starts_at, a.id)):
            until = a.ends_at if a.ended_at is None else min(a.ends_at, a.ended_at)
            if until <= t0 or (a.ended_at is not None and a.ended_at <= a.starts_at):
                continue  # ended before it began: never scanned
            faces, tracks = session.execute(
                select(
                    func.coalesce(func.sum(AuthorisationCount.faces), 0),
                    func.coalesce(func.sum(AuthorisationCount.tracks), 0),
                ).where(AuthorisationCount.authorisation_id == a.id)
            ).one()
            alerts = session.execute(
                select(Alert.id, Alert.status, Alert.created_at).where(Alert.authorisation_id == a.id)
            ).all()
            status: Counter[str] = Counter(s if s in OUTCOMES else "open" for _, s, _ in alerts)
            created = {alert_id: at for alert_id, _, at in alerts}
            decided_at: dict[str, datetime] = {}
            latest: dict[str, str] = {}
            if created:
                for alert_id, at in session.execute(
                    select(Adjudication.alert_id, Adjudication.created_at)
                    .where(Adjudication.alert_id.in_(created))
                    .order_by(Adjudication.id)
                ).all():
                    decided_at[alert_id] = at  # the last decision closes it
                for alert_id, outcome in session.execute(
                    select(AlertOutcome.alert_id, AlertOutcome.outcome)
                    .where(AlertOutcome.alert_id.in_(created))
                    .order_by(AlertOutcome.id)
                ).all():
                    latest[alert_id] = outcome
            waits = [
                (decided_at[i] - created[i]).total_seconds()
                for i, s, _ in alerts
                if s in (AlertStatus.CONFIRMED, AlertStatus.REJECTED, AlertStatus.INCONCLUSIVE) and i in decided_at
            ]
            out.append(
                AuthorisationResult(
                    authorisation_id=a.id,
                    purpose=a.purpose,
                    starts_at=a.starts_at,
                    until=until,
                    cameras=", ".join([*a.cameras, *(f"group {g}" for g in a.camera_groups)]),
                    faces_analysed=int(faces),
                    face_tracks=int(tracks),
                    alerts=len(alerts),
                    confirmed=status[AlertStatus.CONFIRMED],
                    rejected=status[AlertStatus.REJECTED],
                    inconclusive=status[AlertStatus.INCONCLUSIVE],
                    open=status["open"],
                    outcomes=dict(Counter(latest.values())),
                    median_decision_s=float(np.median(waits)) if waits else None,
                    p90_decision_s=float(np.percentile(waits, 90)) if waits else None,
                )
            )
    return out


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
    *(f"outcome: {o}" for o in tuple(Outcome)),
    "median time to decide (s)",
    "90th percentile time to decide (s)",
]


def _authorisation_row(r: AuthorisationResult) -> list[Any]:
    def seconds(x: float | None) -> str:
        return "—" if x is None else f"{x:.0f}"

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
        *(r.outcomes.get(o, 0) for o in tuple(Outcome)),
        seconds(r.median_decision_s),
        seconds(r.p90_decision_s),
    ]


def _rate(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f}%"


def _table_rows(groups: dict[Any, Counter[str]]) -> list[list[Any]]:
    return [
        [key, *(counts[o] for o in OUTCOMES), sum(counts.values()), _rate(false_alert_share(counts))]
        for key, counts in sorted(groups.items(), key=lambda kv: str(kv[0]))
    ]


HEAD = ["alerts: confirmed", "rejected", "inconclusive", "open", "total", "false-alert share (rejected of decided)"]


def write_report(data: ReportData, out: Path) -> list[Path]:
    """HTML, CSV files, PNG charts and a PDF in ``out``; returns the files written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_pdf import PdfPages

    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def csv_file(name: str, header: list[str], rows: list[list[Any]]) -> None:
        path = out / name
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            writer.writerows(rows)
        written.append(path)

    day_rows = [
        [
            d.isoformat(),
            data.faces_by_day.get(d, 0),
            *(c[o] for o in OUTCOMES),
            sum(c.values()),
            _rate(false_alert_share(c)),
            data.watchlist_size.get(d, ""),
        ]
        for d, c in sorted(data.by_day.items())
    ]
    csv_file("by_day.csv", ["day", "faces analysed", *HEAD, "watchlist size"], day_rows)
    camera_rows = [
        [
            *r,
            data.faces_by_camera.get(r[0], 0),
            data.tracks_by_camera.get(r[0], 0),
            _rate(data.by_camera[r[0]][AlertStatus.REJECTED] / data.tracks_by_camera[r[0]])
            if data.tracks_by_camera.get(r[0])
            else "—",
        ]
        for r in _table_rows(data.by_camera)
    ]
    csv_file("by_camera.csv", ["camera", *HEAD, "faces analysed", "face tracks", "false alerts per track"], camera_rows)
    csv_file("by_category.csv", ["category", *HEAD], _table_rows(data.by_category))
    csv_file(
        "thresholds.csv",
        ["at", "category", "before", "after", "by", "reason", "watchlist size", "expected false alerts per passer-by"],
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
    )
    csv_file(
        "retention.csv",
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
    )

    authorisation_rows = [_authorisation_row(r) for r in data.authorisations]
    csv_file("authorisations.csv", AUTHORISATION_HEAD, authorisation_rows)

    days = sorted(data.by_day)
    x = np.array(days, dtype="datetime64[D]")
    figures = []
    fig, ax = plt.subplots(figsize=(9, 4))
    bottom = [0] * len(days)
    for outcome, colour in zip(OUTCOMES, ("#30a46c", "#e5484d", "#f5a524", "#8fa1b3"), strict=True):
        values = [data.by_day[d][outcome] for d in days]
        ax.bar(x, values, bottom=bottom, label=outcome, color=colour)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    ax.set_title("Alerts per day by outcome")
    ax.legend()
    fig.autofmt_xdate()
    figures.append(("alerts_by_day.png", fig))
    fig, ax = plt.subplots(figsize=(9, 3))
    ax.plot(x, [data.watchlist_size[d] for d in days], marker="o")
    ax.set_title("Watchlist size (subjects enrolled and not expired)")
    fig.autofmt_xdate()
    figures.append(("watchlist_size.png", fig))
    fig, ax = plt.subplots(figsize=(9, 3))
    ax.bar(x, [data.faces_by_day.get(d, 0) for d in days], color="#7cc4ff")
    ax.set_title("Faces analysed per day (counts only; none stored)")
    fig.autofmt_xdate()
    figures.append(("faces_by_day.png", fig))
    with PdfPages(out / "report.pdf") as pdf:
        for name, fig in figures:
            fig.tight_layout()
            fig.savefig(out / name, dpi=110)
            pdf.savefig(fig)
            written.append(out / name)
        table = plt.figure(figsize=(9, 4))
        table.text(0.02, 0.95, f"Vigil transparency report {data.start} – {data.end}", fontsize=13, weight="bold")
        totals = data.totals
        lines = [
            f"faces analysed: {sum(data.faces_by_day.values())}",
            f"alerts: {sum(totals.values())}",
            *(f"{o}: {totals[o]}" for o in OUTCOMES),
            f"false-alert share (rejected of decided): {_rate(false_alert_share(totals))}",
            f"threshold changes: {len(data.thresholds)}",
            f"retention runs: {len(data.retention)}",
            *(
                f"authorisation {r.authorisation_id[:8]}: {r.faces_analysed} faces, {r.alerts} alerts, "
                f"{r.rejected} false, {r.engagements} engagements, {r.arrests} arrests"
                for r in data.authorisations[:3]
            ),
        ]
        for i, line in enumerate(lines):
            table.text(0.04, 0.85 - i * 0.065, line, fontsize=10)
        pdf.savefig(table)
        plt.close("all")
    written.append(out / "report.pdf")

    def html_table(header: list[str], rows: list[list[Any]]) -> str:
        head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    totals = data.totals
    page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Vigil transparency report {data.start} to {data.end}</title>
<style>body{{font:15px/1.4 system-ui,sans-serif;margin:2rem;max-width:1100px}}
table{{border-collapse:collapse;margin:1rem 0}} img{{max-width:100%}}
td,th{{border:1px solid #ccc;padding:.25rem .5rem;text-align:left}}</style></head><body>
<h1>Vigil transparency report</h1><p>{data.start} to {data.end} (UTC). Counts only: no faces, no names.</p>
<h2>Summary</h2>
<ul><li>Faces analysed: {sum(data.faces_by_day.values())}</li><li>Alerts: {sum(totals.values())}
 (confirmed {totals[AlertStatus.CONFIRMED]}, rejected {totals[AlertStatus.REJECTED]},
 inconclusive {totals[AlertStatus.INCONCLUSIVE]}, open {totals["open"]})</li>
<li>False-alert share (rejected of decided): {_rate(false_alert_share(totals))}</li>
<li>Threshold changes: {len(data.thresholds)}; retention runs: {len(data.retention)}</li></ul>
<img src="alerts_by_day.png" alt="Alerts per day by outcome"><img src="faces_by_day.png" alt="Faces analysed per day">
<h2>Per authorisation</h2><p>Each authorisation scanning ran under, over its whole period: faces
analysed, alerts, how they were decided (rejected = false alerts), what officers recorded afterwards
(engagements: located, spoken to or arrested) and how long a decision took.</p>{
        html_table(AUTHORISATION_HEAD, authorisation_rows)
    }
<h2>By camera</h2>{
        html_table(["camera", *HEAD, "faces analysed", "face tracks", "false alerts per track"], camera_rows)
    }
<h2>By category</h2>{html_table(["category", *HEAD], _table_rows(data.by_category))}
<h2>By day</h2>{html_table(["day", "faces analysed", *HEAD, "watchlist size"], day_rows)}
<h2>Watchlist size</h2><img src="watchlist_size.png" alt="Watchlist size over the period">
<h2>Threshold history</h2>{
        html_table(
            ["at", "category", "before", "after", "by", "reason"],
            [[t["at"], t["category"], t["before"], t["after"], t["by"], t["reason"]] for t in data.thresholds],
        )
    }
<h2>Retention runs</h2>{
        html_table(
            ["at", "by", "dry run", "rejected crops", "sightings", "subjects expired", "photos"],
            [
                [
                    r["at"],
                    r["by"],
                    r.get("dry_run"),
                    r.get("rejected_crops"),
                    r.get("sightings"),
                    r.get("subjects_expired"),
                    r.get("photos"),
                ]
                for r in data.retention
            ],
        )
    }
<p>Files: by_day.csv, by_camera.csv, by_category.csv, authorisations.csv, thresholds.csv, retention.csv,
report.pdf.</p>
</body></html>"""
    (out / "report.html").write_text(page, encoding="utf-8")
    written.append(out / "report.html")
    return written
