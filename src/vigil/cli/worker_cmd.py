"""``vigil worker``: a camera worker for the scaled-out deployment (PostgreSQL + Redis)."""

from __future__ import annotations

import logging
import signal
import threading
from typing import Annotated

import typer

from vigil.cli.context import settings_from


def worker(
    ctx: typer.Context,
    worker_id: Annotated[
        str | None, typer.Option("--id", help="This worker's name (default: host, process id and a random part).")
    ] = None,
) -> None:
    """Run cameras claimed through leases in the shared database (VIGIL_DATABASE_URL, PostgreSQL) and announce
    their alerts on Redis (VIGIL_REDIS_URL). Start as many as needed, on any machines: cameras are shared
    out evenly and move to the live workers within lease_s + heartbeat_s when one dies. Stop with Ctrl-C
    or SIGTERM: the worker hands its cameras back first."""
    from vigil.services import open_worker

    settings = settings_from(ctx)
    logging.getLogger("vigil").setLevel(min(logging.getLogger("vigil").getEffectiveLevel(), logging.INFO))
    runner = open_worker(settings, worker_id=worker_id)
    banner = f"Vigil worker {runner.worker_id}: lease {settings.lease_s:g} s, heartbeat {settings.heartbeat_s:g} s"
    if settings.log_format == "json":  # stderr carries JSON lines only
        logging.getLogger(__name__).info("%s", banner)
    else:
        typer.echo(banner, err=True)

    def on_signal(signum: int, _frame: object) -> None:
        runner.stop()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)
    runner.run()
