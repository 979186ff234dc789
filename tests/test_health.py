"""Health endpoints: ``/healthz`` and ``/readyz`` on the control room and on a worker's health port —
without login, naming the dependency that failed and why, with no credential or personal data in them —
and an alert whose crop cannot be written is stored all the same, its crop marked missing."""

from __future__ import annotations

import errno
import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select
from tests.helpers import alert_event, live_fields, live_service, live_settings
from tests.helpers.streaming import free_port

from vigil.bus.redis_bus import RedisBus
from vigil.domain.alerts import AlertRecorder
from vigil.domain.health import HealthChecks, MediaWrites
from vigil.scaleout.health import HealthServer
from vigil.store.db import Database
from vigil.store.media import FolderMediaStore
from vigil.store.models import Alert
from vigil.web.app import create_app
from vigil.web.context import WebContext

SECRET = "s3cret-never-shown"


def _unreachable_postgres() -> Database:
    """A PostgreSQL URL with a password, on a port nobody listens on."""
    return Database(create_engine(f"postgresql+psycopg://vigil:{SECRET}@127.0.0.1:{free_port()}/vigil"))


@pytest.fixture
def ctx(tmp_path: Path, settings, engine) -> WebContext:  # type: ignore[no-untyped-def]
    run_settings = live_settings(tmp_path, settings)
    watchlist = live_service(run_settings, engine)
    context = WebContext.build(run_settings, watchlist.db)
    context.watchlist = watchlist
    return context


def test_control_room_answers_healthz_and_readyz_without_login(ctx: WebContext) -> None:
    with TestClient(create_app(ctx)) as client:
        alive = client.get("/healthz")
        assert alive.status_code == 200 and alive.json() == {"status": "ok"}
        ready = client.get("/readyz")
        assert ready.status_code == 200, ready.text
        body = ready.json()
        assert body["status"] == "ok" and body["failed"] == []
        assert body["checks"]["database"]["ok"] is True
        assert "redis" not in body["checks"]  # embedded: no Redis to ask
        assert body["checks"]["media"]["ok"] is True and body["checks"]["media"]["required"] is False
        assert ready.headers["cache-control"] == "no-store"
        schema = client.get("/openapi.json").json()
        assert "/healthz" not in schema["paths"] and "/readyz" not in schema["paths"]


def test_readyz_is_503_naming_the_database_and_why_without_its_password(ctx: WebContext) -> None:
    ctx.health.db = _unreachable_postgres()
    with TestClient(create_app(ctx)) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable" and body["failed"] == ["database"]
    assert "OperationalError" in body["checks"]["database"]["detail"]
    assert SECRET not in response.text


def test_readyz_is_503_when_redis_does_not_answer(tmp_path: Path) -> None:
    db = Database(create_engine(f"sqlite:///{tmp_path / 'vigil.db'}"))
    url = f"redis://:{SECRET}@127.0.0.1:{free_port()}/0"
    checks = HealthChecks(db, bus=RedisBus(url), secrets=(url,), schema=False)  # an empty database
    readiness = checks.ready()
    assert not readiness.ready and readiness.failed == ["redis"]
    assert "ConnectionError" in readiness.checks[1].detail
    assert SECRET not in json.dumps(readiness.as_json())
    checks.close()


def test_a_full_media_disk_degrades_readiness_without_failing_it(tmp_path: Path) -> None:
    db = Database(create_engine(f"sqlite:///{tmp_path / 'vigil.db'}"))
    writes = MediaWrites()
    checks = HealthChecks(
        db, media_folder=tmp_path / "media", media_writes=writes, media_min_free_bytes=1, schema=False
    )
    assert checks.ready().status == "ok"
    writes.failed(OSError(errno.ENOSPC, "No space left on device"))
    readiness = checks.ready()
    assert readiness.ready and readiness.status == "degraded" and readiness.failed == ["media"]
    assert "No space left on device" in readiness.checks[-1].detail
    writes.succeeded()
    checks.media_min_free_bytes = 1 << 62  # more than any disk has
    readiness = checks.ready()
    assert readiness.ready and "nearly full" in readiness.checks[-1].detail
    checks.close()


class _FullDisk(FolderMediaStore):
    def save(self, kind: str, data: bytes, extension: str) -> str:
        raise OSError(errno.ENOSPC, "No space left on device")


def test_an_alert_whose_crop_cannot_be_written_is_stored_with_its_crop_marked_missing(
    tmp_path: Path, settings, engine, astronaut, caplog: pytest.LogCaptureFixture
) -> None:  # type: ignore[no-untyped-def]
    from tests.helpers import jpeg

    watchlist = live_service(live_settings(tmp_path, settings), engine)
    subject = watchlist.enroll(live_fields("Eileen Collins"), [("a.jpg", jpeg(astronaut))]).subject_id
    recorder = AlertRecorder(watchlist.db, _FullDisk(tmp_path / "media"))
    stored = recorder.raise_alert(alert_event(subject))
    assert stored is not None and stored.alert_id and stored.crop_name is None
    assert stored.crop_missing == "the crop could not be written: No space left on device"
    with watchlist.db.session() as session:
        row = session.scalars(select(Alert)).one()
    assert row.crop_name is None and row.crop_missing == stored.crop_missing
    assert recorder.media_writes.failures == 1 and recorder.media_writes.last_error is not None
    assert "stored without its crop" in caplog.text
    # a later, better look of the same track whose crop can be written replaces the mark
    recorder.media = FolderMediaStore(tmp_path / "media")
    event = alert_event(subject)
    recorder.update_alert(event.__class__(**{**event.__dict__, "score": event.score + 0.01}))
    with watchlist.db.session() as session:
        row = session.scalars(select(Alert)).one()
    assert row.crop_name is not None and row.crop_missing is None
    assert recorder.media_writes.last_error is None


