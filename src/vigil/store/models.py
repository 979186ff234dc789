"""SQLAlchemy 2 models for the watchlist. Times are stored as timezone-aware UTC."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator


def new_id() -> str:
    return uuid.uuid4().hex


def utcnow() -> datetime:
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no zone: it is restored on read)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; give a timezone")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    pass


class Category(Base):
    """A kind of watchlist entry (configurable; seeded by the first migration)."""

    __tablename__ = "categories"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    label: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    high_risk: Mapped[bool] = mapped_column(Boolean, default=False)
    # Track-level decision rule (docs/calibration.md): the false-alert policy (per 1,000 passers-by) sets
    # the operating point from the error curves and the watchlist size; a non-null threshold overrides it.
    match_threshold: Mapped[float | None] = mapped_column(Float, nullable=True)
    min_faces: Mapped[int] = mapped_column(Integer, default=1)
    max_validity_days: Mapped[int] = mapped_column(Integer, default=365)  # an entry's longest life; renew = approve
    false_alerts_per_1000: Mapped[float] = mapped_column(Float, default=0.1)
    # A red flag nobody acknowledges within this many seconds escalates (NULL: it never escalates).
    ack_within_s: Mapped[float | None] = mapped_column(Float, nullable=True)


class Subject(Base):
    """A person the police are entitled to look for, with the legal basis and an expiry."""

    __tablename__ = "subjects"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    external_ref: Mapped[str | None] = mapped_column(String(200), unique=True, nullable=True)
    display_name: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(ForeignKey("categories.name"))
    legal_basis_type: Mapped[str] = mapped_column(String(100))
    legal_basis_reference: Mapped[str] = mapped_column(String(200))
    approved_by: Mapped[str] = mapped_column(String(200))  # the approving supervisor's username ("" until then)
    proposed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    approved_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    # a change waiting for a second supervisor: "enroll" (stored suspended until then), "reinstate", "renew"
    pending_action: Mapped[str | None] = mapped_column(String(16), nullable=True)
    pending_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    pending_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    pending_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)  # for "renew"
    review_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    status: Mapped[str] = mapped_column(String(16), default="active")  # vigil.domain.vocabulary.SubjectStatus
    notes: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)

    photos: Mapped[list[Photo]] = relationship(
        back_populates="subject", cascade="all, delete-orphan", passive_deletes=True, order_by="Photo.created_at"
    )

    def is_matchable(self, at: datetime) -> bool:
        """Active and not yet expired at ``at`` (the expiry instant itself is already expired)."""
        return self.status == "active" and at < self.expires_at


class Photo(Base):
    """An enrolled photo: stored under a generated name, with its face's geometry and quality."""

    __tablename__ = "photos"
    __table_args__ = (UniqueConstraint("sha256", name="uq_photos_sha256"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    subject_id: Mapped[str] = mapped_column(ForeignKey("subjects.id", ondelete="CASCADE"), index=True)
    media_name: Mapped[str] = mapped_column(String(64), unique=True)
    sha256: Mapped[str] = mapped_column(String(64))
    source_name: Mapped[str] = mapped_column(String(255), default="")
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    face_box: Mapped[list[float]] = mapped_column(JSON)
    landmarks: Mapped[list[list[float]]] = mapped_column(JSON)
    detector: Mapped[str] = mapped_column(String(64))
    detector_score: Mapped[float] = mapped_column(Float)
    inter_eye_px: Mapped[float] = mapped_column(Float)
    sharpness: Mapped[float] = mapped_column(Float)
    yaw: Mapped[float] = mapped_column(Float)
    pitch: Mapped[float] = mapped_column(Float)
    quality: Mapped[float] = mapped_column(Float)
    # Set when the photo is the face of a confirmed sighting added as a template (docs/watchlist.md).
    from_alert_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)

    subject: Mapped[Subject] = relationship(back_populates="photos")
    embeddings: Mapped[list[PhotoEmbedding]] = relationship(
        back_populates="photo", cascade="all, delete-orphan", passive_deletes=True
    )


class PhotoEmbedding(Base):
    """One template per photo per embedder model version, so a model change re-embeds without re-enrolling."""

    __tablename__ = "embeddings"
    __table_args__ = (UniqueConstraint("photo_id", "model", "version", name="uq_embeddings_photo_model"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    photo_id: Mapped[str] = mapped_column(ForeignKey("photos.id", ondelete="CASCADE"), index=True)
    model: Mapped[str] = mapped_column(String(64))
    version: Mapped[str] = mapped_column(String(64))
    dim: Mapped[int] = mapped_column(Integer)
    vector: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)

    photo: Mapped[Photo] = relationship(back_populates="embeddings")


class Camera(Base):
    """A registered camera: its stream URL (which may hold credentials: never logged), place and analysis rate."""

    __tablename__ = "cameras"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    url: Mapped[str] = mapped_column(Text)
    latitude: Mapped[float] = mapped_column(Float)
    longitude: Mapped[float] = mapped_column(Float)
    analysis_fps: Mapped[float] = mapped_column(Float)
    # The area it belongs to (e.g. a police station's): authorisations can cover a whole group.
    group_name: Mapped[str] = mapped_column(String(64), default="")
    # Where faces are looked for: {"frame": [w, h], "zones": [...], "masks": [...]}; NULL: everywhere.
    zones: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class Alert(Base):
    """A red flag: one watchlisted subject seen on one face track of one camera.

    ``key`` is derived from (camera, track, subject), so recording the same alert twice is a no-op.
    ``decisive_capture_at`` is when the frame that completed the evidence was captured, ``created_at``
    when the alert was stored: their difference is the alert latency.
    """

    __tablename__ = "alerts"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    subject_id: Mapped[str] = mapped_column(ForeignKey("subjects.id", ondelete="CASCADE"), index=True)
    camera: Mapped[str] = mapped_column(String(64), index=True)
    track_id: Mapped[str] = mapped_column(String(64))
    first_seen: Mapped[datetime] = mapped_column(UtcDateTime())
    last_seen: Mapped[datetime] = mapped_column(UtcDateTime())
    best_score: Mapped[float] = mapped_column(Float)
    evidence: Mapped[float | None] = mapped_column(Float, nullable=True)  # the track's, as a similarity
    # The track's evidence in nats (the looks and fused rules; the highest it reached) and what the rule in
    # force when it was raised asked of it: the evidence band is read on these (issue 28). NULL: the vote
    # rule, or stored before migration 0021.
    evidence_nats: Mapped[float | None] = mapped_column(Float, nullable=True)
    needed_nats: Mapped[float | None] = mapped_column(Float, nullable=True)
    threshold: Mapped[float] = mapped_column(Float)
    faces: Mapped[int] = mapped_column(Integer)
    crop_name: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # Why the face crop is missing when it could not be written (the media disk full): the alert is kept.
    crop_missing: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # The evidence beside the crop (issue 28), under the crop's retention: JSON {"faces": [{"name", "at",
    # "iod_px", "quality", "width", "height"}, ...] (the track's best 3-5 faces, oldest first), "scene":
    # {"name", "width", "height"} (a wider view around the face, bystanders blurred)}; names in "crops".
    evidence_media: Mapped[str | None] = mapped_column(Text, nullable=True)
    # A near-tie: the second candidate, shown beside the first so that a person settles it.
    runner_up_subject_id: Mapped[str | None] = mapped_column(
        ForeignKey("subjects.id", ondelete="SET NULL", name="fk_alerts_runner_up_subject"), nullable=True
    )
    runner_up_score: Mapped[float | None] = mapped_column(Float, nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # vigil.domain.vocabulary.AlertStatus
    # The authorisation under which the camera was scanning and whose scope admitted the subject.
    authorisation_id: Mapped[str | None] = mapped_column(
        ForeignKey("authorisations.id", ondelete="SET NULL", name="fk_alerts_authorisation"), nullable=True, index=True
    )
    decisive_capture_at: Mapped[datetime] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)
    # "I'm on it": who took the red flag up and when (separate from deciding it), and when it escalated
    # because nobody had within its category's time.
    acknowledged_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    acknowledged_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    escalated_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    # The face model whose templates and curves decided the alert (issue 26: a switch shows in the alerts).
    model: Mapped[str | None] = mapped_column(String(64), nullable=True)


class User(Base):
    """A local user. Passwords are stored as argon2id hashes only."""

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))  # vigil.domain.vocabulary.Role
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)  # unused since 0011: see LoginFailure
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)  # unused since 0011
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    # a grant waiting for a second admin: the role asked for (a new user stays inactive until then)
    pending_role: Mapped[str | None] = mapped_column(String(16), nullable=True)
    requested_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    requested_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    approved_by: Mapped[str | None] = mapped_column(String(64), nullable=True)  # who approved the last grant
    # The camera groups (police-station areas) whose red flags this user sees and is sent; empty: all.
    camera_groups: Mapped[list[str]] = mapped_column(JSON, default=list)
    locale: Mapped[str | None] = mapped_column(String(8), nullable=True)  # the pages' language; NULL: the browser's


