"""Where a person was last seen and what lies around it (issue 29): the cameras within a radius
(``VIGIL_NEARBY_KM``), the officers of those cameras' groups and the routing rules a red flag from them
would follow. Distances are great-circle (haversine on the mean Earth radius): metres-accurate at the
few kilometres this is for."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from vigil.domain.cameras import CameraView
from vigil.domain.channels import RuleView
from vigil.domain.routing import EventFacts, Route, matches
from vigil.domain.vocabulary import EventKind

EARTH_RADIUS_M = 6_371_008.8


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance between two WGS84 points, in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


@dataclass(frozen=True)
class NearbyCamera:
    name: str
    group: str
    latitude: float
    longitude: float
    distance_m: float


def cameras_within(cameras: Iterable[CameraView], latitude: float, longitude: float, km: float) -> list[NearbyCamera]:
    """The cameras within ``km`` of the point, nearest first."""
    out = []
    for c in cameras:
        d = distance_m(latitude, longitude, c.latitude, c.longitude)
        if d <= km * 1000.0:
            out.append(NearbyCamera(c.name, c.group, c.latitude, c.longitude, d))
    return sorted(out, key=lambda n: (n.distance_m, n.name))


def rules_for(rules: Iterable[RuleView], category: str, groups: Iterable[str]) -> list[RuleView]:
    """The active, approved rules that would send a red flag (``raised``) of this category from a camera
    in one of ``groups`` — the same matching the outbox does (vigil.domain.routing), a rule's minimum
    score aside (the page shows it: whether it applies depends on the red flag's evidence)."""
    wanted = sorted(set(groups)) or [""]
    out = []
    for rule in rules:
        if not rule.active or rule.state != "approved":
            continue
        route = Route(rule.id, rule.name, rule.event_kinds, rule.categories, rule.camera_groups)
        if any(matches(route, EventFacts(EventKind.RAISED, category, group)) for group in wanted):
            out.append(rule)
    return out
