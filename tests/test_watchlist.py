"""The watchlist on a real database (SQLite and PostgreSQL) with the real face engine."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest
from sqlalchemy import select

from helpers import APPROVER, NOW, PROPOSER, Clock, fields, jpeg, make_service, snapshot
from helpers.scaleout import wait_for
from vigil.domain.enrollment import MIN_ENROLL_QUALITY, EnrollmentError
from vigil.domain.replica import ReplicaChange
from vigil.domain.vocabulary import SubjectStatus
from vigil.domain.watchlist import SubjectNotFoundError, WatchlistService, subject_state
from vigil.settings import VigilSettings
from vigil.store.models import PhotoEmbedding


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def service(database_url: str, tmp_path: Path, engine, clock: Clock) -> Iterator[WatchlistService]:  # type: ignore[no-untyped-def]
    svc = make_service(VigilSettings(data_dir=tmp_path / "data", database_url=database_url), engine, clock)
    yield svc
    svc.db.dispose()


def test_enroll_stores_subject_photo_and_embedding(service: WatchlistService, astronaut: np.ndarray) -> None:
    result = service.enroll(fields(), [("collins.jpg", jpeg(astronaut))])
    subject = service.get(result.subject_id)
    assert subject.status == SubjectStatus.ACTIVE and subject.legal_basis_reference == "MP-2026-0042"
    assert subject.expires_at == NOW + timedelta(days=90)
    (photo,) = subject.photos
    assert photo.quality >= MIN_ENROLL_QUALITY and photo.source_name == "collins.jpg"
    assert service.media.path("photos", photo.media_name).is_file()
    assert photo.media_name != "collins.jpg" and len(photo.media_name) == 36
    with service.db.session() as session:
        embedding = session.scalar(select(PhotoEmbedding).where(PhotoEmbedding.photo_id == photo.id))
    assert embedding is not None and embedding.model == "dlib-resnet" and embedding.version == service.version
    probe = service.engine.analyse(np.ascontiguousarray(astronaut[:, ::-1])).embeddings.vectors
    assert service.search(probe, k=1)[0][0].subject_id == result.subject_id


def test_several_photos_make_one_identity(service: WatchlistService, astronaut: np.ndarray) -> None:
    mirrored = np.ascontiguousarray(astronaut[:, ::-1])
    result = service.enroll(fields(), [("a.jpg", jpeg(astronaut)), ("b.jpg", jpeg(mirrored, 80))])
    assert result.photos_added == 2
    probe = service.engine.analyse(astronaut).embeddings.vectors
    ranked = service.search(probe, k=5)[0]
    assert [c.subject_id for c in ranked] == [result.subject_id]


def _bad_photo_cases(astronaut: np.ndarray, two_faces: np.ndarray) -> list[tuple[str, list[tuple[str, bytes]], str]]:
    good = jpeg(astronaut)
    tiny_blurred = cv2.GaussianBlur(cv2.resize(astronaut, (154, 154), interpolation=cv2.INTER_AREA), (0, 0), 3)
    import skimage.data

    return [
        ("corrupt", [("x.jpg", b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8)], "photo-format"),
        ("truncated", [("x.jpg", good[: len(good) // 3])], "photo-format"),
        ("not-an-image", [("x.jpg", b"%PDF-1.4 not a photo")], "photo-format"),
        ("empty-file", [("x.jpg", b"")], "photo-format"),
        ("50MB", [("big.jpg", good + bytes(50_000_000))], "photo-size"),
        ("no-face", [("coffee.jpg", jpeg(skimage.data.coffee()))], "no-face"),
        ("two-faces", [("two.jpg", jpeg(two_faces))], "several-faces"),
        ("poor-quality", [("blur.jpg", jpeg(tiny_blurred))], "face-quality"),
        ("same-photo-twice", [("a.jpg", good), ("copy-of-a.jpg", good)], "duplicate-photo"),
        ("no-photos", [], "no-photos"),
    ]


BAD_FIELDS = [
    ("missing-name", {"display_name": "  "}, "name"),
    ("path-separator", {"display_name": "../../etc/passwd"}, "name"),
    ("backslash", {"display_name": "C:\\evil"}, "name"),
    ("control-chars", {"display_name": "Eileen\x00\x1bCollins"}, "name"),
    ("unknown-category", {"category": "suspicious-looking"}, "category"),
    ("missing-legal-basis", {"legal_basis_reference": ""}, "legal-basis"),
    ("missing-proposer", {"proposed_by": ""}, "proposer"),
    ("one-person", {"approved_by": PROPOSER}, "two-person"),
    ("unknown-approver", {"approved_by": "insp.nobody"}, "approver"),
    ("beyond-longest-validity", {"expires_at": NOW + timedelta(days=366)}, "expiry-too-long"),
    ("past-expiry", {"expires_at": NOW - timedelta(seconds=1)}, "expiry"),
    ("expiry-now", {"expires_at": NOW}, "expiry"),
    ("naive-expiry", {"expires_at": datetime(2030, 1, 1)}, "expiry"),
]


@pytest.mark.parametrize(("case", "changes", "rule"), BAD_FIELDS, ids=[c[0] for c in BAD_FIELDS])
def test_bad_fields_are_refused_and_change_nothing(service, astronaut, case, changes, rule) -> None:  # type: ignore[no-untyped-def]
    before = snapshot(service)
    with pytest.raises(EnrollmentError) as error:
        service.enroll(fields(**changes), [("a.jpg", jpeg(astronaut))])
    assert error.value.rule == rule, str(error.value)
    assert snapshot(service) == before


@pytest.mark.parametrize(
    "case",
    [
        "corrupt",
        "truncated",
        "not-an-image",
        "empty-file",
        "50MB",
        "no-face",
        "two-faces",
        "poor-quality",
        "same-photo-twice",
        "no-photos",
    ],
)
def test_bad_photos_are_refused_and_change_nothing(service, astronaut, two_faces, case: str) -> None:  # type: ignore[no-untyped-def]
    ((photos, rule),) = [(p, r) for name, p, r in _bad_photo_cases(astronaut, two_faces) if name == case]
    service.enroll(
        fields("Someone Else", category="wanted"), [("hopper-like.jpg", jpeg(np.ascontiguousarray(astronaut[:, ::-1])))]
    )
    before = snapshot(service)
    with pytest.raises(EnrollmentError) as error:
        service.enroll(fields(), photos)
    assert error.value.rule == rule, str(error.value)
    assert snapshot(service) == before


def test_a_photo_already_enrolled_is_refused(service: WatchlistService, astronaut: np.ndarray) -> None:
    service.enroll(fields(), [("a.jpg", jpeg(astronaut))])
    before = snapshot(service)
    with pytest.raises(EnrollmentError, match="already enrolled") as error:
        service.enroll(fields("Another Name"), [("again.jpg", jpeg(astronaut))])
    assert error.value.rule == "duplicate-photo"
    assert snapshot(service) == before


def test_resemblance_to_another_subject_is_a_warning_naming_them(service, astronaut) -> None:  # type: ignore[no-untyped-def]
    first = service.enroll(fields(), [("a.jpg", jpeg(astronaut))])
    second = service.enroll(fields("E. Collins"), [("b.jpg", jpeg(np.ascontiguousarray(astronaut[:, ::-1])))])
    assert len(second.warnings) == 1
    assert "Eileen Collins" in second.warnings[0] and first.subject_id in second.warnings[0]


def test_expired_subject_never_matches_from_the_expiry_instant(service, astronaut, clock) -> None:  # type: ignore[no-untyped-def]
    expiry = NOW + timedelta(hours=1)
    result = service.enroll(fields(expires_at=expiry), [("a.jpg", jpeg(astronaut))])
    probe = service.engine.analyse(astronaut).embeddings.vectors
    assert service.search(probe, at=expiry - timedelta(microseconds=1))[0][0].subject_id == result.subject_id
    assert service.search(probe, at=expiry)[0] == []
    clock.now = expiry  # a gallery rebuilt from the database at that instant leaves the subject out
    service.start()
    assert result.subject_id not in service.replica.gallery
    clock.now = expiry - timedelta(microseconds=1)
    service.start()
    assert result.subject_id in service.replica.gallery


def test_suspended_subject_never_matches_until_reinstated(service, astronaut) -> None:  # type: ignore[no-untyped-def]
    result = service.enroll(fields(), [("a.jpg", jpeg(astronaut))])
    probe = service.engine.analyse(astronaut).embeddings.vectors
    assert service.suspend(result.subject_id).status == SubjectStatus.SUSPENDED
    assert service.search(probe)[0] == []
    service.start()  # also after a restart
    assert service.search(probe)[0] == []
    service.reinstate(result.subject_id, requested_by=PROPOSER, approved_by=APPROVER)
    assert service.search(probe)[0][0].subject_id == result.subject_id


def test_remove_deletes_photos_files_and_embeddings(service, astronaut) -> None:  # type: ignore[no-untyped-def]
    before = snapshot(service)
    result = service.enroll(fields(), [("a.jpg", jpeg(astronaut)), ("b.jpg", jpeg(astronaut, 70))])
    assert service.remove(result.subject_id) == 2
    assert snapshot(service) == before
    probe = service.engine.analyse(astronaut).embeddings.vectors
    assert service.search(probe)[0] == []
    with pytest.raises(SubjectNotFoundError):
        service.get(result.subject_id)


def test_gallery_is_rebuilt_from_the_database(database_url, tmp_path, engine, astronaut, clock) -> None:  # type: ignore[no-untyped-def]
    settings = VigilSettings(data_dir=tmp_path / "data", database_url=database_url)
    first = make_service(settings, engine, clock)
    subject_id = first.enroll(fields(), [("a.jpg", jpeg(astronaut))]).subject_id
    first.db.dispose()
    second = make_service(settings, engine, clock)
    probe = engine.analyse(astronaut).embeddings.vectors
    assert second.search(probe)[0][0].subject_id == subject_id
    second.db.dispose()


def test_a_failed_database_write_leaves_no_files(service, astronaut, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    before = snapshot(service)

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("database went away")

    monkeypatch.setattr(service, "_insert_photos", boom)
    with pytest.raises(RuntimeError):
        service.enroll(fields(), [("a.jpg", jpeg(astronaut))])
    assert snapshot(service) == before


def test_orphaned_media_from_a_crash_is_swept_on_start(service, astronaut) -> None:  # type: ignore[no-untyped-def]
    import os
    import time

    service.enroll(fields(), [("a.jpg", jpeg(astronaut))])
    kept = service.media.names("photos")
    crashed = service.media.save("photos", b"left by a crash", "jpg")
    old = time.time() - 3600
    os.utime(service.media.path("photos", crashed), (old, old))
    in_progress = service.media.save("photos", b"another process is enrolling this", "jpg")
    service.start()
    assert service.media.names("photos") == sorted([*kept, in_progress])


def test_a_model_change_re_embeds_without_re_enrolling(service, astronaut, settings) -> None:  # type: ignore[no-untyped-def]
    from vigil.vision.catalogue import create_plain_embedder
    from vigil.vision.engine import FaceEngine

    subject_id = service.enroll(fields(), [("a.jpg", jpeg(astronaut))]).subject_id
    plain = create_plain_embedder("dlib-resnet", settings)
    plain.prepare()
    other = WatchlistService(
        service.db,
        service.media,
        FaceEngine(service.engine.detector, plain),
        service.settings,
        duplicate_threshold=0.956,
        clock=service.clock,
    )
    other.start()
    probe = other.engine.analyse(astronaut).embeddings.vectors
    assert other.search(probe)[0] == []  # no template for this model version yet
    assert other.reembed() == 1
    assert other.reembed() == 0
    assert other.search(probe)[0][0].subject_id == subject_id
    with service.db.session() as session:
        versions = sorted(session.scalars(select(PhotoEmbedding.version)))
    assert versions == [plain.version, service.version]


def test_categories_are_configurable(service, astronaut) -> None:  # type: ignore[no-untyped-def]
    assert {c.name for c in service.categories()} == {"registered-offender", "wanted", "missing-person"}
    service.add_category("bail-conditions", "Bail conditions", high_risk=False)
    service.enroll(fields(category="bail-conditions"), [("a.jpg", jpeg(astronaut))])
    with pytest.raises(EnrollmentError, match="already exists"):
        service.add_category("bail-conditions", "Again")
    with pytest.raises(EnrollmentError, match="slug"):
        service.add_category("Bad Name/..", "x")


def test_another_process_s_changes_reach_the_replica_subject_by_subject(tmp_path, engine, astronaut, clock) -> None:  # type: ignore[no-untyped-def]
    settings = VigilSettings(data_dir=tmp_path / "data")
    writer = make_service(settings, engine, clock)  # e.g. `vigil watchlist add` while `vigil run` runs
    reader = make_service(settings, engine, clock)
    changes: list[ReplicaChange] = []
    reader.replica.subscribe(changes.append)
    probe = reader.engine.analyse(np.ascontiguousarray(astronaut[:, ::-1])).embeddings.vectors
    assert reader.replica.catch_up() == 0
    subject = writer.enroll(fields(), [("a.jpg", jpeg(astronaut))]).subject_id
    assert reader.search(probe)[0] == []  # not applied until the reader reads the log
    assert reader.replica.catch_up() > 0 and reader.search(probe)[0][0].subject_id == subject
    assert changes[-1].subjects == {subject} and not changes[-1].reloaded
    assert reader.replica.catch_up() == 0  # each change once
    writer.suspend(subject)
    assert reader.replica.catch_up() == 1 and reader.search(probe)[0] == []
    writer.reinstate(subject, requested_by=PROPOSER, approved_by=APPROVER)
    assert reader.replica.catch_up() >= 1 and reader.search(probe)[0][0].subject_id == subject
    writer.add_category("bail-conditions", "Bail conditions")
    assert reader.replica.catch_up() == 1 and changes[-1].rules and not changes[-1].subjects
    writer.remove(subject)
    assert reader.replica.catch_up() >= 1 and reader.search(probe)[0] == []
    assert reader.replica.full_loads == 1  # loaded at start only


def test_own_writes_reach_the_gallery_through_the_same_log(service, astronaut) -> None:  # type: ignore[no-untyped-def]
    probe = service.engine.analyse(astronaut).embeddings.vectors
    subject = service.enroll(fields(), [("a.jpg", jpeg(astronaut))]).subject_id
    assert service.search(probe)[0][0].subject_id == subject  # at once: no poll in between
    service.suspend(subject)
    assert service.search(probe)[0] == []
    assert service.replica.full_loads == 1 and service.replica.changes_applied >= 2


def test_a_following_replica_picks_up_changes_within_a_poll(tmp_path, engine, astronaut, clock) -> None:  # type: ignore[no-untyped-def]
    settings = VigilSettings(data_dir=tmp_path / "data")
    writer = make_service(settings, engine, clock)
    reader = make_service(settings, engine, clock)
    reader.replica.poll_s = 0.2
    reader.replica.follow()
    try:
        probe = reader.engine.analyse(astronaut).embeddings.vectors
        subject = writer.enroll(fields(), [("a.jpg", jpeg(astronaut))]).subject_id
        wait_for(lambda: bool(reader.search(probe)[0]), 3.0, "the follower did not apply the enrollment", every=0.05)
        assert reader.search(probe)[0][0].subject_id == subject
    finally:
        reader.replica.close()
    assert reader.replica.full_loads == 1


def test_a_gap_longer_than_the_log_loads_the_whole_gallery(service, astronaut, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from vigil.domain import replica as replica_module

    service.enroll(fields(), [("a.jpg", jpeg(astronaut))])
    monkeypatch.setattr(replica_module, "KEEP", replica_module.WINDOW + timedelta(milliseconds=50))
    time.sleep(0.1)
    service.replica.catch_up()
    assert service.replica.full_loads == 2 and len(service.replica.gallery) == 1


# ---------------------------------------------------------------- two people (issue 14, item 3)
def test_a_proposal_matches_nobody_until_a_second_supervisor_approves(service, astronaut) -> None:  # type: ignore[no-untyped-def]
    probe = service.engine.analyse(astronaut).embeddings.vectors
    proposal = service.enroll(fields(approved_by=""), [("a.jpg", jpeg(astronaut))]).subject_id
    assert subject_state(service.get(proposal)) == "proposed" and service.search(probe)[0] == []
    with pytest.raises(EnrollmentError) as same:
        service.approve(proposal, approver=PROPOSER)  # the proposer cannot approve their own entry
    assert same.value.rule == "two-person"
    approved = service.approve(proposal, approver=APPROVER)
    assert approved.status == "active" and approved.approved_by == APPROVER and approved.proposed_by == PROPOSER
    assert service.search(probe)[0][0].subject_id == proposal
    with pytest.raises(EnrollmentError) as twice:
        service.approve(proposal, approver=APPROVER)
    assert twice.value.rule == "nothing-pending"


def test_reinstating_and_renewing_take_a_second_supervisor(service, astronaut, clock) -> None:  # type: ignore[no-untyped-def]
    probe = service.engine.analyse(astronaut).embeddings.vectors
    subject = service.enroll(fields(), [("a.jpg", jpeg(astronaut))]).subject_id
    service.suspend(subject)
    asked = service.request_reinstatement(subject, requested_by=APPROVER)
    assert asked.status == "suspended" and asked.pending_action == "reinstate" and service.search(probe)[0] == []
    with pytest.raises(EnrollmentError):
        service.approve(subject, approver=APPROVER)
    assert service.approve(subject, approver=PROPOSER).status == "active"
    assert service.search(probe)[0][0].subject_id == subject

    with pytest.raises(EnrollmentError) as too_long:
        service.request_renewal(subject, NOW + timedelta(days=400), requested_by=PROPOSER)
    assert too_long.value.rule == "expiry-too-long"
    service.set_max_validity("missing-person", 500)  # the category's rule, configurable
    later = NOW + timedelta(days=400)
    asked = service.request_renewal(subject, later, requested_by=PROPOSER)
    assert asked.expires_at < later and asked.pending_expires_at == later  # not before approval
    assert service.approve(subject, approver=APPROVER).expires_at == later


def test_only_active_supervisors_propose_and_approve(service, astronaut) -> None:  # type: ignore[no-untyped-def]
    from vigil.domain.users import UserService

    users = UserService(service.db)
    users.add("op.one", "correct horse battery", "operator")
    users.set_active(APPROVER, False)
    for changes, rule in (({"proposed_by": "op.one"}, "proposer"), ({}, "approver")):
        with pytest.raises(EnrollmentError) as error:
            service.enroll(fields(**changes), [("a.jpg", jpeg(astronaut))])
        assert error.value.rule == rule
