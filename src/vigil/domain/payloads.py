"""What leaves Vigil: the body of an event sent to a webhook or an MQTT broker. Pure.

Minimal by default (docs/accountability.md): the subject's id (never the name), the category, the
camera with its group and place, the times, the evidence, the alert's status and a link that needs a
login to open. The face crop and the enrolled photo are added at sending time, and only where the
rule that routed the event asks for them (``images``); each such delivery is audited. The body's shape
is ``docs/notify-event.schema.json`` (``SCHEMA``).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime
from typing import Any

SCHEMA = "vigil.event/1"


@dataclass(frozen=True)
class AlertFacts:
    """The stored alert as an event tells of it."""

    alert_id: str
    subject_id: str
    category: str
    camera: str
    camera_group: str
    latitude: float | None
    longitude: float | None
    first_seen: datetime
    last_seen: datetime
    score: float
    evidence: float | None
    status: str
    acknowledged_by: str | None = None


def alert_link(public_url: str, alert_id: str) -> str:
    """The control room's page of the alert (it asks for a login)."""
    return f"{public_url.rstrip('/')}/alerts/{alert_id}"


def alert_body(kind: str, event_id: str, at: datetime, facts: AlertFacts, *, public_url: str) -> dict[str, Any]:
    place = (
        None if facts.latitude is None or facts.longitude is None else {"lat": facts.latitude, "lon": facts.longitude}
    )
    body: dict[str, Any] = {
        "schema": SCHEMA,
        "event_id": event_id,
        "kind": kind,
        "at": at.isoformat(),
        "alert": {
            "id": facts.alert_id,
            "subject_id": facts.subject_id,
            "category": facts.category,
            "camera": facts.camera,
            "camera_group": facts.camera_group,
            "place": place,
            "first_seen": facts.first_seen.isoformat(),
            "last_seen": facts.last_seen.isoformat(),
            "score": round(facts.score, 4),
            "evidence": None if facts.evidence is None else round(facts.evidence, 4),
            "status": facts.status,
            "link": alert_link(public_url, facts.alert_id),
        },
    }
    if facts.acknowledged_by is not None:
        body["alert"]["acknowledged_by"] = facts.acknowledged_by
    return body


def camera_state_body(event_id: str, at: datetime, camera: str, group: str, state: str) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "event_id": event_id,
        "kind": "camera-state",
        "at": at.isoformat(),
        "camera": {"name": camera, "group": group, "state": state},
    }


Image = tuple[str, bytes]  # (media type, bytes)


def with_images(body: dict[str, Any], *, crop: Image | None, photo: Image | None) -> dict[str, Any]:
    """The body with the images a rule asked for (base64), as a new dict."""
    images: dict[str, dict[str, str]] = {}
    for key, image in (("crop", crop), ("enrolled_photo", photo)):
        if image is not None:
            images[key] = {"type": image[0], "base64": base64.b64encode(image[1]).decode("ascii")}
    return {**body, "images": images} if images else dict(body)
