"""Evidence packs (issue 30): a real alert raised from a clip, confirmed by two people, its outcome
recorded, exported as a signed pack; the pack verifies offline, and each kind of tampering — a changed
byte in a file, a removed file, an edited manifest, an edited audit entry, a swapped signature or key,
a broken chain link, an entry edited in the log after export — is caught and named. An unconfirmed
alert and an operator are refused; every export is in the audit log."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import time
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from tests.helpers import APPROVER, HELPER_PASSWORD, alert_event, jpeg, live_fields, live_service
from typer.testing import CliRunner

from vigil.cli.main import app as cli
from vigil.domain.adjudication import AlertService, evidence_band
from vigil.domain.alerts import AlertRecorder
from vigil.domain.audit import Actor, AuditLog
from vigil.domain.authorisations import AuthorisationBook, AuthorisationService
from vigil.domain.cameras import CameraRegistry
from vigil.domain.evidence import EvidenceError, read_public_key, verify_pack
from vigil.domain.matching import WatchlistMatcher
from vigil.domain.models import ModelRegistry
from vigil.domain.users import Principal, UserService
from vigil.domain.vocabulary import Role
from vigil.pipeline.runtime import CameraConfig, LiveRunner
from vigil.services import open_evidence
from vigil.settings import VigilSettings
from vigil.store.models import Alert, User
from vigil.video.sources import parse_source

pytestmark = pytest.mark.slow
runner = CliRunner()


@dataclass
class Case:
    settings: VigilSettings
    alert_id: str
    pack: bytes
    pack_sha256: str
    audit: AuditLog
    service: object  # the watchlist
    base: list[str]


def _principal(db, username: str) -> Principal:  # type: ignore[no-untyped-def]
    with db.session() as session:
        user = session.scalar(select(User).where(User.username == username))
        return Principal(user.id, user.username, user.display_name, user.role)


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory, settings: VigilSettings, engine, astronaut) -> Case:  # type: ignore[no-untyped-def]
    from tests.test_alert_evidence import walk_by

    root = tmp_path_factory.mktemp("evidence")
    run = settings.model_copy(
        update={"data_dir": root / "data", "audit_anchor": str(root / "elsewhere" / "audit.anchors")}
    )
    (root / "data").mkdir()
    watchlist = live_service(run, engine)
    db = watchlist.db
    audit = AuditLog(db, key_file=run.resolved_audit_key_file)
    users = UserService(db)
    for username, role in (
        ("op.one", Role.OPERATOR),
        ("requester.sup", Role.SUPERVISOR),
        ("auth.one", Role.AUTHORISER),
    ):
        users.add(username, HELPER_PASSWORD, role)
    subject = watchlist.enroll(
        live_fields("Eileen Collins", "wanted"), [("eileen.jpg", jpeg(astronaut))], by=Actor(APPROVER, "test")
    ).subject_id
    ModelRegistry(db, audit).activate(  # as `vigil models use` records it: the pack names the model from it
        engine.embedder.name,
        engine.embedder.version,
        "",
        by=Actor(APPROVER, "test"),
        reason="the shipped recogniser, as installed",
        before={},
        thresholds={},
    )
    clip = walk_by(root / "walk.mp4", astronaut)  # a street scene the subject crosses: several looks
    CameraRegistry(db).add("hazratganj-1", str(clip), latitude=26.850, longitude=80.946, group="Hazratganj")
    now = datetime.now(UTC)
    AuthorisationService(db, audit).add(
        cameras=["hazratganj-1"],
        categories=["wanted"],
        subjects=[],
        starts_at=now - timedelta(hours=1),
        ends_at=now + timedelta(days=1),
        purpose="warrant W-2026-17: find the subject near Hazratganj",
        requested_by="requester.sup",
        authorised_by="auth.one",
        source="test",
    )
    live = LiveRunner(
        [CameraConfig("hazratganj-1", parse_source(str(clip), realtime=False), 5.0)],
        engine,
        WatchlistMatcher(watchlist),
        AlertRecorder(db, watchlist.media),
        gate=AuthorisationBook(db, refresh_s=0.0),
    )
    live.start()
    assert live.wait(180)
    live.close()
    with db.session() as session:
        (alert_id,) = session.scalars(select(Alert.id).where(Alert.subject_id == subject)).all()
    alerts = AlertService(db, audit)
    alerts.decide(alert_id, _principal(db, "op.one"), "confirmed", "the face matches the enrolled photo", source="t")
    alerts.decide(alert_id, _principal(db, APPROVER), "confirmed", "agree: same person, warrant checked", source="t")
    alerts.record_outcome(alert_id, _principal(db, "op.one"), "arrested", "arrested at the gate", source="t")
    base = ["--data-dir", str(run.data_dir), "--models-dir", str(run.resolved_models_dir)]
    env = {"VIGIL_AUDIT_ANCHOR": run.audit_anchor or ""}
    out = root / "pack.zip"
    result = runner.invoke(
        cli, [*base, "evidence", "export", alert_id, "--out", str(out), "--reason", "FIR 112/2026"], env=env
    )
    assert result.exit_code == 0, result.output
    pack = out.read_bytes()
    return Case(run, alert_id, pack, hashlib.sha256(pack).hexdigest(), audit, watchlist, base)


def _verify(case: Case, pack: bytes, tmp_path: Path, *extra: str) -> tuple[int, str]:
    path = tmp_path / "check.zip"
    path.write_bytes(pack)
    result = runner.invoke(cli, [*case.base, "evidence", "verify", str(path), *extra])
    return result.exit_code, result.output


def _public_key_file(case: Case, tmp_path: Path) -> Path:
    out = tmp_path / "vigil-evidence.pub"
    result = runner.invoke(cli, [*case.base, "evidence", "key", "--out", str(out)])
    assert result.exit_code == 0 and "BEGIN PUBLIC KEY" in result.output and "fingerprint (SHA-256)" in result.output
    return out


def test_a_confirmed_alert_from_a_clip_exports_a_pack_that_verifies(case: Case, tmp_path: Path) -> None:
    from pypdf import PdfReader

    public = _public_key_file(case, tmp_path)
    code, output = _verify(case, case.pack, tmp_path, "--public-key", str(public))
    assert code == 0, output
    assert f"evidence pack intact: alert {case.alert_id}" in output
    code, output = _verify(
        case,
        case.pack,
        tmp_path,
        "--public-key",
        str(public),
        "--audit-key",
        str(case.settings.resolved_audit_key_file),
    )
    assert code == 0 and "each audit entry's hash recomputed with the audit key: all match" in output, output

    archive = zipfile.ZipFile(io.BytesIO(case.pack))
    names = set(archive.namelist())
    assert {"media/crop-1.jpg", "media/enrolled-1.jpg", "case.json", "summary.pdf", "certificate.pdf"} <= names
    assert {"manifest.json", "signature.json", "audit/chain.jsonl", "audit/anchor.json", "README.txt"} <= names
    manifest = json.loads(archive.read("manifest.json"))
    assert set(manifest["files"]) == names - {"manifest.json", "signature.json"}
    document = json.loads(archive.read("case.json"))
    assert document["alert"]["id"] == case.alert_id and document["alert"]["status"] == "confirmed"
    assert [d["by"] for d in document["decisions"]] == ["op.one", APPROVER]
    assert document["two_person"]["required"] is True and document["two_person"]["confirmed_by"] == ["op.one", APPROVER]
    assert document["outcomes"][-1]["outcome"] == "arrested"
    assert document["authorisation"]["purpose"].startswith("warrant W-2026-17")
    assert document["authorisation"]["authorised_by"] == "auth.one"
    assert document["camera"] == {"name": "hazratganj-1", "latitude": 26.85, "longitude": 80.946, "group": "Hazratganj"}
    model = document["recognition"]["model"]
    assert model["embedder"] == case.settings.embedder and model["gallery_versions"]
    assert any(len(w["sha256"]) == 64 for w in model["weights"])
    assert document["recognition"]["threshold"] > 0 and "IST" in document["alert"]["first_seen"]["ist"]

    # the track's stored faces (each with its time and size) and the scene frame, byte for byte as stored,
    # listed in the manifest (so signed) and described in case.json
    db = case.service.db  # type: ignore[attr-defined]
    with db.session() as session:
        alert = session.get(Alert, case.alert_id)
        assert alert is not None
        stored = json.loads(alert.evidence_media or "{}")
    assert len(stored["faces"]) >= 3 and stored["scene"], stored
    media = case.service.media  # type: ignore[attr-defined]
    for n, face in enumerate(stored["faces"], 1):
        path = f"media/track-face-{n}.jpg"
        assert archive.read(path) == media.read("crops", face["name"]) and path in manifest["files"]
        described = document["media"][path]
        assert described["kind"] == "track-face" and described["stored_as"] == face["name"]
        same = archive.read(path) == archive.read("media/crop-1.jpg")
        assert described["same_image_as"] == ("media/crop-1.jpg" if same else None)
        assert (described["width"], described["height"], described["iod_px"]) == (
            face["width"],
            face["height"],
            face["iod_px"],
        )
        assert described["seen_at"]["utc"] == datetime.fromisoformat(face["at"]).isoformat(timespec="seconds")
    assert archive.read("media/scene.jpg") == media.read("crops", stored["scene"]["name"])
    assert document["media"]["media/scene.jpg"]["width"] == stored["scene"]["width"]
    assert "media/scene.jpg" in manifest["files"] and "all of them are in this pack" in document["media_kept"]

    # the evidence band, from the one function the alert page reads it from; model and rule in force
    recognition = document["recognition"]
    page = AlertService(db, case.audit).evidence(case.alert_id)
    shown = evidence_band(alert.evidence_nats, alert.needed_nats, alert.faces, alert.evidence, alert.threshold)
    assert recognition["evidence_band"] == page.band.name == shown.name
    assert recognition["evidence_band_margin"] == round(shown.margin, 4)
    assert (shown.scale == "nats") == (recognition["track_evidence_nats"] is not None)
    assert recognition["evidence_band"] in ("strong", "moderate", "weak") and recognition["looks"] == alert.faces
    assert model["name"] == case.settings.embedder and model["version"] and len(model["sha256"]) == 64
    assert model["version"] in {v["version"] for v in model["gallery_versions"]}
    (switch,) = [
        n for n in names if n.startswith("audit/entry-") and json.loads(archive.read(n))["action"] == "model-activated"
    ]
    assert f"audit entry {int(switch[12:20])}" in model["recorded"]  # the entry it was read from, in the pack
    assert json.loads(archive.read(switch))["details"]["new"]["version"] == model["version"]
    rule = recognition["rule_in_force"]
    assert rule["category"] == "wanted" and rule["rule"] in ("looks+pooled", "best-looks", "pooled", "fused", "votes")
    assert rule["threshold"] == pytest.approx(recognition["threshold"], abs=1e-6), rule
    # the audit entries of the alert (decisions, outcome), its subject and its authorisation, linked to a
    # head that was also published where VIGIL_AUDIT_ANCHOR points
    actions = {json.loads(archive.read(n))["action"] for n in names if n.startswith("audit/entry-")}
    assert {"alert-decided", "alert-outcome-recorded", "subject-enrolled", "authorisation-added"} <= actions
    anchor = json.loads(archive.read("audit/anchor.json"))
    published = json.loads(Path(str(case.settings.audit_anchor)).read_text().splitlines()[-1])
    assert anchor["head"] == published["head"] and anchor["published_to"] == case.settings.audit_anchor

    # the certificate: Parts A and B in English and Hindi (Devanagari shaped: the text extracts), the key's
    # fingerprint, the crop's SHA-256, the algorithm
    certificate = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(archive.read("certificate.pdf"))).pages)
    for words in ("Part A", "Part B", "section 63(4)(c)", "प्रमाणपत्र", "भाग क", "भाग ख", "हैश मान", "SHA256"):
        assert words in certificate, words
    flat = certificate.replace("\n", "")
    for path in ("media/crop-1.jpg", "media/track-face-1.jpg", "media/track-face-3.jpg", "media/scene.jpg"):
        assert manifest["files"][path]["sha256"] in flat, path
    # the Schedule's fields: the server's details and the signatures are blanks for people
    for words in ("Make & model", "Serial number", "IMEI / UIN / UID / MAC / Cloud ID", "(Name and signature)"):
        assert words in certificate, words
    for words in ("(Name, designation and signature)", "Owned", "(in 24-hour format)", "रंग"):
        assert words in certificate, words
    assert certificate.count("by me (select as applicable)") == 1  # Part A only: the expert does not state it
    assert certificate.count("और हस्ताक्षर)") == 2  # the Hindi Parts' signature lines (Part B's with the designation)
    assert manifest["key_fingerprint"] in certificate.replace("\n", "")
    summary = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(archive.read("summary.pdf"))).pages)
    # every track face and the scene frame are drawn in the summary, at their stored pixel sizes
    drawn = {im.image.size for page in PdfReader(io.BytesIO(archive.read("summary.pdf"))).pages for im in page.images}
    assert {(f["width"], f["height"]) for f in stored["faces"]} <= drawn
    assert (stored["scene"]["width"], stored["scene"]["height"]) in drawn
    assert "Eileen Collins" in summary and "FIR 112/2026" in summary and "arrested" in summary
    assert "track face, seen" in summary and "scene frame" in summary
    assert f"{recognition['evidence_band']} evidence: {alert.faces} looks" in summary
    assert f"{model['name']} version {model['version']}" in summary and rule["rule"] in summary

    # the export is in the audit log: who, why, the pack's SHA-256
    (entry,) = case.audit.entries(action="evidence-exported")
    assert entry.object_id == case.alert_id and entry.actor.startswith("cli") and entry.source == "cli"
    assert entry.details["reason"] == "FIR 112/2026" and entry.details["pack_sha256"] == case.pack_sha256
    assert case.audit.verify().ok


def _rezip(pack: bytes, change, *, resign_with=None) -> bytes:  # type: ignore[no-untyped-def]
    """The pack with ``change(files)`` applied to its {name: bytes}; re-signed (manifest and signature
    recomputed) with ``resign_with`` (an Ed25519 private key) if given — an insider holding a key."""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    from vigil.domain.evidence import fingerprint

    source = zipfile.ZipFile(io.BytesIO(pack))
    files = {name: source.read(name) for name in source.namelist()}
    change(files)
    if resign_with is not None:
        public = resign_with.public_key()
        manifest = json.loads(files["manifest.json"])
        manifest["files"] = {
            name: {"sha256": hashlib.sha256(data).hexdigest(), "what": manifest["files"].get(name, {}).get("what", "")}
            for name, data in files.items()
            if name not in ("manifest.json", "signature.json")
        }
        manifest["key_fingerprint"] = fingerprint(public)
        files["manifest.json"] = json.dumps(manifest).encode()
        files["signature.json"] = json.dumps(
            {
                "algorithm": "Ed25519",
                "public_key": base64.b64encode(public.public_bytes(Encoding.Raw, PublicFormat.Raw)).decode(),
                "signature": base64.b64encode(resign_with.sign(files["manifest.json"])).decode(),
            }
        ).encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return out.getvalue()


def _flip_byte(name: str, at: int = 200):  # type: ignore[no-untyped-def]
    def change(files: dict[str, bytes]) -> None:
        data = bytearray(files[name])
        data[at] ^= 0x01
        files[name] = bytes(data)

    return change


def _entry_name(pack: bytes, action: str) -> str:
    archive = zipfile.ZipFile(io.BytesIO(pack))
    return next(
        n
        for n in archive.namelist()
        if n.startswith("audit/entry-") and json.loads(archive.read(n))["action"] == action
    )


def _edit_entry(name: str):  # type: ignore[no-untyped-def]
    def change(files: dict[str, bytes]) -> None:
        record = json.loads(files[name])
        record["details"]["reason"] = "no match: released"
        files[name] = json.dumps(record, indent=2, sort_keys=True).encode()

    return change


def test_each_kind_of_tampering_is_caught_and_named(case: Case, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from vigil.domain.evidence import load_signing_key

    public = str(_public_key_file(case, tmp_path))
    decided = _entry_name(case.pack, "alert-decided")
    the_key = load_signing_key(case.settings.resolved_evidence_key_file)
    other_key = Ed25519PrivateKey.generate()

    def drop(name: str):  # type: ignore[no-untyped-def]
        return lambda files: files.pop(name)

    def edit_manifest(files: dict[str, bytes]) -> None:
        manifest = json.loads(files["manifest.json"])
        manifest["files"]["media/crop-1.jpg"]["sha256"] = "0" * 64
        files["manifest.json"] = json.dumps(manifest).encode()

    def swap_signature(files: dict[str, bytes]) -> None:
        signature = json.loads(files["signature.json"])
        signature["signature"] = base64.b64encode(other_key.sign(files["manifest.json"])).decode()
        files["signature.json"] = json.dumps(signature).encode()

    def break_link(files: dict[str, bytes]) -> None:
        rows = [json.loads(line) for line in files["audit/chain.jsonl"].decode().splitlines()]
        rows[1][2] = "f" * 64
        files["audit/chain.jsonl"] = "".join(json.dumps(r) + "\n" for r in rows).encode()

    audit_key = str(case.settings.resolved_audit_key_file)
    cases = [
        ("a byte of the crop", _rezip(case.pack, _flip_byte("media/crop-1.jpg")), (), ["media/crop-1.jpg: changed"]),
        (
            "a byte of the enrolled photo",
            _rezip(case.pack, _flip_byte("media/enrolled-1.jpg")),
            (),
            ["media/enrolled-1.jpg: changed"],
        ),
        (
            "a byte of a track face",
            _rezip(case.pack, _flip_byte("media/track-face-2.jpg")),
            (),
            ["media/track-face-2.jpg: changed"],
        ),
        (
            "a byte of the scene frame",
            _rezip(case.pack, _flip_byte("media/scene.jpg")),
            (),
            ["media/scene.jpg: changed"],
        ),
        (
            "a removed track face",
            _rezip(case.pack, drop("media/track-face-1.jpg")),
            (),
            ["media/track-face-1.jpg: missing"],
        ),
        (
            "a byte of the certificate",
            _rezip(case.pack, _flip_byte("certificate.pdf", 400)),
            (),
            ["certificate.pdf: changed"],
        ),
        ("a removed file", _rezip(case.pack, drop("summary.pdf")), (), ["summary.pdf: missing"]),
        (
            "an added file",
            _rezip(case.pack, lambda f: f.update({"media/extra.jpg": b"x"})),
            (),
            ["media/extra.jpg: not in the manifest"],
        ),
        (
            "the manifest",
            _rezip(case.pack, edit_manifest),
            (),
            ["signature.json: the signature does not match manifest.json", "media/crop-1.jpg: changed"],
        ),
        ("an audit entry", _rezip(case.pack, _edit_entry(decided)), (), [f"{decided}: changed"]),
        ("the signature", _rezip(case.pack, swap_signature), (), ["signature.json: the signature does not match"]),
        (
            "the whole pack re-signed with another key",
            _rezip(case.pack, _flip_byte("media/crop-1.jpg"), resign_with=other_key),
            ("--public-key", public),
            ["signature.json: signed by the key", "not by the public key given"],
        ),
        (
            "an audit entry edited by an insider who holds the signing key",
            _rezip(case.pack, _edit_entry(decided), resign_with=the_key),
            ("--audit-key", audit_key),
            [f"{decided}: its content does not match its hash"],
        ),
        (
            "a chain link",
            _rezip(case.pack, break_link, resign_with=the_key),
            (),
            ["audit/chain.jsonl: entry", "does not link to entry"],
        ),
    ]
    for what, pack, options, expected in cases:
        code, output = _verify(case, pack, tmp_path, *options)
        assert code == 1, (what, output)
        assert "evidence pack NOT INTACT" in output, what
        for words in expected:
            assert words in output, (what, words, output)
    # the key swap is caught only against the force's public key; the pack alone still names its signer
    resigned = _rezip(case.pack, lambda f: None, resign_with=other_key)
    assert verify_pack(resigned).ok and not verify_pack(resigned, public_key=the_key.public_key()).ok
    with pytest.raises(Exception, match="not an Ed25519 public key"):
        read_public_key(b"not a key")


def test_an_unconfirmed_alert_is_refused_with_one_error_line(case: Case, tmp_path: Path) -> None:
    import subprocess
    import sys

    db = case.service.db  # type: ignore[attr-defined]
    subject = db.session().__enter__().scalar(select(Alert.subject_id).where(Alert.id == case.alert_id))
    stored = AlertRecorder(db, case.service.media).raise_alert(  # type: ignore[attr-defined]
        alert_event(subject, camera="hazratganj-1", track="pending-1")
    )
    assert stored is not None and stored.alert_id
    before = len(case.audit.entries(action="evidence-exported"))
    out = tmp_path / "pending.zip"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "vigil.cli.main",
            *case.base,
            "evidence",
            "export",
            stored.alert_id,
            "--out",
            str(out),
            "--reason",
            "FIR 1",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: [evidence-unconfirmed] alert {stored.alert_id} is pending: "
        "only a confirmed alert is exported as evidence"
    ]
    assert not out.exists() and len(case.audit.entries(action="evidence-exported")) == before

    # a stored image the pack must hold that is gone: one error naming it, nothing written or recorded
    db = case.service.db  # type: ignore[attr-defined]
    with db.session() as session:
        scene = json.loads(session.get(Alert, case.alert_id).evidence_media)["scene"]["name"]  # type: ignore[union-attr]
    stored_at = case.service.media.path("crops", scene)  # type: ignore[attr-defined]
    aside = tmp_path / "scene.jpg"
    options = ["--out", str(out), "--reason", "FIR 1"]
    stored_at.rename(aside)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "vigil.cli.main", *case.base, "evidence", "export", case.alert_id, *options],
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        aside.rename(stored_at)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: [evidence-media] the scene frame (crops/{scene}) is missing from the media store: "
        "no pack is made without it"
    ]
    assert not out.exists() and len(case.audit.entries(action="evidence-exported")) == before
    with pytest.raises(EvidenceError, match="evidence-reason"):
        open_evidence(case.settings).export(case.alert_id, Actor("someone", "t"), " ")


def test_supervisors_export_over_the_api_operators_are_refused(case: Case) -> None:
    from vigil.web.app import create_app
    from vigil.web.context import WebContext

    db = case.service.db  # type: ignore[attr-defined]
    ctx = WebContext.build(case.settings, db)
    ctx.evidence = open_evidence(case.settings, db)
    client = TestClient(create_app(ctx))

    def bearer(username: str) -> dict[str, str]:
        token = client.post("/api/auth/token", json={"username": username, "password": HELPER_PASSWORD})
        assert token.status_code == 200, token.text
        return {"Authorization": f"Bearer {token.json()['token']}"}

    UserService(db).add("sup.two", HELPER_PASSWORD, Role.SUPERVISOR)
    body = {"reason": "court order 7/2026, Sessions Court Lucknow"}
    refused = client.post(f"/api/alerts/{case.alert_id}/evidence", json=body, headers=bearer("op.one"))
    assert refused.status_code == 403
    exported = client.post(f"/api/alerts/{case.alert_id}/evidence", json=body, headers=bearer("sup.two"))
    assert exported.status_code == 200 and exported.headers["content-type"] == "application/zip"
    digest = hashlib.sha256(exported.content).hexdigest()
    assert exported.headers["x-evidence-sha256"] == digest
    assert verify_pack(exported.content, public_key=ctx.evidence.public_key()).ok
    latest = case.audit.entries(action="evidence-exported")[0]
    assert latest.actor == "sup.two" and latest.details["pack_sha256"] == digest
    assert latest.details["reason"] == body["reason"] and latest.source
    # the refusal is in the log too
    assert any(
        e.actor == "op.one" and "evidence" in e.details.get("path", "")
        for e in case.audit.entries(action="access-refused")
    )


def test_a_pack_signed_before_a_backup_verifies_with_the_restored_signing_key(case: Case, tmp_path: Path) -> None:
    """The evidence-signing key is in the backup and restored with it: a pack signed before the backup
    verifies against the public key the restored installation prints. A key the empty target made itself
    before the restore is not overwritten but kept aside (whatever it signed would stop verifying)."""
    passphrase = {"VIGIL_TEST_PASSPHRASE": "a long passphrase for tests", "VIGIL_AUDIT_ANCHOR": None}
    archive = tmp_path / "night.vbk"
    made = runner.invoke(
        cli, [*case.base, "backup", "--out", str(archive), "--passphrase-env", "VIGIL_TEST_PASSPHRASE"], env=passphrase
    )
    assert made.exit_code == 0, made.output
    restored = tmp_path / "restored"
    target = ["--data-dir", str(restored), "--models-dir", str(case.settings.resolved_models_dir)]
    own = runner.invoke(cli, [*target, "evidence", "key", "--out", str(tmp_path / "own.pub")])
    assert own.exit_code == 0, own.output  # the empty target made a key of its own before the restore
    done = runner.invoke(
        cli, [*target, "restore", str(archive), "--passphrase-env", "VIGIL_TEST_PASSPHRASE"], env=passphrase
    )
    assert done.exit_code == 0, done.output
    assert "evidence key: the target's own signing key differed; kept as" in done.output
    assert (restored / "evidence.key").read_bytes() == case.settings.resolved_evidence_key_file.read_bytes()
    (kept,) = restored.glob("replaced-*/evidence.key")
    assert kept.read_bytes() != (restored / "evidence.key").read_bytes()

    public = tmp_path / "restored.pub"
    printed = runner.invoke(cli, [*target, "evidence", "key", "--out", str(public)])
    assert printed.exit_code == 0, printed.output
    path = tmp_path / "before-backup.zip"
    path.write_bytes(case.pack)
    result = runner.invoke(cli, [*target, "evidence", "verify", str(path), "--public-key", str(public)])
    assert result.exit_code == 0, result.output
    assert f"evidence pack intact: alert {case.alert_id}" in result.output
    other = runner.invoke(cli, [*target, "evidence", "verify", str(path), "--public-key", str(tmp_path / "own.pub")])
    assert other.exit_code == 1 and "not by the public key given" in other.output
    # the restored installation signs new packs with the same key
    pack = open_evidence(case.settings.model_copy(update={"data_dir": restored, "audit_anchor": None})).export(
        case.alert_id, Actor("after.restore", "test"), "FIR 112/2026, after the restore"
    )
    assert verify_pack(pack.data, public_key=read_public_key(public.read_bytes())).ok


def test_an_audit_entry_edited_in_the_log_after_export_is_named_and_exports_stop(case: Case, tmp_path: Path) -> None:
    """Runs last in this module: it breaks the fixture's audit log on purpose."""
    db = case.service.db  # type: ignore[attr-defined]
    entry = int(_entry_name(case.pack, "alert-decided").split("-")[1].split(".")[0])
    code, output = _verify(case, case.pack, tmp_path, "--against-log")
    assert code == 0, output
    with db.session() as session:
        session.execute(
            text("UPDATE audit_events SET details = :d WHERE id = :id"),
            {"d": json.dumps({"decision": "rejected", "status": "rejected", "reason": "not him"}), "id": entry},
        )
    code, output = _verify(case, case.pack, tmp_path, "--against-log")
    assert code == 1
    assert f"the audit log's entry {entry} was edited after the export (details)" in output
    assert f"audit log: broken at entry {entry}" in output
    with pytest.raises(EvidenceError, match=r"\[evidence-chain\]"):
        open_evidence(case.settings).export(case.alert_id, Actor("someone", "t"), "FIR 112/2026")
    time.sleep(0)  # nothing else to wait for


