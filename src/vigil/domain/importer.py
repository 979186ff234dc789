"""Bulk enrollment from a folder per person or from a CSV file: resumable and idempotent.

Each photo is enrolled in its own transaction, so an interrupted import keeps what it finished and a
re-run continues: a photo whose bytes are already enrolled is skipped before any face analysis, and a
subject is found again by its reference (the folder name, or the CSV ``ref`` column). Every file gets
a row in the report: enrolled, skipped, or rejected with the rule it broke.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time
from pathlib import Path

from vigil.domain.audit import Actor
from vigil.domain.enrollment import EnrollmentError, SubjectFields
from vigil.domain.watchlist import WatchlistService

PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm"}
CSV_REQUIRED = ("photo", "name", "category", "legal_basis_type", "legal_basis_reference", "expires")
CSV_OPTIONAL = ("ref", "review_date", "notes", "approved_by")  # approved_by: must name the import's approver


@dataclass(frozen=True)
class ImportRow:
    source: str
    status: str  # "enrolled", "skipped" or "rejected"
    rule: str = ""
    message: str = ""
    subject_id: str = ""


@dataclass(frozen=True)
class ImportDefaults:
    """Fields a folder import applies to every person (a folder only gives names)."""

    category: str
    legal_basis_type: str
    legal_basis_reference: str
    approved_by: str
    expires_at: datetime
    review_date: date | None = None
    proposed_by: str = ""


@dataclass(frozen=True)
class _Job:
    source: str
    path: Path | None
    fields: SubjectFields | None
    error: EnrollmentError | None = None


def parse_expiry(text: str) -> datetime:
    """``YYYY-MM-DD`` (end of that day, UTC) or an ISO 8601 instant; naive instants are UTC."""
    text = text.strip()
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time(23, 59, 59), tzinfo=UTC)
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise EnrollmentError("expiry", f"cannot read expiry {text!r}: use YYYY-MM-DD or ISO 8601") from exc
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def parse_review_date(text: str) -> date | None:
    text = (text or "").strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise EnrollmentError("expiry", f"cannot read review date {text!r}: use YYYY-MM-DD") from exc


def folder_jobs(root: Path, defaults: ImportDefaults) -> list[_Job]:
    """One job per photo in ``root/<person>/``; the folder name is the person's name and reference."""
    jobs = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        fields = SubjectFields(
            display_name=folder.name.replace("_", " "),
            category=defaults.category,
            legal_basis_type=defaults.legal_basis_type,
            legal_basis_reference=defaults.legal_basis_reference,
            approved_by=defaults.approved_by,
            expires_at=defaults.expires_at,
            review_date=defaults.review_date,
            external_ref=f"folder:{folder.name}",
            proposed_by=defaults.proposed_by,
        )
        for photo in sorted(folder.iterdir()):
            if photo.is_file() and photo.suffix.lower() in PHOTO_SUFFIXES:
                jobs.append(_Job(f"{folder.name}/{photo.name}", photo, fields))
    return jobs


def csv_jobs(csv_path: Path, *, proposed_by: str, approved_by: str) -> list[_Job]:
    """One job per CSV row, each proposed and approved by the two supervisors named; photo paths are
    relative to the CSV's folder and may not leave it."""
    base = csv_path.parent.resolve()
    jobs: list[_Job] = []
    try:
        text = csv_path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise EnrollmentError("csv-row", f"{csv_path.name}: cannot be read as UTF-8 text ({exc})") from exc
    reader = csv.DictReader(text.splitlines())
    missing = [c for c in CSV_REQUIRED if c not in (reader.fieldnames or [])]
    if missing:
        raise EnrollmentError("csv-row", f"{csv_path.name}: missing columns {', '.join(missing)}")
    for line, row in enumerate(reader, start=2):
        source = f"{csv_path.name}:{line}"
        try:
            if None in row or any(row.get(c) is None for c in CSV_REQUIRED):
                raise EnrollmentError("csv-row", "wrong number of columns")
            photo = (base / row["photo"].strip()).resolve()
            if not photo.is_relative_to(base):
                raise EnrollmentError("csv-row", f"photo path {row['photo']!r} leaves the CSV's folder")
            named = (row.get("approved_by") or "").strip()
            if named and named != approved_by:
                raise EnrollmentError("approver", f"the row names approver {named!r}, the import {approved_by!r}")
            fields = SubjectFields(
                display_name=row["name"],
                category=row["category"].strip(),
                legal_basis_type=row["legal_basis_type"],
                legal_basis_reference=row["legal_basis_reference"],
                approved_by=approved_by,
                proposed_by=proposed_by,
                expires_at=parse_expiry(row["expires"]),
                review_date=parse_review_date(row.get("review_date") or ""),
                notes=row.get("notes") or "",
                external_ref=(f"csv:{row['ref'].strip()}" if (row.get("ref") or "").strip() else None),
            )
            jobs.append(_Job(f"{source} {row['photo'].strip()}", photo, fields))
        except EnrollmentError as exc:
            jobs.append(_Job(source, None, None, exc))
    return jobs


def run_import(
    service: WatchlistService,
    jobs: list[_Job],
    *,
    progress: Callable[[ImportRow], None] | None = None,
    by: Actor | None = None,
) -> list[ImportRow]:
    """Enroll every job; returns one report row per job (also passed to ``progress`` as it goes)."""
    rows = []
    for row in _run(service, jobs, by):
        rows.append(row)
        if progress is not None:
            progress(row)
    return rows


def _run(service: WatchlistService, jobs: list[_Job], by: Actor | None) -> Iterator[ImportRow]:
    for job in jobs:
        if job.error is not None or job.path is None or job.fields is None:
            error = job.error or EnrollmentError("csv-row", "unusable row")
            yield ImportRow(job.source, "rejected", error.rule, error.detail)
            continue
        try:
            data = job.path.read_bytes()
        except OSError as exc:
            yield ImportRow(job.source, "rejected", "photo-format", f"cannot read the file ({exc.strerror})")
            continue
        if service.photo_known(hashlib.sha256(data).hexdigest()):
            yield ImportRow(job.source, "skipped", message="already enrolled")
            continue
        ref = job.fields.external_ref or f"name:{job.fields.display_name.strip()}"
        fields = job.fields if job.fields.external_ref else replace(job.fields, external_ref=ref)
        try:
            existing = service.find_by_ref(ref)
            if existing is None:
                result = service.enroll(fields, [(job.path.name, data)], by=by)
            else:
                result = service.add_photos(existing.id, [(job.path.name, data)], by=by)
        except EnrollmentError as exc:
            yield ImportRow(job.source, "rejected", exc.rule, exc.detail)
            continue
        yield ImportRow(job.source, "enrolled", message="; ".join(result.warnings), subject_id=result.subject_id)
