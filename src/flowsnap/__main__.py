"""``python -m flowsnap ...`` runs the ``flowsnap`` command."""

from flowsnap.cli import entrypoint

entrypoint()
