"""The words the rules are written in: roles, subject and alert statuses, outcomes (``StrEnum``s, so
they are stored and sent as the plain strings they are)."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"  # users, cameras, settings
    SUPERVISOR = "supervisor"  # watchlist, thresholds, second confirmation
    OPERATOR = "operator"  # live alerts, adjudication, sightings
    AUDITOR = "auditor"  # read-only: audit log and reports
    AUTHORISER = "authoriser"  # signs the authorisations cameras scan under (never their own requests)


class SubjectStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    EXPIRED = "expired"


class PendingAction(StrEnum):
    """A watchlist change one supervisor asked for and a second must approve."""

    ENROLL = "enroll"  # a new entry (stored suspended until approved: it never matches before)
    REINSTATE = "reinstate"  # a suspended entry back to active
    RENEW = "renew"  # a new expiry (within the category's longest validity)


PROPOSED = "proposed"  # how an entry waiting for its enrollment approval is shown (stored suspended)


class AlertStatus(StrEnum):
    PENDING = "pending"  # waiting for an operator
    AWAITING_SECOND = "awaiting-second"  # high-risk category: confirmed once, a supervisor must confirm too
    CONFIRMED = "confirmed"
    REJECTED = "rejected"
    INCONCLUSIVE = "inconclusive"


OPEN_ALERT_STATUSES = (AlertStatus.PENDING, AlertStatus.AWAITING_SECOND)  # still to be decided


class Outcome(StrEnum):
    """What happened after a confirmed sighting, as the officers record it."""

    LOCATED = "located"
    NOT_LOCATED = "not-located"
    SPOKEN_TO = "spoken-to"
    ARRESTED = "arrested"
    OTHER = "other"
