"""`vigil` as a next release might run it, for the rolling-upgrade test: this code, plus a column the
test's migration adds (``alerts.rolling_probe``) that it knows and fills on every alert it stores.

Run as ``python -m tests.helpers.next_release worker --id NAME``. Only a stand-in: the real next release
is other code; what this shows is workers that know a column and workers that do not, side by side.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, String

from vigil.domain import alerts
from vigil.pipeline.events import TrackMatch
from vigil.store import models

models.Alert.rolling_probe = Column(String(32), nullable=True)  # type: ignore[attr-defined]
_alert_row = alerts.alert_row


def alert_row(event: TrackMatch, **fields: Any) -> models.Alert:
    row = _alert_row(event, **fields)  # whatever this release's alert_row takes (crop name, evidence media, …)
    row.rolling_probe = "next-release"  # type: ignore[attr-defined]
    return row


alerts.alert_row = alert_row

if __name__ == "__main__":
    from vigil.cli.main import main

    main()
