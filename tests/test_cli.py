"""The `vigil` command as a user runs it (a real subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image
from tests.helpers.cli import vigil


def test_help_lists_the_commands(tmp_path: Path) -> None:
    result = vigil("--help", data_dir=tmp_path)
    assert result.returncode == 0
    for command in ("models", "eval", "bench", "demo", "detect"):
        assert command in result.stdout


def test_models_list_states_provenance(tmp_path: Path) -> None:
    result = vigil("models", "list", data_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    for text in ("centerface", "dlib-resnet", "yunet", "mobilefacenet", "MS-Celeb-1M", "training data", "licence"):
        assert text in result.stdout


def test_models_list_explains_missing_files(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "vigil.cli.main", "--data-dir", str(tmp_path), "models", "list"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert "NOT AVAILABLE" in result.stdout and "to supply:" in result.stdout


def test_detect_prints_faces_as_json(tmp_path: Path, astronaut: np.ndarray) -> None:
    path = tmp_path / "astronaut.png"
    Image.fromarray(astronaut).save(path)
    result = vigil("detect", str(path), data_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert len(report["faces"]) == 1 and 0 < report["faces"][0]["quality"] <= 1


def test_errors_exit_2_with_one_clear_line(tmp_path: Path) -> None:
    bad = tmp_path / "notes.txt"
    bad.write_text("not an image")
    result = vigil("detect", str(bad), data_dir=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error: notes.txt: not a recognised image")
    assert "Traceback" not in result.stderr
    unknown = vigil("detect", str(bad), "--detector", "nope", data_dir=tmp_path)
    assert unknown.returncode == 2 and "unknown model 'nope'" in unknown.stderr


def test_demo_runs_offline_and_shows_a_watchlist_match(tmp_path: Path) -> None:
    result = vigil("demo", "--engine", data_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "same person: lowest" in result.stdout and "(separated)" in result.stdout
    assert "MATCH Eileen Collins" in result.stdout
    assert "Grace Hopper (original)      no match" in result.stdout
    assert (tmp_path / "demo" / "eileen_collins_original.jpg").is_file()


def test_thresholds_follow_a_stated_policy_and_sightings_need_a_confirmed_alert(tmp_path: Path) -> None:
    listed = vigil("thresholds", "list", data_dir=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "policy 0.1/1000, looks+pooled rule" in listed.stdout and "no calibration yet" not in listed.stdout
    changed = vigil("thresholds", "policy", "wanted", "0.5", "--reason", "authorisation A-1", data_dir=tmp_path)
    assert changed.returncode == 0, changed.stderr
    assert "wanted: policy 0.5/1000" in changed.stdout and "expected hit rate" in changed.stdout
    refused = vigil("thresholds", "policy", "wanted", "0", "--reason", "none", data_dir=tmp_path)
    assert refused.returncode == 2 and "[policy]" in refused.stderr
    missing = vigil("watchlist", "add-sighting", "no-such-alert", data_dir=tmp_path)
    assert missing.returncode == 2 and "[alert]" in missing.stderr
    audit = vigil("audit", "list", data_dir=tmp_path)
    assert "policy-changed" in audit.stdout


def test_users_deactivate_reactivate_and_role_keep_one_admin(tmp_path: Path) -> None:
    """Issue 14, item 5 (in part): `vigil users deactivate|reactivate|role`, audited; the last active
    admin can be neither deactivated nor demoted."""
    import os

    env_password = {"VIGIL_PW": "correct horse battery"}
    os.environ.update(env_password)
    try:
        for name, role in (("chief", "admin"), ("op.one", "operator")):
            added = vigil("users", "add", name, "--role", role, "--password-env", "VIGIL_PW", data_dir=tmp_path)
            assert added.returncode == 0, added.stderr
    finally:
        os.environ.pop("VIGIL_PW")
    last = vigil("users", "deactivate", "chief", data_dir=tmp_path)
    assert last.returncode == 2 and "[last-admin]" in last.stderr
    demote = vigil("users", "role", "chief", "operator", data_dir=tmp_path)
    assert demote.returncode == 2 and "[last-admin]" in demote.stderr
    assert vigil("users", "role", "op.one", "admin", data_dir=tmp_path).returncode == 0  # a second admin ...
    assert vigil("users", "deactivate", "chief", data_dir=tmp_path).returncode == 0  # ... so now it can go
    assert vigil("users", "reactivate", "chief", data_dir=tmp_path).returncode == 0
    bad = vigil("users", "role", "chief", "overlord", data_dir=tmp_path)
    assert bad.returncode == 2 and "[role]" in bad.stderr
    listed = vigil("audit", "list", "--json", data_dir=tmp_path).stdout
    for action in ("user-role-changed", "user-deactivated", "user-reactivated"):
        assert action in listed