@pytest.mark.browser
def test_a_supervisor_exports_the_pack_from_the_alert_page(tmp_path: Path, settings, engine, astronaut) -> None:  # type: ignore[no-untyped-def]
    """The alert page's button: shown to a supervisor on a confirmed alert, asks the reason, downloads the
    signed pack (which verifies) and says its SHA-256; the operator sees no button."""
    from tests.test_browser import ARTIFACTS, CHROMIUM, _browser_missing, _login

    if _browser_missing():
        pytest.skip(str(_browser_missing()))
    from playwright.sync_api import expect, sync_playwright
    from tests.helpers.webserver import start_server

    running = start_server(tmp_path, settings, engine)
    running.ctx.evidence = open_evidence(running.ctx.settings, running.ctx.db)
    subject = running.watchlist.enroll(live_fields("Eileen Collins", "wanted"), [("a.jpg", jpeg(astronaut))])
    stored = running.recorder.raise_alert(alert_event(subject.subject_id, camera="hazratganj-1"))
    assert stored is not None and stored.alert_id
    alerts, db = running.ctx.alerts, running.ctx.db
    alerts.decide(stored.alert_id, _principal(db, "operator"), "confirmed", "same face as the enrolled photo")
    shots = ARTIFACTS / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            supervisor = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True).new_page()
            _login(supervisor, running.url, "supervisor")
            supervisor.wait_for_url("**/live")
            supervisor.goto(f"{running.url}/alerts/{stored.alert_id}")
            expect(supervisor.locator("#evidence")).to_be_hidden()  # awaiting the second confirmation
            supervisor.fill("#decide textarea[name=reason]", "agree: the same person")
            supervisor.click("#decide button[value=confirmed]")
            expect(supervisor.locator("#evidence")).to_be_visible()
            supervisor.fill("#evidence textarea[name=reason]", "FIR 112/2026, Hazratganj police station")
            with supervisor.expect_download() as download_info:
                supervisor.click("#export-evidence")
            download = download_info.value
            assert download.suggested_filename == f"vigil-evidence-{stored.alert_id}.zip"
            pack = Path(download.path()).read_bytes()
            digest = hashlib.sha256(pack).hexdigest()
            expect(supervisor.locator("#evidence-result")).to_contain_text(digest)
            supervisor.screenshot(path=str(shots / "alert-evidence.png"), full_page=True)
            operator = browser.new_context().new_page()
            _login(operator, running.url, "operator")
            operator.wait_for_url("**/live")
            operator.goto(f"{running.url}/alerts/{stored.alert_id}")
            expect(operator.locator("#decisions li")).to_have_count(2)
            assert operator.locator("#evidence").count() == 0  # not on an operator's page at all
            browser.close()
    finally:
        running.ctx.fleet.close()
        running.stop()
    assert verify_pack(pack, public_key=running.ctx.evidence.public_key()).ok
    document = json.loads(zipfile.ZipFile(io.BytesIO(pack)).read("case.json"))
    assert "the crop is the only image" in document["media_kept"]  # an alert stored without faces or scene says so
    assert document["recognition"]["evidence_band"] in ("strong", "moderate", "weak")
    (entry,) = running.ctx.audit.entries(action="evidence-exported")
    assert entry.actor == "supervisor" and entry.details["pack_sha256"] == digest
    assert entry.details["reason"] == "FIR 112/2026, Hazratganj police station"
