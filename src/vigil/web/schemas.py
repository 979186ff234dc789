"""Request and response bodies of the API, one per entity."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from vigil.domain.adjudication import AlertCase, AlertEvidence, EvidenceImage
from vigil.domain.authorisations import AuthorisationView
from vigil.domain.users import Principal, UserSummary


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoginRequest(Strict):
    username: str = Field(max_length=64)
    password: str = Field(max_length=1024)


class TokenRequest(LoginRequest):
    label: str = Field(default="", max_length=200)


class UserOut(BaseModel):
    id: str
    username: str
    display_name: str
    role: str

    @classmethod
    def of(cls, p: Principal) -> UserOut:
        return cls(id=p.user_id, username=p.username, display_name=p.display_name, role=p.role)


class UserAdminOut(UserOut):
    """A user as admins see it: whether active, and a grant waiting for a second admin."""

    active: bool
    pending_role: str | None
    requested_by: str | None
    approved_by: str | None

    @classmethod
    def of_summary(cls, u: UserSummary) -> UserAdminOut:
        return cls(
            id=u.user_id,
            username=u.username,
            display_name=u.display_name,
            role=u.role,
            active=u.active,
            pending_role=u.pending_role,
            requested_by=u.requested_by,
            approved_by=u.approved_by,
        )


class SessionOut(BaseModel):
    user: UserOut
    csrf_token: str
    expires_at: datetime


class TokenOut(BaseModel):
    token: str
    expires_at: datetime


class UserCreate(Strict):
    username: str = Field(max_length=64)
    password: str = Field(max_length=1024)
    role: Literal["admin", "supervisor", "operator", "auditor", "authoriser"]
    display_name: str = Field(default="", max_length=200)


class RoleChange(Strict):
    role: Literal["admin", "supervisor", "operator", "auditor", "authoriser"]


class CameraCreate(Strict):
    name: str = Field(max_length=64)
    url: str = Field(max_length=2000)
    latitude: float
    longitude: float
    analysis_fps: float = 5.0
    group: str = Field(default="", max_length=64)


class DetectionOut(BaseModel):
    full_passes: int
    region_passes: int
    quiet_frames: int
    pixels_detected: int
    pixels_seen: int
    settled_skips: int
    detected_share: float  # share of the analysed pixels the detector saw (1.0: every frame whole)


class CoveringOut(BaseModel):
    """An authorisation a camera is scanning under, as people read it: its purpose and its dates."""

    id: str
    purpose: str
    starts_at: datetime
    ends_at: datetime


class CameraOut(BaseModel):
    name: str
    url: str  # credentials redacted
    kind: str
    latitude: float
    longitude: float
    analysis_fps: float
    state: str | None = None
    analysed_fps: float | None = None
    dropped_frames: int | None = None
    last_frame_at: datetime | None = None
    worker: str | None = None  # scale-out: the worker holding the camera's lease
    group: str = ""
    scanning: bool = False  # an authorisation covers it now
    authorisations: list[str] = []  # the ids of those active on it now
    covering: list[CoveringOut] = []  # the same, with each one's purpose and dates
    authorisation_status: str = ""  # why it is idle, when it is
    authorisation_reason: str = ""  # the same as a code: uncovered, scheduled (next at …_at), ended (at …_at)
    authorisation_reason_at: datetime | None = None
    zones: dict[str, Any] | None = None  # {"frame": [w, h], "zones": [...], "masks": [...]}; None: whole frame
    detection: DetectionOut | None = None  # where this server runs it: the detection scheduler's choices


class ZonesIn(Strict):
    frame: list[int] = Field(min_length=2, max_length=2, description="[width, height] of the frame drawn on")
    zones: list[list[list[float]]] = Field(default_factory=list, max_length=32)
    masks: list[list[list[float]]] = Field(default_factory=list, max_length=32)


class AuthorisationIn(Strict):
    cameras: list[str] = Field(default_factory=list, max_length=1000)
    camera_groups: list[str] = Field(default_factory=list, max_length=100)
    categories: list[str] = Field(default_factory=list, max_length=100)
    subjects: list[str] = Field(default_factory=list, max_length=10000)
    starts_at: datetime
    ends_at: datetime
    purpose: str = Field(max_length=2000)
    reason: str = Field(default="", max_length=4000)
    review_date: date | None = None  # the requester is the logged-in supervisor, never named here


class AuthorisationSignIn(Strict):
    digest: str = Field(min_length=64, max_length=64, description="the request's `digest` as it was shown")


class AuthorisationEndIn(Strict):
    reason: str = Field(max_length=2000)


class AuthorisationOut(BaseModel):
    id: str
    state: str  # requested (waiting for a signature), scheduled, active, ended (early) or expired
    purpose: str
    reason: str
    requested_by: str
    authorised_by: str
    cameras: list[str]
    camera_groups: list[str]
    categories: list[str]
    subjects: list[str]
    starts_at: datetime
    ends_at: datetime
    review_date: date | None
    thresholds: dict[str, object]
    ended_at: datetime | None
    ended_by: str | None
    end_reason: str
    digest: str = ""  # a request's: the authoriser's signature names it

    @classmethod
    def of(cls, a: AuthorisationView, now: datetime) -> AuthorisationOut:
        return cls(
            id=a.id,
            state=a.state(now),
            purpose=a.purpose,
            reason=a.reason,
            requested_by=a.requested_by,
            authorised_by=a.authorised_by,
            cameras=list(a.cameras),
            camera_groups=list(a.camera_groups),
            categories=list(a.categories),
            subjects=list(a.subjects),
            starts_at=a.starts_at,
            ends_at=a.ends_at,
            review_date=a.review_date,
            thresholds=a.thresholds,
            ended_at=a.ended_at,
            ended_by=a.ended_by,
            end_reason=a.end_reason,
            digest=a.digest,
        )


class DecisionDone(BaseModel):
    user: str
    role: str
    decision: str
    reason: str
    at: datetime


class OutcomeDone(BaseModel):
    user: str
    outcome: str
    note: str
    at: datetime


class OutcomeIn(Strict):
    outcome: Literal["located", "not-located", "spoken-to", "arrested", "other"]
    note: str = Field(default="", max_length=2000)


class EvidenceIn(Strict):
    reason: str = Field(min_length=3, max_length=2000, description="why the evidence pack is exported (kept)")


class RunnerUpOut(BaseModel):
    subject_id: str
    subject_name: str | None
    score: float | None
    enrolled_photo_url: str | None


class AlertOut(BaseModel):
    id: str
    subject_id: str
    subject_name: str
    category: str
    high_risk: bool
    camera: str
    latitude: float | None
    longitude: float | None
    first_seen: datetime
    last_seen: datetime
    score: float
    threshold: float
    faces: int
    status: str
    crop_url: str | None
    enrolled_photo_url: str | None
    created_at: datetime
    crop_missing: str | None = None  # why there is no crop: it could not be written (the media disk full)
    decisions: list[DecisionDone] = []
    evidence: float | None = None
    runner_up: RunnerUpOut | None = None  # a near-tie: the second candidate, to be settled by a person
    authorisation_id: str | None = None  # the authorisation the camera was scanning under
    outcomes: list[OutcomeDone] = []  # what officers recorded after confirmation; the last counts
    camera_group: str = ""  # the camera's area (a police station's)
    acknowledged_at: datetime | None = None  # "I'm on it" (separate from the decision)
    acknowledged_by: str | None = None
    escalated_at: datetime | None = None  # nobody acknowledged it within its category's time
    band: str = "weak"  # the evidence band: strong, moderate or weak (docs/control-room.md)
    band_scale: str = "nats"  # what the band was read on: "nats" (calibrated evidence) or "similarity"
    band_margin: float = 0.0  # past the threshold in force: nats (or, on the similarity scale, a share)
    evidence_nats: float | None = None  # the track's evidence in nats and what the rule in force asked of
    needed_nats: float | None = None  # it (None: the vote rule, or an alert stored before they were kept)
    model: str | None = None  # the face model that decided it (docs/models.md)

    @classmethod
    def of(cls, a: AlertCase) -> AlertOut:
        return cls(
            id=a.id,
            subject_id=a.subject_id,
            subject_name=a.subject_name,
            category=a.category,
            high_risk=a.high_risk,
            camera=a.camera,
            latitude=a.latitude,
            longitude=a.longitude,
            first_seen=a.first_seen,
            last_seen=a.last_seen,
            score=round(a.score, 4),
            threshold=round(a.threshold, 4),
            faces=a.faces,
            status=a.status,
            crop_url=f"/api/media/crops/{a.crop_name}" if a.crop_name else None,
            crop_missing=a.crop_missing,
            enrolled_photo_url=f"/api/media/photos/{a.enrolled_photo}" if a.enrolled_photo else None,
            created_at=a.created_at,
            decisions=[DecisionDone(**d.__dict__) for d in a.decisions],
            evidence=None if a.evidence is None else round(a.evidence, 4),
            band=a.band.name,
            band_scale=a.band.scale,
            band_margin=round(a.band.margin, 3),
            evidence_nats=None if a.evidence_nats is None else round(a.evidence_nats, 3),
            needed_nats=None if a.needed_nats is None else round(a.needed_nats, 3),
            runner_up=None
            if a.runner_up_subject_id is None
            else RunnerUpOut(
                subject_id=a.runner_up_subject_id,
                subject_name=a.runner_up_name,
                score=None if a.runner_up_score is None else round(a.runner_up_score, 4),
                enrolled_photo_url=f"/api/media/photos/{a.runner_up_photo}" if a.runner_up_photo else None,
            ),
            authorisation_id=a.authorisation_id,
            outcomes=[OutcomeDone(**o.__dict__) for o in a.outcomes],
            camera_group=a.camera_group,
            acknowledged_at=a.acknowledged_at,
            acknowledged_by=a.acknowledged_by,
            escalated_at=a.escalated_at,
            model=a.model,
        )


class AlertList(BaseModel):
    alerts: list[AlertOut]
    open: int
    next: str | None = None  # pass as ?after= for the next (older) page; none when this was the last
    categories: list[str] = []  # every category's name (the Live page's filter)


class DecisionIn(Strict):
    decision: Literal["confirmed", "rejected", "inconclusive"]
    reason: str = Field(max_length=2000)


class SubjectOut(BaseModel):
    id: str
    display_name: str
    category: str
    status: str  # active, suspended, expired, or proposed (waiting for its enrollment approval)
    legal_basis_type: str
    legal_basis_reference: str
    proposed_by: str | None
    approved_by: str  # the approving supervisor's username ("" while proposed)
    approved_at: datetime | None
    pending_action: str | None  # enroll, reinstate or renew: waiting for a second supervisor
    pending_by: str | None
    pending_expires_at: datetime | None
    expires_at: datetime
    review_date: str | None
    photo_urls: list[str]


class RenewalIn(Strict):
    expires: str = Field(max_length=40, description="The new expiry: YYYY-MM-DD (end of day, UTC) or ISO 8601.")


class AuditOut(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    object_type: str
    object_id: str
    source: str
    details: dict[str, object]


class AuditVerifyOut(BaseModel):
    """The chain checked from entry 1, and against the last anchor where one is published."""

    ok: bool
    entries: int
    head: str  # the newest entry's hash
    first_bad: int | None = None
    reason: str = ""  # why not intact (or why the anchor could not be read)
    anchored: bool  # VIGIL_AUDIT_ANCHOR is set
    anchor_at: str | None = None  # the last anchored head: when, how many entries, which hash
    anchor_entries: int | None = None
    anchor_head: str | None = None


class AccessDayOut(BaseModel):
    """One user's reads on one UTC day, with the measures out of line marked."""

    username: str
    day: str
    searches: int
    subjects_viewed: int
    trails_viewed: int
    photos_viewed: int
    refused_views: int
    outliers: list[str]