class LoginFailure(Base):
    """Consecutive failed logins to one account from one client address, and the lock they led to."""

    __tablename__ = "login_failures"

    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    source: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    last_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    # while the account is under a distributed guess: 429s answered to this address, and until when
    refused: Mapped[int] = mapped_column(Integer, default=0)
    retry_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class LoginThrottle(Base):
    """Failed logins from one client address in the current minute (whatever the username), shared by
    every web server through the database."""

    __tablename__ = "login_throttle"

    source: Mapped[str] = mapped_column(String(64), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(UtcDateTime())
    failures: Mapped[int] = mapped_column(Integer, default=0)


class AuthToken(Base):
    """A browser session (kind "session", with its CSRF token) or an API bearer token (kind "api").
    Only the SHA-256 of the secret is stored."""

    __tablename__ = "auth_tokens"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    csrf_token: Mapped[str] = mapped_column(String(64), default="")
    label: Mapped[str] = mapped_column(String(200), default="")
    # a live-socket ticket (kind "ticket"): the session or API token it was issued from
    parent_id: Mapped[str | None] = mapped_column(
        ForeignKey("auth_tokens.id", ondelete="CASCADE", name="fk_auth_tokens_parent"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())


class Adjudication(Base):
    """One person's decision on an alert, with the reason. An alert's status follows its decisions."""

    __tablename__ = "adjudications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alert_id: Mapped[str] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    decision: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class AlertOutcome(Base):
    """One officer's record of what happened after a confirmed alert (the latest one counts)."""

    __tablename__ = "alert_outcomes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alert_id: Mapped[str] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    outcome: Mapped[str] = mapped_column(String(16))  # vigil.domain.vocabulary.Outcome
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class FieldAction(Base):
    """An officer's action on a red flag from the field view: acknowledge, on my way, not found (issue 29).
    ``client_id`` is the phone's own id for the action, so one queued while offline and sent twice (the
    answer lost) is recorded once."""

    __tablename__ = "field_actions"
    __table_args__ = (UniqueConstraint("user_id", "client_id", name="uq_field_actions_client"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alert_id: Mapped[str] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    action: Mapped[str] = mapped_column(String(16))  # vigil.domain.vocabulary.FieldActionKind
    client_id: Mapped[str] = mapped_column(String(64))
    acted_at: Mapped[datetime] = mapped_column(UtcDateTime())  # when the officer tapped (the phone's clock)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, index=True)  # when it arrived


class Authorisation(Base):
    """What makes scanning lawful: who asked, who authorised it, why, where (cameras or camera groups),
    for whom (categories or named subjects), from when until when, and the thresholds in force when it
    was signed. A camera analyses only while one covering it is active (``vigil.domain.authorisations``)."""

    __tablename__ = "authorisations"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    purpose: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text, default="")
    requested_by: Mapped[str] = mapped_column(ForeignKey("users.id"))
    authorised_by: Mapped[str] = mapped_column(ForeignKey("users.id"))
    cameras: Mapped[list[str]] = mapped_column(JSON, default=list)
    camera_groups: Mapped[list[str]] = mapped_column(JSON, default=list)
    categories: Mapped[list[str]] = mapped_column(JSON, default=list)
    subjects: Mapped[list[str]] = mapped_column(JSON, default=list)
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime())
    ends_at: Mapped[datetime] = mapped_column(UtcDateTime())
    review_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    thresholds: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)  # ended early
    ended_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    end_reason: Mapped[str] = mapped_column(Text, default="")


class AuthorisationRequest(Base):
    """A supervisor's request for an authorisation, waiting for a different person with the authoriser
    role to sign it as it was made (``digest``); signing writes the :class:`Authorisation` (same id)."""

    __tablename__ = "authorisation_requests"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    purpose: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text, default="")
    requested_by: Mapped[str] = mapped_column(ForeignKey("users.id"))
    cameras: Mapped[list[str]] = mapped_column(JSON, default=list)
    camera_groups: Mapped[list[str]] = mapped_column(JSON, default=list)
    categories: Mapped[list[str]] = mapped_column(JSON, default=list)
    subjects: Mapped[list[str]] = mapped_column(JSON, default=list)
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime())
    ends_at: Mapped[datetime] = mapped_column(UtcDateTime())
    review_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    state: Mapped[str] = mapped_column(String(16), default="requested")  # requested | signed
    digest: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class AuthorisationCount(Base):
    """Counts only: what each camera analysed under an authorisation (for its published results)."""

    __tablename__ = "authorisation_counts"

    authorisation_id: Mapped[str] = mapped_column(ForeignKey("authorisations.id", ondelete="CASCADE"), primary_key=True)
    camera: Mapped[str] = mapped_column(String(64), primary_key=True)
    frames: Mapped[int] = mapped_column(Integer, default=0)
    faces: Mapped[int] = mapped_column(Integer, default=0)
    tracks: Mapped[int] = mapped_column(Integer, default=0)