def _get(url: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_worker_health_port_answers_like_the_control_room(tmp_path: Path) -> None:
    db = Database(create_engine(f"sqlite:///{tmp_path / 'vigil.db'}"))
    checks = HealthChecks(db, schema=False)
    stalled: list[str | None] = [None]
    server = HealthServer(checks, host="127.0.0.1", port=0, alive=lambda: stalled[0]).start()
    base = f"http://127.0.0.1:{server.port}"
    try:
        assert _get(base + "/healthz") == (200, {"status": "ok"})
        code, body = _get(base + "/readyz")
        assert code == 200 and body["status"] == "ok"
        checks.db = _unreachable_postgres()
        code, body = _get(base + "/readyz")
        assert code == 503 and body["failed"] == ["database"] and SECRET not in json.dumps(body)
        stalled[0] = "the heartbeat loop has not turned for 75 s"
        assert _get(base + "/healthz") == (503, {"status": "stalled", "detail": stalled[0]})
        assert _get(base + "/metrics")[0] == 404
    finally:
        server.close()
        checks.close()


def test_repeated_failures_are_logged_once_then_rarely_then_when_they_stop(caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from vigil.errors import RepeatedFailure

    logger = logging.getLogger("vigil.test.repeats")
    failures = RepeatedFailure(logger, "the thing failed", every_s=3600)
    with caplog.at_level(logging.INFO, logger="vigil.test.repeats"):
        for _ in range(50):
            try:
                raise ConnectionError("the database went away")
            except ConnectionError:
                failures.failed()
        failures.ok()
        failures.ok()
    records = [r for r in caplog.records if r.name == "vigil.test.repeats"]
    assert [r.levelname for r in records] == ["ERROR", "INFO"]
    assert records[0].exc_info is not None and "after 50 failures" in records[1].getMessage()


def test_a_process_starts_on_a_schema_newer_than_it_knows(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A rolling upgrade: an old process (re)started after a newer Vigil migrated the database runs on it
    (with a warning) instead of failing on a migration it cannot find."""
    from sqlalchemy import text

    from vigil.store.db import create_db_engine, upgrade_schema

    engine = create_db_engine(f"sqlite:///{tmp_path / 'vigil.db'}")
    upgrade_schema(engine)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9901'"))
    upgrade_schema(engine)
    assert "newer than this Vigil knows" in caplog.text
    with engine.connect() as connection:
        assert connection.execute(text("SELECT version_num FROM alembic_version")).scalar() == "9901"


def test_readyz_names_a_schema_behind_this_vigil_and_accepts_a_newer_one(tmp_path: Path) -> None:
    """Migrations at head: a database at an older migration (not migrated yet) is not ready; one at a
    migration this Vigil does not know (a newer release migrated it: a rolling upgrade) is."""
    from sqlalchemy import text

    from vigil.store.db import create_db_engine, migration_revisions, upgrade_schema

    engine = create_db_engine(f"sqlite:///{tmp_path / 'vigil.db'}")
    upgrade_schema(engine)
    checks = HealthChecks(Database(engine))
    known = migration_revisions()
    readiness = checks.ready()
    assert readiness.ready and f"at migration {known[-1]}" in readiness.checks[1].detail
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": known[-2]})
    readiness = checks.ready()
    assert not readiness.ready and readiness.failed == ["schema"]
    assert known[-2] in readiness.checks[1].detail and known[-1] in readiness.checks[1].detail
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9901'"))
    readiness = checks.ready()
    assert readiness.ready and "newer than this Vigil knows" in readiness.checks[1].detail
    checks.close()


def test_readyz_is_503_naming_the_model_when_it_is_no_longer_the_active_one(ctx: WebContext) -> None:
    """Models loaded and matching the recorded checksum: after `vigil models use` another model, a process
    still holding the old one is not ready, and says which model and file it runs."""
    from vigil.domain.audit import Actor
    from vigil.domain.models import ModelRegistry
    from vigil.services import model_check, model_label

    assert ctx.watchlist is not None
    embedder = ctx.watchlist.engine.embedder
    registry = ModelRegistry(ctx.db, ctx.audit)
    ctx.health.model = model_check(registry, lambda: embedder)
    ctx.health.model_name = model_label(embedder)
    with TestClient(create_app(ctx)) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 200 and embedder.name in ready.json()["checks"]["model"]["detail"]
        by = Actor("admin", "cli")
        registry.activate("vendor-r100", "1", "f" * 64, by=by, reason="tender 14", before={}, thresholds={})
        refused = client.get("/readyz")
        assert refused.status_code == 503 and refused.json()["failed"] == ["model"]
        assert "vendor-r100" in refused.json()["checks"]["model"]["detail"]
        registry.activate(embedder.name, embedder.version, "", by=by, reason="roll back", before={}, thresholds={})
        assert client.get("/readyz").status_code == 200


def test_worker_health_port_serves_metrics_for_the_token_only(tmp_path: Path) -> None:
    db = Database(create_engine(f"sqlite:///{tmp_path / 'vigil.db'}"))
    checks = HealthChecks(db, schema=False)
    server = HealthServer(
        checks, host="127.0.0.1", port=0, metrics=lambda: "vigil_x 1\n", metrics_token="scraper-token-0123456789"
    ).start()
    base = f"http://127.0.0.1:{server.port}"
    try:
        assert _get(base + "/metrics")[0] == 401
        request = urllib.request.Request(
            base + "/metrics", headers={"Authorization": "Bearer scraper-token-0123456789"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200 and response.read() == b"vigil_x 1\n"
            assert response.headers["Content-Type"].startswith("text/plain")
    finally:
        server.close()
        checks.close()
