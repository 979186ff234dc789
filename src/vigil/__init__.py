"""Vigil: an accountable live face-watchlist system for city camera networks.

The public surface is deliberately small; most users go through the ``vigil`` command.
"""

from vigil.errors import VigilError
from vigil.settings import VigilSettings, load_settings

__version__ = "0.1.0"

__all__ = ["VigilError", "VigilSettings", "__version__", "load_settings"]
