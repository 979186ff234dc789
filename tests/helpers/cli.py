"""The `vigil` command as a user runs it: a real subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import SHARED_MODELS


def vigil(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    cmd = [
        sys.executable,
        "-m",
        "vigil.cli.main",
        "--data-dir",
        str(data_dir),
        "--models-dir",
        str(SHARED_MODELS),
        *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)
