"""Where red flags are sent, as admins configure it: endpoints (webhooks, MQTT brokers) and the routing
rules that say which events go to each and what of them leaves Vigil. Bad configuration is refused
with an error naming the field, and nothing is saved; every change is audited in its transaction.

A webhook's signing secret is generated here when none is given and shown once (``EndpointAdded``);
afterwards it is never shown again (the receiver keeps it). An MQTT endpoint is checked against its
broker before it is saved (``check``: a broker that refuses the credentials is refused here).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import math
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vigil.domain.audit import Actor, AuditLog, audit_change
from vigil.domain.vocabulary import AuditAction, EndpointKind, EventKind, Role
from vigil.errors import RuleError
from vigil.netguard import Networks, OutboundRefused, Resolver, Target, checked_addresses
from vigil.redaction import redact_url
from vigil.store.db import Database
from vigil.store.models import AuditEvent, Camera, Category, NotifyEndpoint, NotifyRule, User

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
KEY_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
TOPIC_PREFIX = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$")  # no wildcards, no empty levels
MIN_RETRY_FOR_S = 86_400.0  # every endpoint is retried for at least a day
RULE_EVENT_KINDS = tuple(k for k in EventKind if k != EventKind.CAMERA_STATE)
DEFAULT_EVENT_KINDS = (EventKind.RAISED,)


class ChannelError(RuleError):
    """A notification setting broke a rule; ``rule`` names the field."""


class RuleState(StrEnum):
    PROPOSED = "proposed"
    APPROVED = "approved"


@dataclass(frozen=True)
class EndpointSpec:
    """An endpoint as asked for (checked by :func:`check_endpoint`)."""

    name: str
    kind: str
    url: str
    key_id: str = "k1"
    secret: str = ""
    username: str = ""
    topic_prefix: str = "vigil"
    timeout_s: float = 5.0
    concurrency: int = 4
    retry_for_s: float = MIN_RETRY_FOR_S


@dataclass(frozen=True)
class EndpointView:
    """An endpoint as it may be shown: the URL without credentials, never the secret."""

    id: str
    name: str
    kind: str
    url: str
    key_id: str
    username: str
    topic_prefix: str
    timeout_s: float
    concurrency: int
    retry_for_s: float
    active: bool
    created_by: str
    suspended: str = ""  # why nothing is sent to it (its address fails the outbound guard); empty: not


@dataclass(frozen=True)
class EndpointAdded:
    endpoint: EndpointView
    secret: str  # shown this once (a webhook's signing key)


@dataclass(frozen=True)
class RuleView:
    id: str
    name: str
    endpoint: str
    event_kinds: tuple[str, ...]
    categories: tuple[str, ...]
    camera_groups: tuple[str, ...]
    min_score: float | None
    include_crop: bool
    include_photo: bool
    active: bool
    created_by: str
    state: str = RuleState.APPROVED  # proposed: carries images and waits for a second admin
    approved_by: str = ""
    digest: str = ""  # of what was proposed: the approval names it


@dataclass(frozen=True)
class EndpointSecrets:
    """What a deliverer needs to reach an endpoint (never shown)."""

    id: str
    name: str
    kind: str
    url: str
    key_id: str
    secret: str
    username: str
    topic_prefix: str
    timeout_s: float
    concurrency: int
    allowed: Networks = ()  # the networks the outbound guard lets through for it (the server's setting)


BrokerCheck = Callable[[EndpointSpec, Networks], None]  # raises ChannelError when the broker refuses
BROKER_CHECKS = 5  # connection checks per user within BROKER_CHECK_WINDOW (each audited)
BROKER_CHECK_WINDOW = timedelta(minutes=10)


class ChannelRefused(ChannelError):
    """Refused by a rule that is not a field's format: ``status`` is the HTTP answer (403, 409, 429)."""

    def __init__(self, rule: str, message: str, status: int, field: str = "") -> None:
        super().__init__(rule, message)
        self.status = status
        self.field = field


