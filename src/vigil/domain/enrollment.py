"""Enrollment rules: what a watchlist entry and its photos must satisfy before anything is stored.

Every rule failure raises :class:`EnrollmentError` whose ``rule`` names the rule; nothing here writes.

| rule | requirement |
|---|---|
| ``name`` | display name 1-200 characters, no control characters, no path separators |
| ``category`` | one of the configured categories |
| ``legal-basis`` | instrument type and reference both present |
| ``approver`` | who approved the entry is present |
| ``expiry`` | expiry is in the future (and, when given, the review date is not after it) |
| ``no-photos`` | at least one photo |
| ``photo-size`` | at most ``max_photo_bytes`` bytes and ``max_image_pixels`` pixels |
| ``photo-format`` | a readable JPEG, PNG, BMP, TIFF, WebP or PPM file |
| ``no-face`` / ``several-faces`` | exactly one usable face (detector score >= 0.5, eyes >= 8 px apart) |
| ``face-quality`` | the face's quality score (docs/quality.md) >= ``MIN_ENROLL_QUALITY`` |
| ``duplicate-photo`` | the same file is not enrolled twice (for this or any other subject) |
| ``reference`` | an external reference (e.g. a police record id) names at most one subject |
"""

from __future__ import annotations

import hashlib
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime

import numpy as np

from vigil.errors import ImageError, ImageTooLargeError, RuleError
from vigil.vision.engine import FaceEngine
from vigil.vision.image import decode_image, image_format
from vigil.vision.quality import FaceQuality, assess_quality
from vigil.vision.types import FaceDetections, central_face

MIN_ENROLL_QUALITY = 0.5
USABLE_FACE_SCORE = 0.5
USABLE_FACE_EYES_PX = 8.0
MAX_NAME = 200
FORMAT_EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "BMP": "bmp", "TIFF": "tif", "WEBP": "webp", "PPM": "ppm"}


class EnrollmentError(RuleError):
    """An enrollment that breaks a rule; ``rule`` is the rule's name from the table above."""


@dataclass(frozen=True)
class SubjectFields:
    """What a watchlist entry says about the person and why they may be looked for."""

    display_name: str
    category: str
    legal_basis_type: str
    legal_basis_reference: str
    approved_by: str  # the approving supervisor's username; empty: a proposal waiting for one
    expires_at: datetime
    review_date: date | None = None
    notes: str = ""
    external_ref: str | None = None
    proposed_by: str = ""  # the proposing supervisor's username (required)


@dataclass(frozen=True)
class CheckedPhoto:
    """A photo that passed every photo rule, with what enrollment stores about it (in memory only)."""

    source_name: str
    data: bytes
    sha256: str
    extension: str
    width: int
    height: int
    face: FaceDetections
    quality: float
    inter_eye_px: float
    sharpness: float
    yaw: float
    pitch: float
    vector: np.ndarray
    model: str  # the embedder that made ``vector`` (a live switch may change the running one meanwhile)
    version: str


def _clean_text(value: str, field: str, rule: str, *, required: bool, max_len: int = 200) -> str:
    value = (value or "").strip()
    if required and not value:
        raise EnrollmentError(rule, f"{field} is required")
    if len(value) > max_len:
        raise EnrollmentError(rule, f"{field} is longer than {max_len} characters")
    if any(unicodedata.category(ch) in ("Cc", "Cf") for ch in value):
        raise EnrollmentError(rule, f"{field} contains control characters")
    return value


def check_fields(fields: SubjectFields, *, categories: set[str], now: datetime) -> SubjectFields:
    """Validate and normalise the entry's fields; raises EnrollmentError naming the rule."""
    name = _clean_text(fields.display_name, "display name", "name", required=True, max_len=MAX_NAME)
    if "/" in name or "\\" in name:
        raise EnrollmentError("name", "display name must not contain path separators ('/' or '\\')")
    if fields.category not in categories:
        raise EnrollmentError(
            "category", f"unknown category {fields.category!r}; known: {', '.join(sorted(categories))}"
        )
    basis_type = _clean_text(fields.legal_basis_type, "legal basis type", "legal-basis", required=True, max_len=100)
    basis_ref = _clean_text(fields.legal_basis_reference, "legal basis reference", "legal-basis", required=True)
    proposer = _clean_text(fields.proposed_by, "proposer", "proposer", required=True, max_len=64)
    approver = _clean_text(fields.approved_by, "approver", "approver", required=False, max_len=64)
    if approver and approver == proposer:
        raise EnrollmentError("two-person", "the entry is approved by a supervisor other than the one proposing it")
    if fields.expires_at.tzinfo is None:
        raise EnrollmentError("expiry", "expiry must carry a timezone")
    if fields.expires_at <= now:
        raise EnrollmentError("expiry", f"expiry {fields.expires_at.isoformat()} is not in the future")
    if fields.review_date is not None and fields.review_date > fields.expires_at.date():
        raise EnrollmentError("expiry", "review date falls after the expiry")
    notes = _clean_text(fields.notes, "notes", "name", required=False, max_len=10_000) if fields.notes else ""
    ref = fields.external_ref.strip() if fields.external_ref else None
    return SubjectFields(
        name,
        fields.category,
        basis_type,
        basis_ref,
        approver,
        fields.expires_at,
        fields.review_date,
        notes,
        ref or None,
        proposer,
    )