class AuditEvent(Base):
    """Who did what, when, to which object, from where. Append-only; each entry carries the keyed hash
    of the one before (``vigil.domain.audit``). Ids are consecutive from 1, so a gap is a deletion."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_actor_at", "actor", "at"),
        Index("ix_audit_events_action_at", "action", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    actor: Mapped[str] = mapped_column(String(64))  # username, or "system"
    action: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str] = mapped_column(String(32), default="")
    object_id: Mapped[str] = mapped_column(String(64), default="")
    source: Mapped[str] = mapped_column(String(64), default="")  # client address, or "cli"
    details: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64), default="")
    hash: Mapped[str] = mapped_column(String(64), default="")


class Calibration(Base):
    """Measured genuine/impostor error curves of one embedder version on a labelled set."""

    __tablename__ = "calibrations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    embedder: Mapped[str] = mapped_column(String(64))
    version: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(255))
    curve: Mapped[dict[str, object]] = mapped_column(JSON)
    floor: Mapped[float] = mapped_column(Float)


class FaceModel(Base):
    """A licensed embedder added with ``vigil models add``: its file (copied into the models folder), its
    checksum, licence and provenance, and the calibration measured when it was added."""

    __tablename__ = "face_models"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    file_name: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    version: Mapped[str] = mapped_column(String(64))  # what its embeddings are tagged with
    licence: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(Text, default="")
    input_size: Mapped[int] = mapped_column(Integer)
    dim: Mapped[int] = mapped_column(Integer)
    added_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    added_by: Mapped[str] = mapped_column(String(64))
    calibration_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    calibrated_on: Mapped[str] = mapped_column(String(255), default="")


class ActiveModel(Base):
    """The one embedder every process must run (row id 1): its name, the version its templates carry and,
    for an added file, its SHA-256 — a process whose file differs refuses to start."""

    __tablename__ = "active_model"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    version: Mapped[str] = mapped_column(String(64))
    sha256: Mapped[str] = mapped_column(String(64), default="")
    since: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    by: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text, default="")


class ThresholdChange(Base):
    """Every change of a category's threshold: who, why, before and after, and the expected error rates."""

    __tablename__ = "threshold_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    category: Mapped[str] = mapped_column(ForeignKey("categories.name"))
    before: Mapped[float | None] = mapped_column(Float, nullable=True)
    after: Mapped[float] = mapped_column(Float)
    changed_by: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    watchlist_size: Mapped[int] = mapped_column(Integer)
    expected_false_alert_rate: Mapped[float | None] = mapped_column(Float, nullable=True)
    expected_miss_rate: Mapped[float | None] = mapped_column(Float, nullable=True)