def rule_digest(
    name: str,
    endpoint: str,
    event_kinds: Sequence[str],
    categories: Sequence[str],
    camera_groups: Sequence[str],
    min_score: float | None,
    include_crop: bool,
    include_photo: bool,
) -> str:
    """SHA-256 of a rule's content: what an approval binds to (any change gives another digest)."""
    content = [name, endpoint, list(event_kinds), list(categories), list(camera_groups), min_score]
    content += [bool(include_crop), bool(include_photo)]
    return hashlib.sha256(json.dumps(content, separators=(",", ":")).encode()).hexdigest()


def _is_host(host: str) -> bool:
    if not host:
        return False
    try:
        ipaddress.ip_address(host.strip("[]"))
        return True
    except ValueError:
        return all(re.fullmatch(r"[A-Za-z0-9-]{1,63}", part) for part in host.rstrip(".").split("."))


def check_endpoint(spec: EndpointSpec) -> EndpointSpec:
    """The spec, or a ChannelError naming the first bad field."""
    if not NAME.match(spec.name):
        raise ChannelError("name", f"{spec.name!r}: use 1-64 letters, digits, '.', '_' or '-', starting alphanumeric")
    if spec.kind not in tuple(EndpointKind):
        raise ChannelError("kind", f"{spec.kind!r}: use one of {', '.join(EndpointKind)}")
    try:
        parts = urlsplit(spec.url)
        port = parts.port
    except ValueError as exc:
        raise ChannelError("url", f"not a URL: {exc}") from None
    schemes = ("http", "https") if spec.kind == EndpointKind.WEBHOOK else ("mqtt", "mqtts")
    if parts.scheme not in schemes:
        raise ChannelError("url", f"a {spec.kind} URL starts with {' or '.join(s + '://' for s in schemes)}")
    if not _is_host(parts.hostname or ""):
        raise ChannelError("url", "the URL names no valid host")
    if port is not None and not 0 < port < 65536:
        raise ChannelError("url", f"port {port} is outside 1-65535")
    if parts.username or parts.password:
        field = "secret" if spec.kind == EndpointKind.WEBHOOK else "username"
        raise ChannelError("url", f"put no credentials in the URL: give them as {field}")
    if spec.kind == EndpointKind.MQTT and parts.path not in ("", "/"):
        raise ChannelError("url", "an MQTT URL has no path: the topics start at topic_prefix")
    if not KEY_ID.match(spec.key_id):
        raise ChannelError("key_id", "use 1-64 letters, digits, '.', '_' or '-'")
    if spec.kind == EndpointKind.WEBHOOK and spec.secret and len(spec.secret) < 16:
        raise ChannelError("secret", "a signing secret has at least 16 characters (leave it out to have one made)")
    if len(spec.username) > 128:
        raise ChannelError("username", "at most 128 characters")
    if spec.kind == EndpointKind.MQTT and not TOPIC_PREFIX.match(spec.topic_prefix):
        raise ChannelError("topic_prefix", "levels of letters, digits, '.', '_' or '-' joined by '/', no wildcards")
    if not (math.isfinite(spec.timeout_s) and 0.1 <= spec.timeout_s <= 60):
        raise ChannelError("timeout_s", "between 0.1 and 60 seconds")
    if not 1 <= spec.concurrency <= 64:
        raise ChannelError("concurrency", "between 1 and 64 requests at a time")
    if not (math.isfinite(spec.retry_for_s) and MIN_RETRY_FOR_S <= spec.retry_for_s <= 30 * 86_400):
        raise ChannelError("retry_for_s", f"between {MIN_RETRY_FOR_S:g} s (a day) and 30 days")
    return spec


def _endpoint_view(row: NotifyEndpoint) -> EndpointView:
    return EndpointView(
        id=row.id,
        name=row.name,
        kind=row.kind,
        url=redact_url(row.url),
        key_id=row.key_id,
        username=row.username,
        topic_prefix=row.topic_prefix,
        timeout_s=row.timeout_s,
        concurrency=row.concurrency,
        retry_for_s=row.retry_for_s,
        active=row.active,
        created_by=row.created_by,
        suspended=row.suspended or "",
    )


