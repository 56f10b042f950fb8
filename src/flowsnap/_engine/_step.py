"""The pure step a job compiles to: one trace of the body under ``jax.jit``.

* predict: ``(variables, inputs) -> (outputs, assigned)``;
* train: ``(trainable, state, inputs) -> (outputs, new_trainable, new_state)``: trace the body, take
  ``value_and_grad`` of the (loss-scaled) mean loss -- over each micro-batch in turn with gradient
  accumulation (``_accumulate.py``) --, unscale, hand the gradients to the optimizer through the
  :class:`~flowsnap._engine._protocol.TrainingOptimizer` protocol, and increment the train step;
  with a dynamic loss scale, skip the update on an overflow and move the scale
  (``_scaling.py``). ``state`` holds the non-trainable variables, the optimizer's slots, the
  train step and the loss scale's state.

With ``enable_auto_mixed_precision`` the body runs under
:func:`~flowsnap._engine._amp.mixed_precision` (allow-list ops compute in half, variables stay
float32).

:class:`StepPlan` is everything a step needs to know about its job, fixed when the job compiles;
the steps are plain functions of it, so nothing here calls back into the job object.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.extend.core import Literal

from flowsnap._engine._accumulate import accumulate
from flowsnap._engine._amp import amp_dtype, mixed_precision
from flowsnap._engine._protocol import TrainingOptimizer
from flowsnap._engine._scaling import (
    LossScaling,
    all_finite,
    keep_if_overflow,
    loss_scale_names,
    loss_scaling,
    next_loss_scale,
    unscale,
)
from flowsnap._engine._trace import TraceContext, tracing
from flowsnap._engine._watch import deliver_diffs
from flowsnap._store import RegularizerLike, name_hash
from flowsnap.errors import ArgumentError, TraceError, UnsupportedFeatureError
from flowsnap.initializers import Initializer

Arrays = dict[str, jax.Array]


def slot_variable_name(variable: str, suffix: str) -> str:
    """The name of a slot variable: ``<variable>-<suffix>`` (OneFlow's ``w-momentum``)."""
    return f"{variable}-{suffix}"


@dataclass(frozen=True)
class StepPlan:
    """What the compiled step of one job needs.

    Attributes:
        job: the job's name.
        body: the job function.
        is_train: whether the job is ``type="train"``.
        default_initializer: the job config's default initializer, if any.
        default_dtype: the job config's default dtype, if any.
        var_names: the variables the body declares, in order.
        slots: train jobs: each trainable variable's slot suffixes.
        step_name: train jobs: the name of the train-step variable.
        regularizers: train jobs: each trainable variable's regularizer, or None.
        seed: the session's seed (train jobs draw this step's random key from it).
        watches_diff: train jobs: the body calls ``flow.watch_diff`` (the step then also
            differentiates with respect to the watched blobs).
        accumulation_steps: train jobs: ``train.num_gradient_accumulation_steps`` (1: none).
        loss_scale_factor: train jobs: ``train.loss_scale_factor``, if set.
        amp_dtype: the half type of ``enable_auto_mixed_precision``, or None.
    """

    job: str
    body: Callable[..., Any]
    is_train: bool
    default_initializer: Initializer | None
    default_dtype: np.dtype[Any] | None
    var_names: tuple[str, ...]
    slots: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    step_name: str = ""
    regularizers: Mapping[str, RegularizerLike | None] = field(default_factory=dict)
    seed: int = 0
    watches_diff: bool = False
    accumulation_steps: int = 1
    loss_scale_factor: float | None = None
    amp_dtype: np.dtype[Any] | None = None

    def context(
        self,
        *,
        discovering: bool,
        params: Mapping[str, jax.Array] | None = None,
        rng: jax.Array | None = None,
    ) -> TraceContext:
        """A fresh context for one trace of the body (``rng``: a train step's random key)."""
        return TraceContext(
            job=self.job,
            is_train=self.is_train,
            discovering=discovering,
            params=params if params is not None else {},
            default_initializer=self.default_initializer,
            default_dtype=self.default_dtype,
            rng=rng,
        )


def _option(config: Any, prop: str, key: str, default: Any) -> Any:
    """A job option: ``FunctionConfig``'s read-only property ``prop`` where it has one, else the
    value recorded under ``key``."""
    if isinstance(getattr(type(config), prop, None), property):
        return getattr(config, prop)
    return config.options.get(key, default)


def step_options(config: Any) -> dict[str, Any]:
    """The :class:`StepPlan` fields a job's ``FunctionConfig`` sets: ``accumulation_steps``,
    ``loss_scale_factor`` and ``amp_dtype``.

    Raises:
        ArgumentError: ``train.num_gradient_accumulation_steps`` is not an integer >= 1.
    """
    steps = _option(
        config, "num_gradient_accumulation_steps", "train.num_gradient_accumulation_steps", 1
    )
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ArgumentError(
            f"FunctionConfig.train.num_gradient_accumulation_steps: expected an integer >= 1 "
            f"(the micro-batches each call's batch is split into; 1 for none), got {steps!r}"
        )
    factor = _option(config, "loss_scale_factor", "train.loss_scale_factor", None)
    amp = _option(config, "auto_mixed_precision", "enable_auto_mixed_precision", False)
    return {
        "accumulation_steps": int(steps),
        "loss_scale_factor": None if factor is None else float(factor),
        "amp_dtype": amp_dtype(bool(amp)),
    }


def run_body(plan: StepPlan, ctx: TraceContext, inputs: tuple[jax.Array, ...]) -> Any:
    """Trace the body with ``ctx`` current; check it declared the variables it declared first.

    Raises:
        TraceError: the body declared other variables than in its discovery trace.
    """
    with tracing(ctx), mixed_precision(plan.amp_dtype):
        outputs = plan.body(*inputs)
    missing = set(plan.var_names) - set(ctx.specs)
    if missing:
        raise TraceError(
            f"job {plan.job!r} did not declare {sorted(missing)} when compiled, though it "
            "did when first traced; a job body must declare the same variables every time"
        )
    return outputs


def predict_step(
    plan: StepPlan, params: Arrays, inputs: tuple[jax.Array, ...]
) -> tuple[Any, Arrays]:
    """The predict step: the outputs and the values the body assigned (moving statistics)."""
    ctx = plan.context(discovering=False, params=params)
    outputs = run_body(plan, ctx, inputs)
    return outputs, ctx.updates


def train_step(
    plan: StepPlan, trainable: Arrays, state: Arrays, inputs: tuple[jax.Array, ...]
) -> tuple[Any, Arrays, Arrays]:
    """The train step: outputs, the new trainable variables and the new state.

    Raises:
        TraceError: the body did not call ``minimize`` when compiled.
        UnsupportedFeatureError: ``flow.watch_diff`` in a job with gradient accumulation.
    """
    step = state[plan.step_name]
    t = step[0]
    base = jax.random.fold_in(jax.random.key(plan.seed), name_hash(plan.job))
    rng = jax.random.fold_in(base, t)
    recorded: list[TrainingOptimizer] = []
    contexts: list[TraceContext] = []
    scalings: list[LossScaling] = []

    def loss_fn(
        trainable: Arrays, params: Arrays, inputs: Any, key: jax.Array
    ) -> tuple[jax.Array, tuple[Any, Arrays]]:
        ctx = plan.context(discovering=False, params={**params, **trainable}, rng=key)
        contexts.append(ctx)
        outputs = run_body(plan, ctx, inputs)
        if ctx.optimizer is None or not ctx.losses:
            raise TraceError(f"train job {plan.job!r} did not call minimize() when compiled")
        recorded.append(ctx.optimizer)
        total: jax.Array = sum(jnp.mean(loss.astype(jnp.float32)) for loss in ctx.losses)  # type: ignore[assignment]
        scaling = loss_scaling(ctx.optimizer, plan.loss_scale_factor, state, plan.job)
        scalings.append(scaling)
        if scaling.factor is not None:
            total = total * scaling.factor
        updates = jax.tree_util.tree_map(jax.lax.stop_gradient, ctx.updates)
        return total, (outputs, updates)

    if plan.accumulation_steps > 1:
        if plan.watches_diff:
            raise UnsupportedFeatureError(
                f"train job {plan.job!r}: flow.watch_diff together with "
                "train.num_gradient_accumulation_steps is not supported; drop one of them"
            )

        def micro_step(params: Arrays, batch: Any, k: jax.Array) -> tuple[Any, Arrays, Arrays]:
            key = jax.random.fold_in(rng, k)
            (_, (outputs, updates)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
                trainable, params, batch, key
            )
            return outputs, updates, grads

        outputs, updates, grads = accumulate(
            micro_step, state, inputs, plan.accumulation_steps, plan.job
        )
    elif plan.watches_diff:
        outputs, updates, grads = _grads_and_diffs(
            lambda tr: loss_fn(tr, state, inputs, rng), trainable, contexts, scalings
        )
    else:
        (_, (outputs, updates)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
            trainable, state, inputs, rng
        )
    optimizer, scaling = recorded[-1], scalings[-1]
    grads = unscale(grads, scaling, state, plan.job)
    slots = {
        name: {s: state[slot_variable_name(name, s)] for s in plan.slots[name]}
        for name in trainable
    }
    new_trainable, new_slots = optimizer.apply(grads, trainable, slots, t, plan.regularizers)
    increment = jnp.ones_like(step)
    new_state = dict(state)
    new_state.update(updates)
    if scaling.dynamic is not None:
        finite = all_finite(grads)
        new_trainable = keep_if_overflow(finite, new_trainable, trainable)
        new_slots = keep_if_overflow(finite, new_slots, slots)
        increment = finite.astype(step.dtype) * increment
        scale_name, counter_name = loss_scale_names(plan.job)
        new_state[scale_name], new_state[counter_name] = next_loss_scale(
            state[scale_name], state[counter_name], finite, scaling.dynamic
        )
    for name, values in new_slots.items():
        for suffix, value in values.items():
            new_state[slot_variable_name(name, suffix)] = value
    new_state[plan.step_name] = step + increment
    return outputs, new_trainable, new_state


def _grads_and_diffs(
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


def compile_step(plan: StepPlan, **shardings: Any) -> Callable[..., Any]:
    """The job's step under ``jax.jit``; a train step donates its variables' buffers.
    ``shardings``: the ``in_shardings``/``out_shardings`` of a job over a mesh (``_mesh.py``)."""
    if plan.is_train:

        def train(trainable: Arrays, state: Arrays, inputs: tuple[jax.Array, ...]) -> Any:
            outputs, new_trainable, new_state = train_step(plan, trainable, state, inputs)
            return at_least_1d(outputs), new_trainable, new_state

        return jax.jit(train, donate_argnums=(0, 1), **shardings)

    def predict(params: Arrays, inputs: tuple[jax.Array, ...]) -> Any:
        outputs, updates = predict_step(plan, params, inputs)
        return at_least_1d(outputs), updates

    return jax.jit(predict, **shardings)


def at_least_1d(outputs: Any) -> Any:
    """The job's results as OneFlow returned them: a lazy-mode blob has at least one dimension
    (OneFlow's ``Shape::RemoveOnes`` keeps ``(1,)`` when a reduction removes every axis), so a
    result of shape ``()`` -- ``reduce_mean(loss)`` -- comes back with shape ``(1,)``. Programs
    rely on it (OneFlow's GPT counts micro-batches as ``loss.shape[0]``)."""
    return jax.tree.map(lambda x: x.reshape(1) if getattr(x, "ndim", None) == 0 else x, outputs)
