"""Bulk import: folder per person and CSV; idempotent, resumable, with a per-file report."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from helpers import APPROVER, NOW, PROPOSER, Clock, in_months, jpeg, make_service, snapshot
from vigil.domain.enrollment import EnrollmentError
from vigil.domain.importer import ImportDefaults, csv_jobs, folder_jobs, run_import
from vigil.domain.watchlist import WatchlistService
from vigil.settings import VigilSettings


@pytest.fixture
def service(tmp_path: Path, engine) -> WatchlistService:  # type: ignore[no-untyped-def]
    return make_service(VigilSettings(data_dir=tmp_path / "data"), engine, Clock(NOW))


DEFAULTS = ImportDefaults(
    "missing-person", "missing person report", "MP-BULK-1", APPROVER, NOW + timedelta(days=30), proposed_by=PROPOSER
)


@pytest.fixture
def people(tmp_path: Path, astronaut: np.ndarray, hopper: np.ndarray) -> Path:
    root = tmp_path / "people"
    (root / "Eileen_Collins").mkdir(parents=True)
    (root / "Grace_Hopper").mkdir()
    (root / "Nobody").mkdir()
    (root / "Eileen_Collins" / "1.jpg").write_bytes(jpeg(astronaut))
    (root / "Eileen_Collins" / "2.jpg").write_bytes(jpeg(np.ascontiguousarray(astronaut[:, ::-1])))
    (root / "Grace_Hopper" / "1.jpg").write_bytes(jpeg(hopper))
    (root / "Grace_Hopper" / "copy.jpg").write_bytes(jpeg(hopper))  # the same file again
    (root / "Nobody" / "broken.jpg").write_bytes(b"\xff\xd8 not really")
    (root / "Nobody" / "notes.txt").write_text("ignored: not a photo suffix")
    return root


def test_folder_import_reports_every_file_and_is_idempotent(service: WatchlistService, people: Path) -> None:
    rows = run_import(service, folder_jobs(people, DEFAULTS))
    by_source = {row.source: row for row in rows}
    assert len(rows) == 5
    assert by_source["Eileen_Collins/1.jpg"].status == "enrolled"
    assert by_source["Eileen_Collins/2.jpg"].status == "enrolled"
    assert by_source["Eileen_Collins/1.jpg"].subject_id == by_source["Eileen_Collins/2.jpg"].subject_id
    assert by_source["Grace_Hopper/copy.jpg"].status == "skipped"
    assert (by_source["Nobody/broken.jpg"].status, by_source["Nobody/broken.jpg"].rule) == ("rejected", "photo-format")
    names = sorted(s.display_name for s in service.list_subjects())
    assert names == ["Eileen Collins", "Grace Hopper"]
    before = snapshot(service)
    again = run_import(service, folder_jobs(people, DEFAULTS))
    assert [r.status for r in again if r.status != "rejected"] == ["skipped"] * 4
    assert snapshot(service) == before


def test_import_resumes_after_an_interruption(service: WatchlistService, people: Path) -> None:
    jobs = folder_jobs(people, DEFAULTS)
    run_import(service, jobs[:1])  # "interrupted" after the first photo
    rows = run_import(service, jobs)
    assert [r.status for r in rows][:3] == ["skipped", "enrolled", "enrolled"]
    assert len(service.list_subjects()) == 2
    (collins,) = service.list_subjects(search="collins")
    assert len(collins.photos) == 2


def test_csv_import_with_bad_rows(service: WatchlistService, tmp_path: Path, astronaut: np.ndarray) -> None:
    folder = tmp_path / "csv"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(jpeg(astronaut))
    (folder / "b.jpg").write_bytes(jpeg(np.ascontiguousarray(astronaut[:, ::-1])))
    header = "photo,name,category,legal_basis_type,legal_basis_reference,approved_by,expires,ref\n"
    body = (
        f"a.jpg,Eileen Collins,wanted,warrant,W-1,{APPROVER},2027-01-31,W-1\n"
        "b.jpg,Eileen Collins,wanted,warrant,W-1,,2027-01-31,W-1\n"
        "a.jpg,Too Few Columns\n"
        "../../etc/passwd,Escaper,wanted,warrant,W-2,,2027-01-31,W-2\n"
        "a.jpg,Bad Date,wanted,warrant,W-3,,31/01/2027,W-3\n"
        "a.jpg,Past,wanted,warrant,W-4,,2020-01-01,W-4\n"
        "missing.jpg,Ghost,wanted,warrant,W-5,,2027-01-31,W-5\n"
        "a.jpg,No Basis,wanted,warrant,,,2027-01-31,W-6\n"
        "b.jpg,Other Approver,wanted,warrant,W-7,Sgt Kay,2027-01-31,W-7\n"
    )
    (folder / "list.csv").write_text(header + body)
    rows = run_import(service, csv_jobs(folder / "list.csv", proposed_by=PROPOSER, approved_by=APPROVER))
    statuses = [(row.status, row.rule) for row in rows]
    assert statuses == [
        ("enrolled", ""),
        ("enrolled", ""),
        ("rejected", "csv-row"),
        ("rejected", "csv-row"),
        ("rejected", "expiry"),
        ("skipped", ""),  # a.jpg is already enrolled: nothing is enrolled twice
        ("rejected", "photo-format"),
        ("skipped", ""),
        ("rejected", "approver"),  # the row names someone else than the import's approver
    ]
    (subject,) = service.list_subjects()
    assert subject.external_ref == "csv:W-1" and len(subject.photos) == 2


def test_csv_without_required_columns(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("photo,name\nx.jpg,Someone\n")
    with pytest.raises(EnrollmentError, match="missing columns") as error:
        csv_jobs(path, proposed_by=PROPOSER, approved_by=APPROVER)
    assert error.value.rule == "csv-row"


def test_cli_add_and_import(tmp_path: Path, people: Path, astronaut: np.ndarray, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path / "cli-data"

    def vigil(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "vigil", "--data-dir", str(data), *args], capture_output=True, text=True, timeout=300
        )

    photo = tmp_path / "collins.jpg"
    photo.write_bytes(jpeg(astronaut, 85))
    monkeypatch.setenv("VIGIL_TEST_PASSWORD", "correct horse battery")
    for username in (PROPOSER, APPROVER):  # the two supervisors, created by the server's administrator
        made = vigil("users", "add", username, "--role", "supervisor", "--password-env", "VIGIL_TEST_PASSWORD")
        assert made.returncode == 0, made.stderr
    common = [
        "--category",
        "missing-person",
        "--legal-basis",
        "missing person report: MP-9",
        "--proposed-by",
        PROPOSER,
        "--approved-by",
        APPROVER,
    ]
    added = vigil("watchlist", "add", str(photo), "--name", "Eileen Collins", *common, "--expires", in_months(6))
    assert added.returncode == 0, added.stderr
    subject_id = added.stdout.strip()
    assert len(subject_id) == 32
    past = vigil("watchlist", "add", str(photo), "--name", "X", *common, "--expires", "2001-01-01")
    assert past.returncode == 2 and "[expiry]" in past.stderr
    too_long = vigil("watchlist", "add", str(photo), "--name", "X", *common, "--expires", in_months(14))
    assert too_long.returncode == 2 and "[expiry-too-long]" in too_long.stderr and "365 days" in too_long.stderr
    alone = [*common[:4], "--proposed-by", PROPOSER, "--approved-by", PROPOSER]
    one_person = vigil("watchlist", "add", str(photo), "--name", "X", *alone, "--expires", in_months(6))
    assert one_person.returncode == 2 and "[two-person]" in one_person.stderr
    stranger = [*common[:4], "--proposed-by", PROPOSER, "--approved-by", "nobody"]
    unknown = vigil("watchlist", "add", str(photo), "--name", "X", *stranger, "--expires", in_months(6))
    assert unknown.returncode == 2 and "[approver]" in unknown.stderr
    shown = vigil("watchlist", "show", subject_id)
    assert '"legal_basis"' in shown.stdout and "MP-9" in shown.stdout
    report = tmp_path / "report.jsonl"
    imported = vigil("watchlist", "import", str(people), *common, "--expires", in_months(6), "--report", str(report))
    assert imported.returncode == 0, imported.stderr
    assert "rejected [photo-format]: 1" in imported.stdout
    assert len(report.read_text().splitlines()) == 5
    assert vigil("watchlist", "suspend", subject_id).returncode == 0
    assert "suspended" in vigil("watchlist", "list", "--status", "suspended").stdout
    back = vigil("watchlist", "reinstate", subject_id, "--requested-by", PROPOSER, "--approved-by", APPROVER)
    assert back.returncode == 0 and "active" in back.stdout, back.stderr
    renewed = vigil(
        "watchlist",
        "renew",
        subject_id,
        "--expires",
        in_months(9),
        "--requested-by",
        APPROVER,
        "--approved-by",
        PROPOSER,
    )
    assert renewed.returncode == 0 and in_months(9) in renewed.stdout, renewed.stderr
    removed = vigil("watchlist", "remove", subject_id)
    assert removed.returncode == 0 and "1 photos deleted" in removed.stdout
    missing = vigil("watchlist", "show", subject_id)
    assert missing.returncode == 2 and "no subject" in missing.stderr
