"""What every layer does to declare a parameter."""

from __future__ import annotations

from typing import Any

import jax

from flowsnap._engine import get_variable, namespace, namespace_prefix


def param(layer: str, suffix: str, exact: str | None, **kwargs: Any) -> tuple[jax.Array, str]:
    """Declare ``<layer>-<suffix>`` (or exactly ``exact``, outside the layer's namespace) with
    ``reuse=False``, as every OneFlow layer does; return its value and full name."""
    if exact is not None:
        return get_variable(exact, reuse=False, **kwargs), namespace_prefix() + exact
    with namespace(layer):
        return get_variable(suffix, reuse=False, **kwargs), namespace_prefix() + suffix
