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
