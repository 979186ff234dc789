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


class FieldActionKind(StrEnum):
    """What an officer on the move does about a red flag from the field view (issue 29)."""

    ACKNOWLEDGE = "acknowledge"  # "I'm on it": also the alert's acknowledgement when it is the first
    ON_MY_WAY = "on-my-way"
    NOT_FOUND = "not-found"  # at the place, the person is not there


class EventKind(StrEnum):
    """What happened to a red flag, as it is sent out (webhooks, MQTT) and routed (``NotifyRule``)."""

    RAISED = "raised"
    ACKNOWLEDGED = "acknowledged"
    ESCALATED = "escalated"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"
    INCONCLUSIVE = "inconclusive"
    CAMERA_STATE = "camera-state"  # a camera's state (MQTT, retained): no personal data


class EndpointKind(StrEnum):
    WEBHOOK = "webhook"
    MQTT = "mqtt"


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # not yet acknowledged by the endpoint (being tried, or waiting to be retried)
    DELIVERED = "delivered"
    ABANDONED = "abandoned"  # retried for the endpoint's whole retry period and never acknowledged


class AuditAction(StrEnum):
    """Every kind of entry the audit log holds: one list, so a report or a search can rely on the names."""

    # access
    LOGIN = "login"
    LOGIN_FAILED = "login-failed"
    LOGOUT = "logout"
    API_TOKEN_ISSUED = "api-token-issued"
    API_TOKEN_REVOKED = "api-token-revoked"
    ACCESS_REFUSED = "access-refused"
    LOGIN_LOCKED = "login-locked"  # an address locked out of an account, once per lock
    LOGIN_SIEGE = "login-siege"  # an account under a distributed guess, once as it crosses the ceiling
    LIVE_SOCKET_OPENED = "live-socket-opened"
    # reads of personal data
    ALERTS_LISTED = "alerts-listed"
    ALERT_VIEWED = "alert-viewed"
    SUBJECTS_LISTED = "subjects-listed"
    SUBJECTS_SEARCHED = "subjects-searched"
    SUBJECT_VIEWED = "subject-viewed"
    TRAIL_VIEWED = "trail-viewed"
    PHOTO_VIEWED = "photo-viewed"
    CROP_VIEWED = "crop-viewed"
    CAMERA_FRAME_VIEWED = "camera-frame-viewed"
    AUDIT_EXPORTED = "audit-exported"
    AUDIT_BROWSED = "audit-browsed"
    AUDIT_VERIFIED = "audit-verified"  # the chain checked from the control room (its result kept)
    SUBJECTS_DUE_LISTED = "subjects-due-listed"
    ACCESS_SUMMARY_VIEWED = "access-summary-viewed"
    REPORT_GENERATED = "report-generated"
    # alerts
    ALERT_DECIDED = "alert-decided"
    ALERT_OUTCOME_RECORDED = "alert-outcome-recorded"
    ALERT_ACKNOWLEDGED = "alert-acknowledged"
    ALERT_FIELD_ACTION = "alert-field-action"  # acknowledge / on my way / not found, from the field view
    ALERT_ESCALATED = "alert-escalated"
    ALERT_SENT_WITH_IMAGES = "alert-sent-with-images"  # a delivery that carried the crop or the enrolled photo
    SIGHTING_TEMPLATE_ADDED = "sighting-template-added"
    EVIDENCE_EXPORTED = "evidence-exported"  # a signed evidence pack of a confirmed alert (who, why, its hash)
    # the watchlist
    SUBJECT_ENROLLED = "subject-enrolled"
    SUBJECT_PHOTOS_ADDED = "subject-photos-added"
    SUBJECT_PROPOSED = "subject-proposed"
    SUBJECT_APPROVED = "subject-approved"
    SUBJECT_SUSPENDED = "subject-suspended"
    SUBJECT_REINSTATEMENT_REQUESTED = "subject-reinstatement-requested"
    SUBJECT_RENEWAL_REQUESTED = "subject-renewal-requested"
    SUBJECT_REMOVED = "subject-removed"
    WATCHLIST_IMPORTED = "watchlist-imported"
    WATCHLIST_REEMBEDDED = "watchlist-reembedded"
    CATEGORY_ADDED = "category-added"
    CATEGORY_VALIDITY_SET = "category-validity-set"
    CATEGORY_ACK_TIME_SET = "category-ack-time-set"
    # users
    USER_ADDED = "user-added"
    USER_PROPOSED = "user-proposed"
    USER_ROLE_REQUESTED = "user-role-requested"
    USER_GRANT_APPROVED = "user-grant-approved"
    USER_ROLE_CHANGED = "user-role-changed"
    USER_DEACTIVATED = "user-deactivated"
    USER_REACTIVATED = "user-reactivated"
    USER_GROUPS_SET = "user-groups-set"
    USER_LOCALE_SET = "user-locale-set"
    # cameras and scanning
    CAMERA_ADDED = "camera-added"
    CAMERA_REMOVED = "camera-removed"
    CAMERA_ZONES_SET = "camera-zones-set"
    CAMERA_SCANNING_STARTED = "camera-scanning-started"
    CAMERA_SCANNING_STOPPED = "camera-scanning-stopped"
    AUTHORISATION_REQUESTED = "authorisation-requested"
    AUTHORISATION_REQUEST_CHANGED = "authorisation-request-changed"
    AUTHORISATION_ADDED = "authorisation-added"
    AUTHORISATION_ENDED = "authorisation-ended"
    # thresholds and calibration
    THRESHOLD_CHANGED = "threshold-changed"
    POLICY_CHANGED = "policy-changed"
    CALIBRATION_STORED = "calibration-stored"
    # face models (issue 26)
    MODEL_ADDED = "model-added"
    MODEL_REMOVED = "model-removed"
    MODEL_ACTIVATED = "model-activated"
    # where red flags are sent
    NOTIFY_ENDPOINT_ADDED = "notify-endpoint-added"
    NOTIFY_ENDPOINT_REMOVED = "notify-endpoint-removed"
    NOTIFY_ENDPOINT_FAILING = "notify-endpoint-failing"
    NOTIFY_RULE_ADDED = "notify-rule-added"
    NOTIFY_RULE_APPROVED = "notify-rule-approved"
    NOTIFY_BROKER_CHECK = "notify-broker-check"  # an attempt, counted toward the per-user limit before connecting
    NOTIFY_BROKER_CHECKED = "notify-broker-checked"  # its result (or its refusal by the limit)
    OUTBOUND_REFUSED = "outbound-refused"
    NOTIFY_RULE_REMOVED = "notify-rule-removed"
    # the system
    SETTINGS_CHANGED = "settings-changed"
    RETENTION_RUN = "retention-run"
    BACKUP_MADE = "backup-made"
    BACKUP_RESTORED = "backup-restored"  # the first entry after a restored archive's own
