"""Local users: argon2id passwords, roles, lockout after repeated failures, sessions and API tokens.

Secrets (passwords, session and API tokens) are never stored: passwords as argon2id hashes, tokens as
their SHA-256. A login that fails ``MAX_FAILURES`` times in a row from one client address locks that address out of
the account for ``LOCKOUT``; ``ACCOUNT_CEILING`` failures from everywhere make each address that failed
wait, doubling (never one that did not: :meth:`UserService.authenticate`); the
same message, after the same work, answers an unknown user, a wrong password, an inactive and a locked
account, so the response says nothing about which usernames exist.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import ColumnElement, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vigil.clock import Clock, system_clock
from vigil.domain.audit import Actor, AuditLog, audit_change
from vigil.domain.vocabulary import AuditAction, Role
from vigil.errors import RuleError, VigilError
from vigil.store.db import Database
from vigil.store.models import AuthToken, LoginFailure, LoginThrottle, User

USERNAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{1,63}$")
MIN_PASSWORD = 12
MAX_FAILURES = 5  # in a row, from one address: that address is locked out of the account
LOCKOUT = timedelta(minutes=15)
ACCOUNT_CEILING = 50  # failures from all addresses within LOCKOUT: the addresses that failed wait, doubling
SIEGE_FIRST_WAIT = timedelta(seconds=2)  # the first wait under a siege; each next one is twice the last
THROTTLE_LIMIT = 10  # failed logins from one address (any usernames) within THROTTLE_WINDOW
THROTTLE_WINDOW = timedelta(minutes=1)
SESSION_LIFETIME = timedelta(hours=12)
API_TOKEN_LIFETIME = timedelta(days=90)
TICKET_LIFETIME = timedelta(seconds=30)  # a live-socket ticket: used once, within this

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))  # checked when there is no usable account: same cost


class UserError(RuleError):
    """A user request that breaks a named rule."""


class LoginFailed(VigilError):
    """Unknown user, wrong password, inactive or locked account: one message for all."""


class LoginThrottled(RuleError):
    """Not checked at all: this address must wait ``retry_after_s`` (rule ``login-throttle`` or
    ``account-under-attack``)."""

    def __init__(self, rule: str, message: str, retry_after_s: int) -> None:
        super().__init__(rule, message)
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class Principal:
    """Who is asking: enough to check roles and to sign decisions."""

    user_id: str
    username: str
    display_name: str
    role: str


@dataclass(frozen=True)
class UserSummary:
    """A user as admins list them, with any grant waiting for a second admin."""

    user_id: str
    username: str
    display_name: str
    role: str
    active: bool
    pending_role: str | None = None
    requested_by: str | None = None
    approved_by: str | None = None


@dataclass(frozen=True)
class TokenInfo:
    """An API token as its owner may see it (never the secret)."""

    id: str
    label: str
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class IssuedToken:
    secret: str  # shown once, never stored
    csrf: str
    expires_at: datetime
    principal: Principal


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def ensure_supervisors(db: Database, *usernames: str) -> tuple[str, ...]:
    """Supervisor accounts with these names (created with random passwords if missing): the two people
    that demos and benchmarks enroll their sample entries under."""
    service = UserService(db)
    for username in usernames:
        with contextlib.suppress(UserError):
            service.add(username, secrets.token_urlsafe(16), Role.SUPERVISOR)
    return usernames


def _token_row(session: Session, *conditions: ColumnElement[bool]) -> tuple[AuthToken, User] | None:
    """The token matching ``conditions`` with its user, live or not."""
    row = session.execute(select(AuthToken, User).join(User, User.id == AuthToken.user_id).where(*conditions)).first()
    return None if row is None else (row[0], row[1])


def _user(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise UserError("user-unknown", f"no user named {username!r}")
    return user


def _check_role(role: str) -> None:
    if role not in tuple(Role):
        raise UserError("role", f"{role!r} is not a role; use one of {', '.join(Role)}")


def _principal(user: User) -> Principal:
    return Principal(user.id, user.username, user.display_name, user.role)


def _summary(user: User) -> UserSummary:
    return UserSummary(
        user.id,
        user.username,
        user.display_name,
        user.role,
        bool(user.active),
        user.pending_role,
        user.requested_by,
        user.approved_by,
    )


class UserService:
    def __init__(self, db: Database, *, clock: Clock = system_clock, audit: AuditLog | None = None) -> None:
        """``audit``: where user changes are recorded, each in the transaction that makes it (given ``by``)."""
        self.db = db
        self.clock = clock
        self.audit = audit

    def _audited(self, session: Session, by: Actor | None, action: AuditAction, user: User, **details: object) -> None:
        audit_change(
            self.audit,
            session,
            by,
            action,
            object_type="user",
            object_id=user.id,
            details={"username": user.username, **details},
        )

    # ------------------------------------------------------------- users
    def add(
        self,
        username: str,
        password: str,
        role: str,
        *,
        display_name: str = "",
        requested_by: str | None = None,
        by: Actor | None = None,
    ) -> Principal:
        """Create a user. With ``requested_by`` (an admin in the control room) the user is created
        inactive, waiting for a *different* admin's :meth:`approve`; without (the server's own
        administrator at the command line, or set-up) it is active at once."""
        username = username.strip().lower()
        if not USERNAME.match(username):
            raise UserError("username", "2-64 lower-case letters, digits, '.', '_' or '-', starting alphanumeric")
        _check_role(role)
        if len(password) < MIN_PASSWORD:
            raise UserError("password", f"at least {MIN_PASSWORD} characters")
        if password.strip().lower() == username:
            raise UserError("password", "must not be the username")
        user = User(
            username=username,
            display_name=display_name.strip() or username,
            role=role,
            password_hash=_hasher.hash(password),
            active=requested_by is None,
            failed_logins=0,
            pending_role=role if requested_by is not None else None,
            requested_by=requested_by,
            requested_at=self.clock() if requested_by is not None else None,
        )
        try:
            with self.db.session() as session:
                session.add(user)
                session.flush()
                action = AuditAction.USER_PROPOSED if requested_by is not None else AuditAction.USER_ADDED
                self._audited(session, by, action, user, role=role)
                return _principal(user)
        except IntegrityError:
            raise UserError("username-taken", f"a user named {username!r} exists already") from None

    def all_users(self) -> list[UserSummary]:
        with self.db.session() as session:
            return [_summary(u) for u in session.scalars(select(User).order_by(User.username))]

    def summary(self, username: str) -> UserSummary:
        with self.db.session() as session:
            user = _user(session, username)
            return _summary(user)

    # ------------------------------------------------------------- grants (two admins)
    def request_role(self, username: str, role: str, *, requested_by: str, by: Actor | None = None) -> UserSummary:
        """Ask for a role change; it takes effect when a different admin approves it."""
        _check_role(role)
        with self.db.session() as session:
            user = _user(session, username)
            if user.role == role and user.pending_role is None:
                raise UserError("role-unchanged", f"{username} has the {role} role already")
            user.pending_role, user.requested_by, user.requested_at = role, requested_by, self.clock()
            self._audited(session, by, AuditAction.USER_ROLE_REQUESTED, user, role=user.role, requested_role=role)
            return _summary(user)

    def approve(self, username: str, *, approver: str, role: str | None = None, by: Actor | None = None) -> UserSummary:
        """A second admin approves the grant waiting on ``username``: a new user becomes active, a role
        change takes effect (the user's sessions and tokens end). ``role``: the role the approver saw
        proposed; a grant changed since is refused (the approval binds to the proposal's content)."""
        with self.db.session() as session:
            user = _user(session, username)
            if user.pending_role is None:
                raise UserError("nothing-pending", f"no grant is waiting on {username}")
            if role is not None and role != user.pending_role:
                raise UserError(
                    "grant-changed", f"the grant waiting on {username} is not the {role} role you saw: read it again"
                )
            admin = session.scalar(select(User).where(User.username == approver))
            if admin is None or not admin.active or admin.role != Role.ADMIN:
                raise UserError("approver", f"{approver!r} is not an active admin")
            if approver in (user.requested_by, user.username):
                raise UserError(
                    "two-admins", "a grant is approved by an admin other than the one who asked (and not by its user)"
                )
            new_user = user.approved_by is None and not user.active and user.role == user.pending_role
            if (
                user.role == Role.ADMIN
                and user.pending_role != Role.ADMIN
                and self._other_admins(session, user.id) == 0
            ):
                raise UserError("last-admin", f"{username} is the last active admin: make another admin first")
            if user.role != user.pending_role:
                session.execute(delete(AuthToken).where(AuthToken.user_id == user.id))
            user.role, user.pending_role, user.approved_by = user.pending_role, None, approver
            if new_user:
                user.active = True
            self._audited(
                session, by, AuditAction.USER_GRANT_APPROVED, user, role=user.role, requested_by=user.requested_by
            )
            return _summary(user)

    def set_password(self, username: str, password: str) -> None:
        if len(password) < MIN_PASSWORD:
            raise UserError("password", f"at least {MIN_PASSWORD} characters")
        with self.db.session() as session:
            user = _user(session, username)
            user.password_hash = _hasher.hash(password)
            session.execute(delete(LoginFailure).where(LoginFailure.username == user.username))  # unlocked
            session.execute(delete(AuthToken).where(AuthToken.user_id == user.id))

    def set_active(self, username: str, active: bool, *, by: Actor | None = None) -> None:
        """Deactivate (its sessions and tokens end) or reactivate a user; the last active admin stays."""
        with self.db.session() as session:
            user = _user(session, username)
            if not active and user.active and user.role == Role.ADMIN and self._other_admins(session, user.id) == 0:
                raise UserError("last-admin", f"{username} is the last active admin: make another admin first")
            user.active = active
            if not active:
                session.execute(delete(AuthToken).where(AuthToken.user_id == user.id))
            self._audited(session, by, AuditAction.USER_REACTIVATED if active else AuditAction.USER_DEACTIVATED, user)

    def set_role(self, username: str, role: str, *, by: Actor | None = None) -> Principal:
        """Change a user's role (their sessions and tokens end: they log in again under the new one)."""
        _check_role(role)
        with self.db.session() as session:
            user = _user(session, username)
            if user.role == Role.ADMIN and role != Role.ADMIN and self._other_admins(session, user.id) == 0:
                raise UserError("last-admin", f"{username} is the last active admin: make another admin first")
            user.role = role
            session.execute(delete(AuthToken).where(AuthToken.user_id == user.id))
            self._audited(session, by, AuditAction.USER_ROLE_CHANGED, user, role=role)
            return _principal(user)

    def set_groups(self, username: str, groups: list[str], *, by: Actor | None = None) -> list[str]:
        """The camera groups (police-station areas) whose red flags the user's field view lists; none: all.
        Each must be a registered camera's group."""
        from vigil.store.models import Camera

        wanted = list(dict.fromkeys(g.strip() for g in groups if g.strip()))
        with self.db.session() as session:
            user = _user(session, username)
            known = set(session.scalars(select(Camera.group_name).where(Camera.group_name != "")))
            missing = [g for g in wanted if g not in known]
            if missing:
                raise UserError("camera-groups", f"no registered camera is in group {', '.join(missing)}")
            user.camera_groups = wanted
            self._audited(session, by, AuditAction.USER_GROUPS_SET, user, camera_groups=wanted)
        return wanted

    def officers_in_groups(self, groups: list[str]) -> list[tuple[UserSummary, list[str]]]:
        """The active operators and supervisors assigned to one of ``groups`` (``set_groups``): those whose
        field view lists a red flag from a camera in them. An officer with no groups sees every area and
        is not listed here (the control room's own staff, typically). With each, the officer's groups."""
        wanted = set(groups)
        if not wanted:
            return []
        with self.db.session() as session:
            rows = session.scalars(
                select(User)
                .where(User.active.is_(True), User.role.in_((Role.OPERATOR, Role.SUPERVISOR)))
                .order_by(User.username)
            ).all()
            return [
                (_summary(u), list(u.camera_groups or [])) for u in rows if wanted.intersection(u.camera_groups or [])
            ]

    def groups_of(self, user_id: str) -> list[str]:
        with self.db.session() as session:
            user = session.get(User, user_id)
            return list(user.camera_groups or []) if user is not None else []

    def set_locale(self, username: str, locale: str | None, *, by: Actor | None = None) -> str | None:
        """The user's language for the pages (None: follow the browser)."""
        from vigil.i18n import LOCALES

        if locale is not None and locale not in LOCALES:
            raise UserError("locale", f"{locale!r}: use one of {', '.join(LOCALES)}")
        with self.db.session() as session:
            user = _user(session, username)
            user.locale = locale
            self._audited(session, by, AuditAction.USER_LOCALE_SET, user, locale=locale)
        return locale

    def locale_of(self, user_id: str) -> str | None:
        with self.db.session() as session:
            user = session.get(User, user_id)
            return user.locale if user is not None else None

    @staticmethod
    def _other_admins(session: Session, user_id: str) -> int:
        return int(
            session.scalar(
                select(func.count())
                .select_from(User)
                .where(User.role == Role.ADMIN, User.active.is_(True), User.id != user_id)
            )
            or 0
        )

    # ------------------------------------------------------------- login
    def authenticate(self, username: str, password: str, *, source: str = "") -> Principal:
        """Check a password from client address ``source``; every rule below is kept in the database, so
        any number of web servers share it.

        * ``THROTTLE_LIMIT`` failed logins from one address within ``THROTTLE_WINDOW`` (whatever the
          usernames): that address is answered :class:`LoginThrottled` until the window ends.
        * ``MAX_FAILURES`` wrong passwords in a row lock the account *for that address* for ``LOCKOUT``;
          attempts refused because the address is locked do not count toward the account.
        * ``ACCOUNT_CEILING`` failures from all addresses within ``LOCKOUT`` (a distributed guess): each
          address that failed on the account within ``LOCKOUT`` is answered :class:`LoginThrottled` with
          a wait that doubles at every try; an address that has not failed is checked as usual, so the
          right password from the officer's desk still logs in.

        Every :class:`LoginFailed` — unknown user, inactive or locked account, wrong password — costs one
        password check, so none is quicker than another. Each lockout and the start of a siege are
        audited once (given an audit log)."""
        now = self.clock()
        name = username.strip().lower()[:64]
        source = source[:64]
        with self.db.session() as session:
            throttle = session.get(LoginThrottle, source)
            fresh = throttle is not None and throttle.window_start > now - THROTTLE_WINDOW
            if fresh and throttle is not None and throttle.failures >= THROTTLE_LIMIT:
                wait = (throttle.window_start + THROTTLE_WINDOW - now).total_seconds()
                raise LoginThrottled(
                    "login-throttle",
                    f"{THROTTLE_LIMIT} failed logins from this address within a minute: wait",
                    max(1, math.ceil(wait)),
                )
            user = session.scalar(select(User).where(User.username == name))
            pair = session.get(LoginFailure, (name, source)) if user is not None else None
            locked = pair is not None and pair.locked_until is not None and pair.locked_until > now
            recent = self._recent_failures(session, name, now) if user is not None else 0
            siege = recent >= ACCOUNT_CEILING
            if siege and pair is not None and pair.last_at > now - LOCKOUT and not locked:
                self._refuse_under_siege(session, pair, now)
            usable = user is not None and user.active and not locked
            try:
                _hasher.verify(user.password_hash if usable and user is not None else _DUMMY_HASH, password)
                right = usable
            except (VerificationError, InvalidHashError):
                right = False
            if not right:
                self._count_throttle(session, throttle, source, now)
                if user is not None and not locked:  # a locked address's tries do not count toward the account
                    pair = self._count_failure(session, pair, name, source, now)
                    if pair.locked_until == now + LOCKOUT:  # locked by this failure: audited once
                        self._audit_login(session, AuditAction.LOGIN_LOCKED, name, source, until=pair.locked_until)
                    if siege and pair.retry_at is not None:  # failed again after its wait: the next is twice as long
                        pair.refused = (pair.refused or 0) + 1
                        pair.retry_at = now + min(SIEGE_FIRST_WAIT * 2 ** (pair.refused - 1), LOCKOUT)
                    if recent < ACCOUNT_CEILING <= recent + 1:  # the siege starts with this failure
                        self._audit_login(session, AuditAction.LOGIN_SIEGE, name, source, failures=recent + 1)
                session.commit()  # kept although the login fails (the session rolls back on raise)
                raise LoginFailed("wrong username or password, or the account is locked")
            assert user is not None
            if pair is not None:
                session.delete(pair)
            if _hasher.check_needs_rehash(user.password_hash):
                user.password_hash = _hasher.hash(password)
            return _principal(user)

    def _audit_login(self, session: Session, action: AuditAction, name: str, source: str, **details: object) -> None:
        if self.audit is not None:
            clean = {k: v.isoformat() if isinstance(v, datetime) else v for k, v in details.items()}
            self.audit.record(
                name, action, object_type="user", object_id=name, source=source, details=clean, session=session
            )

    @staticmethod
    def _refuse_under_siege(session: Session, pair: LoginFailure, now: datetime) -> None:
        """An address that failed on an account now under a distributed guess: 429 until its wait is over
        (a first wait of ``SIEGE_FIRST_WAIT``; each failure after a wait doubles the next)."""
        if pair.retry_at is None:
            pair.refused, pair.retry_at = 1, now + SIEGE_FIRST_WAIT
            session.commit()
        if pair.retry_at > now:
            raise LoginThrottled(
                "account-under-attack",
                "this account is under a distributed password guess and this address failed on it: wait",
                max(1, math.ceil((pair.retry_at - now).total_seconds())),
            )

    @staticmethod
    def _recent_failures(session: Session, username: str, now: datetime) -> int:
        recent = session.scalar(
            select(func.coalesce(func.sum(LoginFailure.failures), 0)).where(
                LoginFailure.username == username, LoginFailure.last_at > now - LOCKOUT
            )
        )
        return int(recent or 0)

    @staticmethod
    def _count_throttle(session: Session, row: LoginThrottle | None, source: str, now: datetime) -> None:
        if row is None:
            session.add(LoginThrottle(source=source, window_start=now, failures=1))
        elif row.window_start <= now - THROTTLE_WINDOW:
            row.window_start, row.failures = now, 1
        else:
            row.failures += 1

    @staticmethod
    def _count_failure(
        session: Session, pair: LoginFailure | None, username: str, source: str, now: datetime
    ) -> LoginFailure:
        if pair is None:
            pair = LoginFailure(username=username, source=source, failures=0, last_at=now, refused=0)
            session.add(pair)
        elif pair.locked_until is not None and pair.locked_until <= now:  # the lock ran out: count afresh
            pair.failures, pair.locked_until = 0, None
        pair.failures += 1
        pair.last_at = now
        if pair.failures >= MAX_FAILURES and pair.locked_until is None:
            pair.locked_until = now + LOCKOUT
        return pair

    def issue(
        self, principal: Principal, kind: str = "session", *, label: str = "", by: Actor | None = None
    ) -> IssuedToken:
        """A session or API token (``by``: audit an API token's issue with it, in its transaction)."""
        lifetime = SESSION_LIFETIME if kind == "session" else API_TOKEN_LIFETIME
        secret = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(24) if kind == "session" else ""
        expires = self.clock() + lifetime
        with self.db.session() as session:
            session.add(
                AuthToken(
                    token_hash=_digest(secret),
                    user_id=principal.user_id,
                    kind=kind,
                    csrf_token=csrf,
                    label=label,
                    expires_at=expires,
                )
            )
            if kind == "api":
                audit_change(
                    self.audit,
                    session,
                    by,
                    AuditAction.API_TOKEN_ISSUED,
                    object_type="user",
                    object_id=principal.user_id,
                    details={"label": label},
                )
        return IssuedToken(secret, csrf, expires, principal)

    def resolve(self, secret: str, kind: str) -> tuple[Principal, str] | None:
        """The principal and CSRF token behind a live token of ``kind``; None if unknown or expired."""
        if not secret:
            return None
        with self.db.session() as session:
            row = _token_row(session, AuthToken.token_hash == _digest(secret), AuthToken.kind == kind)
            if row is None or not self._live(*row):
                return None
            token, user = row
            return _principal(user), token.csrf_token

    def _live(self, token: AuthToken, user: User) -> bool:
        """Neither expired nor belonging to a deactivated user."""
        return token.expires_at > self.clock() and user.active

    def revoke(self, secret: str, *, by: Actor | None = None) -> None:
        """End a session or revoke an API token by its secret (audited with ``by``: logout, revocation)."""
        with self.db.session() as session:
            kind = session.scalar(select(AuthToken.kind).where(AuthToken.token_hash == _digest(secret)))
            session.execute(delete(AuthToken).where(AuthToken.token_hash == _digest(secret)))
            if kind is not None:
                audit_change(
                    self.audit, session, by, AuditAction.LOGOUT if kind == "session" else AuditAction.API_TOKEN_REVOKED
                )

    # ------------------------------------------------------------- API tokens and socket tickets
    def api_tokens(self, user_id: str) -> list[TokenInfo]:
        with self.db.session() as session:
            rows = session.scalars(
                select(AuthToken)
                .where(AuthToken.user_id == user_id, AuthToken.kind == "api")
                .order_by(AuthToken.created_at)
            )
            return [TokenInfo(t.id, t.label, t.created_at, t.expires_at) for t in rows]

    def revoke_token(self, token_id: str, *, owner_id: str | None, by: Actor | None = None) -> bool:
        """Revoke an API token by id (``owner_id`` None: anyone's, for admins); whether one went."""
        query = delete(AuthToken).where(AuthToken.id == token_id, AuthToken.kind == "api")
        if owner_id is not None:
            query = query.where(AuthToken.user_id == owner_id)
        with self.db.session() as session:
            gone = bool(session.execute(query).rowcount)  # type: ignore[attr-defined]
            if gone:
                audit_change(
                    self.audit, session, by, AuditAction.API_TOKEN_REVOKED, object_type="token", object_id=token_id
                )
            return gone

    def issue_ticket(self, secret: str, kind: str) -> tuple[str, datetime] | None:
        """A single-use ticket for opening the live socket, valid ``TICKET_LIFETIME``, tied to the live
        session or API token ``secret`` (so the socket never carries that secret in its URL)."""
        if not secret:
            return None
        ticket = secrets.token_urlsafe(32)
        expires = self.clock() + TICKET_LIFETIME
        with self.db.session() as session:
            row = _token_row(session, AuthToken.token_hash == _digest(secret), AuthToken.kind == kind)
            if row is None or not self._live(*row):
                return None
            parent = row[0]
            session.add(
                AuthToken(
                    token_hash=_digest(ticket),
                    user_id=parent.user_id,
                    kind="ticket",
                    parent_id=parent.id,
                    expires_at=expires,
                )
            )
        return ticket, expires

    def redeem_ticket(self, ticket: str) -> tuple[Principal, str] | None:
        """The principal and the parent token's id behind a live ticket, which is used up here."""
        if not ticket:
            return None
        with self.db.session() as session:
            row = _token_row(session, AuthToken.token_hash == _digest(ticket), AuthToken.kind == "ticket")
            if row is None:
                return None
            token, user = row
            used = session.execute(delete(AuthToken).where(AuthToken.id == token.id)).rowcount  # type: ignore[attr-defined]
            if not used or not self._live(token, user) or token.parent_id is None:
                return None
            return _principal(user), token.parent_id

    def resolve_id(self, token_id: str) -> Principal | None:
        """The principal behind a live session or API token, by its id (a socket re-checking its credential)."""
        with self.db.session() as session:
            row = _token_row(session, AuthToken.id == token_id)
            if row is None or not self._live(*row):
                return None
            return _principal(row[1])
