"""Loss scaling in the train step: which scale multiplies the loss, who divides it out again, and
OneFlow's dynamic schedule with its skip-the-update-on-overflow rule.

Three sources, as in OneFlow (``TrainConf.loss_scale_policy`` is a oneof, so one applies):

* the optimizer's ``loss_scale_factor=`` / ``loss_scale_policy=static_loss_scale(f)``: the step
  multiplies the loss by ``f`` and the optimizer's ``apply`` divides the gradients (the
  :class:`~flowsnap._engine._protocol.TrainingOptimizer` contract);
* the optimizer's ``loss_scale_policy=dynamic_loss_scale(initial, increment_period, multiplier)``
  (:class:`DynamicLossScale`): the scale is the float32 variable
  ``System-Train-DynamicLossScale-<job>-LossScale`` (initial value ``initial``), with the int64
  ``System-Train-DynamicLossScale-<job>-GoodStepCounter`` beside it (OneFlow's
  ``DynamicLossScaleSchedulePass`` names). The step multiplies the loss by the scale, multiplies
  the gradients by its reciprocal, and, if any gradient is inf or NaN, skips the update: the
  variables, their slots and the train step keep their values (OneFlow's ``skip_if`` and
  ``assign_if_not``); BN moving statistics, computed in the forward pass, still move. Then
  :func:`next_loss_scale` (the ``dynamic_loss_scale_schedule`` kernel): a good step counts, and
  after ``increment_period`` good steps the scale is multiplied by ``multiplier`` (at most
  float32's max) and the count restarts; an overflow divides the scale (at least 1) and resets the
  count. Both are variables, so checkpoints hold them and a resumed run scales exactly as the
  uninterrupted one;
* ``FunctionConfig.train.loss_scale_factor(f)``, when the optimizer gives none: the loss times
  ``f``, the gradients times ``1/f``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from flowsnap import initializers
from flowsnap._store import VariableSpec
from flowsnap.errors import ArgumentError

LOSS_SCALE_PREFIX = "System-Train-DynamicLossScale-"
"""OneFlow's prefix of the dynamic loss scale's two variables."""

_FLT_MAX = float(np.finfo(np.float32).max)


@dataclass(frozen=True)
class DynamicLossScale:
    """``flow.optimizer.loss_scale.dynamic_loss_scale(initial_loss_scale, increment_period,
    multiplier)``: OneFlow's ``DynamicLossScalePolicy`` (defaults ``2**30``, 2000, 2.0).

    Raises:
        ArgumentError: a scale or multiplier that is not a positive finite number, or an
            increment period below 1.
    """

    initial_loss_scale: float = 2.0**30
    increment_period: int = 2000
    multiplier: float = 2.0

    def __post_init__(self) -> None:
        what = "flow.optimizer.loss_scale.dynamic_loss_scale"
        for field_name in ("initial_loss_scale", "multiplier"):
            value = getattr(self, field_name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise ArgumentError(
                    f"{what}: {field_name} must be a positive finite number, got {value!r}"
                )
        period = self.increment_period
        if isinstance(period, bool) or not isinstance(period, (int, float)) or period < 1:
            raise ArgumentError(
                f"{what}: increment_period must be a number of steps >= 1, got {period!r}"
            )

    def SetLossScaleFieldsInTrainConf(self, train_conf: Any) -> None:  # noqa: N802 (OneFlow's)
        """Write the policy into OneFlow's ``TrainConf`` message (``dynamic_loss_scale_policy``)."""
        policy = train_conf.dynamic_loss_scale_policy
        policy.initial_loss_scale = self.initial_loss_scale
        policy.increment_period = self.increment_period
        policy.multiplier = self.multiplier


def loss_scale_names(job: str) -> tuple[str, str]:
    """The names of job ``job``'s dynamic loss scale and good-step counter variables."""
    return f"{LOSS_SCALE_PREFIX}{job}-LossScale", f"{LOSS_SCALE_PREFIX}{job}-GoodStepCounter"


