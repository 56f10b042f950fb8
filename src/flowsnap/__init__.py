"""flowsnap: OneFlow's lazy-mode model system and checkpoint format, rebuilt on JAX.

``import flowsnap as flow`` is meant to feel like ``import oneflow as flow``. The package root stays
cheap to import: the on-disk format (:mod:`flowsnap.format`) needs only NumPy, and JAX-backed names
are bound lazily on first use (PEP 562), so checkpoint tools never pay for JAX.
"""

from __future__ import annotations

import importlib
from typing import Any

from flowsnap._version import __version__ as __version__

__all__ = ["__version__", "errors", "format", "initializers"]

_SUBMODULES = frozenset({"errors", "format", "initializers", "cli"})


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"flowsnap.{name}")
    raise AttributeError(f"module 'flowsnap' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_SUBMODULES})