def check_photo(engine: FaceEngine, data: bytes, source_name: str, *, max_bytes: int, max_pixels: int) -> CheckedPhoto:
    """Decode and analyse one photo; raises EnrollmentError naming the rule it breaks."""
    label = source_name or "photo"
    if len(data) > max_bytes:
        raise EnrollmentError("photo-size", f"{label}: {len(data):,} bytes exceeds the limit of {max_bytes:,}")
    try:
        pixels = decode_image(data, max_pixels=max_pixels, name=label)
    except ImageTooLargeError as exc:
        raise EnrollmentError("photo-size", str(exc)) from exc
    except ImageError as exc:
        raise EnrollmentError("photo-format", str(exc)) from exc
    extension = FORMAT_EXTENSIONS[image_format(data)]
    faces = engine.detect(pixels)
    usable = faces[(faces.score >= USABLE_FACE_SCORE) & (faces.inter_eye >= USABLE_FACE_EYES_PX)]
    if len(usable) == 0:
        raise EnrollmentError("no-face", f"{label}: no usable face found")
    if len(usable) > 1:
        raise EnrollmentError("several-faces", f"{label}: {len(usable)} faces found; a photo must show exactly one")
    quality = assess_quality(pixels, usable)
    score = float(quality.score[0])
    if score < MIN_ENROLL_QUALITY:
        raise EnrollmentError(
            "face-quality",
            f"{label}: face quality {score:.2f} is below the minimum {MIN_ENROLL_QUALITY} "
            f"(eyes {quality.inter_eye_px[0]:.0f} px apart, sharpness {quality.sharpness[0]:.0f}, "
            f"yaw {quality.yaw[0]:+.2f})",
        )
    return _checked(engine, label, data, extension, pixels, usable, quality)


def _checked(
    engine: FaceEngine,
    label: str,
    data: bytes,
    extension: str,
    pixels: np.ndarray,
    face: FaceDetections,
    quality: FaceQuality,
) -> CheckedPhoto:
    """The one face that passed, embedded, with what is stored about it."""
    embedded = engine.embed(pixels, face)
    return CheckedPhoto(
        source_name=label,
        data=data,
        sha256=hashlib.sha256(data).hexdigest(),
        extension=extension,
        width=int(pixels.shape[1]),
        height=int(pixels.shape[0]),
        face=face,
        quality=float(quality.score[0]),
        inter_eye_px=float(quality.inter_eye_px[0]),
        sharpness=float(quality.sharpness[0]),
        yaw=float(quality.yaw[0]),
        pitch=float(quality.pitch[0]),
        vector=embedded.vectors[0],
        model=embedded.model,
        version=embedded.version,
    )


def check_sighting_face(
    engine: FaceEngine, data: bytes, label: str, *, min_quality: float, max_pixels: int
) -> CheckedPhoto:
    """The matched face of a confirmed sighting's crop as a template: the face at the crop's centre (the
    crop is cut around it; anyone else in the margin is a bystander and is never taken), passing the
    live quality gate."""
    try:
        pixels = decode_image(data, max_pixels=max_pixels, name=label)
    except ImageError as exc:
        raise EnrollmentError("photo-format", str(exc)) from exc
    faces = engine.detect(pixels)
    usable = faces[(faces.score >= USABLE_FACE_SCORE) & (faces.inter_eye >= USABLE_FACE_EYES_PX)]
    if len(usable) == 0:
        raise EnrollmentError("no-face", f"{label}: no usable face found in the sighting's crop")
    face = usable[central_face(usable, pixels.shape[1], pixels.shape[0])]
    quality = assess_quality(pixels, face)
    score = float(quality.score[0])
    if score < min_quality:
        raise EnrollmentError("face-quality", f"{label}: face quality {score:.2f} is below the live gate {min_quality}")
    return _checked(engine, label, data, "jpg", pixels, face, quality)
