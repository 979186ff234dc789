"""Retention: Vigil forgets on schedule.

* Crops of **rejected or inconclusive** alerts are deleted ``rejected_hours`` after the decision (the
  alert row stays, without a face, for the statistics).
* **Confirmed sightings** are deleted ``sighting_days`` after they were last seen (row, decisions, crop).
* A subject whose **expiry** has passed is marked ``expired`` (it stopped matching at that instant
  already); ``grace_days`` later its photos and embeddings are deleted. The subject row — who, on what
  legal basis, approved by whom, until when — stays for the record.
* **Failed-login counters** (per account and client address) are dropped once their last failure and
  any lock they caused are older than the lockout: an attack leaves no table growing for ever.

Every run (dry runs included) writes one audit entry with what it deleted, by kind and count — in the
same transaction as the deletions (files go after the commit; a crash in between leaves orphans that
the sweep removes).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import timedelta

from sqlalchemy import delete, func, select, update

from vigil.clock import Clock, system_clock
from vigil.domain.alerts import evidence_media_names
from vigil.domain.audit import Actor, AuditLog
from vigil.domain.users import LOCKOUT
from vigil.domain.vocabulary import AlertStatus, AuditAction, SubjectStatus
from vigil.store.db import Database
from vigil.store.media import SWEEP_MIN_AGE_S, MediaStore
from vigil.store.models import Alert, LoginFailure, Photo, Subject


@dataclass(frozen=True)
class RetentionPolicy:
    rejected_hours: float = 24.0
    sighting_days: float = 30.0
    grace_days: float = 7.0


@dataclass(frozen=True)
class RetentionReport:
    dry_run: bool
    rejected_crops: int
    sightings: int
    subjects_expired: int
    subjects_purged: int
    photos: int
    login_failures: int = 0

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


class RetentionService:
    def __init__(
        self,
        db: Database,
        media: MediaStore,
        audit: AuditLog,
        policy: RetentionPolicy | None = None,
        *,
        clock: Clock = system_clock,
    ) -> None:
        self.db = db
        self.media = media
        self.audit = audit
        self.policy = policy or RetentionPolicy()
        self.clock = clock

    def run(self, *, dry_run: bool = False, actor: str = "system") -> RetentionReport:
        now = self.clock()
        policy = self.policy
        files: list[tuple[str, str]] = []
        with self.db.session() as session:
            decided = session.execute(
                select(Alert.id, Alert.crop_name, Alert.evidence_media).where(
                    Alert.status.in_((AlertStatus.REJECTED, AlertStatus.INCONCLUSIVE)),
                    Alert.crop_name.is_not(None) | Alert.evidence_media.is_not(None),
                    Alert.updated_at <= now - timedelta(hours=policy.rejected_hours),
                )
            ).all()
            sightings = session.execute(
                select(Alert.id, Alert.crop_name, Alert.evidence_media).where(
                    Alert.status == AlertStatus.CONFIRMED, Alert.last_seen <= now - timedelta(days=policy.sighting_days)
                )
            ).all()
            to_expire = session.scalars(
                select(Subject.id).where(Subject.status != SubjectStatus.EXPIRED, Subject.expires_at <= now)
            ).all()
            purge = session.execute(
                select(Photo.id, Photo.media_name, Photo.subject_id)
                .join(Subject, Subject.id == Photo.subject_id)
                .where(Subject.expires_at <= now - timedelta(days=policy.grace_days))
            ).all()
            stale = LoginFailure.last_at <= now - LOCKOUT
            unlocked = LoginFailure.locked_until.is_(None) | (LoginFailure.locked_until <= now)
            failures = int(session.scalar(select(func.count()).select_from(LoginFailure).where(stale, unlocked)) or 0)
            report = RetentionReport(
                dry_run=dry_run,
                rejected_crops=len(decided),
                sightings=len(sightings),
                subjects_expired=len(to_expire),
                subjects_purged=len({s for _, _, s in purge}),
                photos=len(purge),
                login_failures=failures,
            )
            if not dry_run:
                if decided:
                    session.execute(
                        update(Alert)
                        .where(Alert.id.in_([a for a, _, _ in decided]))
                        .values(crop_name=None, evidence_media=None)
                    )
                if sightings:
                    session.execute(delete(Alert).where(Alert.id.in_([a for a, _, _ in sightings])))
                if to_expire:
                    session.execute(
                        update(Subject).where(Subject.id.in_(to_expire)).values(status=SubjectStatus.EXPIRED)
                    )
                if purge:
                    session.execute(delete(Photo).where(Photo.id.in_([p for p, _, _ in purge])))
                if failures:
                    session.execute(delete(LoginFailure).where(stale, unlocked))
            changed = not dry_run and any((decided, sightings, to_expire, purge, failures))
            if changed:  # the deletions hold the write lock: the entry is appended after them, in their transaction
                session.flush()
                self.audit.record_change(
                    session, Actor(actor, "retention"), AuditAction.RETENTION_RUN, details=report.as_dict()
                )
            files = [("crops", c) for _, c, _ in [*decided, *sightings] if c]
            files += [("crops", n) for _, _, e in [*decided, *sightings] for n in evidence_media_names(e)]
            files += [("photos", m) for _, m, _ in purge]
        if not changed:  # nothing deleted (or a dry run): the entry on its own
            self.audit.record(actor, AuditAction.RETENTION_RUN, source="retention", details=report.as_dict())
        if not dry_run:
            for kind, name in files:  # after the commit: a crash in between leaves orphans, swept later
                self.media.delete(kind, name)
        return report

    def sweep_orphan_crops(self) -> int:
        """Delete crop files no alert refers to (left by a crash between commit and file deletion), once they
        are old enough not to be an alert another process (a worker) is storing right now."""
        candidates = self.media.names("crops", older_than_s=SWEEP_MIN_AGE_S)
        with self.db.session() as session:
            known = set(session.scalars(select(Alert.crop_name).where(Alert.crop_name.is_not(None))))
            for media in session.scalars(select(Alert.evidence_media).where(Alert.evidence_media.is_not(None))):
                known.update(evidence_media_names(media))
        orphans = [name for name in candidates if name not in known]
        for name in orphans:
            self.media.delete("crops", name)
        return len(orphans)
