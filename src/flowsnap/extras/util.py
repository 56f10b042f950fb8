"""``flow.util``: OneFlow's helpers for generated names."""

from __future__ import annotations

import itertools

__all__ = ["unique_str"]

_ids = itertools.count()


def unique_str(prefix: str) -> str:
    """``prefix`` followed by a number no earlier call returned (``"Module_0"``,
    ``"Module_1"``...), as OneFlow's ``id_util.UniqueStr``."""
    return f"{prefix}{next(_ids)}"
