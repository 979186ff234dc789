"""Who looked at what: limits on viewing faces, and each user's reads per day for the auditors.

An insider exporting the watchlist or following someone does it through reads, and every read is in
the audit log (``subject-viewed``, ``subjects-searched``, ``trail-viewed``, ``photo-viewed``,
``crop-viewed``). From those entries:

* **A view limit.** A user may open at most ``views_per_hour`` different photos and crops in any hour
  (re-opening one already seen in the hour is free); past it the request is refused, and the refusal
  is audited (``access-refused`` with status 429), which the auditors' summary marks.
* **A summary per user and day** — searches, subjects viewed, trails viewed, photos and crops viewed —
  with the outliers marked: a count at least ``OUTLIER_FACTOR`` times the median of all user-days over
  the period (and at least ``OUTLIER_FLOOR``), or a day with a refused view.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from vigil.domain.audit import AuditLog
from vigil.domain.vocabulary import AuditAction
from vigil.store.db import Database
from vigil.store.models import AuditEvent

MEDIA_VIEWS = ("photo-viewed", "crop-viewed")
MEASURES: dict[str, tuple[str, ...]] = {
    "searches": ("subjects-searched",),
    "subjects_viewed": ("subject-viewed",),
    "trails_viewed": ("trail-viewed",),
    "photos_viewed": MEDIA_VIEWS,
}
OUTLIER_FACTOR = 3.0
OUTLIER_FLOOR = 10


@dataclass(frozen=True)
class AccessDay:
    """One user's reads on one (UTC) day."""

    username: str
    day: date
    counts: dict[str, int]
    refused_views: int = 0
    outliers: tuple[str, ...] = field(default=())  # the measures out of line (and "refused-views")


class AccessWatch:
    def __init__(self, db: Database, *, views_per_hour: int) -> None:
        self.db = db
        self.views_per_hour = views_per_hour

    def may_view(self, username: str, media_name: str, now: datetime) -> tuple[bool, int]:
        """Whether ``username`` may open ``media_name`` now, and how many different photos and crops
        they opened in the last hour (a look only: :meth:`view` counts and records in one step)."""
        with self.db.session() as session:
            return self._may_view(session, username, media_name, now)

    def _may_view(self, session: Session, username: str, media_name: str, now: datetime) -> tuple[bool, int]:
        since = now - timedelta(hours=1)
        seen = select(AuditEvent.object_id).where(
            AuditEvent.actor == username, AuditEvent.action.in_(MEDIA_VIEWS), AuditEvent.at >= since
        )
        viewed = int(session.scalar(select(func.count(distinct(seen.subquery().c.object_id)))) or 0)
        again = session.scalar(seen.where(AuditEvent.object_id == media_name).limit(1)) is not None
        return again or viewed < self.views_per_hour, viewed

    def view(
        self, audit: AuditLog, username: str, kind: str, media_name: str, now: datetime, *, source: str
    ) -> tuple[bool, int]:
        """Count and, if within the limit, record the view of ``media_name`` in one transaction under the
        audit log's write lock, so parallel requests cannot all pass the same count."""
        action = AuditAction.PHOTO_VIEWED if kind == "photos" else AuditAction.CROP_VIEWED
        with self.db.session() as session, audit.exclusive(session):
            allowed, viewed = self._may_view(session, username, media_name, now)
            if allowed:
                audit.record(username, action, object_type=kind, object_id=media_name, source=source, session=session)
        return allowed, viewed

    def summary(self, *, days: int, now: datetime) -> list[AccessDay]:
        """Every user's reads per day over the last ``days`` days, newest day first, outliers marked."""
        since = now - timedelta(days=days)
        actions = [a for group in MEASURES.values() for a in group]
        with self.db.session() as session:
            rows = session.execute(
                select(AuditEvent.actor, AuditEvent.action, AuditEvent.at, AuditEvent.details).where(
                    AuditEvent.at >= since, AuditEvent.action.in_([*actions, "access-refused"])
                )
            ).all()
        measure_of = {action: name for name, group in MEASURES.items() for action in group}
        counts: dict[tuple[str, date], dict[str, int]] = defaultdict(lambda: dict.fromkeys(MEASURES, 0))
        refused: dict[tuple[str, date], int] = defaultdict(int)
        for actor, action, at, details in rows:
            key = (actor, at.date())
            if action == "access-refused":
                if isinstance(details, dict) and details.get("status") == 429:
                    refused[key] += 1
                    counts[key]
                continue
            counts[key][measure_of[action]] += 1
        medians = {
            name: statistics.median([c[name] for c in counts.values() if c[name] > 0] or [0]) for name in MEASURES
        }
        days_out = []
        for (actor, day), values in counts.items():
            flagged = [
                name
                for name, value in values.items()
                if value >= OUTLIER_FLOOR and value >= OUTLIER_FACTOR * medians[name] and len(counts) > 1
            ]
            if refused[(actor, day)]:
                flagged.append("refused-views")
            days_out.append(AccessDay(actor, day, values, refused[(actor, day)], tuple(flagged)))
        return sorted(days_out, key=lambda d: (-d.day.toordinal(), d.username))
