"""The transparency report: counts by camera, category and day, threshold history, watchlist size,
retention runs; HTML, CSV, charts and PDF; never a name or a face."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import update
from tests.helpers import alert_event, jpeg, live_fields, live_settings, with_approvers
from tests.helpers.cli import vigil

from vigil.domain.alerts import AlertRecorder
from vigil.domain.thresholds import AnalysisCounter
from vigil.services import open_retention, open_watchlist
from vigil.store.models import Alert


def test_report_from_the_cli(tmp_path: Path, settings, engine, astronaut) -> None:  # type: ignore[no-untyped-def]
    run_settings = live_settings(tmp_path, settings)
    watchlist = with_approvers(open_watchlist(run_settings, engine=engine))
    subject = watchlist.enroll(live_fields("Eileen Collins"), [("c.jpg", jpeg(astronaut))]).subject_id
    recorder = AlertRecorder(watchlist.db, watchlist.media)
    outcomes = ["confirmed", "rejected", "rejected", "inconclusive", "pending"]
    for i, status in enumerate(outcomes):
        camera = "north" if i < 3 else "south"
        stored = recorder.raise_alert(alert_event(subject, camera=camera, track=f"t{i}"))
        assert stored is not None
        with watchlist.db.session() as session:
            session.execute(update(Alert).where(Alert.id == stored.alert_id).values(status=status))
    AnalysisCounter(watchlist.db).add("north", frames=500, faces=2400, tracks=300, embedded=700)
    AnalysisCounter(watchlist.db).add("south", frames=500, faces=1100, tracks=150, embedded=300)
    open_retention(run_settings, watchlist.db).run(actor="test")
    today = datetime.now(UTC).date()
    out = tmp_path / "report"
    result = vigil(
        "report",
        "--from",
        str(today - timedelta(days=2)),
        "--to",
        str(today),
        "--out",
        str(out),
        data_dir=run_settings.data_dir,
    )
    assert result.returncode == 0, result.stderr
    for name in (
        "report.html",
        "report.pdf",
        "by_day.csv",
        "by_camera.csv",
        "by_category.csv",
        "thresholds.csv",
        "retention.csv",
        "alerts_by_day.png",
        "watchlist_size.png",
        "faces_by_day.png",
    ):
        assert (out / name).stat().st_size > 0, name
    cameras = {row["camera"]: row for row in csv.DictReader((out / "by_camera.csv").open())}
    assert cameras["north"]["alerts: confirmed"] == "1" and cameras["north"]["rejected"] == "2"
    assert cameras["north"]["false-alert share (rejected of decided)"] == "66.7%"
    assert cameras["north"]["faces analysed"] == "2400" and cameras["south"]["open"] == "1"
    days = list(csv.DictReader((out / "by_day.csv").open()))
    assert len(days) == 3 and days[-1]["faces analysed"] == "3500" and days[-1]["watchlist size"] == "1"
    assert len(list(csv.DictReader((out / "retention.csv").open()))) == 1
    page = (out / "report.html").read_text()
    assert "Eileen" not in page and subject not in page and "Faces analysed: 3500" in page
    assert (out / "report.pdf").read_bytes()[:4] == b"%PDF"
    bad = vigil(
        "report",
        "--from",
        str(today),
        "--to",
        str(today - timedelta(days=1)),
        "--out",
        str(out),
        data_dir=run_settings.data_dir,
    )
    assert bad.returncode != 0


def test_the_report_publishes_each_authorisations_results(tmp_path: Path, settings, engine, astronaut) -> None:  # type: ignore[no-untyped-def]
    """A scripted deployment: alerts raised under an authorisation, confirmed or rejected, outcomes recorded."""
    from tests.helpers import authorise

    from vigil.domain.adjudication import AlertService
    from vigil.domain.audit import AuditLog
    from vigil.domain.authorisations import AuthorisationCounter
    from vigil.domain.users import UserService

    run_settings = live_settings(tmp_path, settings)
    watchlist = with_approvers(open_watchlist(run_settings, engine=engine))
    subject = watchlist.enroll(live_fields("Eileen Collins", "missing-person"), [("c.jpg", jpeg(astronaut))])
    deployment = authorise(watchlist.db, ["north", "south"], categories=["missing-person"])
    other = authorise(watchlist.db, ["east"], categories=["missing-person"])
    users = UserService(watchlist.db)
    operator = users.add("op.one", "correct horse battery", "operator")
    recorder = AlertRecorder(watchlist.db, watchlist.media)
    audit = AuditLog(watchlist.db, key_file=run_settings.resolved_audit_key_file)
    alerts = AlertService(watchlist.db, audit)
    plan = [
        ("confirmed", "arrested"),
        ("confirmed", "spoken-to"),
        ("confirmed", None),
        ("rejected", None),
        ("inconclusive", None),
        (None, None),
    ]
    for i, (decision, outcome) in enumerate(plan):
        stored = recorder.raise_alert(
            alert_event(subject.subject_id, camera="north", track=f"t{i}", authorisation_id=deployment)
        )
        assert stored is not None and stored.alert_id is not None
        if decision:
            alerts.decide(stored.alert_id, operator, decision, "checked against the photo")
        if outcome:
            alerts.record_outcome(stored.alert_id, operator, "located", "")
            alerts.record_outcome(stored.alert_id, operator, outcome, "as recorded later")  # latest counts
    recorder.raise_alert(alert_event(subject.subject_id, camera="east", track="x", authorisation_id=other))
    counter = AuthorisationCounter(watchlist.db)
    counter.add(deployment, "north", frames=900, faces=4000, tracks=700)
    counter.add(deployment, "south", frames=900, faces=1000, tracks=200)
    counter.add(other, "east", frames=10, faces=12, tracks=3)
    today = datetime.now(UTC).date()
    out = tmp_path / "report"
    result = vigil(
        "report", "--from", str(today), "--to", str(today), "--out", str(out), data_dir=run_settings.data_dir
    )
    assert result.returncode == 0, result.stderr
    rows = {row["authorisation"]: row for row in csv.DictReader((out / "authorisations.csv").open())}
    assert set(rows) == {deployment, other}
    row = rows[deployment]
    assert row["cameras"] == "north, south" and row["faces analysed"] == "5000"
    assert (row["alerts"], row["confirmed"], row["rejected (false alerts)"]) == ("6", "3", "1")
    assert (row["inconclusive"], row["open"]) == ("1", "1")
    assert (row["engagements"], row["arrests"]) == ("2", "1")
    assert row["outcome: arrested"] == "1" and row["outcome: spoken-to"] == "1" and row["outcome: located"] == "0"
    assert float(row["median time to decide (s)"]) >= 0
    assert rows[other]["alerts"] == "1" and rows[other]["faces analysed"] == "12"
    assert rows[other]["median time to decide (s)"] == "—"
    page = (out / "report.html").read_text()
    assert "Per authorisation" in page and deployment in page and "Eileen" not in page