class MeOut(BaseModel):
    user: UserOut
    csrf_token: str | None  # the session's, for pages; None with a bearer token


class EnrolledOut(BaseModel):
    subject_id: str
    warnings: list[str]
    status: str  # "proposed" (waiting for a second supervisor) or "active"


class ThresholdOut(BaseModel):
    """A category's rule in force and what it is expected to give at the current watchlist size."""

    category: str
    high_risk: bool
    threshold: float
    calibrated: bool  # set by hand
    watchlist_size: int
    expected_false_alert_rate: float | None
    expected_miss_rate: float | None
    floor: float | None
    false_alerts_per_1000: float
    rule: str  # "looks+pooled", "best-looks" or "pooled" (round two), "fused" or "votes"
    source: str  # "set", "policy" or "provisional"
    expected_hit_rate: float | None


class ThresholdSetOut(BaseModel):
    category: str
    before: float | None
    after: float


class ThresholdChangeOut(BaseModel):
    at: datetime
    category: str
    before: float | None
    after: float
    by: str
    reason: str
    watchlist_size: int
    expected_false_alert_rate: float | None
    expected_miss_rate: float | None


class LiveFigureOut(BaseModel):
    """Observed false alerts per camera and category against the expected rate."""

    camera: str
    category: str
    alerts: int
    confirmed: int
    rejected: int
    inconclusive: int
    tracks: int
    observed_false_alert_rate: float | None
    expected_false_alert_rate: float | None
    drift: bool


