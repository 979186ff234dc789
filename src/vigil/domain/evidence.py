"""Evidence packs: everything a court needs about one confirmed alert, in one signed ZIP anyone can check.

A pack holds the alert's stored crop, the track's stored faces and scene frame, the subject's enrolled
photos, ``case.json`` (the alert, the decision trail with its two-person steps, the outcomes, the
authorisation it ran under, the threshold, evidence band, model and rule in force, the camera, who
exported it and why), each audit entry that concerns the
alert, its subject or its authorisation (``audit/entry-NNNNNNNN.json``, as stored, with its hash), the
chain's links from the first of them to an anchored head (``audit/chain.jsonl``, ``audit/anchor.json``),
a PDF summary and the certificate of the Bharatiya Sakshya Adhiniyam, 2023, s.63(4)(c) (Parts A and B,
English and Hindi, pre-filled), ``manifest.json`` (SHA-256 of every file) and ``signature.json``
(Ed25519 over the manifest's bytes).

The audit key is a shared secret and proves nothing to an outsider; the pack is signed with an Ed25519
key of its own (``VIGIL_EVIDENCE_KEY_FILE``, made on first use) whose public key the force hands to the
court (``vigil evidence key``). :func:`verify_pack` needs nothing but the pack (and that public key):
the signature, every file's hash, and the audit entries' links up to the anchored head. With the audit
key too, each entry's own hash is recomputed from its content.

The PDFs are laid out above this layer (``vigil.reports.evidence``) and handed in as a
:class:`PackRenderer`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import itertools
import json
import os
import re
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
    load_pem_public_key,
)
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from vigil import __version__
from vigil.domain.adjudication import (
    MODERATE_NATS,
    MODERATE_SHARE,
    STRONG_LOOKS,
    STRONG_NATS,
    STRONG_SHARE,
    AlertCase,
    AlertService,
    evidence_band,
)
from vigil.domain.audit import STORED_COLUMNS, Actor, AuditLog, entry_record, record_hash
from vigil.domain.audit_anchor import Anchor, AnchorError, anchor_genuine, last_anchor, make_anchor, publish
from vigil.domain.audit_anchor import verify_against as anchor_verify_against
from vigil.domain.vocabulary import AlertStatus, AuditAction
from vigil.errors import RuleError, VigilError
from vigil.settings import VigilSettings
from vigil.store.db import Database
from vigil.store.media import MediaStore
from vigil.store.models import (
    ActiveModel,
    Alert,
    AuditEvent,
    Authorisation,
    Category,
    Photo,
    PhotoEmbedding,
    Subject,
    ThresholdChange,
    User,
)

PACK_FORMAT = "vigil-evidence-1"
HASH_ALGORITHM = "SHA-256"
IST = timezone(timedelta(hours=5, minutes=30), "IST")  # India keeps no daylight saving
MIN_REASON = 3
MAX_REASON = 2000
MANIFEST = "manifest.json"
SIGNATURE = "signature.json"
CASE = "case.json"
CHAIN = "audit/chain.jsonl"
ANCHOR = "audit/anchor.json"
SUMMARY = "summary.pdf"
CERTIFICATE = "certificate.pdf"
README = "README.txt"
MAX_PACK_BYTES = 2_000_000_000  # what verification reads uncompressed, at most
KEPT = (
    "Vigil records no video. Per alert it keeps the crop (the best-scoring face of the track), the track's best "
    "3-5 faces by quality with the time each was seen and its size, and one scene frame around the face with "
    "every other face blurred; all of them are in this pack. No other frame of the camera exists."
)
NOT_KEPT = (
    "This alert was stored without its track's faces and scene frame (before Vigil kept them, or the camera "
    "sent none): the crop is the only image of the camera in this pack. No other frame of the camera exists."
)


BAND_RULES = {
    "nats": (
        "the band the alert page shows (vigil.domain.adjudication.evidence_band): read on the track's calibrated "
        "evidence in nats against what the rule in force asked of it — strong when it went at least "
        f"{STRONG_NATS:.1f} nats (a thousand times) past on at least {STRONG_LOOKS} looks, moderate from "
        f"{MODERATE_NATS:.1f} nats (ten times), weak below; a reading aid, not a probability"
    ),
    "similarity": (
        "the band the alert page shows (vigil.domain.adjudication.evidence_band), read on the similarity scale "
        "because no evidence in nats was kept for this alert: strong when the track's evidence went at least "
        f"{STRONG_SHARE:.0%} of the way from the threshold to a perfect match on at least {STRONG_LOOKS} looks, "
        f"moderate from {MODERATE_SHARE:.0%}, weak below; a reading aid, not a probability"
    ),
}


class EvidenceError(RuleError):
    """An evidence export that breaks a named rule; nothing was exported or recorded."""


class EvidenceKeyError(VigilError):
    """The signing key or a public key cannot be read."""


# ------------------------------------------------------------------------------ keys
def load_signing_key(path: Path) -> Ed25519PrivateKey:
    """The Ed25519 signing key in ``path`` (PEM, PKCS#8), created owner-only on first use."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = Ed25519PrivateKey.generate().private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process made it a moment ago: use that one
        else:
            with os.fdopen(fd, "wb") as handle:
                handle.write(pem)
    try:
        key = load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise EvidenceKeyError(f"the evidence signing key {path} cannot be read: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise EvidenceKeyError(f"{path} holds no Ed25519 private key")
    return key


def public_key_pem(key: Ed25519PublicKey) -> str:
    return key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()


def read_public_key(data: bytes) -> Ed25519PublicKey:
    """A public key as ``vigil evidence key`` prints it (PEM), or its 32 raw bytes in base64."""
    try:
        if b"-----BEGIN" in data:
            key = load_pem_public_key(data)
        else:
            key = Ed25519PublicKey.from_public_bytes(base64.b64decode(data.strip(), validate=True))
    except (ValueError, TypeError) as exc:
        raise EvidenceKeyError(f"not an Ed25519 public key: {exc}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise EvidenceKeyError("not an Ed25519 public key")
    return key


def fingerprint(key: Ed25519PublicKey) -> str:
    """SHA-256 of the key's 32 raw bytes, in hex: what the certificate names the key by."""
    return hashlib.sha256(key.public_bytes(Encoding.Raw, PublicFormat.Raw)).hexdigest()


# ------------------------------------------------------------------------------ the pack
@dataclass(frozen=True)
class PackFile:
    path: str
    sha256: str
    what: str  # what the file is, in words (the manifest and the certificate say it)


class PackRenderer(Protocol):
    """Lays out the pack's PDFs from ``case.json``'s content and the files' hashes."""

    def summary(
        self,
        case: Mapping[str, Any],
        files: Sequence[PackFile],
        images: Mapping[str, bytes],
        entries: Sequence[Mapping[str, Any]],
    ) -> bytes: ...

    def certificate(self, case: Mapping[str, Any], files: Sequence[PackFile]) -> bytes: ...


@dataclass(frozen=True)
class ExportedPack:
    data: bytes
    sha256: str
    alert_id: str
    fingerprint: str
    files: tuple[PackFile, ...]
    audit_entry: int  # the entry recording this export
    anchor_published: str | None  # where the anchored head in the pack was published (None: nowhere)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _times(at: datetime | None) -> dict[str, str] | None:
    if at is None:
        return None
    return {"utc": at.astimezone(UTC).isoformat(timespec="seconds"), "ist": ist(at)}


def ist(at: datetime) -> str:
    """``at`` as Indian Standard Time, the way the certificate writes it (DD/MM/YYYY HH:MM:SS IST)."""
    return at.astimezone(IST).strftime("%d/%m/%Y %H:%M:%S IST")


def _json(value: object) -> bytes:
    return (json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str) + "\n").encode()


class EvidenceService:
    """Exports and audits evidence packs of confirmed alerts over one database and media store."""

    def __init__(
        self,
        db: Database,
        media: MediaStore,
        audit: AuditLog,
        settings: VigilSettings,
        renderer: PackRenderer,
    ) -> None:
        self.db = db
        self.media = media
        self.audit = audit
        self.settings = settings
        self.renderer = renderer
        self.alerts = AlertService(db, audit)

    @property
    def key_file(self) -> Path:
        return self.settings.resolved_evidence_key_file

    def public_key(self) -> Ed25519PublicKey:
        """The public half of the signing key (the key is made on first use)."""
        return load_signing_key(self.key_file).public_key()

    def export(self, alert_id: str, by: Actor, reason: str) -> ExportedPack:
        """The signed pack of a confirmed alert; the export (who, why, the pack's SHA-256) is recorded in
        the audit log before the pack is handed back, so no pack leaves unrecorded."""
        reason = reason.strip()
        if len(reason) < MIN_REASON:
            raise EvidenceError("evidence-reason", "say why the evidence is exported (e.g. the case or court order)")
        if len(reason) > MAX_REASON:
            raise EvidenceError("evidence-reason", f"at most {MAX_REASON} characters")
        case = self.alerts.get(alert_id)
        if case.status != AlertStatus.CONFIRMED:
            raise EvidenceError(
                "evidence-unconfirmed",
                f"alert {alert_id} is {case.status}: only a confirmed alert is exported as evidence",
            )
        key = load_signing_key(self.key_file)
        public = key.public_key()
        key_fingerprint = fingerprint(public)
        now = datetime.now(UTC)
        with self.db.session() as session:
            facts = self._facts(session, case)
            cited = [int(row[0]) for row in (facts["activated"], facts["settings_entry"]) if row is not None]
            entries = self._entries(session, case, cited)
        anchor, published = self._anchor(max(e["id"] for e in entries) if entries else 0)
        with self.db.session() as session:
            chain = self._chain(session, entries[0]["id"] if entries else anchor.entries, anchor.entries)

        files: list[PackFile] = []
        blobs: dict[str, bytes] = {}

        def add(path: str, data: bytes, what: str) -> None:
            blobs[path] = data
            files.append(PackFile(path, sha256(data), what))

        media = self._media(case, facts["alert"], facts["photos"], add)
        for entry in entries:
            add(f"audit/entry-{entry['id']:08d}.json", _json(entry), f"audit entry {entry['id']} ({entry['action']})")
        add(CHAIN, "".join(json.dumps(row) + "\n" for row in chain).encode(), "the audit chain's links to the anchor")
        add(ANCHOR, _json({**anchor.__dict__, "published_to": published}), "the anchored head of the audit chain")
        document = self._case(case, facts, media, entries, anchor, published, by, reason, now, key_fingerprint)
        add(CASE, _json(document), "the alert, its decisions, outcome, authorisation and recognition settings")
        images = {p: blobs[p] for p in media}
        add(SUMMARY, self.renderer.summary(document, tuple(files), images, entries), "the summary (PDF)")
        add(CERTIFICATE, self.renderer.certificate(document, tuple(files)), "the BSA 2023 s.63(4)(c) certificate (PDF)")
        add(README, _readme(alert_id, key_fingerprint).encode(), "how to check this pack")
        manifest = _json(
            {
                "format": PACK_FORMAT,
                "algorithm": HASH_ALGORITHM,
                "alert_id": alert_id,
                "created_at": now.isoformat(timespec="seconds"),
                "system": f"Vigil {__version__}",
                "key_fingerprint": key_fingerprint,
                "files": {f.path: {"sha256": f.sha256, "what": f.what} for f in files},
            }
        )
        signature = _json(
            {
                "algorithm": "Ed25519",
                "signed": MANIFEST,
                "public_key": base64.b64encode(public.public_bytes(Encoding.Raw, PublicFormat.Raw)).decode(),
                "key_fingerprint": key_fingerprint,
                "signature": base64.b64encode(key.sign(manifest)).decode(),
            }
        )
        data = _zip([*((f.path, blobs[f.path]) for f in files), (MANIFEST, manifest), (SIGNATURE, signature)], now)
        digest = sha256(data)
        entry_id = self.audit.record(
            by.username,
            AuditAction.EVIDENCE_EXPORTED,
            object_type="alert",
            object_id=alert_id,
            source=by.source,
            details={
                "reason": reason,
                "pack_sha256": digest,
                "key_fingerprint": key_fingerprint,
                "files": len(files) + 2,
                "audit_entries": [e["id"] for e in entries],
                "anchor_entries": anchor.entries,
            },
        )
        return ExportedPack(data, digest, alert_id, key_fingerprint, tuple(files), entry_id, published)

    # -------------------------------------------------------------- gathering
    def _facts(self, session: Session, case: AlertCase) -> dict[str, Any]:
        alert = session.get(Alert, case.id)
        subject = session.get(Subject, case.subject_id)
        category = session.get(Category, case.category)
        assert alert is not None and subject is not None and category is not None
        photos = list(
            session.scalars(select(Photo).where(Photo.subject_id == subject.id).order_by(Photo.created_at, Photo.id))
        )
        versions = sorted(
            {
                (m, v)
                for m, v in session.execute(
                    select(PhotoEmbedding.model, PhotoEmbedding.version)
                    .join(Photo, Photo.id == PhotoEmbedding.photo_id)
                    .where(Photo.subject_id == subject.id)
                ).all()
            }
        )
        change = session.scalar(
            select(ThresholdChange)
            .where(ThresholdChange.category == category.name, ThresholdChange.at <= alert.created_at)
            .order_by(ThresholdChange.id.desc())
            .limit(1)
        )
        settings_entry = session.execute(
            select(AuditEvent.id, AuditEvent.details)
            .where(AuditEvent.action == AuditAction.SETTINGS_CHANGED, AuditEvent.at <= alert.created_at)
            .order_by(AuditEvent.id.desc())
            .limit(1)
        ).first()
        activated = session.execute(
            select(AuditEvent.id, AuditEvent.details)
            .where(AuditEvent.action == AuditAction.MODEL_ACTIVATED, AuditEvent.at <= alert.created_at)
            .order_by(AuditEvent.id.desc())
            .limit(1)
        ).first()
        active = session.get(ActiveModel, 1)
        authorisation = session.get(Authorisation, alert.authorisation_id) if alert.authorisation_id else None
        usernames = dict(session.execute(select(User.id, User.username)).all())
        return {
            "alert": alert,
            "subject": subject,
            "category": category,
            "photos": photos,
            "versions": versions,
            "threshold_change": change,
            "settings_entry": settings_entry,
            "activated": activated,
            "active": active,
            "authorisation": authorisation,
            "usernames": usernames,
        }

    @staticmethod
    def _entries(session: Session, case: AlertCase, cited: Sequence[int] = ()) -> list[dict[str, Any]]:
        """Every audit entry on the alert, its subject and its authorisation, and the entries ``cited`` by
        the pack's facts (the model switch and the settings recorded before the alert), as stored."""
        also = f" OR id IN ({', '.join(str(int(i)) for i in cited)})" if cited else ""
        rows = session.execute(
            text(
                f"SELECT {STORED_COLUMNS} FROM audit_events WHERE (object_type = 'alert' AND object_id = :alert) "
                "OR (object_type = 'subject' AND object_id = :subject) "
                f"OR (object_type = 'authorisation' AND object_id = :authorisation){also} ORDER BY id"
            ),
            {"alert": case.id, "subject": case.subject_id, "authorisation": case.authorisation_id or ""},
        )
        try:
            return [entry_record(tuple(row)) for row in rows]
        except (TypeError, ValueError) as exc:
            raise EvidenceError("evidence-chain", f"an audit entry of the alert cannot be read ({exc})") from None

    def _anchor(self, newest: int) -> tuple[Anchor, str | None]:
        """An anchored head at or after entry ``newest``: the last published anchor if it covers it and the
        log still matches it, else a new one (published where ``VIGIL_AUDIT_ANCHOR`` says, if set)."""
        target = self.settings.audit_anchor
        try:
            if target:
                try:
                    last = last_anchor(target)
                except AnchorError:
                    last = None
                if last is not None and last.entries >= newest:
                    result = anchor_verify_against(self.audit, last)
                    if not result.ok:
                        raise AnchorError(f"the audit log is broken at entry {result.first_bad} ({result.reason})")
                    return last, target
            made = make_anchor(self.audit)
            if target:
                publish(made, target)
            return made, target or None
        except AnchorError as exc:
            raise EvidenceError(
                "evidence-chain", f"{exc}: no evidence is exported from a log that does not verify"
            ) from None

    @staticmethod
    def _chain(session: Session, first: int, last: int) -> list[list[Any]]:
        rows = session.execute(
            text("SELECT id, prev_hash, hash FROM audit_events WHERE id >= :first AND id <= :last ORDER BY id"),
            {"first": first, "last": last},
        )
        return [[int(i), str(p), str(h)] for i, p, h in rows]

    def _media(self, case: AlertCase, alert: Alert, photos: list[Photo], add: Any) -> dict[str, dict[str, Any]]:
        """The crop, the track's stored faces and scene frame, and the enrolled photos into the pack;
        returns what each media file is."""
        media: dict[str, dict[str, Any]] = {}
        crop: tuple[str, bytes] | None = None
        if case.crop_name:
            path = f"media/crop-1.{case.crop_name.rsplit('.', 1)[-1]}"
            crop = path, self._read("crops", case.crop_name, "the alert's crop")
            add(path, crop[1], "the face seen on the camera (crop stored with the alert)")
            media[path] = {"kind": "crop", "stored_as": case.crop_name}
        stored = json.loads(alert.evidence_media) if alert.evidence_media else {"faces": [], "scene": None}
        for n, face in enumerate(stored.get("faces", []), 1):
            path = f"media/track-face-{n}.{face['name'].rsplit('.', 1)[-1]}"
            seen = datetime.fromisoformat(face["at"])
            data = self._read("crops", face["name"], f"the track's face {n}")
            same = crop[0] if crop is not None and crop[1] == data else None  # the crop is often one of them
            add(
                path,
                data,
                f"the track's face {n} of {len(stored['faces'])}, seen {ist(seen)}, "
                f"{face['width']}x{face['height']} px, {face['iod_px']} px between the eyes"
                + (f" (the same image as {same})" if same else ""),
            )
            media[path] = {
                "same_image_as": same,
                "kind": "track-face",
                "stored_as": face["name"],
                "seen_at": _times(seen),
                "width": face["width"],
                "height": face["height"],
                "iod_px": face["iod_px"],
                "quality": face.get("quality"),
            }
        scene = stored.get("scene")
        if scene:
            path = f"media/scene.{scene['name'].rsplit('.', 1)[-1]}"
            add(
                path,
                self._read("crops", scene["name"], "the scene frame"),
                f"the scene frame that raised the alert, around the face, other faces blurred, "
                f"{scene['width']}x{scene['height']} px",
            )
            media[path] = {
                "kind": "scene-frame",
                "stored_as": scene["name"],
                "width": scene["width"],
                "height": scene["height"],
                "note": "the frame that raised the alert, five face-widths around the subject's face; every other "
                "face blurred when it was stored",
            }
        for n, photo in enumerate(photos, 1):
            path = f"media/enrolled-{n}.{photo.media_name.rsplit('.', 1)[-1]}"
            from_alert = f" (added from confirmed alert {photo.from_alert_id})" if photo.from_alert_id else ""
            add(
                path,
                self._read("photos", photo.media_name, f"enrolled photo {n}"),
                f"enrolled photo {n} of the subject{from_alert}",
            )
            media[path] = {
                "kind": "enrolled-photo",
                "stored_as": photo.media_name,
                "enrolled_at": _times(photo.created_at),
                "source_name": photo.source_name,
                "sha256_at_enrolment": photo.sha256,
                "from_alert_id": photo.from_alert_id,
                "quality": round(photo.quality, 4),
            }
        return media

    def _read(self, kind: str, name: str, what: str) -> bytes:
        """A stored file the pack must hold; one that is gone or unreadable stops the export (a pack
        silently short of an image the alert recorded would mislead a court)."""
        try:
            return self.media.read(kind, name)
        except FileNotFoundError:
            problem = "is missing from the media store"
        except (OSError, ValueError) as exc:
            problem = f"cannot be read ({getattr(exc, 'strerror', None) or exc})"
        raise EvidenceError("evidence-media", f"{what} ({kind}/{name}) {problem}: no pack is made without it")

    def _model(self, facts: dict[str, Any]) -> dict[str, Any]:
        recorded = facts["settings_entry"]
        after = recorded[1].get("after") if recorded is not None and isinstance(recorded[1], dict) else None
        if isinstance(after, dict) and after.get("embedder"):
            embedder, detector = str(after["embedder"]), str(after.get("detector", ""))
            source = f"the settings recorded in audit entry {recorded[0]} (the last before the alert)"
        else:
            embedder, detector = self.settings.embedder, self.settings.detector
            source = "no settings were recorded before the alert: the settings in force at export"
        weights = _weights(embedder, self.settings) + _weights(detector, self.settings)
        recognised_by = self._recognised_by(facts, embedder, weights)
        return {
            "name": recognised_by["name"],
            "version": recognised_by["version"],
            "sha256": recognised_by["sha256"],
            "recorded": recognised_by["source"],
            "embedder": embedder,
            "detector": detector,
            "source": source,
            "gallery_versions": [{"model": m, "version": v} for m, v in facts["versions"]],
            "weights": weights,
            "weights_note": "SHA-256 of the model files installed on the exporting machine at export",
        }

    @staticmethod
    def _recognised_by(facts: dict[str, Any], embedder: str, weights: list[dict[str, str]]) -> dict[str, str]:
        """The embedder the alert was recognised with: its name, the version its templates carry and its
        file's SHA-256 — from the last model switch recorded before the alert, else the active model row
        (migration 0020) if it was set before the alert, else the configured embedder with the version of
        the subject's templates and the SHA-256 of its installed weights."""
        alert: Alert = facts["alert"]
        activated = facts["activated"]
        new = activated[1].get("new") if activated is not None and isinstance(activated[1], dict) else None
        if isinstance(new, dict) and new.get("name"):
            return {
                "name": str(new["name"]),
                "version": str(new.get("version", "")),
                "sha256": str(new.get("sha256", "")) or _first_weight(weights, str(new["name"])),
                "source": f"the model switch recorded in audit entry {activated[0]} (the last before the alert)"
                + ("" if new.get("sha256") else _INSTALLED),
            }
        active: ActiveModel | None = facts["active"]
        if active is not None and active.since <= alert.created_at:
            return {
                "name": active.name,
                "version": active.version,
                "sha256": active.sha256 or _first_weight(weights, active.name),
                "source": f"the active model recorded in the database since {ist(active.since)}"
                + ("" if active.sha256 else _INSTALLED),
            }
        versions = [v for m, v in facts["versions"] if m == embedder]
        return {
            "name": embedder,
            "version": versions[-1] if versions else "",
            "sha256": _first_weight(weights, embedder),
            "source": "no model switch was recorded before the alert: the configured embedder, the version the "
            "subject's templates carry and the SHA-256 of its weights installed at export",
        }

    def _rule(self, facts: dict[str, Any], model: dict[str, Any]) -> dict[str, Any]:
        """The category's decision rule as the live pipeline derives it, at export (the same curves,
        policy and watchlist size the cameras use): its name, threshold and expected rates."""
        from vigil.domain.thresholds import ThresholdService

        alert: Alert = facts["alert"]
        category: Category = facts["category"]
        service = ThresholdService(self.db, self.audit, model["name"], model["version"])
        rule = next((t for t in service.thresholds() if t.category == category.name), None)
        if rule is None:
            return {"note": f"the category {category.name} has no rule at export"}
        same = abs(rule.threshold - alert.threshold) < 1e-6
        return {
            "category": category.name,
            "rule": rule.rule,
            "threshold": round(rule.threshold, 6),
            "source": rule.source,
            "false_alerts_per_1000": rule.false_alerts_per_1000,
            "watchlist_size": rule.watchlist_size,
            "expected_false_alert_rate": rule.expected_false_alert_rate,
            "expected_miss_rate": rule.expected_miss_rate,
            "note": "derived at export from the curves and the category's policy the cameras use; "
            + (
                "its threshold is the one the alert was compared with"
                if same
                else f"the alert was compared with {round(alert.threshold, 6)}, stored with it (the threshold in "
                "force then); the rule has changed since (see last_threshold_change and the audit entries)"
            ),
        }

    def _case(
        self,
        case: AlertCase,
        facts: dict[str, Any],
        media: dict[str, dict[str, Any]],
        entries: list[dict[str, Any]],
        anchor: Anchor,
        published: str | None,
        by: Actor,
        reason: str,
        now: datetime,
        key_fingerprint: str,
    ) -> dict[str, Any]:
        alert: Alert = facts["alert"]
        subject: Subject = facts["subject"]
        category: Category = facts["category"]
        change: ThresholdChange | None = facts["threshold_change"]
        auth: Authorisation | None = facts["authorisation"]
        names: dict[str, str] = facts["usernames"]
        confirmations = [d for d in case.decisions if d.decision == AlertStatus.CONFIRMED]
        model = self._model(facts)
        band = evidence_band(alert.evidence_nats, alert.needed_nats, alert.faces, alert.evidence, alert.threshold)
        return {
            "format": PACK_FORMAT,
            "system": {"name": "Vigil", "version": __version__, "hash_algorithm": HASH_ALGORITHM},
            "export": {
                "by": by.username,
                "source": by.source,
                "reason": reason,
                "at": _times(now),
                "key_fingerprint": key_fingerprint,
            },
            "alert": {
                "id": case.id,
                "status": case.status,
                "camera": case.camera,
                "track_id": alert.track_id,
                "first_seen": _times(case.first_seen),
                "last_seen": _times(case.last_seen),
                "decisive_capture_at": _times(alert.decisive_capture_at),
                "stored_at": _times(case.created_at),
                "faces": case.faces,
                "acknowledged": {"by": case.acknowledged_by, "at": _times(case.acknowledged_at)}
                if case.acknowledged_at
                else None,
                "escalated_at": _times(case.escalated_at),
                "runner_up": {"subject_id": case.runner_up_subject_id, "score": case.runner_up_score}
                if case.runner_up_subject_id
                else None,
            },
            "camera": {
                "name": case.camera,
                "latitude": case.latitude,
                "longitude": case.longitude,
                "group": case.camera_group,
            },
            "subject": {
                "id": subject.id,
                "display_name": subject.display_name,
                "category": category.name,
                "category_label": category.label,
                "high_risk": category.high_risk,
                "legal_basis_type": subject.legal_basis_type,
                "legal_basis_reference": subject.legal_basis_reference,
                "proposed_by": subject.proposed_by,
                "approved_by": subject.approved_by,
                "approved_at": _times(subject.approved_at),
                "expires_at": _times(subject.expires_at),
                "status": subject.status,
            },
            "decisions": [
                {"by": d.user, "role": d.role, "decision": d.decision, "reason": d.reason, "at": _times(d.at)}
                for d in case.decisions
            ],
            "two_person": {
                "required": category.high_risk,
                "confirmed_by": [d.user for d in confirmations],
                "rule": "a high-risk category's alert is confirmed by two people, the second a supervisor other "
                "than the first"
                if category.high_risk
                else "one confirmation (the category is not high-risk)",
            },
            "outcomes": [
                {"by": o.user, "outcome": o.outcome, "note": o.note, "at": _times(o.at)} for o in case.outcomes
            ],
            "authorisation": None
            if auth is None
            else {
                "id": auth.id,
                "purpose": auth.purpose,
                "reason": auth.reason,
                "requested_by": names.get(auth.requested_by, auth.requested_by),
                "authorised_by": names.get(auth.authorised_by, auth.authorised_by),
                "cameras": list(auth.cameras),
                "camera_groups": list(auth.camera_groups),
                "categories": list(auth.categories),
                "subjects": list(auth.subjects),
                "starts_at": _times(auth.starts_at),
                "ends_at": _times(auth.ends_at),
                "ended_at": _times(auth.ended_at),
                "thresholds_when_signed": auth.thresholds,
            },
            "recognition": {
                "best_score": round(alert.best_score, 6),
                "track_evidence": None if alert.evidence is None else round(alert.evidence, 6),
                "threshold": round(alert.threshold, 6),
                "evidence_band": band.name,
                "evidence_band_rule": BAND_RULES[band.scale],
                "evidence_band_margin": round(band.margin, 4),  # nats (or the share, on the similarity scale)
                "track_evidence_nats": None if alert.evidence_nats is None else round(alert.evidence_nats, 6),
                "needed_nats": None if alert.needed_nats is None else round(alert.needed_nats, 6),
                "looks": alert.faces,
                "seconds": round(max(0.0, (alert.last_seen - alert.first_seen).total_seconds()), 1),
                "rule_in_force": self._rule(facts, model),
                "category_policy": {
                    "false_alerts_per_1000": category.false_alerts_per_1000,
                    "threshold_override": category.match_threshold,
                    "min_faces": category.min_faces,
                },
                "last_threshold_change": None
                if change is None
                else {
                    "at": _times(change.at),
                    "by": change.changed_by,
                    "reason": change.reason,
                    "before": change.before,
                    "after": change.after,
                    "watchlist_size": change.watchlist_size,
                    "expected_false_alert_rate": change.expected_false_alert_rate,
                    "expected_miss_rate": change.expected_miss_rate,
                },
                "model": model,
            },
            "media": media,
            "media_kept": _kept(media),
            "audit": {
                "entries": [e["id"] for e in entries],
                "chain": {"from": entries[0]["id"] if entries else anchor.entries, "to": anchor.entries},
                "anchor": {"entries": anchor.entries, "head": anchor.head, "at": anchor.at, "published_to": published},
                "note": "each entry's hash is an HMAC with the audit key (held by the force); the links between "
                "entries and the anchored head are checkable by anyone",
            },
        }


_INSTALLED = "; a bundled model, whose checksum is not recorded: the SHA-256 is of its weight file installed at export"


def _kept(media: Mapping[str, Mapping[str, Any]]) -> str:
    """What ``media_kept`` says: all that Vigil keeps of the camera is in the pack, or what was not kept."""
    kinds = [m["kind"] for m in media.values()]
    faces, scene = kinds.count("track-face"), "scene-frame" in kinds
    if faces and scene:
        return KEPT
    if not faces and not scene:
        return NOT_KEPT
    return (
        f"This alert was stored with {faces} of its track's faces and {'a' if scene else 'no'} scene frame; all "
        "that was stored is in this pack. No other frame of the camera exists."
    )


def _first_weight(weights: list[dict[str, str]], model: str) -> str:
    """The SHA-256 of ``model``'s (first) weight file installed here, named in ``weights`` too."""
    return next((w["sha256"] for w in weights if w["model"] == model), "")


def _weights(name: str, settings: VigilSettings) -> list[dict[str, str]]:
    """The SHA-256 of a model's weight files as installed (empty when the model is not available here)."""
    from vigil.vision.catalogue import ONNX_PREFIX, model_spec

    try:
        if name.startswith(ONNX_PREFIX):
            given = Path(name[len(ONNX_PREFIX) :])
            paths = {given.name: given if given.is_absolute() else settings.resolved_models_dir / given}
        else:
            paths = model_spec(name).paths(settings)
    except VigilError:
        return []
    out = []
    for role, path in sorted(paths.items()):
        digest = hashlib.sha256()
        try:
            with path.open("rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
        except OSError:
            continue
        out.append({"model": name, "file": role, "sha256": digest.hexdigest()})
    return out


def _zip(entries: Sequence[tuple[str, bytes]], at: datetime) -> bytes:
    stamp = at.astimezone(UTC).timetuple()[:6]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=stamp)  # type: ignore[arg-type]
            info.compress_type = zipfile.ZIP_STORED if name.endswith((".jpg", ".png", ".pdf")) else zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return buffer.getvalue()


def _readme(alert_id: str, key_fingerprint: str) -> str:
    return (
        f"Vigil evidence pack of alert {alert_id}\n\n"
        "manifest.json lists every file with its SHA-256; signature.json is an Ed25519 signature over the\n"
        f"bytes of manifest.json by the key with fingerprint (SHA-256 of the raw public key)\n  {key_fingerprint}\n\n"
        "To check it:  vigil evidence verify PACK.zip --public-key vigil-evidence.pub\n"
        "(the public key as the force's `vigil evidence key` prints it, obtained from the force, not from the pack).\n"
        "Without Vigil: sha256sum each file against manifest.json, and verify the signature with any Ed25519\n"
        "tool (e.g. OpenSSL 3: openssl pkeyutl -verify -pubin -inkey vigil-evidence.pub -rawin\n"
        "-in manifest.json -sigfile SIG, SIG being the base64-decoded signature).\n"
        "audit/chain.jsonl: each line [entry number, previous entry's hash, entry's hash]; every line's second\n"
        "value is the line before's third, and the last line is the head in audit/anchor.json.\n"
    )


# ------------------------------------------------------------------------------ verification
@dataclass(frozen=True)
class PackCheck:
    """What :func:`verify_pack` found: ``problems`` each start with the part that changed."""

    problems: tuple[str, ...]
    files: int = 0
    alert_id: str = ""
    key_fingerprint: str = ""
    audit_entries: int = 0
    anchor_entries: int = 0
    checked_entry_hashes: bool = False
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return not self.problems


_ENTRY_PATH = re.compile(r"^audit/entry-(\d{8})\.json$")


def verify_pack(
    data: bytes, *, public_key: Ed25519PublicKey | None = None, audit_key: bytes | None = None
) -> PackCheck:
    """Check a pack offline: the signature over the manifest (by ``public_key`` if given, else by the key
    the pack names — which proves only that the pack is as its signer made it), every file's SHA-256, no
    file added or removed, and the audit entries' links to the anchored head; with ``audit_key`` also each
    entry's own hash and the anchor's. Never raises on content: each problem names the part."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        names = archive.namelist()
        if sum(i.file_size for i in archive.infolist()) > MAX_PACK_BYTES:
            return PackCheck(("pack: too large to be a Vigil evidence pack",))
        contents = {name: archive.read(name) for name in names}
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, RuntimeError) as exc:
        return PackCheck((f"pack: not a readable ZIP ({exc})",))
    problems: list[str] = []
    if len(set(names)) != len(names):
        problems.append("pack: a file name appears twice")
    if MANIFEST not in contents:
        return PackCheck((f"{MANIFEST}: missing",))
    if SIGNATURE not in contents:
        return PackCheck((f"{SIGNATURE}: missing",))
    manifest_bytes = contents[MANIFEST]
    try:
        manifest = json.loads(manifest_bytes)
        files = {str(k): str(v["sha256"]) for k, v in manifest["files"].items()}
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        return PackCheck((f"{MANIFEST}: not a manifest ({exc})",))
    try:
        signature = json.loads(contents[SIGNATURE])
        signed_by = Ed25519PublicKey.from_public_bytes(base64.b64decode(signature["public_key"], validate=True))
        signature_bytes = base64.b64decode(signature["signature"], validate=True)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        return PackCheck((f"{SIGNATURE}: not a signature ({exc})",))
    pack_fingerprint = fingerprint(signed_by)
    key = signed_by
    if public_key is not None and fingerprint(public_key) != pack_fingerprint:
        problems.append(
            f"{SIGNATURE}: signed by the key {pack_fingerprint[:16]}…, not by the public key given "
            f"({fingerprint(public_key)[:16]}…): the signature or the signing key was swapped"
        )
        key = public_key
    try:
        key.verify(signature_bytes, manifest_bytes)
    except InvalidSignature:
        problems.append(f"{SIGNATURE}: the signature does not match {MANIFEST} (the manifest or the signature changed)")
    if manifest.get("key_fingerprint") != pack_fingerprint:
        problems.append(f"{MANIFEST}: names another signing key than {SIGNATURE}")
    for name, expected in files.items():
        if name not in contents:
            problems.append(f"{name}: missing (removed from the pack)")
        elif not hmac.compare_digest(sha256(contents[name]), expected):
            problems.append(f"{name}: changed (its SHA-256 does not match the manifest)")
    for name in names:
        if name not in files and name not in (MANIFEST, SIGNATURE):
            problems.append(f"{name}: not in the manifest (added to the pack)")
    audit_problems, counts, checked = _check_audit(contents, audit_key)
    problems.extend(audit_problems)
    notes: list[str] = []
    if public_key is None:
        notes.append(
            "no public key given: the signature was checked with the key the pack carries; check its fingerprint "
            "against the one the force publishes (or pass --public-key)"
        )
    return PackCheck(
        tuple(problems),
        files=len(files) + 2,
        alert_id=str(manifest.get("alert_id", "")),
        key_fingerprint=pack_fingerprint,
        audit_entries=counts[0],
        anchor_entries=counts[1],
        checked_entry_hashes=checked,
        notes=tuple(notes),
    )


def _check_audit(contents: dict[str, bytes], audit_key: bytes | None) -> tuple[list[str], tuple[int, int], bool]:
    problems: list[str] = []
    try:
        chain = [json.loads(line) for line in contents.get(CHAIN, b"").decode().splitlines() if line.strip()]
        rows = {int(i): (str(p), str(h)) for i, p, h in chain}
        ids = [int(row[0]) for row in chain]
    except (ValueError, TypeError, UnicodeDecodeError) as exc:
        return [f"{CHAIN}: cannot be read ({exc})"], (0, 0), False
    try:
        anchor_doc = json.loads(contents[ANCHOR])
        anchor = Anchor(
            int(anchor_doc["entries"]), str(anchor_doc["head"]), str(anchor_doc["at"]), str(anchor_doc["signature"])
        )
    except (KeyError, ValueError, TypeError) as exc:
        return [*problems, f"{ANCHOR}: cannot be read ({exc})"], (0, 0), False
    for before, after in itertools.pairwise(ids):
        if after != before + 1:
            problems.append(f"{CHAIN}: entry {before + 1} is missing (found {after} after {before})")
        elif rows[after][0] != rows[before][1]:
            problems.append(f"{CHAIN}: entry {after} does not link to entry {before}")
    if ids and (ids[-1] != anchor.entries or rows[ids[-1]][1] != anchor.head):
        problems.append(f"{ANCHOR}: the chain's last entry is not the anchored head")
    entries = 0
    for name in sorted(contents):
        match = _ENTRY_PATH.match(name)
        if not match:
            continue
        entries += 1
        number = int(match.group(1))
        try:
            record = json.loads(contents[name])
            if int(record["id"]) != number:
                problems.append(f"{name}: holds entry {record['id']}")
                continue
        except (ValueError, KeyError, TypeError) as exc:
            problems.append(f"{name}: cannot be read ({exc})")
            continue
        link = rows.get(number)
        if link is None:
            problems.append(f"{name}: entry {number} is not in {CHAIN}")
        elif (record.get("prev_hash"), record.get("hash")) != link:
            problems.append(f"{name}: its hashes are not the chain's for entry {number}")
        if audit_key is not None:
            try:
                recomputed = record_hash(audit_key, record)
            except (KeyError, ValueError, TypeError) as exc:
                problems.append(f"{name}: cannot be hashed ({exc})")
                continue
            if not hmac.compare_digest(recomputed, str(record.get("hash"))):
                problems.append(f"{name}: its content does not match its hash (the entry was edited)")
    if audit_key is not None and not anchor_genuine(audit_key, anchor):
        problems.append(f"{ANCHOR}: not made with this audit key")
    return problems, (entries, anchor.entries), audit_key is not None


def entries_against_log(data: bytes, audit: AuditLog) -> list[str]:
    """Where the pack's audit entries differ from the log as stored now (an entry edited or removed after
    the export), and whether the log itself still verifies: one line per problem."""
    problems: list[str] = []
    with zipfile.ZipFile(io.BytesIO(data)) as archive, audit.db.session() as session:
        for name in sorted(archive.namelist()):
            match = _ENTRY_PATH.match(name)
            if not match:
                continue
            number = int(match.group(1))
            record = json.loads(archive.read(name))
            row = session.execute(
                text(f"SELECT {STORED_COLUMNS} FROM audit_events WHERE id = :id"), {"id": number}
            ).first()
            if row is None:
                problems.append(f"{name}: entry {number} is no longer in the audit log")
                continue
            try:
                stored = entry_record(tuple(row))
            except (TypeError, ValueError) as exc:
                problems.append(f"{name}: the audit log's entry {number} cannot be read ({exc})")
                continue
            if stored != record:
                changed = sorted(k for k in stored if stored[k] != record.get(k))
                problems.append(
                    f"{name}: the audit log's entry {number} was edited after the export ({', '.join(changed)})"
                )
    result = audit.verify()
    if not result.ok:
        problems.append(f"audit log: broken at entry {result.first_bad} ({result.reason})")
    return problems
