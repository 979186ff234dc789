"""Authorisations: the record that makes scanning lawful, and the gate the live pipeline asks.

An authorisation says who asked for it, who authorised it (a user with the ``authoriser`` role, never
the requester), why, which cameras (by name or by camera group), which part of the watchlist
(categories or named subjects), from when until when, and the thresholds in force when it was signed.
A camera analyses only while one covering it is active — from ``starts_at`` (inclusive) until
``ends_at`` or the moment it was ended early (exclusive) — and matches only subjects inside the
scopes of those active on it. An always-on deployment is an authorisation with a long period and a
review date; periods longer than ``REVIEW_AFTER`` need one.

Every addition and ending is audited in the same transaction as the change.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from vigil.clock import Clock, system_clock
from vigil.domain.audit import AuditLog
from vigil.domain.cameras import NAME as CAMERA_NAME
from vigil.domain.thresholds import CategoryThreshold
from vigil.domain.vocabulary import AuditAction, Role
from vigil.errors import RuleError
from vigil.pipeline.gate import Coverage, Scope
from vigil.store.db import Database
from vigil.store.models import (
    Authorisation,
    AuthorisationCount,
    AuthorisationRequest,
    Camera,
    Category,
    Subject,
    User,
    new_id,
)

REVIEW_AFTER = timedelta(days=31)  # a longer period must name a review date inside it
START_GRACE = timedelta(minutes=5)  # a request may start this long ago at most (the time to fill the form)
REQUESTER_ROLES = (Role.SUPERVISOR, Role.ADMIN)
GROUP_NAME_MAX = 64


class AuthorisationError(RuleError):
    """An authorisation request that breaks a named rule; nothing was saved."""


@dataclass(frozen=True)
class AuthorisationView:
    id: str
    purpose: str
    reason: str
    requested_by: str  # usernames
    authorised_by: str
    cameras: tuple[str, ...]
    camera_groups: tuple[str, ...]
    categories: tuple[str, ...]
    subjects: tuple[str, ...]
    starts_at: datetime
    ends_at: datetime
    review_date: date | None
    thresholds: dict[str, object]
    created_at: datetime
    ended_at: datetime | None
    ended_by: str | None
    end_reason: str
    signed: bool = True  # False: a request waiting for an authoriser's signature (nothing scans under it)
    digest: str = ""  # of a request's content: the signature names it

    @property
    def until(self) -> datetime:
        """When scanning under it stops: its end, or the moment it was ended early."""
        return self.ends_at if self.ended_at is None else min(self.ends_at, self.ended_at)

    def active_at(self, at: datetime) -> bool:
        return self.signed and self.starts_at <= at < self.until

    def state(self, at: datetime) -> str:
        if not self.signed:
            return "requested"
        if at < self.starts_at and self.ended_at is None:
            return "scheduled"
        if self.active_at(at):
            return "active"
        return "ended" if self.ended_at is not None else "expired"

    def covers(self, camera: str, group: str) -> bool:
        return camera in self.cameras or (bool(group) and group in self.camera_groups)

    def scope(self) -> Scope:
        return Scope(self.id, frozenset(self.categories), frozenset(self.subjects))


def coverage_at(authorisations: Iterable[AuthorisationView], camera: str, group: str, at: datetime) -> Coverage:
    """Pure: the scopes active on ``camera`` (in ``group``) at ``at``, earliest start first; or why none."""
    covering = sorted((a for a in authorisations if a.covers(camera, group)), key=lambda a: (a.starts_at, a.id))
    active = tuple(a.scope() for a in covering if a.active_at(at))
    if active:
        return Coverage(active)
    upcoming = [a for a in covering if a.state(at) == "scheduled"]
    if upcoming:
        start = upcoming[0].starts_at
        return Coverage(
            why_not=f"no active authorisation; the next starts {start.isoformat()}",
            resumes_at=start.timestamp(),
            why_code="scheduled",
            why_at=start.timestamp(),
        )
    if covering:
        last = max(covering, key=lambda a: a.until)
        return Coverage(
            why_not=f"no active authorisation; the last ended {last.until.isoformat()}",
            why_code="ended",
            why_at=last.until.timestamp(),
        )
    return Coverage(why_not="no authorisation covers this camera", why_code="uncovered")


def threshold_snapshot(thresholds: Sequence[CategoryThreshold]) -> dict[str, object]:
    """The thresholds in force, per category, as recorded on an authorisation when it is signed."""
    return {
        t.category: {
            "threshold": round(t.threshold, 6),
            "source": t.source,
            "false_alerts_per_1000": t.false_alerts_per_1000,
            "watchlist_size": t.watchlist_size,
        }
        for t in thresholds
    }


def _view(row: Authorisation, usernames: dict[str, str]) -> AuthorisationView:
    return AuthorisationView(
        row.id,
        row.purpose,
        row.reason,
        usernames.get(row.requested_by, row.requested_by),
        usernames.get(row.authorised_by, row.authorised_by),
        tuple(row.cameras),
        tuple(row.camera_groups),
        tuple(row.categories),
        tuple(row.subjects),
        row.starts_at,
        row.ends_at,
        row.review_date,
        dict(row.thresholds),
        row.created_at,
        row.ended_at,
        row.ended_by,
        row.end_reason,
    )


def _usernames(session: Session) -> dict[str, str]:
    return dict(session.execute(select(User.id, User.username)).all())


def _names(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v.strip() for v in values if v.strip()))


def _content(
    cameras: Sequence[str],
    camera_groups: Sequence[str],
    categories: Sequence[str],
    subjects: Sequence[str],
    starts_at: datetime,
    ends_at: datetime,
    purpose: str,
    reason: str,
) -> dict[str, object]:
    return {
        "cameras": list(cameras),
        "camera_groups": list(camera_groups),
        "categories": list(categories),
        "subjects": list(subjects),
        "starts_at": starts_at.astimezone(UTC).isoformat(),
        "ends_at": ends_at.astimezone(UTC).isoformat(),
        "purpose": purpose.strip(),
        "reason": reason.strip(),
    }


def _digest(content: dict[str, object]) -> str:
    return hashlib.sha256(json.dumps(content, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _view_digest(view: AuthorisationView) -> str:
    """The digest of a request's content as stored now (a changed row gives another)."""
    content = _content(
        view.cameras,
        view.camera_groups,
        view.categories,
        view.subjects,
        view.starts_at,
        view.ends_at,
        view.purpose,
        view.reason,
    )
    return _digest({**content, "review_date": None if view.review_date is None else view.review_date.isoformat()})