def loss_scale_specs(job: str, policy: DynamicLossScale | None) -> list[VariableSpec]:
    """The two state variables of a dynamic loss scale (none without one)."""
    if policy is None:
        return []
    scale, counter = loss_scale_names(job)
    return [
        VariableSpec(
            name=scale,
            shape=(1,),
            dtype=np.dtype(np.float32),
            initializer=initializers.constant_initializer(float(policy.initial_loss_scale)),
            trainable=False,
            job=job,
        ),
        VariableSpec(
            name=counter,
            shape=(1,),
            dtype=np.dtype(np.int64),
            initializer=initializers.constant_initializer(0, np.int64),
            trainable=False,
            job=job,
        ),
    ]


@dataclass(frozen=True)
class LossScaling:
    """How one train step scales its loss.

    Attributes:
        factor: what the loss is multiplied by before differentiation (None: nothing).
        engine_unscales: whether the step itself multiplies the gradients by ``1 / factor``
            (False: the optimizer's ``apply`` divides, or there is no scale).
        dynamic: the dynamic policy, if the scale is dynamic.
    """

    factor: jax.Array | float | None = None
    engine_unscales: bool = False
    dynamic: DynamicLossScale | None = None


def loss_scaling(
    optimizer: Any, config_factor: float | None, state: Mapping[str, jax.Array], job: str
) -> LossScaling:
    """The scaling of this step, from the optimizer given to ``minimize`` (its static
    ``loss_scale`` or its ``dynamic_loss_scale``) or else the job's ``train.loss_scale_factor``."""
    if optimizer.loss_scale is not None:
        return LossScaling(factor=optimizer.loss_scale)
    dynamic: DynamicLossScale | None = optimizer.dynamic_loss_scale
    if dynamic is not None:
        scale, _ = loss_scale_names(job)
        return LossScaling(factor=state[scale][0], engine_unscales=True, dynamic=dynamic)
    if config_factor is not None and config_factor != 1:
        return LossScaling(factor=float(config_factor), engine_unscales=True)
    return LossScaling()


def unscale(
    grads: Mapping[str, jax.Array],
    scaling: LossScaling,
    state: Mapping[str, jax.Array],
    job: str,
) -> dict[str, jax.Array]:
    """The gradients times ``1 / factor`` when the step unscales them (OneFlow multiplies by
    the reciprocal), else unchanged. A dynamic scale is read from ``state`` again here, outside
    the trace of the body (which may be a ``scan`` over micro-batches)."""
    if not scaling.engine_unscales or scaling.factor is None:
        return dict(grads)
    factor = scaling.factor
    if scaling.dynamic is not None:
        factor = state[loss_scale_names(job)[0]][0]
    inverse = 1.0 / jnp.asarray(factor, jnp.float32)
    return {name: g * inverse.astype(g.dtype) for name, g in grads.items()}


def all_finite(grads: Mapping[str, jax.Array]) -> jax.Array:
    """True (a boolean scalar) when no gradient holds an inf or a NaN."""
    flags = [jnp.all(jnp.isfinite(g)) for g in grads.values()]
    return jnp.all(jnp.stack(flags)) if flags else jnp.asarray(True)


def next_loss_scale(
    scale: jax.Array, good_steps: jax.Array, finite: jax.Array, policy: DynamicLossScale
) -> tuple[jax.Array, jax.Array]:
    """OneFlow's ``dynamic_loss_scale_schedule``: the new scale and good-step count after a step
    whose gradients were all finite (``finite``) or not."""
    counted = good_steps + 1
    grow = counted >= int(policy.increment_period)
    multiplier = jnp.float32(policy.multiplier)
    grown = jnp.minimum(scale * multiplier, jnp.float32(_FLT_MAX))
    shrunk = jnp.maximum(scale / multiplier, jnp.float32(1.0))
    new_scale = jnp.where(finite, jnp.where(grow, grown, scale), shrunk)
    new_count = jnp.where(finite, jnp.where(grow, jnp.zeros_like(counted), counted), 0)
    return new_scale.astype(scale.dtype), new_count.astype(good_steps.dtype)


def keep_if_overflow(finite: jax.Array, new: Any, old: Any) -> Any:
    """``new`` where the gradients were finite, else ``old`` (a skipped update), leaf by leaf."""
    return jax.tree_util.tree_map(lambda n, o: jnp.where(finite, n, o), new, old)