def _rule_view(row: NotifyRule, endpoint: str) -> RuleView:
    return RuleView(
        id=row.id,
        name=row.name,
        endpoint=endpoint,
        event_kinds=tuple(row.event_kinds or ()),
        categories=tuple(row.categories or ()),
        camera_groups=tuple(row.camera_groups or ()),
        min_score=row.min_score,
        include_crop=row.include_crop,
        include_photo=row.include_photo,
        active=row.active,
        created_by=row.created_by,
        state=row.state or RuleState.APPROVED,
        approved_by=row.approved_by or "",
        digest=_row_digest(row, endpoint),
    )


def _row_digest(row: NotifyRule, endpoint: str) -> str:
    return rule_digest(
        row.name,
        endpoint,
        row.event_kinds or (),
        row.categories or (),
        row.camera_groups or (),
        row.min_score,
        row.include_crop,
        row.include_photo,
    )


def _names(values: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(v.strip() for v in values if v.strip()))


class ChannelService:
    def __init__(
        self,
        db: Database,
        *,
        audit: AuditLog | None = None,
        broker_check: BrokerCheck | None = None,
        allowed: Networks = (),
        resolver: Resolver | None = None,
    ) -> None:
        """``allowed``: the networks the outbound guard lets webhooks and brokers reach although private
        (VIGIL_OUTBOUND_ALLOWED_NETWORKS); ``resolver``: how names are looked up (the system's)."""
        self.db = db
        self.audit = audit
        self.broker_check = broker_check
        self.allowed = allowed
        self.resolver = resolver

    def _audit(self, by: Actor, action: AuditAction, name: str, **details: object) -> None:
        if self.audit is not None:
            self.audit.record(
                by.username, action, object_type="notify-endpoint", object_id=name, source=by.source, details=details
            )

    def guard(self, spec: EndpointSpec, *, by: Actor) -> None:
        """The outbound guard on an endpoint's host, as it is saved (refusals audited)."""
        target = Target.WEBHOOK if spec.kind == EndpointKind.WEBHOOK else Target.BROKER
        host = urlsplit(spec.url).hostname or ""
        try:
            # a name that does not resolve here may at delivery: every connection is checked again then
            checked_addresses(host, target, self.allowed, resolver=self.resolver, unresolved_ok=True)
        except OutboundRefused as exc:
            self._audit(by, AuditAction.OUTBOUND_REFUSED, spec.name, target=redact_url(spec.url), reason=exc.detail)
            raise ChannelRefused(exc.rule, exc.detail, 422, field="url") from None

    def _check_broker(self, spec: EndpointSpec, *, by: Actor) -> None:
        """Connect to the broker once (rate-limited per user; every attempt audited with its result)."""
        assert self.broker_check is not None
        target = redact_url(spec.url)
        if self.audit is not None:
            self._count_broker_check(spec, target, by=by)
        try:
            self.broker_check(spec, self.allowed)
        except OutboundRefused as exc:
            self._audit(by, AuditAction.NOTIFY_BROKER_CHECKED, spec.name, target=target, result=f"guard: {exc.detail}")
            raise ChannelRefused(exc.rule, exc.detail, 422, field="url") from None
        except ChannelError as exc:
            self._audit(by, AuditAction.NOTIFY_BROKER_CHECKED, spec.name, target=target, result=str(exc)[:200])
            raise
        self._audit(by, AuditAction.NOTIFY_BROKER_CHECKED, spec.name, target=target, result="connected")

    def _count_broker_check(self, spec: EndpointSpec, target: str, *, by: Actor) -> None:
        """Count ``by``'s broker checks in the window and record this one (``notify-broker-check``) in one
        transaction under the audit log's write lock, before connecting: parallel requests cannot all
        pass the same count. Past the limit the refusal is recorded instead and ChannelRefused raised."""
        assert self.audit is not None
        since = datetime.now(UTC) - BROKER_CHECK_WINDOW
        with self.db.session() as session, self.audit.exclusive(session):
            attempts = session.scalar(
                select(func.count())
                .select_from(AuditEvent)
                .where(
                    AuditEvent.actor == by.username,
                    AuditEvent.action == AuditAction.NOTIFY_BROKER_CHECK,
                    AuditEvent.at >= since,
                )
            )
            allowed = int(attempts or 0) < BROKER_CHECKS
            action = AuditAction.NOTIFY_BROKER_CHECK if allowed else AuditAction.NOTIFY_BROKER_CHECKED
            details = {"target": target} if allowed else {"target": target, "result": "rate-limited"}
            self.audit.record(
                by.username,
                action,
                object_type="notify-endpoint",
                object_id=spec.name,
                source=by.source,
                details=details,
                session=session,
            )
        if not allowed:
            minutes = int(BROKER_CHECK_WINDOW.total_seconds() // 60)
            raise ChannelRefused(
                "broker-check-rate", f"at most {BROKER_CHECKS} broker checks per user in {minutes} minutes", 429
            )

    # ------------------------------------------------------------ endpoints
    def add_endpoint(self, spec: EndpointSpec, *, by: Actor, check: bool = True) -> EndpointAdded:
        spec = check_endpoint(spec)
        secret = spec.secret
        if spec.kind == EndpointKind.WEBHOOK and not secret:
            secret = secrets.token_urlsafe(32)
        if spec.kind == EndpointKind.MQTT and check and self.broker_check is not None:
            self._check_broker(spec, by=by)  # guarded; a refusing or unreachable broker: nothing is saved
        else:
            self.guard(spec, by=by)
        with self.db.session() as session:
            if session.scalar(select(NotifyEndpoint.id).where(NotifyEndpoint.name == spec.name)) is not None:
                raise ChannelError("name", f"an endpoint {spec.name!r} exists already")
            row = NotifyEndpoint(
                name=spec.name,
                kind=spec.kind,
                url=spec.url,
                key_id=spec.key_id,
                secret=secret,
                username=spec.username,
                topic_prefix=spec.topic_prefix,
                timeout_s=spec.timeout_s,
                concurrency=spec.concurrency,
                retry_for_s=spec.retry_for_s,
                created_by=by.username,
            )
            session.add(row)
            try:
                session.flush()
            except IntegrityError:
                raise ChannelError("name", f"an endpoint {spec.name!r} exists already") from None
            view = _endpoint_view(row)
            audit_change(
                self.audit,
                session,
                by,
                AuditAction.NOTIFY_ENDPOINT_ADDED,
                object_type="notify-endpoint",
                object_id=spec.name,
                details={
                    "kind": spec.kind,
                    "url": view.url,
                    "key_id": spec.key_id,
                    "timeout_s": spec.timeout_s,
                    "concurrency": spec.concurrency,
                    "retry_for_s": spec.retry_for_s,
                },
            )
        return EndpointAdded(view, secret if spec.kind == EndpointKind.WEBHOOK and not spec.secret else "")

    def endpoints(self) -> list[EndpointView]:
        with self.db.session() as session:
            return [_endpoint_view(r) for r in session.scalars(select(NotifyEndpoint).order_by(NotifyEndpoint.name))]

    def remove_endpoint(self, name: str, *, by: Actor) -> None:
        """Remove an endpoint with its rules and its undelivered events (audited)."""
        with self.db.session() as session:
            row = session.scalar(select(NotifyEndpoint).where(NotifyEndpoint.name == name))
            if row is None:
                raise ChannelError("endpoint", f"no endpoint {name!r}")
            session.delete(row)
            audit_change(
                self.audit,
                session,
                by,
                AuditAction.NOTIFY_ENDPOINT_REMOVED,
                object_type="notify-endpoint",
                object_id=name,
            )

    def delivery_targets(self) -> dict[str, EndpointSecrets]:
        """Every active endpoint with what is needed to reach it, by id."""
        with self.db.session() as session:
            rows = session.scalars(
                select(NotifyEndpoint).where(NotifyEndpoint.active.is_(True), NotifyEndpoint.suspended == "")
            ).all()
            return {
                r.id: EndpointSecrets(
                    r.id,
                    r.name,
                    r.kind,
                    r.url,
                    r.key_id,
                    r.secret,
                    r.username,
                    r.topic_prefix,
                    r.timeout_s,
                    r.concurrency,
                    self.allowed,
                )
                for r in rows
            }

    # ------------------------------------------------------------ rules
    def add_rule(
        self,
        name: str,
        endpoint: str,
        *,
        by: Actor,
        event_kinds: Sequence[str] = DEFAULT_EVENT_KINDS,
        categories: Sequence[str] = (),
        camera_groups: Sequence[str] = (),
        min_score: float | None = None,
        include_crop: bool = False,
        include_photo: bool = False,
        approved_by: str = "",
    ) -> RuleView:
        """A rule; one that sends images (``include_crop``, ``include_photo``) is *proposed* and delivers
        nothing until a different admin approves it (:meth:`approve_rule`), unless ``approved_by`` names
        that admin already (the command line's scriptable path)."""
        if not NAME.match(name):
            raise ChannelError("name", f"{name!r}: use 1-64 letters, digits, '.', '_' or '-', starting alphanumeric")
        kinds, cats, groups = _names(event_kinds), _names(categories), _names(camera_groups)
        if not kinds:
            raise ChannelError("event_kinds", f"name at least one of {', '.join(RULE_EVENT_KINDS)}")
        unknown = [k for k in kinds if k not in RULE_EVENT_KINDS]
        if unknown:
            raise ChannelError("event_kinds", f"unknown {', '.join(unknown)}: use {', '.join(RULE_EVENT_KINDS)}")
        if min_score is not None and not (math.isfinite(min_score) and -1.0 <= min_score <= 1.0):
            raise ChannelError("min_score", "a similarity between -1 and 1")
        with self.db.session() as session:
            target = session.scalar(select(NotifyEndpoint).where(NotifyEndpoint.name == endpoint))
            if target is None:
                raise ChannelError("endpoint", f"no endpoint {endpoint!r}")
            known = set(session.scalars(select(Category.name)))
            missing = [c for c in cats if c not in known]
            if missing:
                raise ChannelError("categories", f"no category {', '.join(missing)}")
            known_groups = set(session.scalars(select(Camera.group_name).where(Camera.group_name != "")))
            missing = [g for g in groups if g not in known_groups]
            if missing:
                raise ChannelError("camera_groups", f"no registered camera is in group {', '.join(missing)}")
            if session.scalar(select(NotifyRule.id).where(NotifyRule.name == name)) is not None:
                raise ChannelError("name", f"a rule {name!r} exists already")
            images = include_crop or include_photo
            approved = approved_by.strip() if approved_by else ""
            if images and approved:  # the server's operator names both admins at the command line
                self._second_admin(session, approved, by.username)
            state = RuleState.PROPOSED if images and not approved else RuleState.APPROVED
            row = NotifyRule(
                state=state,
                approved_by=approved if images else "",
                name=name,
                endpoint_id=target.id,
                event_kinds=kinds,
                categories=cats,
                camera_groups=groups,
                min_score=min_score,
                include_crop=include_crop,
                include_photo=include_photo,
                created_by=by.username,
            )
            session.add(row)
            session.flush()
            view = _rule_view(row, target.name)
            audit_change(
                self.audit,
                session,
                by,
                AuditAction.NOTIFY_RULE_ADDED,
                object_type="notify-rule",
                object_id=name,
                details={
                    "endpoint": endpoint,
                    "event_kinds": kinds,
                    "categories": cats,
                    "camera_groups": groups,
                    "min_score": min_score,
                    "include_crop": include_crop,
                    "include_photo": include_photo,
                    "state": view.state,
                    "approved_by": view.approved_by,
                    "digest": view.digest,
                },
            )
        return view

    @staticmethod
    def _second_admin(session: Session, approver: str, proposer: str) -> None:
        user = session.scalar(select(User).where(User.username == approver.strip().lower()))
        if user is None or not user.active or user.role != Role.ADMIN:
            raise ChannelRefused("approver", f"{approver!r} is not an active admin", 403)
        if user.username == proposer:
            raise ChannelRefused(
                "two-admins", "a rule that sends images is approved by an admin other than its proposer", 403
            )

    def approve_rule(self, name: str, *, digest: str, by: Actor) -> RuleView:
        """A different admin approves a proposed rule *as it was proposed*: ``digest`` is the one shown with
        it; a rule changed since gives another digest and the approval is refused."""
        with self.db.session() as session:
            found = session.execute(
                select(NotifyRule, NotifyEndpoint.name)
                .join(NotifyEndpoint, NotifyEndpoint.id == NotifyRule.endpoint_id)
                .where(NotifyRule.name == name)
            ).first()
            if found is None:
                raise ChannelRefused("rule", f"no rule {name!r}", 404)
            row, endpoint = found
            if row.state != RuleState.PROPOSED:
                raise ChannelRefused("nothing-proposed", f"rule {name!r} is not waiting for an approval", 409)
            if not hmac.compare_digest(digest, _row_digest(row, endpoint)):
                raise ChannelRefused(
                    "proposal-changed", f"rule {name!r} is not what was shown for approval: read it again", 409
                )
            if row.created_by == by.username:
                raise ChannelRefused(
                    "two-admins", "a rule that sends images is approved by an admin other than its proposer", 403
                )
            self._second_admin(session, by.username, row.created_by)
            row.state, row.approved_by = RuleState.APPROVED, by.username
            view = _rule_view(row, endpoint)
            audit_change(
                self.audit,
                session,
                by,
                AuditAction.NOTIFY_RULE_APPROVED,
                object_type="notify-rule",
                object_id=name,
                details={"digest": view.digest, "proposed_by": row.created_by},
            )
        return view

    def rules(self) -> list[RuleView]:
        with self.db.session() as session:
            rows = session.execute(
                select(NotifyRule, NotifyEndpoint.name)
                .join(NotifyEndpoint, NotifyEndpoint.id == NotifyRule.endpoint_id)
                .order_by(NotifyRule.name)
            ).all()
            return [_rule_view(rule, endpoint) for rule, endpoint in rows]

    def remove_rule(self, name: str, *, by: Actor) -> None:
        with self.db.session() as session:
            row = session.scalar(select(NotifyRule).where(NotifyRule.name == name))
            if row is None:
                raise ChannelError("rule", f"no rule {name!r}")
            session.delete(row)
            audit_change(
                self.audit, session, by, AuditAction.NOTIFY_RULE_REMOVED, object_type="notify-rule", object_id=name
            )

    # ------------------------------------------------------------ escalation
    def set_ack_time(self, category: str, seconds: float | None, *, by: Actor) -> float | None:
        """How long a red flag of ``category`` may wait unacknowledged before it escalates (None: never)."""
        if seconds is not None and not (math.isfinite(seconds) and 1 <= seconds <= 86_400):
            raise ChannelError("ack_within_s", "between 1 second and a day (or none: never escalate)")
        with self.db.session() as session:
            row = session.get(Category, category)
            if row is None:
                raise ChannelError("category", f"no category {category!r}")
            before, row.ack_within_s = row.ack_within_s, seconds
            audit_change(
                self.audit,
                session,
                by,
                AuditAction.CATEGORY_ACK_TIME_SET,
                object_type="category",
                object_id=category,
                details={"before": before, "after": seconds},
            )
        return seconds

    def ack_times(self) -> dict[str, float | None]:
        with self.db.session() as session:
            return dict(session.execute(select(Category.name, Category.ack_within_s).order_by(Category.name)).all())