def _request_view(row: AuthorisationRequest, requester: str) -> AuthorisationView:
    return AuthorisationView(
        row.id,
        row.purpose,
        row.reason,
        requester,
        "",
        tuple(row.cameras),
        tuple(row.camera_groups),
        tuple(row.categories),
        tuple(row.subjects),
        row.starts_at,
        row.ends_at,
        row.review_date,
        {},
        row.created_at,
        None,
        None,
        "",
        signed=False,
        digest=row.digest,
    )


class AuthorisationService:
    def __init__(self, db: Database, audit: AuditLog, *, clock: Clock = system_clock) -> None:
        self.db = db
        self.audit = audit
        self.clock = clock

    def add(
        self,
        *,
        cameras: Sequence[str] = (),
        camera_groups: Sequence[str] = (),
        categories: Sequence[str] = (),
        subjects: Sequence[str] = (),
        starts_at: datetime,
        ends_at: datetime,
        purpose: str,
        requested_by: str,
        authorised_by: str,
        reason: str = "",
        review_date: date | None = None,
        thresholds: dict[str, object] | None = None,
        source: str = "",
        authorisation_id: str | None = None,
        via: str = "command line",
        after: Callable[[Session], None] | None = None,
    ) -> AuthorisationView:
        """Record a signed authorisation (usernames for the two people). Every rule is checked first.
        Called directly this is the server's own operator's path (``vigil authorisation add``, audited as
        such: ``via``); the control room requests and signs (:meth:`request`, :meth:`sign`)."""
        cameras, camera_groups = _names(cameras), _names(camera_groups)
        categories, subjects = _names(categories), _names(subjects)
        self._check(cameras, camera_groups, categories, subjects, starts_at, ends_at, purpose, review_date)
        now = self.clock()
        if ends_at <= now:
            raise AuthorisationError("authorisation-period", f"the end {ends_at.isoformat()} has passed already")
        with self.db.session() as session:
            known = set(session.scalars(select(Category.name)))
            unknown = [c for c in categories if c not in known]
            if unknown:
                raise AuthorisationError(
                    "authorisation-scope", f"unknown categor{'ies' if len(unknown) > 1 else 'y'}: {', '.join(unknown)}"
                )
            if subjects:
                found = set(session.scalars(select(Subject.id).where(Subject.id.in_(subjects))))
                missing = [s for s in subjects if s not in found]
                if missing:
                    raise AuthorisationError("authorisation-scope", f"unknown subjects: {', '.join(missing)}")
            if camera_groups:
                groups = set(session.scalars(select(Camera.group_name).where(Camera.group_name != "")))
                missing = [g for g in camera_groups if g not in groups]
                if missing:
                    raise AuthorisationError(
                        "authorisation-cameras", f"no registered camera is in group {', '.join(missing)}"
                    )
            requester = self._user(session, requested_by, "authorisation-requester")
            authoriser = self._user(session, authorised_by, "authorisation-authoriser")
            if requester.id == authoriser.id:
                raise AuthorisationError(
                    "authorisation-two-person", "the authoriser must be someone other than the requester"
                )
            if requester.role not in REQUESTER_ROLES:
                raise AuthorisationError(
                    "authorisation-requester",
                    f"{requester.username} is {requester.role}; requests come from a supervisor or an admin",
                )
            if authoriser.role != Role.AUTHORISER:
                raise AuthorisationError(
                    "authorisation-authoriser", f"{authoriser.username} does not hold the {Role.AUTHORISER} role"
                )
            row = Authorisation(
                id=authorisation_id or new_id(),
                purpose=purpose.strip(),
                reason=reason.strip(),
                requested_by=requester.id,
                authorised_by=authoriser.id,
                cameras=list(cameras),
                camera_groups=list(camera_groups),
                categories=list(categories),
                subjects=list(subjects),
                starts_at=starts_at,
                ends_at=ends_at,
                review_date=review_date,
                thresholds=dict(thresholds or {}),
                created_at=now,
            )
            session.add(row)
            session.flush()
            view = _view(row, {requester.id: requester.username, authoriser.id: authoriser.username})
            self.audit.record(
                authoriser.username,
                AuditAction.AUTHORISATION_ADDED,
                object_type="authorisation",
                object_id=row.id,
                source=source,
                details={
                    "requested_by": requester.username,
                    "authorised_by": authoriser.username,
                    "purpose": view.purpose,
                    "reason": view.reason,
                    "cameras": list(cameras),
                    "camera_groups": list(camera_groups),
                    "categories": list(categories),
                    "subjects": list(subjects),
                    "starts_at": starts_at.isoformat(),
                    "ends_at": ends_at.isoformat(),
                    "review_date": None if review_date is None else review_date.isoformat(),
                    "thresholds": view.thresholds,
                    "via": via,
                },
                session=session,
            )
            if after is not None:
                after(session)
            return view

    def request(
        self,
        *,
        cameras: Sequence[str] = (),
        camera_groups: Sequence[str] = (),
        categories: Sequence[str] = (),
        subjects: Sequence[str] = (),
        starts_at: datetime,
        ends_at: datetime,
        purpose: str,
        requested_by: str,
        reason: str = "",
        review_date: date | None = None,
        source: str = "",
    ) -> AuthorisationView:
        """A supervisor's request (the control room's first step): it authorises nothing until a different
        person with the authoriser role signs it as it was made (:meth:`sign`). The start is at most
        ``START_GRACE`` ago; every camera, group, category and subject must exist."""
        cameras, camera_groups = _names(cameras), _names(camera_groups)
        categories, subjects = _names(categories), _names(subjects)
        now = self.clock()
        if starts_at.tzinfo is not None and starts_at < now - START_GRACE:
            raise AuthorisationError(
                "authorisation-period", f"the start {starts_at.isoformat()} is in the past: start now or later"
            )
        self._check(cameras, camera_groups, categories, subjects, starts_at, ends_at, purpose, review_date)
        with self.db.session() as session:
            self._check_known(session, cameras, camera_groups, categories, subjects)
            requester = self._user(session, requested_by, "authorisation-requester")
            if requester.role != Role.SUPERVISOR:
                raise AuthorisationError(
                    "authorisation-requester", f"{requester.username} is {requester.role}; a supervisor requests"
                )
            content = _content(cameras, camera_groups, categories, subjects, starts_at, ends_at, purpose, reason)
            row = AuthorisationRequest(
                purpose=purpose.strip(),
                reason=reason.strip(),
                requested_by=requester.id,
                cameras=list(cameras),
                camera_groups=list(camera_groups),
                categories=list(categories),
                subjects=list(subjects),
                starts_at=starts_at,
                ends_at=ends_at,
                review_date=review_date,
                digest=_digest({**content, "review_date": None if review_date is None else review_date.isoformat()}),
                created_at=now,
            )
            session.add(row)
            session.flush()
            self.audit.record(
                requester.username,
                AuditAction.AUTHORISATION_REQUESTED,
                object_type="authorisation",
                object_id=row.id,
                source=source,
                details={**content, "digest": row.digest},
                session=session,
            )
            return _request_view(row, requester.username)

    def requests(self) -> list[AuthorisationView]:
        """Requests waiting for a signature, newest first."""
        with self.db.session() as session:
            usernames = _usernames(session)
            rows = session.scalars(
                select(AuthorisationRequest)
                .where(AuthorisationRequest.state == "requested")
                .order_by(AuthorisationRequest.created_at.desc())
            )
            return [_request_view(r, usernames.get(r.requested_by, r.requested_by)) for r in rows]

    def sign(
        self,
        request_id: str,
        *,
        digest: str,
        authorised_by: str,
        thresholds: dict[str, object] | None = None,
        source: str = "",
    ) -> AuthorisationView:
        """Sign a request as it was made: ``digest`` is the one shown with it (a request changed since gives
        another one and is refused); the signer holds the authoriser role and is not the requester."""
        with self.db.session() as session:
            row = session.get(AuthorisationRequest, request_id)
            if row is None or row.state != "requested":
                raise AuthorisationError("authorisation-unknown", f"no request {request_id!r} waiting for a signature")
            requester = session.get(User, row.requested_by)
            assert requester is not None
            view = _request_view(row, requester.username)
        if not hmac.compare_digest(digest, _view_digest(view)) or view.digest != _view_digest(view):
            raise AuthorisationError(
                "authorisation-changed", "the request is not what was shown for signing: read it again"
            )
        signed = self.add(
            cameras=view.cameras,
            camera_groups=view.camera_groups,
            categories=view.categories,
            subjects=view.subjects,
            starts_at=view.starts_at,
            ends_at=view.ends_at,
            purpose=view.purpose,
            requested_by=view.requested_by,
            authorised_by=authorised_by,
            reason=view.reason,
            review_date=view.review_date,
            thresholds=thresholds,
            source=source,
            authorisation_id=request_id,
            via="control room",
            after=lambda session: self._mark_signed(session, request_id, digest),
        )
        return signed

    @staticmethod
    def _mark_signed(session: Session, request_id: str, digest: str) -> None:
        done = session.execute(
            update(AuthorisationRequest)
            .where(
                AuthorisationRequest.id == request_id,
                AuthorisationRequest.state == "requested",
                AuthorisationRequest.digest == digest,
            )
            .values(state="signed")
        )
        if done.rowcount != 1:  # type: ignore[attr-defined]
            raise AuthorisationError("authorisation-changed", "the request changed or was signed meanwhile")

    @staticmethod
    def _check_known(
        session: Session,
        cameras: Sequence[str],
        camera_groups: Sequence[str],
        categories: Sequence[str],
        subjects: Sequence[str],
    ) -> None:
        if cameras:
            known = set(session.scalars(select(Camera.name).where(Camera.name.in_(cameras))))
            missing = [c for c in cameras if c not in known]
            if missing:
                raise AuthorisationError("authorisation-cameras", f"no registered camera named {', '.join(missing)}")
        known_categories = set(session.scalars(select(Category.name)))
        unknown = [c for c in categories if c not in known_categories]
        if unknown:
            raise AuthorisationError("authorisation-scope", f"unknown category: {', '.join(unknown)}")
        if subjects:
            found = set(session.scalars(select(Subject.id).where(Subject.id.in_(subjects))))
            missing = [x for x in subjects if x not in found]
            if missing:
                raise AuthorisationError("authorisation-scope", f"unknown subjects: {', '.join(missing)}")
        if camera_groups:
            groups = set(session.scalars(select(Camera.group_name).where(Camera.group_name != "")))
            missing = [g for g in camera_groups if g not in groups]
            if missing:
                raise AuthorisationError(
                    "authorisation-cameras", f"no registered camera is in group {', '.join(missing)}"
                )

    @staticmethod
    def _check(
        cameras: Sequence[str],
        camera_groups: Sequence[str],
        categories: Sequence[str],
        subjects: Sequence[str],
        starts_at: datetime,
        ends_at: datetime,
        purpose: str,
        review_date: date | None,
    ) -> None:
        if not cameras and not camera_groups:
            raise AuthorisationError("authorisation-cameras", "name at least one camera or camera group")
        for name in cameras:
            if not CAMERA_NAME.match(name):
                raise AuthorisationError("authorisation-cameras", f"{name!r} is not a camera name")
        if starts_at.tzinfo is None or ends_at.tzinfo is None:
            raise AuthorisationError("authorisation-period", "give the start and end with a timezone")
        if ends_at <= starts_at:
            raise AuthorisationError(
                "authorisation-period", f"the end {ends_at.isoformat()} is not after the start {starts_at.isoformat()}"
            )
        if ends_at - starts_at > REVIEW_AFTER and review_date is None:
            raise AuthorisationError(
                "authorisation-review", f"a period longer than {REVIEW_AFTER.days} days needs a review date"
            )
        if review_date is not None and not (starts_at.date() <= review_date <= ends_at.date()):
            raise AuthorisationError("authorisation-review", "the review date must fall inside the period")
        if not purpose.strip():
            raise AuthorisationError("authorisation-purpose", "state the purpose")
        if not categories and not subjects:
            raise AuthorisationError("authorisation-scope", "name the watchlist scope: categories or subjects")

    @staticmethod
    def _user(session: Session, username: str, rule: str) -> User:
        user = session.scalar(select(User).where(User.username == username.strip().lower()))
        if user is None or not user.active:
            raise AuthorisationError(rule, f"no active user named {username!r}")
        return user

    def all(self) -> list[AuthorisationView]:
        """Every authorisation, newest start first."""
        with self.db.session() as session:
            usernames = _usernames(session)
            rows = session.scalars(select(Authorisation).order_by(Authorisation.starts_at.desc(), Authorisation.id))
            return [_view(r, usernames) for r in rows]

    def get(self, authorisation_id: str) -> AuthorisationView:
        with self.db.session() as session:
            row = session.get(Authorisation, authorisation_id)
            if row is None:
                raise AuthorisationError("authorisation-unknown", f"no authorisation {authorisation_id!r}")
            return _view(row, _usernames(session))

    def end(self, authorisation_id: str, *, by: str, reason: str, source: str = "") -> AuthorisationView:
        """End an authorisation now (scanning under it stops within a second); a scheduled one never starts."""
        if not reason.strip():
            raise AuthorisationError("authorisation-reason", "say why it ends early")
        now = self.clock()
        with self.db.session() as session:
            row = session.get(Authorisation, authorisation_id)
            if row is None:
                raise AuthorisationError("authorisation-unknown", f"no authorisation {authorisation_id!r}")
            ended = session.execute(
                update(Authorisation)
                .where(Authorisation.id == authorisation_id, Authorisation.ended_at.is_(None))
                .where(Authorisation.ends_at > now)
                .values(ended_at=now, ended_by=by[:64], end_reason=reason.strip())
            )
            if ended.rowcount != 1:  # type: ignore[attr-defined]
                raise AuthorisationError("authorisation-over", f"authorisation {authorisation_id} is over already")
            self.audit.record(
                by,
                AuditAction.AUTHORISATION_ENDED,
                object_type="authorisation",
                object_id=authorisation_id,
                source=source,
                details={"reason": reason.strip()},
                session=session,
            )
            session.flush()
            session.refresh(row)
            return _view(row, _usernames(session))

    def due(self, days: float) -> list[AuthorisationView]:
        """Authorisations not over whose end or review date falls within ``days`` (or has passed), soonest first."""
        now = self.clock()
        horizon = now + timedelta(days=days)
        views = [a for a in self.all() if a.until > now]
        due = [
            a for a in views if a.until <= horizon or (a.review_date is not None and a.review_date <= horizon.date())
        ]
        return sorted(due, key=lambda a: min(a.until.date(), a.review_date or a.until.date()))

    def coverage(self, camera: str, at: datetime) -> Coverage:
        with self.db.session() as session:
            group = session.scalar(select(Camera.group_name).where(Camera.name == camera)) or ""
        return coverage_at(self.all(), camera, group, at)

    def results(self) -> list[AuthorisationCounts]:
        """Counts analysed under each authorisation, per camera summed."""
        with self.db.session() as session:
            rows = session.execute(select(AuthorisationCount)).scalars().all()
            totals: dict[str, list[int]] = {}
            for row in rows:
                t = totals.setdefault(row.authorisation_id, [0, 0, 0])
                t[0] += row.frames
                t[1] += row.faces
                t[2] += row.tracks
        return [AuthorisationCounts(a, *t) for a, t in totals.items()]


