"""The watchlist service: enroll, review, suspend and remove subjects.

Writes are all-or-nothing: photos are checked in memory first, files are written under generated
names, then one database transaction records everything; if that fails the files are removed again.
Media files left behind by a crash between the two steps are swept on start. The gallery matching
searches is the :class:`~vigil.domain.replica.GalleryReplica`'s: after each write the service asks it to
catch up with the change log (which the database's triggers wrote in the same transaction), the same
feed that brings other processes' changes.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from vigil.clock import Clock, system_clock
from vigil.domain.audit import Actor, AuditLog, audit_change
from vigil.domain.enrollment import (
    CheckedPhoto,
    EnrollmentError,
    SubjectFields,
    check_fields,
    check_photo,
    check_sighting_face,
)
from vigil.domain.replica import GalleryReplica
from vigil.domain.vocabulary import PROPOSED, AlertStatus, AuditAction, PendingAction, Role, SubjectStatus
from vigil.errors import VigilError
from vigil.recognition.gallery import Candidate
from vigil.settings import VigilSettings
from vigil.store.db import Database
from vigil.store.media import SWEEP_MIN_AGE_S, MediaStore
from vigil.store.models import Alert, Category, Photo, PhotoEmbedding, Subject, User
from vigil.vision.embedders.base import Embedder
from vigil.vision.engine import FaceEngine

log = logging.getLogger(__name__)


SubjectRecord = Subject  # a stored subject as the service hands it out (with its photos loaded), to read only


class SubjectNotFoundError(VigilError):
    """No subject with that id."""


def subject_state(subject: Subject) -> str:
    """What the entry is, as people read it: active, suspended, expired — or proposed (waiting for its
    enrollment approval; stored suspended)."""
    return PROPOSED if subject.pending_action == PendingAction.ENROLL else subject.status


def _check_supervisor(session: Session, username: str, what: str) -> None:
    """``username`` is an active supervisor: who may propose and approve watchlist entries."""
    user = session.scalar(select(User).where(User.username == (username or "").strip().lower()))
    if user is None or not user.active or user.role != Role.SUPERVISOR:
        raise EnrollmentError(what, f"the {what} {username!r} is not an active supervisor")


@dataclass(frozen=True)
class EnrollmentResult:
    subject_id: str
    photos_added: int
    warnings: list[str] = field(default_factory=list)


class WatchlistService:
    def __init__(
        self,
        db: Database,
        media: MediaStore,
        engine: FaceEngine,
        settings: VigilSettings,
        *,
        duplicate_threshold: float,
        clock: Clock = system_clock,
        replica: GalleryReplica | None = None,
        audit: AuditLog | None = None,
    ) -> None:
        """``audit``: where each change is recorded, in the transaction that makes it (given ``by``)."""
        self.db = db
        self.media = media
        self.engine = engine
        self.settings = settings
        self.duplicate_threshold = duplicate_threshold
        self.clock = clock
        self.model = engine.embedder.name
        self.version = engine.embedder.version
        self.audit = audit
        self.replica = replica or GalleryReplica(
            db, model=self.model, version=self.version, dim=engine.embedder.dim, clock=clock
        )

    def _audited(
        self,
        session: Session,
        by: Actor | None,
        action: AuditAction,
        object_id: str,
        details: dict[str, object] | None = None,
        *,
        on: str = "subject",
    ) -> None:
        """The change's audit entry (on a subject, or ``on`` a category), in its transaction."""
        audit_change(self.audit, session, by, action, object_type=on, object_id=object_id, details=details)

    # ----------------------------------------------------------- start-up
    def start(self) -> None:
        """Sweep orphaned media and load the gallery replica from the database."""
        self.sweep_orphan_media()
        self.replica.load()

    def sweep_orphan_media(self) -> int:
        """Delete photo files no database row refers to (left by a crash mid-enrollment), once they are old
        enough not to be another process's enrollment in progress."""
        candidates = self.media.names("photos", older_than_s=SWEEP_MIN_AGE_S)
        with self.db.session() as session:
            known = set(session.scalars(select(Photo.media_name)))
        orphans = [name for name in candidates if name not in known]
        for name in orphans:
            self.media.delete("photos", name)
        if orphans:
            log.info("removed %d orphaned photo files", len(orphans))
        return len(orphans)

    # ----------------------------------------------------------- queries
    def categories(self) -> list[Category]:
        with self.db.session() as session:
            return list(session.scalars(select(Category).order_by(Category.name)))

    def add_category(
        self, name: str, label: str, *, description: str = "", high_risk: bool = False, by: Actor | None = None
    ) -> Category:
        """Extend the configurable category list (names are lower-case slugs)."""
        if not re.fullmatch(r"[a-z][a-z0-9-]{1,63}", name):
            raise EnrollmentError("category", f"category name {name!r} must be a lower-case slug (a-z, 0-9, '-')")
        if not label.strip():
            raise EnrollmentError("category", "category label is required")
        with self.db.session() as session:
            if session.get(Category, name) is not None:
                raise EnrollmentError("category", f"category {name!r} already exists")
            category = Category(name=name, label=label.strip(), description=description, high_risk=high_risk)
            session.add(category)
            self._audited(
                session,
                by,
                AuditAction.CATEGORY_ADDED,
                name,
                {"label": label.strip(), "high_risk": high_risk},
                on="category",
            )
        self.replica.catch_up()
        return category

    def get(self, subject_id: str) -> Subject:
        with self.db.session() as session:
            subject = session.scalar(
                select(Subject).where(Subject.id == subject_id).options(selectinload(Subject.photos))
            )
            if subject is None:
                raise SubjectNotFoundError(f"no subject with id {subject_id!r}")
            return subject

    def list_subjects(
        self,
        *,
        status: str | None = None,
        category: str | None = None,
        search: str | None = None,
        pending: bool = False,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[Subject]:
        """By name; ``pending``: only entries with a change waiting for a second supervisor; ``limit`` and
        ``offset``: one page."""
        query = select(Subject).options(selectinload(Subject.photos)).order_by(Subject.display_name, Subject.id)
        if limit is not None:
            query = query.limit(limit).offset(offset)
        if pending:
            query = query.where(Subject.pending_action.is_not(None))
        if status:
            query = query.where(Subject.status == status)
        if category:
            query = query.where(Subject.category == category)
        if search:
            query = query.where(func.lower(Subject.display_name).contains(search.lower()))
        with self.db.session() as session:
            return list(session.scalars(query))

    def due(self, days: float) -> list[Subject]:
        """Subjects not yet expired whose expiry or review date falls within the next ``days`` days (or has
        passed), soonest first — what supervisors must renew, review or let lapse."""
        now = self.clock()
        horizon = now + timedelta(days=days)
        query = (
            select(Subject)
            .options(selectinload(Subject.photos))
            .where(Subject.status != SubjectStatus.EXPIRED)
            .where((Subject.expires_at <= horizon) | (Subject.review_date <= horizon.date()))
            .order_by(Subject.expires_at)
        )
        with self.db.session() as session:
            return list(session.scalars(query))

    def find_by_ref(self, external_ref: str) -> Subject | None:
        with self.db.session() as session:
            return session.scalar(select(Subject).where(Subject.external_ref == external_ref))

    def photo_known(self, sha256: str) -> bool:
        with self.db.session() as session:
            return session.scalar(select(Photo.id).where(Photo.sha256 == sha256)) is not None

    def search(
        self,
        vectors: np.ndarray,
        k: int = 5,
        *,
        at: datetime | None = None,
        admit: Callable[[str], bool] | None = None,
    ) -> list[list[Candidate]]:
        """Who is this? Top-k matchable subjects per vector at time ``at`` (default: now), among those
        ``admit`` admits (default: everyone)."""
        return self.replica.search(vectors, k, at=(at or self.clock()).timestamp(), admit=admit)

    # ----------------------------------------------------------- changes
    def check_photos(self, photos: list[tuple[str, bytes]]) -> list[CheckedPhoto]:
        checked = []
        seen: dict[str, str] = {}
        for name, data in photos:
            photo = check_photo(
                self.engine,
                data,
                name,
                max_bytes=self.settings.max_photo_bytes,
                max_pixels=self.settings.max_image_pixels,
            )
            if photo.sha256 in seen:
                raise EnrollmentError("duplicate-photo", f"{name}: the same file as {seen[photo.sha256]}")
            if self.photo_known(photo.sha256):
                raise EnrollmentError("duplicate-photo", f"{name}: this file is already enrolled")
            seen[photo.sha256] = name
            checked.append(photo)
        return checked

    def enroll(
        self, fields: SubjectFields, photos: list[tuple[str, bytes]], *, by: Actor | None = None
    ) -> EnrollmentResult:
        r"""Create a subject from ``photos`` ((source name, bytes) pairs). All or nothing.

        Two people: ``fields.proposed_by`` and ``fields.approved_by`` are two different active
        supervisors. With an approver the entry matches at once; without, it is a proposal — stored
        suspended, matching nobody — until a second supervisor :meth:`approve`\s it. The expiry may not
        lie beyond the category's longest validity."""
        now = self.clock()
        categories = {c.name: c for c in self.categories()}
        fields = check_fields(fields, categories=set(categories), now=now)
        self._check_validity(categories[fields.category], fields.expires_at, now)
        with self.db.session() as session:
            _check_supervisor(session, fields.proposed_by, "proposer")
            if fields.approved_by:
                _check_supervisor(session, fields.approved_by, "approver")
        if not photos:
            raise EnrollmentError("no-photos", "at least one photo is required")
        checked = self.check_photos(photos)
        if fields.external_ref and self.find_by_ref(fields.external_ref) is not None:
            raise EnrollmentError("reference", f"a subject with reference {fields.external_ref!r} already exists")
        subject = Subject(
            external_ref=fields.external_ref,
            display_name=fields.display_name,
            category=fields.category,
            legal_basis_type=fields.legal_basis_type,
            legal_basis_reference=fields.legal_basis_reference,
            approved_by=fields.approved_by,
            review_date=fields.review_date,
            expires_at=fields.expires_at,
            status=SubjectStatus.ACTIVE if fields.approved_by else SubjectStatus.SUSPENDED,
            proposed_by=fields.proposed_by,
            approved_at=now if fields.approved_by else None,
            pending_action=None if fields.approved_by else PendingAction.ENROLL,
            pending_by=None if fields.approved_by else fields.proposed_by,
            pending_at=None if fields.approved_by else now,
            notes=fields.notes,
            created_at=now,
            updated_at=now,
        )
        warnings = self._resemblance_warnings(checked, exclude=None)
        entry: tuple[AuditAction, dict[str, object]] = (
            AuditAction.SUBJECT_ENROLLED if fields.approved_by else AuditAction.SUBJECT_PROPOSED,
            {
                "category": fields.category,
                "legal_basis": f"{fields.legal_basis_type}: {fields.legal_basis_reference}",
                "proposed_by": fields.proposed_by,
                "approved_by": fields.approved_by,
                "expires_at": fields.expires_at.isoformat(),
                "photos": len(checked),
            },
        )
        self._store(subject, checked, new_subject=True, by=by, entry=entry)
        return EnrollmentResult(subject.id, len(checked), warnings)

    def add_photos(
        self, subject_id: str, photos: list[tuple[str, bytes]], *, by: Actor | None = None
    ) -> EnrollmentResult:
        """Add photos to an existing subject. All or nothing."""
        if not photos:
            raise EnrollmentError("no-photos", "at least one photo is required")
        subject = self.get(subject_id)
        checked = self.check_photos(photos)
        warnings = self._resemblance_warnings(checked, exclude=subject_id)
        self._store(
            subject,
            checked,
            new_subject=False,
            by=by,
            entry=(AuditAction.SUBJECT_PHOTOS_ADDED, {"photos": len(checked)}),
        )
        return EnrollmentResult(subject_id, len(checked), warnings)

    def add_sighting_template(
        self, alert_id: str, *, min_similarity: float, by: Actor | None = None
    ) -> EnrollmentResult:
        """Add the matched face of a **confirmed** sighting to its subject's templates (docs/watchlist.md).

        Only the face at the crop's centre is taken, and only if it resembles the subject's enrolled
        templates at ``min_similarity`` or more (the subject's own face, never a bystander's). The template
        is a photo of the subject like any other: removed with the subject and by its retention."""
        with self.db.session() as session:
            alert = session.get(Alert, alert_id)
            if alert is None:
                raise EnrollmentError("alert", f"no alert {alert_id!r}")
            if alert.status != AlertStatus.CONFIRMED:
                raise EnrollmentError("not-confirmed", f"alert {alert_id} is {alert.status}: only a confirmed sighting")
            if alert.crop_name is None:
                raise EnrollmentError("no-crop", f"alert {alert_id} has no crop left (retention)")
            if session.scalar(select(Photo.id).where(Photo.from_alert_id == alert_id)) is not None:
                raise EnrollmentError("duplicate-photo", f"alert {alert_id}'s face is already a template")
            subject_id, crop_name = alert.subject_id, alert.crop_name
        subject = self.get(subject_id)
        data = self.media.read("crops", crop_name)
        checked = check_sighting_face(
            self.engine,
            data,
            f"sighting {alert_id}",
            min_quality=self.settings.live_min_quality,
            max_pixels=self.settings.max_image_pixels,
        )
        own = self.replica.subject_scores(checked.vector[None], [subject_id])
        if float(own[0, 0]) < min_similarity:
            raise EnrollmentError(
                "not-the-subject",
                f"the sighting's face scores {float(own[0, 0]):.3f} against the subject's photos, below "
                f"{min_similarity:.3f}: it is not taken as a template",
            )
        entry: tuple[AuditAction, dict[str, object]] = (AuditAction.SIGHTING_TEMPLATE_ADDED, {"alert": alert_id})
        self._store(subject, [checked], new_subject=False, from_alert_id=alert_id, by=by, entry=entry)
        return EnrollmentResult(subject_id, 1, [])

    def _resemblance_warnings(self, checked: list[CheckedPhoto], *, exclude: str | None) -> list[str]:
        # only faces embedded by the model the gallery holds now can be compared with it (a live switch)
        checked = [p for p in checked if (p.model, p.version) == (self.model, self.version)]
        if not checked:
            return []
        results = self.search(np.stack([p.vector for p in checked]), k=2)
        warnings = []
        names: dict[str, str] = {}
        for photo, candidates in zip(checked, results, strict=True):
            for candidate in candidates:
                if candidate.subject_id == exclude or candidate.score < self.duplicate_threshold:
                    continue
                if candidate.subject_id not in names:
                    names[candidate.subject_id] = self.get(candidate.subject_id).display_name
                warnings.append(
                    f"{photo.source_name}: face resembles active subject {names[candidate.subject_id]!r} "
                    f"({candidate.subject_id}), score {candidate.score:.3f} >= {self.duplicate_threshold:.3f}"
                )
                break
        return warnings

    def _store(
        self,
        subject: Subject,
        checked: list[CheckedPhoto],
        *,
        new_subject: bool,
        from_alert_id: str | None = None,
        by: Actor | None = None,
        entry: tuple[AuditAction, dict[str, object]] | None = None,
    ) -> None:
        written: list[str] = []
        try:
            for photo in checked:
                written.append(self.media.save("photos", photo.data, photo.extension))
            with self.db.session() as session:
                if new_subject:
                    session.add(subject)
                    session.flush()
                self._insert_photos(session, subject.id, checked, written, from_alert_id=from_alert_id)
                if entry is not None:
                    self._audited(session, by, entry[0], subject.id, entry[1])
        except BaseException:
            for name in written:
                self.media.delete("photos", name)
            raise
        self.replica.catch_up()

    def _insert_photos(
        self,
        session: Session,
        subject_id: str,
        checked: list[CheckedPhoto],
        names: list[str],
        *,
        from_alert_id: str | None = None,
    ) -> None:
        now = self.clock()
        for photo, media_name in zip(checked, names, strict=True):
            if session.scalar(select(Photo.subject_id).where(Photo.sha256 == photo.sha256)) is not None:
                raise EnrollmentError("duplicate-photo", f"{photo.source_name}: this file is already enrolled")
            row = Photo(
                subject_id=subject_id,
                media_name=media_name,
                sha256=photo.sha256,
                source_name=photo.source_name[-255:],
                width=photo.width,
                height=photo.height,
                face_box=[round(float(v), 2) for v in photo.face.xyxy[0]],
                landmarks=[[round(float(x), 2), round(float(y), 2)] for x, y in photo.face.kps[0]],
                detector=self.engine.detector.name,
                detector_score=float(photo.face.score[0]),
                inter_eye_px=photo.inter_eye_px,
                sharpness=photo.sharpness,
                yaw=photo.yaw,
                pitch=photo.pitch,
                quality=photo.quality,
                from_alert_id=from_alert_id,
                created_at=now,
            )
            session.add(row)
            session.flush()
            session.add(self._embedding_row(row.id, photo.vector, photo.model, photo.version))

    def reembed(self, *, progress: Callable[[int, int], None] | None = None) -> int:
        """Embed every stored photo that has no template for the current embedder version, from the
        stored file and its stored landmarks (no re-enrollment); returns how many were added."""
        from vigil.vision.align import align_faces
        from vigil.vision.image import decode_image

        with self.db.session() as session:
            has_current = select(PhotoEmbedding.photo_id).where(
                PhotoEmbedding.model == self.model, PhotoEmbedding.version == self.version
            )
            todo = session.execute(
                select(Photo.id, Photo.media_name, Photo.landmarks).where(Photo.id.not_in(has_current))
            ).all()
        for done, (photo_id, media_name, landmarks) in enumerate(todo, start=1):
            pixels = decode_image(self.media.read("photos", media_name), max_pixels=self.settings.max_image_pixels)
            embedder = self.engine.embedder  # one embedder for the chip and the vector, named by the vector
            chips = align_faces(pixels, np.asarray(landmarks, np.float32)[None], embedder.template)
            embedded = embedder.embed(chips)
            with self.db.session() as session:
                session.add(self._embedding_row(photo_id, embedded.vectors[0], embedded.model, embedded.version))
            if progress is not None:
                progress(done, len(todo))
        self.replica.catch_up()
        return len(todo)

    def switch_model(self, embedder: Embedder) -> None:
        """Run another embedder from now on, in this running process (a live switch, ``vigil models use``):
        the gallery of its templates is loaded while matching goes on with the old one, then the embedder
        and the gallery are swapped together between two frames. The caller has checked the embedder is
        the active model and prepared it."""
        old = f"{self.model}@{self.version}"

        def apply() -> None:
            self.engine.embedder = embedder
            self.model, self.version = embedder.name, embedder.version

        self.replica.switch_model(
            embedder.name, embedder.version, embedder.dim, hold=self.engine.model_lock.switching(), apply=apply
        )
        log.warning("face model switched in this process: %s -> %s@%s", old, self.model, self.version)

    def _embedding_row(self, photo_id: str, vector: np.ndarray, model: str, version: str) -> PhotoEmbedding:
        """A template row named by the embedder that made ``vector`` — not the one running now: a photo
        enrolled while a live switch swaps the model keeps the old model's name, and the switch's re-embedding
        then gives it the new model's template too."""
        return PhotoEmbedding(
            photo_id=photo_id,
            model=model,
            version=version,
            dim=len(vector),
            vector=np.ascontiguousarray(vector, np.float32).tobytes(),
            created_at=self.clock(),
        )

    def suspend(self, subject_id: str, *, by: Actor | None = None) -> Subject:
        """Suspended subjects never match until reinstated (one person suffices: it narrows the watchlist)."""
        with self.db.session() as session:
            subject = session.get(Subject, subject_id)
            if subject is None:
                raise SubjectNotFoundError(f"no subject with id {subject_id!r}")
            subject.status = SubjectStatus.SUSPENDED
            subject.updated_at = self.clock()
            self._audited(session, by, AuditAction.SUBJECT_SUSPENDED, subject_id)
        self.replica.catch_up()
        return self.get(subject_id)

    def reinstate(self, subject_id: str, *, requested_by: str, approved_by: str, by: Actor | None = None) -> Subject:
        """Two supervisors at once (the command line's scriptable path): asked for and approved."""
        self.request_reinstatement(subject_id, requested_by=requested_by, by=by)
        return self.approve(subject_id, approver=approved_by, by=by)

    def request_reinstatement(self, subject_id: str, *, requested_by: str, by: Actor | None = None) -> Subject:
        """Ask for a suspended entry to match again; a second supervisor approves."""
        subject = self.get(subject_id)
        if subject.status != SubjectStatus.SUSPENDED or subject.pending_action == PendingAction.ENROLL:
            raise EnrollmentError("not-suspended", f"the entry is {subject_state(subject)}: only a suspended one")
        if subject.expires_at <= self.clock():
            raise EnrollmentError("expiry", "the entry has expired; enroll it again with a new legal basis")
        return self._ask(subject_id, PendingAction.REINSTATE, requested_by, by=by)

    def renew(
        self, subject_id: str, expires_at: datetime, *, requested_by: str, approved_by: str, by: Actor | None = None
    ) -> Subject:
        """Two supervisors at once: a new expiry asked for and approved."""
        self.request_renewal(subject_id, expires_at, requested_by=requested_by, by=by)
        return self.approve(subject_id, approver=approved_by, by=by)

    def request_renewal(
        self, subject_id: str, expires_at: datetime, *, requested_by: str, by: Actor | None = None
    ) -> Subject:
        """Ask for a new expiry (within the category's longest validity from now); a second supervisor
        approves: a renewal is a new approval."""
        subject = self.get(subject_id)
        now = self.clock()
        if expires_at.tzinfo is None or expires_at <= now:
            raise EnrollmentError("expiry", "the new expiry must be a future instant with a timezone")
        if subject.status == SubjectStatus.EXPIRED:
            raise EnrollmentError("expiry", "the entry has expired; enroll it again with a new legal basis")
        self._check_validity(self._category(subject.category), expires_at, now)
        return self._ask(subject_id, PendingAction.RENEW, requested_by, expires_at=expires_at, by=by)

    def _ask(
        self,
        subject_id: str,
        action: str,
        requested_by: str,
        *,
        expires_at: datetime | None = None,
        by: Actor | None = None,
    ) -> Subject:
        with self.db.session() as session:
            _check_supervisor(session, requested_by, "proposer")
            subject = session.get(Subject, subject_id)
            if subject is None:
                raise SubjectNotFoundError(f"no subject with id {subject_id!r}")
            if subject.pending_action is not None:
                raise EnrollmentError("pending", f"a {subject.pending_action} already waits for approval")
            subject.pending_action, subject.pending_by, subject.pending_at = action, requested_by, self.clock()
            subject.pending_expires_at = expires_at
            what = (
                AuditAction.SUBJECT_RENEWAL_REQUESTED
                if action == PendingAction.RENEW
                else AuditAction.SUBJECT_REINSTATEMENT_REQUESTED
            )
            details: dict[str, object] = {"requested_by": requested_by}
            if expires_at is not None:
                details["expires_at"] = expires_at.isoformat()
            self._audited(session, by, what, subject_id, details)
        return self.get(subject_id)

    def approve(self, subject_id: str, *, approver: str, by: Actor | None = None) -> Subject:
        """A second supervisor approves the change waiting on the entry (enrollment, reinstatement or
        renewal); from then on the entry matches under it. Never the supervisor who asked."""
        now = self.clock()
        with self.db.session() as session:
            _check_supervisor(session, approver, "approver")
            subject = session.get(Subject, subject_id)
            if subject is None:
                raise SubjectNotFoundError(f"no subject with id {subject_id!r}")
            action = subject.pending_action
            if action is None:
                raise EnrollmentError("nothing-pending", "no change waits for approval on this entry")
            if approver == subject.pending_by:
                raise EnrollmentError("two-person", "a supervisor other than the one who asked approves")
            if action == PendingAction.RENEW:
                assert subject.pending_expires_at is not None
                subject.expires_at = subject.pending_expires_at
            elif subject.expires_at <= now:
                raise EnrollmentError("expiry", "the entry has expired; enroll it again with a new legal basis")
            if action in (PendingAction.ENROLL, PendingAction.REINSTATE):
                subject.status = SubjectStatus.ACTIVE
            asked_by = subject.pending_by
            subject.approved_by, subject.approved_at = approver, now
            subject.pending_action = subject.pending_by = subject.pending_at = subject.pending_expires_at = None
            subject.updated_at = now
            self._audited(
                session,
                by,
                AuditAction.SUBJECT_APPROVED,
                subject_id,
                {
                    "approved": action,
                    "approved_by": approver,
                    "asked_by": asked_by,
                    "expires_at": subject.expires_at.isoformat(),
                },
            )
        self.replica.catch_up()
        return self.get(subject_id)

    def _category(self, name: str) -> Category:
        with self.db.session() as session:
            category = session.get(Category, name)
            if category is None:
                raise EnrollmentError("category", f"unknown category {name!r}")
            return category

    @staticmethod
    def _check_validity(category: Category, expires_at: datetime, now: datetime) -> None:
        longest = now + timedelta(days=category.max_validity_days)
        if expires_at > longest:
            raise EnrollmentError(
                "expiry-too-long",
                f"a {category.name} entry is valid for at most {category.max_validity_days} days "
                f"(until {longest.date().isoformat()}); renew it with a new approval when it ends",
            )

    def set_max_validity(self, category: str, days: int, *, by: Actor | None = None) -> Category:
        """A category's longest validity (new entries and renewals; entries already approved keep theirs)."""
        if not 1 <= days <= 3660:
            raise EnrollmentError("expiry", "the longest validity is between 1 and 3660 days")
        with self.db.session() as session:
            row = session.get(Category, category)
            if row is None:
                raise EnrollmentError("category", f"unknown category {category!r}")
            row.max_validity_days = days
            self._audited(
                session, by, AuditAction.CATEGORY_VALIDITY_SET, category, {"max_validity_days": days}, on="category"
            )
        return self._category(category)

    def remove(self, subject_id: str, *, by: Actor | None = None) -> int:
        """Delete a subject with its photos (files too) and embeddings; returns photos deleted."""
        with self.db.session() as session:
            subject = session.get(Subject, subject_id)
            if subject is None:
                raise SubjectNotFoundError(f"no subject with id {subject_id!r}")
            names = list(session.scalars(select(Photo.media_name).where(Photo.subject_id == subject_id)))
            session.delete(subject)
            self._audited(session, by, AuditAction.SUBJECT_REMOVED, subject_id, {"photos": len(names)})
        self.replica.catch_up()
        for name in names:
            self.media.delete("photos", name)
        return len(names)