class AnalysisCount(Base):
    """Counts only: how much each camera analysed per day (for reports and live error rates)."""

    __tablename__ = "analysis_counts"

    camera: Mapped[str] = mapped_column(String(64), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    frames: Mapped[int] = mapped_column(Integer, default=0)
    faces: Mapped[int] = mapped_column(Integer, default=0)
    tracks: Mapped[int] = mapped_column(Integer, default=0)
    embedded: Mapped[int] = mapped_column(Integer, default=0)


class WorkerRegistration(Base):
    """Scale-out: a running ``vigil worker`` process, alive while its heartbeat is recent."""

    __tablename__ = "workers"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    heartbeat_at: Mapped[datetime] = mapped_column(UtcDateTime())


class CameraLease(Base):
    """Scale-out: which worker runs a camera, until when (database time), and the camera's last health.

    ``token`` grows by one at every claim (a fencing token: a worker holding an older token lost the camera).
    """

    __tablename__ = "camera_leases"

    camera: Mapped[str] = mapped_column(String(64), ForeignKey("cameras.name", ondelete="CASCADE"), primary_key=True)
    worker_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    token: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[str | None] = mapped_column(String(16), nullable=True)
    analysed_fps: Mapped[float | None] = mapped_column(Float, nullable=True)
    dropped_frames: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_frame_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    detection: Mapped[str | None] = mapped_column(Text, nullable=True)  # the detection scheduler's counts (JSON)


class MediaBlob(Base):
    """Photos and crops kept in the database (``media_store = "database"``), under generated names."""

    __tablename__ = "media_blobs"

    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class WatchlistChange(Base):
    """One change that matching depends on: a subject (its row, photos or templates) or, with no subject,
    the category rules. Written by PostgreSQL triggers, which also ``NOTIFY vigil_watchlist``; workers
    apply the changes to their gallery replicas one subject at a time."""

    __tablename__ = "watchlist_changes"

    version: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True)
    subject_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)