class TokenInfoOut(BaseModel):
    id: str
    label: str
    created_at: datetime
    expires_at: datetime


class TicketOut(BaseModel):
    ticket: str
    expires_at: datetime


class EndpointIn(BaseModel):
    """A webhook (http:// or https://) or an MQTT broker (mqtt:// or mqtts://)."""

    name: str = Field(max_length=64)
    url: str = Field(max_length=2000)
    key_id: str = Field(default="k1", max_length=64)
    secret: str = Field(
        default="", max_length=500, description="Webhook: signing secret (made if empty). MQTT: password."
    )
    username: str = Field(default="", max_length=128)
    topic_prefix: str = Field(default="vigil", max_length=128)
    timeout_s: float = 5.0
    concurrency: int = 4
    retry_for_s: float = 86_400.0


class EndpointOut(BaseModel):
    id: str
    name: str
    kind: str
    url: str
    key_id: str
    username: str
    topic_prefix: str
    timeout_s: float
    concurrency: int
    retry_for_s: float
    active: bool
    created_by: str
    suspended: str = ""  # why nothing is sent to it (its address fails the outbound guard); empty: not
    secret: str = ""  # a webhook's generated signing secret, in the answer to its creation only


class RuleIn(BaseModel):
    name: str = Field(max_length=64)
    endpoint: str = Field(max_length=64)
    event_kinds: list[str] = Field(default_factory=lambda: ["raised"], max_length=10)
    categories: list[str] = Field(default_factory=list, max_length=100)
    camera_groups: list[str] = Field(default_factory=list, max_length=500)
    min_score: float | None = None
    include_crop: bool = False
    include_photo: bool = False


