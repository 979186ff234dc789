"""``vigil demo``: the face engine on bundled sample portraits (the full control-room demo comes later)."""

from __future__ import annotations

import typer

from vigil.cli.context import settings_from


def demo(ctx: typer.Context) -> None:
    """Run the face engine on public-domain portraits shipped in PyPI packages and show the results."""
    from vigil.demo import run_engine_demo

    run_engine_demo(settings_from(ctx), echo=typer.echo)
