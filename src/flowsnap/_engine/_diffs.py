"""``flow.watch_diff`` in the train step: the gradient with respect to a blob of the trace.

A watched blob is an intermediate value, not an input, so :func:`grads_and_diffs` traces the
loss once to a jaxpr to find each blob's variable there, then evaluates the jaxpr again with a
zero *probe* added where each one is defined and differentiates with respect to the probes too
(moved out of ``_step.py``, which calls it, unchanged).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
from jax.extend.core import Literal

from flowsnap._engine._scaling import LossScaling
from flowsnap._engine._trace import TraceContext
from flowsnap._engine._watch import deliver_diffs

Arrays = dict[str, jax.Array]


def grads_and_diffs(
    loss_fn: Callable[[Arrays], tuple[jax.Array, tuple[Any, Arrays]]],
    trainable: Arrays,
    contexts: list[TraceContext],
    scalings: list[LossScaling],
) -> tuple[Any, Arrays, Arrays]:
    """``value_and_grad`` of ``loss_fn`` that also delivers the gradient with respect to each
    blob the body gave ``flow.watch_diff``.

    A blob is an intermediate value of the trace, so the body is traced once to a jaxpr with the
    watched blobs as extra outputs; that locates each one's variable in the jaxpr. The jaxpr is
    then evaluated again with a zero *probe* added where each watched variable is defined, and
    differentiated with respect to the trainable variables and the probes: a probe's gradient is
    its blob's. As in OneFlow, the differentiated loss is the *sum* of the losses (times the loss
    scale), whose gradients are the diffs; the variables' gradients are then divided by the
    number of loss instances, which makes them those of flowsnap's mean loss. (Losses of
    different sizes, which OneFlow refused, differentiate the mean and scale the diffs by the
    first loss's size.)
    """
    watched: list[Any] = []
    instances: list[int] = []

    def traced(trainable: Arrays) -> Any:
        total, aux = loss_fn(trainable)
        ctx = contexts[-1]
        watched[:] = [(blob, call) for blob, call in ctx.diff_watches]
        sizes = {loss.size for loss in ctx.losses}
        if len(sizes) == 1:
            (size,) = sizes
            instances[:] = [size, 1]  # sum differentiated; variables' gradients / size
            total = sum(jnp.sum(loss.astype(jnp.float32)) for loss in ctx.losses)  # type: ignore[assignment]
            factor = scalings[-1].factor
            if factor is not None:
                total = total * factor
        else:
            instances[:] = [1, ctx.losses[0].size]  # mean differentiated; diffs * size
        return total, aux, [blob for blob, _ in watched]

    closed, shape = jax.make_jaxpr(traced, return_shape=True)(trainable)
    _, out_tree = jax.tree_util.tree_flatten(shape)
    jaxpr = closed.jaxpr
    watched_vars = jaxpr.outvars[len(jaxpr.outvars) - len(watched) :]
    probe_of: dict[Any, list[int]] = {}
    for i, var in enumerate(watched_vars):
        if not isinstance(var, Literal):
            probe_of.setdefault(var, []).append(i)

    def probed(trainable: Arrays, probes: list[jax.Array]) -> tuple[jax.Array, Any]:
        flat = _eval_jaxpr_with_probes(
            jaxpr, closed.consts, jax.tree_util.tree_leaves(trainable), probe_of, probes
        )
        total, aux, _ = jax.tree_util.tree_unflatten(out_tree, flat)
        return total, aux

    zeros = [jnp.zeros(s.shape, s.dtype) for s in shape[2]]
    (_, (outputs, updates)), (grads, diffs) = jax.value_and_grad(
        probed, argnums=(0, 1), has_aux=True
    )(trainable, zeros)
    divide, multiply = instances
    if divide != 1:
        grads = jax.tree_util.tree_map(lambda g: g / divide, grads)
    if multiply != 1:
        diffs = [d * multiply for d in diffs]
    deliver_diffs([call for _, call in watched], diffs)
    return outputs, updates, grads


def _eval_jaxpr_with_probes(
    jaxpr: Any,
    consts: list[Any],
    args: list[Any],
    probe_of: Mapping[Any, list[int]],
    probes: list[jax.Array],
) -> list[Any]:
    """Evaluate ``jaxpr`` (as ``jax.core.eval_jaxpr`` does), adding ``probes[i]`` to each
    variable ``probe_of`` maps to ``i`` where the variable is defined."""
    env: dict[Any, Any] = {}

    def read(v: Any) -> Any:
        return v.val if isinstance(v, Literal) else env[v]

    def write(v: Any, value: Any) -> None:
        for i in probe_of.get(v, ()):
            value = value + probes[i]
        env[v] = value

    for v, value in zip(jaxpr.constvars, consts, strict=True):
        write(v, value)
    for v, value in zip(jaxpr.invars, args, strict=True):
        write(v, value)
    for eqn in jaxpr.eqns:
        params = eqn.primitive.get_bind_params(eqn.params)
        subfuns: list[Any] = []
        if isinstance(params, tuple):  # older JAX: (subfuns, params)
            subfuns, params = params
        with eqn.ctx.manager:
            out = eqn.primitive.bind(*subfuns, *map(read, eqn.invars), **params)
        if eqn.primitive.multiple_results:
            for v, value in zip(eqn.outvars, out, strict=True):
                write(v, value)
        else:
            write(eqn.outvars[0], out)
    return [read(v) for v in jaxpr.outvars]