class RuleOut(BaseModel):
    id: str
    name: str
    endpoint: str
    event_kinds: list[str]
    categories: list[str]
    camera_groups: list[str]
    min_score: float | None
    include_crop: bool
    include_photo: bool
    active: bool
    created_by: str
    state: str  # "proposed": it sends images and waits for a different admin's approval; "approved"
    approved_by: str
    digest: str  # of the rule's content: an approval names it, so it binds to what was shown


class RuleApproveIn(BaseModel):
    digest: str = Field(min_length=64, max_length=64, description="the rule's `digest` as it was shown")


class DeliveryLogOut(BaseModel):
    endpoint_id: str
    name: str
    kind: str
    active: bool
    pending: int
    delivered: int
    abandoned: int
    attempts: int
    last_status: int | None
    last_error: str
    lag_s: float
    failing_since: datetime | None
    last_success_at: datetime | None
    flagged: bool


class AckTimeIn(BaseModel):
    category: str = Field(max_length=64)
    seconds: float | None = Field(default=None, description="None or 0: never escalate")


class SightingBrief(BaseModel):
    camera: str
    camera_group: str
    first_seen: datetime
    latitude: float | None
    longitude: float | None


class FieldActionBrief(BaseModel):
    action: Literal["acknowledge", "on-my-way", "not-found"]
    acted_at: datetime  # when the officer tapped
    received_at: datetime  # when the server had it (later for an action queued offline)


class FieldAlertOut(AlertOut):
    last_sightings: list[SightingBrief] = []  # the subject's latest confirmed sightings, newest first
    my_actions: list[FieldActionBrief] = []  # this officer's actions on it from the field view, oldest first


