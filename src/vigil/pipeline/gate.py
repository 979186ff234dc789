"""What the live pipeline asks before it looks at a frame: is this camera covered by an authorisation now,
and whom may it match?

The pipeline knows only this protocol; ``vigil.domain.authorisations`` answers it from the database.
A camera without coverage is not decoded at all (``LiveRunner`` keeps it idle), and a frame seen
outside coverage is not analysed (the analyser checks every frame, so the boundary instants hold
exactly, whatever the lag of starting or stopping a stream).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Scope:
    """One active authorisation's watchlist scope: whole categories and named subjects."""

    authorisation_id: str
    categories: frozenset[str]
    subjects: frozenset[str]
    everyone: bool = False  # only for recorded clips in evaluations (``RECORDED_CLIP``)

    def admits(self, subject_id: str, category: str) -> bool:
        return self.everyone or category in self.categories or subject_id in self.subjects


@dataclass(frozen=True)
class Coverage:
    """The authorisations active on one camera at one instant (earliest start first), or why there are none."""

    scopes: tuple[Scope, ...] = ()
    why_not: str = ""
    resumes_at: float | None = None  # uncovered: when the next authorisation on the camera starts, if any
    why_code: str = ""  # why_not as a code: "uncovered", "scheduled" (the next starts at why_at), "ended" (at why_at)
    why_at: float | None = None

    def __bool__(self) -> bool:
        return bool(self.scopes)

    @property
    def authorisation_ids(self) -> tuple[str, ...]:
        return tuple(s.authorisation_id for s in self.scopes)

    @property
    def everyone(self) -> bool:
        return any(s.everyone for s in self.scopes)

    def admits(self, subject_id: str, category: str) -> bool:
        return any(s.admits(subject_id, category) for s in self.scopes)

    def authorisation_for(self, subject_id: str, category: str) -> str | None:
        """The first active authorisation whose scope admits the subject (the alert is raised under it);
        None for a recorded clip's coverage, which is no authorisation."""
        for scope in self.scopes:
            if scope.admits(subject_id, category):
                return None if scope.everyone else scope.authorisation_id
        return None


class ScanGate(Protocol):
    def coverage(self, camera: str, at: float) -> Coverage:
        """Coverage of ``camera`` at POSIX time ``at``: falsy, with the reason, when none is active."""
        ...

    def refresh(self) -> None:
        """Pick up authorisations added or ended since the last call (cheap; called every second or so)."""
        ...


class RecordedClip:
    """The gate for benchmarks over recorded clips (not cameras): every frame covered, everyone in scope.
    Product paths build ``vigil.domain.authorisations.AuthorisationBook`` instead."""

    COVERAGE = Coverage((Scope("recorded-clip", frozenset(), frozenset(), everyone=True),))

    def coverage(self, camera: str, at: float) -> Coverage:
        return self.COVERAGE

    def refresh(self) -> None:
        return None
