"""Webhook signatures: HMAC-SHA256 over ``"{timestamp}.{body}"`` with the endpoint's secret, sent with
the key id so a receiver can hold two keys while rotating. Pure; receivers may use :func:`verify` and
:class:`ReplayGuard` (docs/notifications.md says how to do the same in any language).

Headers on every delivery::

    Vigil-Event-Id:   the idempotency key (the same on every retry of one event to one endpoint)
    Vigil-Timestamp:  Unix seconds when this attempt was signed
    Vigil-Signature:  keyid=<key id>,t=<timestamp>,v1=<hex HMAC-SHA256>

A signature older (or newer) than the receiver's tolerance is *stale*; one seen before is a *replay*.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections import OrderedDict
from collections.abc import Mapping

EVENT_ID_HEADER = "Vigil-Event-Id"
TIMESTAMP_HEADER = "Vigil-Timestamp"
SIGNATURE_HEADER = "Vigil-Signature"
DEFAULT_TOLERANCE_S = 300


class SignatureError(ValueError):
    """Why a delivery's signature is not accepted: ``reason`` is malformed, unknown-key, stale, mismatch or
    replay."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"[{reason}] {message}")
        self.reason = reason


def signature(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()


def signed_headers(secret: str, key_id: str, event_id: str, body: bytes, *, now: float | None = None) -> dict[str, str]:
    timestamp = int(time.time() if now is None else now)
    return {
        EVENT_ID_HEADER: event_id,
        "Idempotency-Key": event_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: f"keyid={key_id},t={timestamp},v1={signature(secret, timestamp, body)}",
    }


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name.lower():
            return value
    return None


def verify(
    headers: Mapping[str, str],
    body: bytes,
    secrets: Mapping[str, str],
    *,
    now: float | None = None,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
) -> tuple[str, str]:
    """(key id, event id) of a delivery whose signature is good and fresh; else SignatureError."""
    raw = _header(headers, SIGNATURE_HEADER)
    event_id = _header(headers, EVENT_ID_HEADER)
    if not raw or not event_id:
        raise SignatureError("malformed", f"no {SIGNATURE_HEADER} or {EVENT_ID_HEADER} header")
    fields = dict(part.strip().partition("=")[::2] for part in raw.split(","))
    key_id, stamp, given = fields.get("keyid", ""), fields.get("t", ""), fields.get("v1", "")
    if not stamp.isdigit() or not given:
        raise SignatureError("malformed", f"{SIGNATURE_HEADER} needs keyid, t and v1")
    secret = secrets.get(key_id)
    if secret is None:
        raise SignatureError("unknown-key", f"no secret for key id {key_id!r}")
    current = time.time() if now is None else now
    if abs(current - int(stamp)) > tolerance_s:
        raise SignatureError("stale", f"signed {current - int(stamp):.0f} s ago (tolerance {tolerance_s:g} s)")
    if not hmac.compare_digest(signature(secret, int(stamp), body), given):
        raise SignatureError("mismatch", "the signature does not match the body")
    return key_id, event_id


class ReplayGuard:
    """Remembers the signatures accepted within the tolerance: the same one again is a replay. (A retry
    of an event is signed afresh, so it is no replay: receivers deduplicate events by ``Vigil-Event-Id``.)"""

    def __init__(self, *, tolerance_s: float = DEFAULT_TOLERANCE_S, remember: int = 100_000) -> None:
        self.tolerance_s = tolerance_s
        self.remember = remember
        self._seen: OrderedDict[str, float] = OrderedDict()

    def check(self, headers: Mapping[str, str], *, now: float | None = None) -> None:
        raw = _header(headers, SIGNATURE_HEADER) or ""
        current = time.time() if now is None else now
        while self._seen and (
            len(self._seen) > self.remember or next(iter(self._seen.values())) < current - 2 * self.tolerance_s
        ):
            self._seen.popitem(last=False)
        if raw in self._seen:
            raise SignatureError("replay", "this signature was accepted before")
        self._seen[raw] = current