class NotifyEndpoint(Base):
    """Somewhere red flags are sent: a webhook (HTTP POST, signed with ``secret`` under ``key_id``) or an
    MQTT broker (``secret`` is the password for ``username``). Configured by admins (``vigil.domain.channels``)."""

    __tablename__ = "notify_endpoints"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # "webhook" | "mqtt"
    url: Mapped[str] = mapped_column(Text)
    key_id: Mapped[str] = mapped_column(String(64), default="")
    secret: Mapped[str] = mapped_column(Text, default="")
    username: Mapped[str] = mapped_column(String(128), default="")
    topic_prefix: Mapped[str] = mapped_column(String(128), default="vigil")
    timeout_s: Mapped[float] = mapped_column(Float, default=5.0)
    concurrency: Mapped[int] = mapped_column(Integer, default=4)
    retry_for_s: Mapped[float] = mapped_column(Float, default=86_400.0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    # why nothing is sent to it (its address fails the outbound guard since 0017); empty: not suspended
    suspended: Mapped[str] = mapped_column(Text, default="")
    # since when every attempt has failed (NULL: the last one succeeded), and the last success
    failing_since: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    last_success_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    failing_flagged_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class NotifyRule(Base):
    """Which events go to an endpoint: by event kind, category, camera group and evidence; and what of
    them leaves Vigil (the face crop and the enrolled photo only where the rule says so)."""

    __tablename__ = "notify_rules"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    endpoint_id: Mapped[str] = mapped_column(ForeignKey("notify_endpoints.id", ondelete="CASCADE"), index=True)
    event_kinds: Mapped[list[str]] = mapped_column(JSON, default=list)
    categories: Mapped[list[str]] = mapped_column(JSON, default=list)  # empty: every category
    camera_groups: Mapped[list[str]] = mapped_column(JSON, default=list)  # empty: every group
    min_score: Mapped[float | None] = mapped_column(Float, nullable=True)
    include_crop: Mapped[bool] = mapped_column(Boolean, default=False)
    include_photo: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    # A rule that sends images is "proposed" until a different admin approves what was proposed
    # (``digest``: of the rule's content then); other rules are "approved" as made.
    state: Mapped[str] = mapped_column(String(16), default="approved")
    approved_by: Mapped[str] = mapped_column(String(64), default="")
    digest: Mapped[str] = mapped_column(String(64), default="")


class OutboxDelivery(Base):
    """One event to one endpoint, written in the transaction that stores the event and deleted never
    (retention prunes delivered rows). ``event_id`` is the idempotency key the receiver sees; a row is
    claimed by one process at a time (``claimed_by`` until ``claimed_until``) and retried until
    ``abandon_at``."""

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("event_id", "endpoint_id", name="uq_outbox_event_endpoint"),
        Index("ix_outbox_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    event_id: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(24))  # vigil.domain.vocabulary.EventKind
    alert_id: Mapped[str | None] = mapped_column(
        ForeignKey("alerts.id", ondelete="CASCADE", name="fk_outbox_alert"), nullable=True, index=True
    )
    endpoint_id: Mapped[str] = mapped_column(ForeignKey("notify_endpoints.id", ondelete="CASCADE"), index=True)
    rule_id: Mapped[str | None] = mapped_column(
        ForeignKey("notify_rules.id", ondelete="SET NULL", name="fk_outbox_rule"), nullable=True
    )
    body: Mapped[dict[str, object]] = mapped_column(JSON)  # the event as sent, without images
    include_crop: Mapped[bool] = mapped_column(Boolean, default=False)
    include_photo: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | delivered | abandoned
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    abandon_at: Mapped[datetime] = mapped_column(UtcDateTime())
    claimed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    claimed_until: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    last_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
