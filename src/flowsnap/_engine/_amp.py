"""Mixed precision (``FunctionConfig.enable_auto_mixed_precision(True)``): the cast policy ops call.

OneFlow's ``AutoMixedPrecision`` pass (``auto_mixed_precision_lists.cpp``, the same lists in
0.3.4-0.5.0) sorts op types into an *allow* ("white") list that runs in float16 -- ``matmul``,
``batch_matmul``, ``broadcast_matmul``, ``conv2d`` (and the fused self-attention op) --, a *gray*
list that runs in float16 only between two allow-list ops (``bias_add``, ``softmax``,
``layer_norm``, ``normalization``, ``gelu``, ``dropout``, ``add_n``...), a *clear* list that follows
its neighbours (``reshape``, ``transpose``, ``relu``, ``concat``, ``gather``...), and an empty
*deny* ("black") list; every other op (losses, reductions, ``exp``/``log``...) stays float32.
Casts go where the half part of the graph meets the float part; variables stay float32 (the
*master* copies), so the gradients reach them in float32 and checkpoints keep float32.

flowsnap traces a job op by op and cannot see an op's consumers, so it keeps the half part to the
allow-list ops themselves: :func:`amp_apply` casts an allow-list op's float32 inputs to the half
type, runs the op (forward and, by differentiation, backward) in half, and casts its output back
to float32. Everything else -- OneFlow's gray and clear ops included -- computes in float32. So the
expensive ops run in half as in OneFlow; the elementwise ops between two of them round once less
(OneFlow kept e.g. BERT's attention softmax in half). Outside a job with the option on,
:func:`amp_apply` just calls the op.

The half type is float16, or bfloat16 where float16 is not usable (TPUs) or when the environment
variable ``FLOWSNAP_AMP_DTYPE=bfloat16`` asks for it. OneFlow applied the pass to GPU ops only (on a
CPU placement the option changed nothing); flowsnap applies it on every backend.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Callable, Iterator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from flowsnap.errors import ArgumentError

AMP_DTYPE_ENV = "FLOWSNAP_AMP_DTYPE"
"""Environment variable choosing the half type: ``float16`` (default) or ``bfloat16``."""

ALLOW_LIST = frozenset(
    {
        "matmul",
        "batch_matmul",
        "broadcast_matmul",
        "conv2d",
        "fused_self_attention_query_mul_key_and_value",
    }
)
"""OneFlow's white list: the op types that compute in the half type."""

_HALF_TYPES: dict[str, np.dtype[Any]] = {
    "float16": np.dtype(np.float16),
    "bfloat16": np.dtype(jnp.bfloat16),
}

_policy: contextvars.ContextVar[np.dtype[Any] | None] = contextvars.ContextVar(
    "flowsnap_amp", default=None
)


def amp_dtype(enabled: bool, backend: str | None = None) -> np.dtype[Any] | None:
    """The half type a job with ``enable_auto_mixed_precision(enabled)`` computes in, or None.

    Raises:
        ArgumentError: ``FLOWSNAP_AMP_DTYPE`` names another type.
    """
    if not enabled:
        return None
    name = os.environ.get(AMP_DTYPE_ENV, "").strip().lower()
    if name:
        if name not in _HALF_TYPES:
            raise ArgumentError(
                f"environment variable {AMP_DTYPE_ENV}={name!r}: expected one of "
                f"{sorted(_HALF_TYPES)}; unset it for float16"
            )
        return _HALF_TYPES[name]
    platform = backend if backend is not None else jax.default_backend()
    return _HALF_TYPES["bfloat16" if platform == "tpu" else "float16"]


@contextlib.contextmanager
def mixed_precision(dtype: np.dtype[Any] | None) -> Iterator[None]:
    """Within the block, allow-list ops compute in ``dtype`` (None: no mixed precision)."""
    token = _policy.set(dtype)
    try:
        yield
    finally:
        _policy.reset(token)


def current_amp_dtype() -> np.dtype[Any] | None:
    """The half type allow-list ops compute in here, or None outside mixed precision."""
    return _policy.get()


def amp_apply(op: str, fn: Callable[..., jax.Array], *xs: Any, **kwargs: Any) -> jax.Array:
    """``fn(*xs, **kwargs)``, in the half type when ``op`` is on OneFlow's allow list and mixed
    precision is on: the array arguments, all float32, are cast to it and the result is cast back
    to float32 (other arguments -- strides, paddings -- pass as they are). Array arguments of other
    types (integers, float64, an explicit float16) leave the op as it is."""
    half = _policy.get()
    if half is None or op not in ALLOW_LIST:
        return fn(*xs, **kwargs)
    arrays = [x for x in xs if hasattr(x, "dtype")]
    if not arrays or any(x.dtype != jnp.float32 for x in arrays):
        return fn(*xs, **kwargs)
    cast = [x.astype(half) if hasattr(x, "dtype") else x for x in xs]
    return fn(*cast, **kwargs).astype(jnp.float32)