@dataclass(frozen=True)
class AuthorisationCounts:
    authorisation_id: str
    frames: int
    faces: int
    tracks: int


class AuthorisationCounter:
    """Adds what a camera analysed under an authorisation to its counts (counts only)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, authorisation_id: str, camera: str, *, frames: int, faces: int, tracks: int) -> None:
        with self.db.session() as session:
            row = session.get(AuthorisationCount, (authorisation_id, camera))
            if row is None:
                session.add(
                    AuthorisationCount(
                        authorisation_id=authorisation_id, camera=camera, frames=frames, faces=faces, tracks=tracks
                    )
                )
            else:
                row.frames += frames
                row.faces += faces
                row.tracks += tracks


class AuthorisationBook:
    """The gate the live pipeline asks (``vigil.pipeline.gate.ScanGate``), from the database.

    Keeps the authorisations that are not over, and each camera's group, in memory; ``refresh`` reads
    them again at most every ``refresh_s`` seconds, so one added or ended elsewhere (another process,
    the web) takes effect within that. Boundary instants are exact: coverage is worked out per frame
    from the stored start and end.
    """

    def __init__(self, db: Database, *, refresh_s: float = 1.0, clock: Clock = system_clock) -> None:
        self.db = db
        self.refresh_s = refresh_s
        self.clock = clock
        self._lock = threading.Lock()
        self._authorisations: list[AuthorisationView] = []
        self._groups: dict[str, str] = {}
        self._read_at = -float("inf")
        self.refresh(force=True)

    def refresh(self, *, force: bool = False) -> None:
        if not force and time.monotonic() - self._read_at < self.refresh_s:
            return
        now = self.clock()
        with self.db.session() as session:
            usernames = _usernames(session)
            rows = session.scalars(
                select(Authorisation).where(
                    Authorisation.ends_at > now - timedelta(hours=1),
                    or_(Authorisation.ended_at.is_(None), Authorisation.ended_at > now - timedelta(hours=1)),
                )
            )
            views = [_view(r, usernames) for r in rows]
            groups = dict(session.execute(select(Camera.name, Camera.group_name)).all())
        with self._lock:
            self._authorisations, self._groups = views, groups
            self._read_at = time.monotonic()

    def coverage(self, camera: str, at: float) -> Coverage:
        with self._lock:
            views, group = self._authorisations, self._groups.get(camera, "")
        return coverage_at(views, camera, group, datetime.fromtimestamp(at, UTC))
