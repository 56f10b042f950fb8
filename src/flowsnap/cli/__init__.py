"""The ``flowsnap`` command line: a thin shell over the library (``main(argv) -> int``)."""

from flowsnap.cli._main import entrypoint as entrypoint
from flowsnap.cli._main import main as main

__all__ = ["entrypoint", "main"]