class FieldList(BaseModel):
    groups: list[str]  # the officer's camera groups (empty: every area)
    shift_hours: float  # how long a red flag this officer took up stays listed (VIGIL_SHIFT_HOURS)
    alerts: list[FieldAlertOut]


class FieldActionIn(Strict):
    action: Literal["acknowledge", "on-my-way", "not-found"]
    client_id: str = Field(
        min_length=8,
        max_length=64,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="The phone's own id for this action: sent again (an answer lost), it is recorded once",
    )
    acted_at: datetime | None = Field(
        default=None, description="When the officer tapped (an action queued offline is sent later); default: now"
    )


class FieldActionOut(BaseModel):
    recorded: bool  # false: this client_id was recorded before (a resend), nothing more was recorded
    action: FieldActionBrief
    alert: AlertOut


class NearbyCameraOut(BaseModel):
    name: str
    group: str
    latitude: float
    longitude: float
    distance_m: float


class OfficerOut(BaseModel):
    username: str
    display_name: str
    role: str
    groups: list[str]


class RouteOut(BaseModel):
    name: str
    endpoint: str
    event_kinds: list[str]
    categories: list[str]
    camera_groups: list[str]  # empty: every group
    min_score: float | None


class LastSeenOut(BaseModel):
    alert_id: str
    camera: str
    camera_group: str
    latitude: float | None
    longitude: float | None
    at: datetime  # the sighting's last_seen


class NearbyOut(BaseModel):
    subject_id: str
    within_km: float  # VIGIL_NEARBY_KM
    last_seen: LastSeenOut | None  # the latest confirmed sighting (None: none yet)
    cameras: list[NearbyCameraOut]  # within within_km of it, nearest first
    groups: list[str]  # those cameras' groups
    officers: list[OfficerOut]  # the officers of those groups: their field view lists a red flag from them
    rules: list[RouteOut]  # the routing rules a red flag from those cameras would be sent by (raised)


class LocaleIn(BaseModel):
    locale: str | None = Field(default=None, max_length=8, description="en or hi; null: follow the browser")


class EvidenceImageOut(BaseModel):
    url: str
    width: int
    height: int
    at: datetime | None = None
    iod_px: float | None = None


class EnrolledPhotoOut(BaseModel):
    url: str
    added_at: datetime
    width: int
    height: int


class AlertEvidenceOut(BaseModel):
    """Beside the two faces on the alert page (issue 28)."""

    band: str
    band_scale: str  # "nats" (the calibrated evidence) or "similarity" (no evidence in nats was stored)
    band_margin: float  # past the threshold in force, in nats (or a share of the way to similarity 1)
    looks: int
    seconds: float
    faces: list[EvidenceImageOut]
    scene: EvidenceImageOut | None
    photos: list[EnrolledPhotoOut]
    category: str
    high_risk: bool
    legal_basis: str
    expires_at: datetime
    earlier_decided: int
    earlier_confirmed: int
    last_confirmed_camera: str | None
    last_confirmed_at: datetime | None

    @classmethod
    def of(cls, e: AlertEvidence) -> AlertEvidenceOut:
        def image(i: EvidenceImage) -> EvidenceImageOut:
            return EvidenceImageOut(
                url=f"/api/media/crops/{i.name}", width=i.width, height=i.height, at=i.at, iod_px=i.iod_px
            )

        return cls(
            band=e.band.name,
            band_scale=e.band.scale,
            band_margin=round(e.band.margin, 3),
            looks=e.band.looks,
            seconds=round(e.seconds, 1),
            faces=[image(f) for f in e.faces],
            scene=None if e.scene is None else image(e.scene),
            photos=[
                EnrolledPhotoOut(url=f"/api/media/photos/{p.name}", added_at=p.added_at, width=p.width, height=p.height)
                for p in e.photos
            ],
            category=e.category,
            high_risk=e.high_risk,
            legal_basis=f"{e.legal_basis_type}: {e.legal_basis_reference}",
            expires_at=e.expires_at,
            earlier_decided=e.earlier_decided,
            earlier_confirmed=e.earlier_confirmed,
            last_confirmed_camera=e.last_confirmed_camera,
            last_confirmed_at=e.last_confirmed_at,
        )
