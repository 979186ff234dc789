"""``vigil camera add|list|remove`` and ``vigil run`` argument handling."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.conftest import VIDEO, needs_video
from tests.helpers import cli_authorise
from typer.testing import CliRunner

from vigil.cli.main import app

runner = CliRunner()


@pytest.fixture
def base(tmp_path: Path, settings) -> list[str]:  # type: ignore[no-untyped-def]
    return ["--data-dir", str(tmp_path / "data"), "--models-dir", str(settings.resolved_models_dir)]


def _invoke(args: list[str]):  # type: ignore[no-untyped-def]
    return runner.invoke(app, args)


def test_camera_add_list_remove_never_shows_credentials(base: list[str]) -> None:
    url = "rtsp://admin:Sekret99@10.1.2.3:554/Streaming/Channels/101"
    added = _invoke(
        [
            *base,
            "camera",
            "add",
            "north-gate",
            url,
            "--lat",
            "51.5072",
            "--lon",
            "-0.1276",
            "--fps",
            "4",
            "--group",
            "Hazratganj",
        ]
    )
    assert added.exit_code == 0, added.output
    assert "Sekret99" not in added.output and "admin:***@10.1.2.3" in added.output
    listed = _invoke([*base, "camera", "list", "--json"])
    assert listed.exit_code == 0 and "Sekret99" not in listed.output
    (camera,) = [json.loads(line) for line in listed.stdout.splitlines()]
    assert camera == {
        "name": "north-gate",
        "url": "rtsp://admin:***@10.1.2.3:554/Streaming/Channels/101",
        "kind": "rtsp",
        "latitude": 51.5072,
        "longitude": -0.1276,
        "analysis_fps": 4.0,
        "group": "Hazratganj",
        "zones": None,
    }
    removed = _invoke([*base, "camera", "remove", "north-gate"])
    assert removed.exit_code == 0
    assert _invoke([*base, "camera", "list"]).stdout.strip() == ""


@pytest.mark.parametrize(
    ("args", "rule"),
    [
        (["bad name", "rtsp://h/s", "--lat", "0", "--lon", "0"], "camera-name"),
        (["cam", "ftp://h/s", "--lat", "0", "--lon", "0"], "camera-url"),
        (["cam", "rtsp://h/s", "--lat", "91", "--lon", "0"], "camera-location"),
        (["cam", "rtsp://h/s", "--lat", "0", "--lon", "-181"], "camera-location"),
        (["cam", "rtsp://h/s", "--lat", "0", "--lon", "0", "--fps", "0"], "camera-rate"),
        (["cam", "rtsp://h/s", "--lat", "0", "--lon", "0", "--fps", "60"], "camera-rate"),
    ],
)
def test_camera_add_refuses_bad_input_and_changes_nothing(base: list[str], args: list[str], rule: str) -> None:
    result = _invoke([*base, "camera", "add", *args])
    assert result.exit_code != 0
    assert isinstance(result.exception, Exception) and f"[{rule}]" in str(result.exception)
    assert _invoke([*base, "camera", "list"]).stdout.strip() == ""


def test_duplicate_and_unknown_cameras_are_clear_errors(base: list[str]) -> None:
    assert _invoke([*base, "camera", "add", "cam", "webcam:0", "--lat", "1", "--lon", "2"]).exit_code == 0
    again = _invoke([*base, "camera", "add", "cam", "webcam:1", "--lat", "1", "--lon", "2"])
    assert "[camera-exists]" in str(again.exception)
    gone = _invoke([*base, "camera", "remove", "nope"])
    assert "[camera-unknown]" in str(gone.exception)


def test_vigil_main_exits_2_with_the_rule(base: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    import sys

    from vigil.cli.main import main

    argv = sys.argv
    sys.argv = ["vigil", *base, "camera", "add", "x", "gopher://h", "--lat", "0", "--lon", "0"]
    try:
        with pytest.raises(SystemExit) as exit_info:
            main()
    finally:
        sys.argv = argv
    assert exit_info.value.code == 2
    assert "error: [camera-url]" in capsys.readouterr().err


@needs_video
def test_vigil_run_uses_the_registered_cameras(base: list[str], tmp_path: Path) -> None:
    clip = VIDEO / "carphone_176x144.mp4"
    added = _invoke([*base, "camera", "add", "lobby", str(clip), "--lat", "1", "--lon", "2", "--fps", "2"])
    assert added.exit_code == 0
    out = tmp_path / "alerts.jsonl"
    # no authorisation covers it yet: the camera stays idle (not even decoded) and says why
    idle = _invoke([*base, "run", "--until-end", "--fast", "--json", str(out)])
    assert idle.exit_code == 0, idle.output
    assert "camera lobby: idle (no authorisation covers this camera)" in idle.stderr
    summary = json.loads(idle.stderr.strip().splitlines()[-1])
    assert summary["state"] == "idle" and summary["frames_analysed"] == 0
    assert "camera lobby: streaming" not in idle.stderr
    cli_authorise(base, "lobby")
    result = _invoke([*base, "run", "--until-end", "--fast", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text() == ""  # an empty watchlist raises nothing
    summary = json.loads(result.stderr.strip().splitlines()[-1])
    assert summary["camera"] == "lobby" and summary["frames_analysed"] == 8 and summary["faces_analysed"] >= 7
    assert "camera lobby: streaming" in result.stderr and "camera lobby: stopped (end of file)" in result.stderr


def test_vigil_run_without_cameras_says_how_to_add_them(base: list[str]) -> None:
    result = _invoke([*base, "run", "--until-end"])
    assert "[camera-none]" in str(result.exception)
    bad = _invoke([*base, "run", "--camera", "no-equals-sign"])
    assert "[camera-arg]" in str(bad.exception)


def test_camera_zones_are_set_shown_and_cleared_and_bad_polygons_change_nothing(base: list[str]) -> None:
    assert _invoke([*base, "camera", "add", "gate", "rtsp://10.0.0.9/s", "--lat", "0", "--lon", "0"]).exit_code == 0
    zone = "0,200 1280,200 1280,720 0,720"
    for args, rule in [
        (["--zone", "0,0 10,10", "--frame", "1280x720"], "zone-points"),
        (["--zone", "0,0 1300,0 0,700", "--frame", "1280x720"], "zone-outside"),
        (["--zone", "0,0 100,100 100,0 0,100", "--frame", "1280x720"], "zone-self-intersecting"),
        (["--mask", "0,0 1280,0 1280,720 0,720", "--frame", "1280x720"], "zone-nothing-left"),
        (["--zone", zone, "--frame", "big"], "zone-frame"),
        (["--zone", "0;0 1,1", "--frame", "1280x720"], "zone-format"),
    ]:
        result = _invoke([*base, "camera", "zone", "set", "gate", *args])
        assert result.exit_code != 0 and f"[{rule}]" in str(result.exception), (rule, result.output)
    shown = json.loads(_invoke([*base, "camera", "zone", "show", "gate"]).stdout)
    assert shown == {"camera": "gate", "frame": None, "zones": [], "masks": []}  # nothing changed
    mask = "900,250 1100,250 1100,450 900,450"
    result = _invoke([*base, "camera", "zone", "set", "gate", "--zone", zone, "--mask", mask, "--frame", "1280x720"])
    assert result.exit_code == 0, result.output
    shown = json.loads(_invoke([*base, "camera", "zone", "show", "gate"]).stdout)
    assert shown["frame"] == [1280, 720] and len(shown["zones"]) == 1 and len(shown["masks"]) == 1
    assert _invoke([*base, "camera", "zone", "clear", "gate"]).exit_code == 0
    assert json.loads(_invoke([*base, "camera", "zone", "show", "gate"]).stdout)["zones"] == []
    assert "[camera-unknown]" in str(_invoke([*base, "camera", "zone", "show", "nowhere"]).exception)
