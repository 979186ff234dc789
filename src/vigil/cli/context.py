"""The settings object created once by the top-level command and handed to every sub-command."""

from __future__ import annotations

import typer

from vigil.settings import VigilSettings


def settings_from(ctx: typer.Context) -> VigilSettings:
    root = ctx.find_root()
    settings = root.obj
    if not isinstance(settings, VigilSettings):
        raise RuntimeError("settings were not initialised by the vigil callback")
    return settings
