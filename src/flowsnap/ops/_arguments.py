"""The one check ops make of an argument that must be a tensor, and the error that explains it.

A legacy program that passes its arguments by position can land a value on the wrong parameter:
OneFlow 0.3/0.4's ``flow.nn.conv2d(x, w, strides, padding, "NCHW", dilations)`` put
``data_format`` fifth, where OneFlow 0.5 (flowsnap's default names) has ``bias``. Without a check
the op fails deep inside with ``AttributeError: 'str' object has no attribute 'shape'``; with it,
the error names the op, the parameter, what it was given and, for a string that is a data format
or a padding mode, the likely cause and the fix.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

from flowsnap.errors import ArgumentError

DATA_FORMAT_NAMES = frozenset(
    {
        "NCW",
        "NWC",
        "NCHW",
        "NHWC",
        "NCDHW",
        "NDHWC",
        "NCHW_VECT_C",
        "CHANNELS_FIRST",
        "CHANNELS_LAST",
    }
)
"""Strings that are data formats (any case)."""

PADDING_NAMES = frozenset({"SAME", "VALID", "SAME_LOWER", "SAME_UPPER"})
"""Strings that are padding modes (any case)."""

RUN_WITH_VERSION = (
    "or run the 0.3/0.4 program with its version's parameter order: "
    "`flowsnap run --oneflow-version 0.4 program.py` (`import oneflow` under `flowsnap run` has "
    "0.4's order by default), or in Python `flowsnap.compat.facade('0.4')`"
)
"""How to run a program written for OneFlow 0.3/0.4 with that version's signatures."""


def is_tensor(value: Any) -> bool:
    """Whether ``value`` can stand where an op takes a tensor: a blob of the job being traced
    (a JAX tracer), a JAX array or a NumPy array (or NumPy scalar)."""
    return isinstance(value, (jax.Array, np.ndarray, np.generic))


def require_tensor(value: Any, op: str, param: str, *, legacy_order: str | None = None) -> Any:
    """``value`` if it is a tensor (:func:`is_tensor`); an object that converts itself to a JAX
    array (``__jax_array__``) converted (a host-side data blob raises its own error there); else
    an :class:`~flowsnap.errors.ArgumentError` that explains.

    Args:
        value: what the caller passed for ``param``.
        op: the op as the user called it (``"flow.nn.conv2d"``, ``"flow.layers.dense(name='fc')"``).
        param: the parameter's name.
        legacy_order: for a parameter whose position differs between OneFlow versions, what
            OneFlow 0.3/0.4 had in that position (``"data_format"``): a string there then gets the
            version advice.

    Raises:
        ArgumentError: naming the op, the parameter and what it got; a data-format or padding
            string says that an argument passed by position landed on ``param`` and how to fix it.
    """
    if is_tensor(value):
        return value
    if hasattr(value, "__jax_array__"):
        return jax.numpy.asarray(value)
    message = (
        f"{op}: {param} must be a tensor (a blob of the job, or a JAX/NumPy array), got "
        f"{describe(value)}"
    )
    if isinstance(value, str):
        kind = string_kind(value)
        if legacy_order is not None:
            message += (
                f". OneFlow 0.3/0.4 had {legacy_order} in this position, where OneFlow 0.5 (the "
                f"order flowsnap's own names follow) has {param}: pass {legacy_order}={value!r} "
                f"by keyword, {RUN_WITH_VERSION}"
            )
        elif kind is not None:
            message += (
                f": {value!r} is a {kind}, so an argument passed by position has landed on "
                f"{param}; check the order of the arguments against {op}'s signature, or pass "
                f"them by keyword"
            )
    elif value is None:
        message += f"; pass the {param} tensor"
    elif isinstance(value, (list, tuple, int, float)):
        message += (
            "; make it a tensor first (numpy.asarray, or flow.constant in a job), or check the "
            "order of the arguments"
        )
    raise ArgumentError(message)


def string_kind(value: str) -> str | None:
    """``"data format"`` or ``"padding mode"`` when ``value`` is one (any case), else None."""
    upper = value.upper()
    if upper in DATA_FORMAT_NAMES:
        return "data format"
    if upper in PADDING_NAMES:
        return "padding mode"
    return None


def describe(value: Any, limit: int = 60) -> str:
    """``value``'s type and a repr cut to ``limit`` characters, for error messages."""
    text = repr(value)
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return f"{type(value).__name__} {text}"
