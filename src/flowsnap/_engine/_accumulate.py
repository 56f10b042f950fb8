"""Gradient accumulation (``FunctionConfig.train.num_gradient_accumulation_steps(n)``).

OneFlow's ``GradientAccumulationRewritePass`` (0.4.0, 0.5.0) decides the semantics:

* **one call is one mini-batch of n micro-batches.** Each input (0.5: ``unpack`` of every
  placeholder) is split along axis 0 into ``n`` equal micro-batches; 0.4 repeated the data-reader
  source ops ``n`` times per call instead (placeholders were not supported there). The variables
  are read once per call (``repeat``), the body runs forward and backward on each micro-batch in
  turn, and the gradients are summed (``acc``).
* **the loss is the mean over the whole mini-batch**: OneFlow divides the summed gradients by the
  loss's element count times ``n`` (``ScaleModelDiffByLossInstanceNum``), so the update equals one
  step on the concatenated batch.
* **one update and one train step per call**: the optimizer, the learning-rate schedule and
  ``System-Train-TrainStep-<job>`` run at the call's rate; batch-norm moving statistics are
  updated once per micro-batch, in order (``NormalizationExponentialAverageAutoTickPass``).
* **returns are packed**: each returned blob is the micro-batches' values concatenated along axis
  0 (``pack``); a scalar becomes a vector of ``n``.

Since a call consumes whole mini-batches, no accumulator outlives a call: checkpoints taken between
calls hold everything, and resume is exact with no extra variables.

Here the first micro-batch is differentiated on its own (it fixes the structure of what the others
carry) and the rest in one ``jax.lax.scan``, so a job compiles once whatever ``n`` is.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp

from flowsnap.errors import ArgumentError

Arrays = dict[str, jax.Array]
MicroStep = Callable[[Arrays, Any, jax.Array], tuple[Any, Arrays, Arrays]]
"""``(state, micro_inputs, k) -> (outputs, updates, grads)`` for micro-batch ``k``: the body's
outputs, the values it assigned (moving statistics) and the gradients of its mean loss."""


def split_micro_batches(inputs: Any, n: int, job: str) -> Any:
    """Every array of ``inputs`` reshaped to ``(n, batch / n, ...)``.

    Raises:
        ArgumentError: an input is a scalar or its first dimension is not a multiple of ``n``.
    """

    def split(path: Any, x: jax.Array) -> jax.Array:
        if x.ndim == 0 or x.shape[0] % n:
            where = jax.tree_util.keystr(path) or "the input"
            raise ArgumentError(
                f"job {job!r}: train.num_gradient_accumulation_steps({n}) splits each input "
                f"along axis 0 into {n} micro-batches, but input {where} has shape "
                f"{tuple(x.shape)}; feed a batch whose first dimension is a multiple of {n}"
            )
        return x.reshape(n, x.shape[0] // n, *x.shape[1:])

    return jax.tree_util.tree_map_with_path(split, inputs)


def pack(stacked: Any) -> Any:
    """OneFlow's ``pack``: each ``(n, d0, ...)`` array becomes ``(n * d0, ...)``; ``(n,)`` (the
    micro-batches' scalars) stays."""

    def merge(x: jax.Array) -> jax.Array:
        return x if x.ndim == 1 else x.reshape(x.shape[0] * x.shape[1], *x.shape[2:])

    return jax.tree_util.tree_map(merge, stacked)


def accumulate(
    micro_step: MicroStep, state: Mapping[str, jax.Array], inputs: Any, n: int, job: str
) -> tuple[Any, Arrays, Arrays]:
    """Run ``micro_step`` over the ``n`` micro-batches of ``inputs``: the packed outputs, the
    assigned values after the last micro-batch, and the mean of the micro-batches' gradients."""
    micro = split_micro_batches(inputs, n, job)
    first = jax.tree_util.tree_map(lambda x: x[0], micro)
    outputs0, updates0, grads0 = micro_step(dict(state), first, jnp.asarray(0, jnp.int32))

    def body(carry: tuple[Arrays, Arrays], xs: tuple[jax.Array, Any]) -> tuple[Any, Any]:
        grad_sum, updates = carry
        k, batch = xs
        outputs, new_updates, grads = micro_step({**state, **updates}, batch, k)
        grad_sum = {name: grad_sum[name] + g for name, g in grads.items()}
        return (grad_sum, {**updates, **new_updates}), outputs

    rest = jax.tree_util.tree_map(lambda x: x[1:], micro)
    ks = jnp.arange(1, n, dtype=jnp.int32)
    (grad_sum, updates), outputs_rest = jax.lax.scan(body, (grads0, updates0), (ks, rest))
    grads = {name: g / jnp.asarray(n, g.dtype) for name, g in grad_sum.items()}
    stacked = jax.tree_util.tree_map(
        lambda a, b: jnp.concatenate([jnp.asarray(a)[None], b]), outputs0, outputs_rest
    )
    return pack(stacked), updates, grads
