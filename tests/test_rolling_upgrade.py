"""A rolling upgrade of workers across a migration that adds a column, with real `vigil worker` processes
on the suite's own PostgreSQL (see tests/test_outages.py for the fixture).

What it proves, and what it does not: the "old" workers run this commit's code; the "new" one is this
commit's code plus a column (``tests/helpers/next_release.py``) added by a test migration applied while
the old worker runs — not a previous release's code, which is not available here. It shows that an
additive migration applied under a running worker leaves its leases and alerts alone, that a worker
knowing the column and workers not knowing it hold leases at once and all store alerts in one table,
and that an old worker (re)started on the newer schema runs instead of refusing.
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from tests.helpers.scaleout import add_cameras, wait_for
from tests.test_outages import Outage, _enroll_hopper, _rows, outage  # noqa: F401 — the fixture

pytestmark = [pytest.mark.services, pytest.mark.slow]

PROBE_MIGRATION = '''"""A test migration: one nullable column on the tables workers write (alerts, camera_leases)."""

import sqlalchemy as sa
from alembic import op

revision = "9901"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("alerts", sa.Column("rolling_probe", sa.String(32), nullable=True))
    op.add_column("camera_leases", sa.Column("rolling_probe", sa.String(32), nullable=True))


def downgrade() -> None:
    op.drop_column("camera_leases", "rolling_probe")
    op.drop_column("alerts", "rolling_probe")
'''


def _apply_probe_migration(url: str, folder: Path) -> float:
    """Migrate to the test's revision as `vigil` would (under the migration lock); returns seconds taken."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import text

    from vigil.store.db import MIGRATION_LOCK, MIGRATIONS, migration_revisions

    folder.mkdir()
    (folder / "9901_rolling_probe.py").write_text(PROBE_MIGRATION.format(head=migration_revisions()[-1]))
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("path_separator", "os")
    config.set_main_option("version_locations", os.pathsep.join([str(MIGRATIONS / "versions"), str(folder)]))
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    started = time.monotonic()
    with engine.connect() as connection, connection.begin():
        connection.execute(text("SET lock_timeout = '20s'"))  # an ALTER that cannot get its lock fails loudly
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        config.attributes["connection"] = connection
        command.upgrade(config, "9901")
    engine.dispose()
    return time.monotonic() - started


def test_rolling_upgrade_old_and_new_workers_hold_leases_across_an_added_column(outage: Outage, tmp_path: Path) -> None:  # noqa: F811
    out = outage
    out.start_worker("old1")
    collins = out.population.clips["Eileen Collins"]
    add_cameras(out.postgres.url, {"c1": collins, "c2": collins, "h1": out.hopper_clip, "h2": out.hopper_clip})
    wait_for(lambda: out.streaming() == {"c1", "c2", "h1", "h2"}, 120, "the old worker did not start its cameras")
    wait_for(lambda: len(out.stored()) == 2, 90, "no alerts before the upgrade")
    before = out.leases()

    took = _apply_probe_migration(out.postgres.url, tmp_path / "next-migrations")
    print(f"the added-column migration took {took:.2f} s under a running worker")
    assert _rows(out.db, "SELECT version_num FROM alembic_version") == [("9901",)]
    time.sleep(6)  # three heartbeats on the new schema
    assert out.leases() == before, "the old worker lost or renewed-away a lease across the migration"
    hopper = _enroll_hopper(out)  # the old worker stores new alerts into the migrated table
    wait_for(lambda: {("h1", hopper), ("h2", hopper)} <= set(out.stored()), 60, "the old worker stored nothing")

    # the next release joins: it knows the column and fills it; the old worker hands it its share
    out.dep._spawn(
        "new1",
        ["worker", "--id", "new1"],
        program=[sys.executable, "-m", "tests.helpers.next_release"],
        VIGIL_DATA_DIR=str(out.dep.own_data_dir("new1")),
    )
    wait_for(lambda: Counter(w for w, _ in out.leases().values()) == {"old1": 2, "new1": 2}, 60, "no fair share")
    add_cameras(out.postgres.url, {"n0": out.hopper_clip, "n1": out.hopper_clip})  # one for each by fair share
    # the next release prepares its models in its own data directory first: give a loaded machine time
    wait_for(lambda: len(out.stored()) == 6, 240, "the cameras added in the upgrade did not raise alerts")
    marks = Counter(m for (m,) in _rows(out.db, "SELECT rolling_probe FROM alerts"))
    print(f"alerts by the new worker (column filled) and by the old one (NULL): {dict(marks)}")
    assert marks["next-release"] >= 1 and marks[None] >= 5, marks
    # an old worker (re)started now, on a schema newer than it knows, runs rather than refusing
    out.start_worker("old2")
    wait_for(
        lambda: {w for w, _ in out.leases().values()} == {"old1", "new1", "old2"},
        60,
        "the restarted old worker runs nothing",
    )
    assert "newer than this Vigil knows" in out.dep.log("old2")
    add_cameras(out.postgres.url, {"n2": out.hopper_clip})
    wait_for(lambda: len(out.stored()) == 7, 90, "the camera added after the restart raised no alert")
    time.sleep(4)
    stored = out.stored()
    assert Counter(stored).most_common(1)[0][1] == 1, Counter(stored)  # no camera moved raised a second
    streaming = _rows(out.db, "SELECT worker_id FROM camera_leases WHERE state = 'streaming'")
    assert {w for (w,) in streaming} == {"old1", "new1", "old2"}
    assert all(p.poll() is None for p in out.dep.processes.values()), "a worker died"
    for name in ("old1", "new1", "old2"):
        assert "Traceback" not in out.dep.log(name), name
