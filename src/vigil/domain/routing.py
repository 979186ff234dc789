"""Routing: which endpoints an event goes to, under which rule, with which images. Pure.

A rule matches an event when the event's kind is one of the rule's kinds, its category is one of the
rule's categories (none listed: every category), its camera's group one of the rule's groups (none
listed: every group), and its evidence is at least the rule's minimum score (none: any). Camera-state
events carry no personal data and go to every MQTT endpoint without a rule (as retained messages).

Several rules may send one event to one endpoint: it is sent once, with an image only if some matching
rule asked for it — each endpoint gets one delivery per event, so the receiver's idempotency key is
the event's.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EventFacts:
    """What routing looks at."""

    kind: str
    category: str | None = None
    camera_group: str | None = None
    score: float | None = None


@dataclass(frozen=True)
class Route:
    """An active rule as routing sees it."""

    rule_id: str
    endpoint_id: str
    event_kinds: tuple[str, ...]
    categories: tuple[str, ...] = ()
    camera_groups: tuple[str, ...] = ()
    min_score: float | None = None
    include_crop: bool = False
    include_photo: bool = False


@dataclass(frozen=True)
class Delivery:
    """One event to one endpoint: the first matching rule (for the log) and the images asked for."""

    endpoint_id: str
    rule_id: str | None
    include_crop: bool = False
    include_photo: bool = False


def matches(route: Route, facts: EventFacts) -> bool:
    if facts.kind not in route.event_kinds:
        return False
    if route.categories and facts.category not in route.categories:
        return False
    if route.camera_groups and facts.camera_group not in route.camera_groups:
        return False
    return route.min_score is None or (facts.score is not None and facts.score >= route.min_score)


def deliveries(routes: list[Route], facts: EventFacts) -> list[Delivery]:
    """One delivery per endpoint that some rule sends the event to, in the rules' order."""
    chosen: dict[str, Delivery] = {}
    for route in routes:
        if not matches(route, facts):
            continue
        held = chosen.get(route.endpoint_id)
        if held is None:
            chosen[route.endpoint_id] = Delivery(
                route.endpoint_id, route.rule_id, route.include_crop, route.include_photo
            )
        else:
            chosen[route.endpoint_id] = Delivery(
                held.endpoint_id,
                held.rule_id,
                held.include_crop or route.include_crop,
                held.include_photo or route.include_photo,
            )
    return list(chosen.values())
