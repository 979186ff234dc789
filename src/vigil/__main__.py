"""``python -m vigil`` runs the ``vigil`` command."""

from vigil.cli.main import main

main()
