"""Audit anchors: the chain's signed head, published where the database host cannot rewrite it.

A hash chain shows an edited, deleted or inserted entry, but not the loss of its newest entries: cut
the last ten and the rest still verifies. An **anchor** — the number of entries, the last hash, the
time, and an HMAC over the three with the chain's key — is appended as one JSON line to a file on
another volume or host (``--to PATH``) or POSTed to a URL (``--to https://…``, e.g. a write-once
store the force runs). ``vigil audit verify --anchor PATH|URL`` then checks the log against the last
anchor: the anchored entry must still be there with the anchored hash. Only the key's holder can make
an anchor that verifies, so a forged anchor is refused too.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import urllib.request
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from vigil.domain.audit import AuditLog, Verification
from vigil.domain.vocabulary import AuditAction
from vigil.errors import VigilError

ANCHOR_KIND = "vigil-audit-anchor"


class AnchorError(VigilError):
    """No anchor could be published or read, or the one read is not genuine."""


@dataclass(frozen=True)
class Anchor:
    entries: int
    head: str
    at: str  # ISO time it was made
    signature: str

    def line(self) -> str:
        return json.dumps({"kind": ANCHOR_KIND, **asdict(self)}, sort_keys=True)


def _signature(key: bytes, entries: int, head: str, at: str) -> str:
    payload = json.dumps([ANCHOR_KIND, entries, head, at], separators=(",", ":"))
    return hmac.new(key, payload.encode(), hashlib.sha256).hexdigest()


def anchor_genuine(key: bytes, anchor: Anchor) -> bool:
    """Whether ``anchor`` was made with the chain key ``key``."""
    return hmac.compare_digest(_signature(key, anchor.entries, anchor.head, anchor.at), anchor.signature)


def make_anchor(audit: AuditLog, *, now: datetime | None = None) -> Anchor:
    """The signed head of an intact chain (a broken chain is not anchored: verify it first)."""
    result = audit.verify()
    if not result.ok:
        raise AnchorError(f"the audit log is broken at entry {result.first_bad} ({result.reason}): not anchored")
    at = (now or datetime.now(UTC)).isoformat(timespec="seconds")
    return Anchor(result.entries, result.head, at, _signature(audit.key, result.entries, result.head, at))


def publish(anchor: Anchor, target: str, *, timeout_s: float = 10.0) -> None:
    """Append to a file (created owner-only) or POST as JSON to an http(s) URL."""
    if target.startswith(("http://", "https://")):
        request = urllib.request.Request(
            target, data=anchor.line().encode(), headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:
                if response.status >= 300:
                    raise AnchorError(f"{target} answered {response.status}")
        except OSError as exc:
            raise AnchorError(f"could not publish the anchor to {target}: {exc}") from None
        return
    path = Path(target)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600, exist_ok=True)
        with path.open("a", encoding="utf-8") as handle:
            handle.write(anchor.line() + "\n")
    except OSError as exc:
        raise AnchorError(f"could not write the anchor to {target}: {exc}") from None


def last_anchor(source: str, *, timeout_s: float = 10.0) -> Anchor:
    """The newest anchor in a file of anchor lines, or the JSON a URL answers (a line or lines)."""
    try:
        if source.startswith(("http://", "https://")):
            with urllib.request.urlopen(source, timeout=timeout_s) as response:
                text = response.read(10_000_000).decode()
        else:
            text = Path(source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise AnchorError(f"could not read anchors from {source}: {exc}") from None
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise AnchorError(f"{source} holds no anchor")
    try:
        data = json.loads(lines[-1])
        if data.get("kind") != ANCHOR_KIND:
            raise ValueError("not an audit anchor")
        anchor = Anchor(int(data["entries"]), str(data["head"]), str(data["at"]), str(data["signature"]))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise AnchorError(f"the last line of {source} is not an audit anchor ({exc})") from None
    return anchor


def verify_against(audit: AuditLog, anchor: Anchor) -> Verification:
    """The chain's own verification, then: is the anchored entry still there, with the anchored hash?"""
    expected = _signature(audit.key, anchor.entries, anchor.head, anchor.at)
    if not hmac.compare_digest(expected, anchor.signature):
        raise AnchorError("the anchor's signature does not match this audit key: not a genuine anchor")
    result = audit.verify()
    if not result.ok:
        return result
    lost = _lost_in_restore(audit, anchor, result)
    if lost is not None:
        return lost
    if result.entries < anchor.entries:
        return Verification(
            False,
            result.entries,
            result.head,
            result.entries + 1,
            f"the newest entries were cut off: the anchor of {anchor.at} saw {anchor.entries} entries, "
            f"the log holds {result.entries}",
        )
    head_then = audit.hash_of(anchor.entries)
    if head_then is None or not hmac.compare_digest(head_then, anchor.head):
        return Verification(
            False,
            result.entries,
            result.head,
            anchor.entries,
            f"entry {anchor.entries} is not the one anchored at {anchor.at}: the log was rewritten",
        )
    return result


def _lost_in_restore(audit: AuditLog, anchor: Anchor, result: Verification) -> Verification | None:
    """When the newest entries the anchor saw are missing because an older backup was restored after the
    anchor was made: the first restore recorded after the anchor's time whose archive ended before the
    anchored entry. A failure (those entries are gone) that names the restore — not tampering, which the
    chain itself would show: the restore entry is keyed and links to the archive's head."""
    made = datetime.fromisoformat(anchor.at)
    made = made.replace(tzinfo=UTC) if made.tzinfo is None else made
    restores = sorted(
        (e for e in audit.entries(limit=5000, action=AuditAction.BACKUP_RESTORED) if e.at >= made),
        key=lambda e: e.id,
    )
    for entry in restores:
        kept = entry.details.get("archive_entries")
        if not isinstance(kept, int) or kept >= anchor.entries or entry.id != kept + 1:
            continue
        if kept and audit.hash_of(kept) != entry.details.get("archive_head"):
            continue
        return Verification(
            False,
            result.entries,
            result.head,
            kept + 1,
            f"entries {kept + 1}-{anchor.entries} (seen by the anchor of {anchor.at}) were lost in the restore of "
            f"{entry.object_id} (made {entry.details.get('archive_created_at')}) recorded as entry {entry.id} at "
            f"{entry.at.isoformat(timespec='seconds')}: the log holds what that backup held, not tampered with, "
            "but incomplete",
            lost_in_restore=entry.id,
        )
    return None
