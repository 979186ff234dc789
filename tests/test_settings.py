from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from vigil.settings import VigilSettings, load_settings


def test_environment_sets_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("VIGIL_DATA_DIR", str(tmp_path))
    settings = load_settings()
    assert settings.data_dir == tmp_path
    assert settings.resolved_models_dir == tmp_path / "models"
    assert settings.cache_dir == tmp_path / "cache"


def test_explicit_values_win_over_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("VIGIL_DATA_DIR", "/elsewhere")
    assert load_settings(data_dir=tmp_path, models_dir=None).data_dir == tmp_path


def test_unknown_and_out_of_range_settings_are_refused() -> None:
    with pytest.raises(ValidationError):
        VigilSettings(no_such_setting=1)  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        VigilSettings(threads=-1)


def test_the_readmes_settings_table_is_generated_from_the_settings() -> None:
    """Every setting is in the README, as `make settings-table` writes it."""
    from tests.conftest import REPO

    from vigil.settings import VigilSettings, settings_table

    readme = (REPO / "README.md").read_text()
    start = readme.index("<!-- settings table")
    table = readme[readme.index("\n", start) + 1 : readme.index("<!-- end of settings table -->")]
    assert table == settings_table(), "README's settings table is stale: run `make settings-table`"
    for name in VigilSettings.model_fields:
        assert f"`VIGIL_{name.upper()}`" in table


SECRET = "hunter2Sekret"
SECRET_FORMS = [
    f"postgresql://vigil:{SECRET}@db.example:5432/vigil",
    f"redis://:{SECRET}@cache.example:6379/0",
    f"postgresql://db.example/vigil?password={SECRET}",
    f"postgresql://db.example/vigil?sslmode=require&pw={SECRET}",
    f"http://svc.example/api?credentials={SECRET}",
    f"rtsp://cam.example/stream;password={SECRET}",
    f"host=db.example password={SECRET} dbname=vigil",
]


def test_no_setting_puts_a_secret_into_the_audit_snapshot(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Issue 14: a Redis URL with a password was written forever into the hash-chained log. Every
    setting that takes text is tried with every form a credential comes in."""
    import json

    from pydantic import ValidationError

    from vigil.services import settings_snapshot
    from vigil.settings import VigilSettings

    tried = 0
    for name in VigilSettings.model_fields:
        for form in SECRET_FORMS:
            try:
                settings = VigilSettings(data_dir=tmp_path, **{name: form})
            except (ValidationError, TypeError):
                continue  # the setting does not take text (a number, a choice)
            tried += 1
            snapshot = json.dumps(settings_snapshot(settings))
            assert SECRET not in snapshot, (name, form)
    assert tried >= 7 * 6  # database_url, redis_url, the paths, the model names at least
    masked = settings_snapshot(VigilSettings(data_dir=tmp_path, redis_url="opaque-token-value"))
    assert masked["redis_url"] == "***"  # a secret setting that is not a URL is masked whole


def test_renamed_settings_are_still_read_under_their_former_names(monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 31 names the worker's health port VIGIL_WORKER_HEALTH_PORT; deployments written for
    VIGIL_HEALTH_PORT keep working, and the new name wins when both are set."""
    monkeypatch.setenv("VIGIL_HEALTH_PORT", "8081")
    monkeypatch.setenv("VIGIL_HEALTH_HOST", "127.0.0.1")
    settings = load_settings()
    assert settings.worker_health_port == 8081 and settings.worker_health_host == "127.0.0.1"
    monkeypatch.setenv("VIGIL_WORKER_HEALTH_PORT", "9090")
    assert load_settings().worker_health_port == 9090
    monkeypatch.setenv("VIGIL_HEALTH_PORT", "not a port")
    monkeypatch.delenv("VIGIL_WORKER_HEALTH_PORT")
    with pytest.raises(ValidationError):
        load_settings()
