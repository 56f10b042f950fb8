"""``python -m flowsnap.cli ...`` runs the ``flowsnap`` command."""

from flowsnap.cli import entrypoint

entrypoint()
