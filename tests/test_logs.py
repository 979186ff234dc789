"""Log lines (issue 31): text by default, one JSON object per line with VIGIL_LOG_FORMAT=json — time,
level, logger, message and, where known, the camera (bound by its threads), the worker (bound for the
process), the request id and the user (bound per request, the user from whichever thread resolved
them). With a real `vigil` process; tests/test_observability.py has them from a worker and a web server,
tests/test_no_trace.py checks that neither format carries a face."""

from __future__ import annotations

import contextvars
import json
import logging
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from vigil import logs


def _record(logger: str, message: str, *args: object, exc: bool = False) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ValueError("the database went away\nsecond line")
        except ValueError:
            exc_info = sys.exc_info()
    record = logging.LogRecord(logger, logging.WARNING, __file__, 1, message, args, exc_info)
    logs.ContextFilter().filter(record)
    return record


def test_json_lines_carry_the_fields_bound_where_they_are_known() -> None:
    formatter = logs.JsonFormatter()
    seen: dict[str, dict[str, object]] = {}

    def camera_thread() -> None:
        logs.bind(camera="north-gate")
        seen["camera"] = json.loads(
            formatter.format(_record("vigil.video.camera", "camera %s: %s", "north-gate", "up"))
        )

    thread = threading.Thread(target=camera_thread)
    thread.start()
    thread.join()
    line = seen["camera"]
    assert line["camera"] == "north-gate" and line["message"] == "camera north-gate: up"
    assert line["level"] == "WARNING" and line["logger"] == "vigil.video.camera"
    assert str(line["time"]).endswith("+00:00")
    outside = json.loads(formatter.format(_record("vigil.x", "elsewhere")))
    assert "camera" not in outside  # another thread: not bound there

    with logs.request_scope("req-0123456789"):
        # the framework runs a dependency in a copy of the request's context: the user it resolves
        # reaches the request's other lines all the same
        contextvars.copy_context().run(logs.set_user, "insp.rao")
        line = json.loads(formatter.format(_record("vigil.web.access", "GET %s %d", "/api/alerts", 200)))
    assert line["request_id"] == "req-0123456789" and line["user"] == "insp.rao"
    assert "request_id" not in json.loads(formatter.format(_record("vigil.x", "after")))


def test_a_traceback_stays_on_one_json_line() -> None:
    text = logs.JsonFormatter().format(_record("vigil.x", "failed", exc=True))
    assert "\n" not in text
    line = json.loads(text)
    assert "ValueError: the database went away" in str(line["exception"]) and line["message"] == "failed"


@pytest.mark.slow
def test_the_vigil_command_writes_json_lines_or_text(tmp_path: Path) -> None:
    """A real `vigil -v` run: with VIGIL_LOG_FORMAT=json every line on stderr is one JSON object; by
    default the same records are readable text; a format Vigil does not know is one error line."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1] / "src")
    command = [
        sys.executable,
        "-m",
        "vigil.cli.main",
        "-v",
        "--data-dir",
        str(tmp_path),
        "retention",
        "run",
        "--dry-run",
    ]

    def run(**extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(command, env={**env, **extra}, capture_output=True, text=True, timeout=300)

    as_json = run(VIGIL_LOG_FORMAT="json")
    assert as_json.returncode == 0, as_json.stderr
    lines = [json.loads(line) for line in as_json.stderr.splitlines() if line.strip()]
    assert lines and all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    as_text = run()
    assert as_text.returncode == 0 and as_text.stderr.strip()
    assert not as_text.stderr.lstrip().startswith("{")
    assert any(" INFO " in line for line in as_text.stderr.splitlines())
    wrong = run(VIGIL_LOG_FORMAT="yaml")
    assert wrong.returncode == 2
    assert wrong.stderr.strip() == "error: invalid settings: VIGIL_LOG_FORMAT: Input should be 'text' or 'json'"
