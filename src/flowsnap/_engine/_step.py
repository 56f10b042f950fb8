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

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from flowsnap._engine._accumulate import accumulate
from flowsnap._engine._amp import amp_dtype, mixed_precision
from flowsnap._engine._diffs import grads_and_diffs
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
from flowsnap._store import RegularizerLike, name_hash
from flowsnap.errors import ArgumentError, TraceError, UnsupportedFeatureError
from flowsnap.initializers import Initializer

Arrays = dict[str, jax.Array]
Tuple = tuple[jax.Array, ...]


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
        outputs, updates, grads = grads_and_diffs(
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


def compile_step(
    plan: StepPlan,
    groups: Sequence[Sequence[str]],
    shardings: Mapping[str, Any] | None = None,
) -> Callable[..., Any]:
    """The job's step under ``jax.jit``; a train step donates its variables' buffers.

    Each group of variables (train: trainable, state; predict: the variables) goes in as a tuple
    in ``groups``' order (a call gathers it with ``operator.itemgetter``: no dict to build or
    flatten per call); the trace sees the dicts ``jax.jit`` rebuilt (sorted keys), so the program
    is the one a step over dicts compiles to. Predict: ``(variables, inputs) -> (outputs,
    assigned)``; train: ``(trainable, state, inputs) -> (outputs, new_trainable, new_state,
    other)``, ``other`` the new values of names in neither group (none in the engine's steps).
    ``shardings``: on a mesh, each variable's by name (``StepLayout``'s)."""
    names = tuple(tuple(g) for g in groups)
    jit_kwargs: dict[str, Any] = {}
    if shardings:
        placed = tuple(tuple(shardings[n] for n in g) for g in names)
        jit_kwargs = {
            "in_shardings": (*placed, None),
            "out_shardings": (None, *placed, None) if plan.is_train else (None, None),
        }
    if plan.is_train:
        trainable_names, state_names = names

        def train(trainable: Tuple, state: Tuple, inputs: Tuple) -> Any:
            outputs, new_trainable, new_state = train_step(
                plan, _as_dict(trainable_names, trainable), _as_dict(state_names, state), inputs
            )
            merged = {**new_trainable, **new_state}  # stored in this order, state last
            ordered = tuple(tuple(merged[n] for n in g) for g in names)
            listed = set(trainable_names) | set(state_names)
            other = {n: v for n, v in merged.items() if n not in listed}
            return at_least_1d(outputs), *ordered, other

        return jax.jit(train, donate_argnums=(0, 1), **jit_kwargs)

    (variable_names,) = names

    def predict(params: Tuple, inputs: Tuple) -> Any:
        outputs, updates = predict_step(plan, _as_dict(variable_names, params), inputs)
        return at_least_1d(outputs), updates

    return jax.jit(predict, **jit_kwargs)


def _as_dict(names: tuple[str, ...], arrays: Tuple) -> Arrays:
    """A dict in sorted key order, as ``jax.jit`` rebuilds one (sums over it keep their order)."""
    return dict(sorted(zip(names, arrays, strict=True)))


def at_least_1d(outputs: Any) -> Any:
    """The job's results as OneFlow returned them: a lazy-mode blob has at least one dimension
    (OneFlow's ``Shape::RemoveOnes`` keeps ``(1,)`` when a reduction removes every axis), so a
    result of shape ``()`` -- ``reduce_mean(loss)`` -- comes back with shape ``(1,)``. Programs
    rely on it (OneFlow's GPT counts micro-batches as ``loss.shape[0]``)."""
    return jax.tree.map(lambda x: x.reshape(1) if getattr(x, "ndim", None) == 0 else x, outputs)
