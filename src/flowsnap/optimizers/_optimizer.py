"""OneFlow's optimizer classes (``flow.optimizer.SGD(...).minimize(loss)``, reference 6.1).

An optimizer is a record of its constructor arguments that implements the engine's
:class:`~flowsnap._engine.TrainingOptimizer` protocol. ``minimize(loss)`` inside a train job tells
the engine to train on ``mean(loss)`` with it; the engine then creates the slot variables
:meth:`Optimizer.slot_specs` describes and, each step, hands the raw gradients to
:meth:`Optimizer.apply`, which unscales, regularizes and clips them and applies each variable's
update rule (:meth:`Optimizer.rule_for`: the decoupled weight decay of ``SGDW``/``AdamW``/``LAMB``
applies only to names matching the include/exclude patterns) with this step's learning rate.

``variables=`` (OneFlow 0.4+) limits an optimizer to the listed variables (default: every trainable
variable of the job); the others keep their values and get no slots. A
:class:`~flowsnap.optimizers.CombinedOptimizer` hands each variable to the one optimizer that
lists it.
"""

from __future__ import annotations

import abc
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import numpy as np

from flowsnap._engine import RegularizerLike, Slots, SlotSpec, current_trace, record_minimize
from flowsnap.errors import ArgumentError, TraceError, UnsupportedFeatureError
from flowsnap.optimizers._clipping import ClipByGlobalNorm, clip_by_global_norm
from flowsnap.optimizers._loss_scale import DynamicLossScale, LossScalePolicy, StaticLossScale
from flowsnap.optimizers._rules import UpdateRule, regularize_gradient

VariableList = str | Sequence[str] | Callable[[], Sequence[str]] | None
"""What ``variables=`` takes: variable names, or a function returning them (None: every trainable
variable of the job)."""

Updated = tuple[dict[str, jax.Array], dict[str, dict[str, jax.Array]]]


class Optimizer(abc.ABC):
    """Base of the optimizer classes: the learning-rate schedule, the shared options, and the
    engine's ``TrainingOptimizer`` protocol (:meth:`slot_specs`, :meth:`apply`)."""

    def __init__(
        self,
        lr_scheduler: Any,
        loss_scale_factor: float | None = None,
        grad_clipping: ClipByGlobalNorm | None = None,
        train_step_lbn: str | None = None,
        loss_scale_policy: LossScalePolicy | None = None,
        variables: VariableList = None,
    ) -> None:
        if not callable(lr_scheduler):
            raise TypeError(
                f"{type(self).__name__}: lr_scheduler must be a scheduler such as "
                f"flow.optimizer.PiecewiseConstantScheduler([], [0.1]), got {lr_scheduler!r}"
            )
        if train_step_lbn is not None:
            raise UnsupportedFeatureError(
                f"{type(self).__name__}(train_step_lbn=...): a custom train-step blob is not "
                "supported; the job's System-Train-TrainStep-<job> variable counts steps"
            )
        if grad_clipping is not None and not isinstance(grad_clipping, ClipByGlobalNorm):
            raise TypeError("grad_clipping must be flow.optimizer.grad_clipping.by_global_norm(..)")
        self.lr_scheduler = lr_scheduler
        self.grad_clipping = grad_clipping
        self._init_scale(loss_scale_factor, loss_scale_policy)
        self._variables = _variable_list(type(self).__name__, variables)

    def _init_scale(
        self, loss_scale_factor: float | None, loss_scale_policy: LossScalePolicy | None
    ) -> None:
        if loss_scale_factor is not None and loss_scale_policy is not None:
            raise ArgumentError(
                f"{type(self).__name__}: give loss_scale_factor or loss_scale_policy, not both"
            )
        if loss_scale_policy is not None and not isinstance(
            loss_scale_policy, (StaticLossScale, DynamicLossScale)
        ):
            raise TypeError(
                f"{type(self).__name__}: loss_scale_policy takes "
                "flow.optimizer.loss_scale.static_loss_scale(f) or dynamic_loss_scale(...), got "
                f"{loss_scale_policy!r}"
            )
        self.dynamic_loss_scale: DynamicLossScale | None = None
        scale: float | None = loss_scale_factor
        if isinstance(loss_scale_policy, DynamicLossScale):
            self.dynamic_loss_scale = loss_scale_policy
        elif loss_scale_policy is not None:
            scale = loss_scale_policy.factor
        self.loss_scale: float | None = None if scale is None else float(scale)

    def Variables(self) -> list[str]:  # noqa: N802 (OneFlow's name)
        """The names of the variables this optimizer trains: those given as ``variables=``, or
        (by default) every trainable variable the current job body has declared so far.

        Raises:
            TraceError: the default list was asked for outside a job body.
        """
        if self._variables is None:
            ctx = current_trace()
            if ctx is None:
                raise TraceError(
                    f"{type(self).__name__}.Variables(): without variables=, the list is the "
                    "trainable variables of the current job, so call it inside a job body"
                )
            return [name for name, spec in ctx.specs.items() if spec.trainable]
        names = self._variables() if callable(self._variables) else self._variables
        return [names] if isinstance(names, str) else list(names)

    def trains(self, name: str) -> bool:
        """Whether this optimizer updates variable ``name``."""
        return self._variables is None or name in self.Variables()

    @property
    def clip_norm(self) -> float | None:
        """The global-norm clip, or None."""
        return None if self.grad_clipping is None else self.grad_clipping.clip_norm

    def learning_rate(self, step: jax.Array) -> jax.Array:
        """The learning rate of train step ``step`` (before its increment)."""
        lr: jax.Array = self.lr_scheduler(step)
        return lr

    @abc.abstractmethod
    def rule_for(self, name: str) -> UpdateRule:
        """The update rule of variable ``name``."""

    def minimize(self, loss: jax.Array | Sequence[jax.Array]) -> None:
        """Train the job on ``mean(loss)`` (the sum of the means for a list of losses).

        Must be called inside a ``type="train"`` job body, once.
        """
        self._capture_schedules()
        record_minimize(self, loss)

    def _capture_schedules(self) -> None:
        """Let a :class:`CustomScheduler` take its learning-rate blob from this trace."""
        capture = getattr(self.lr_scheduler, "capture", None)
        if capture is not None:
            capture()

    # -- the engine's TrainingOptimizer protocol --------------------------------------------

    def slot_specs(
        self, name: str, shape: tuple[int, ...], dtype: np.dtype[Any]
    ) -> tuple[SlotSpec, ...]:
        """The slots variable ``name`` keeps: those of its update rule (none if this optimizer
        does not train it)."""
        if not self.trains(name):
            return ()
        return self.rule_for(name).slot_specs(shape, dtype)

    def apply(
        self,
        grads: Mapping[str, jax.Array],
        values: Mapping[str, jax.Array],
        slots: Slots,
        step: jax.Array,
        regularizers: Mapping[str, RegularizerLike | None],
    ) -> tuple[dict[str, jax.Array], dict[str, dict[str, jax.Array]]]:
        """One step over every variable of ``values``, from the gradients of the scaled loss.

        In order: divide by the static loss scale (a dynamic one is the train step's: it hands
        over unscaled gradients and skips the whole update on an overflow), add each variable's
        l1/l2 term (:func:`regularize_gradient`), clip by the global norm, take the learning
        rate of ``step``, apply each variable's update rule (decoupled weight decay included),
        and cast the new values and slots back to their dtypes. See ``TrainingOptimizer.apply``.
        """
        if self.loss_scale is not None:
            grads = {name: g / self.loss_scale for name, g in grads.items()}
        new_values, new_slots = self._update(grads, values, slots, step, regularizers)
        return _merged(values, slots, new_values, new_slots)

    def _update(
        self,
        grads: Mapping[str, jax.Array],
        values: Mapping[str, jax.Array],
        slots: Slots,
        step: jax.Array,
        regularizers: Mapping[str, RegularizerLike | None],
    ) -> Updated:
        """The new values and slots of the variables this optimizer trains, from unscaled
        gradients: regularize, clip (over these variables), learning rate, update rule."""
        names = [name for name in values if self.trains(name)]
        own = {
            name: _regularize(grads[name], values[name], regularizers.get(name)) for name in names
        }
        if self.clip_norm is not None:
            own = clip_by_global_norm(own, self.clip_norm)
        lr = self.learning_rate(step)
        new_values: dict[str, jax.Array] = {}
        new_slots: dict[str, dict[str, jax.Array]] = {}
        for name in names:
            w, old = values[name], slots[name]
            new_w, updated = self.rule_for(name).update(w, own[name].astype(w.dtype), old, lr, step)
            new_values[name] = new_w.astype(w.dtype)
            new_slots[name] = {s: value.astype(old[s].dtype) for s, value in updated.items()}
        return new_values, new_slots


def _merged(
    values: Mapping[str, jax.Array],
    slots: Slots,
    new_values: Mapping[str, jax.Array],
    new_slots: Mapping[str, dict[str, jax.Array]],
) -> Updated:
    """Every variable's value and slots: the updated ones, the others unchanged."""
    out_values = {name: new_values.get(name, w) for name, w in values.items()}
    out_slots = {name: new_slots.get(name, dict(slots.get(name, {}))) for name in values}
    return out_values, out_slots


def _variable_list(what: str, variables: VariableList) -> VariableList:
    if variables is None or callable(variables) or isinstance(variables, str):
        return variables
    if isinstance(variables, Sequence) and all(isinstance(v, str) for v in variables):
        return tuple(variables)
    raise TypeError(
        f"{what}: variables= takes variable names (a list of str) or a function returning "
        f"them, got {variables!r}"
    )


def _regularize(g: jax.Array, w: jax.Array, regularizer: RegularizerLike | None) -> jax.Array:
    """``g`` with the variable's l1/l2 regularizer applied (OneFlow's rule), if it has one."""
    if regularizer is None:
        return g
    return regularize_gradient(g, w, regularizer.l1, regularizer.l2)


class _WeightDecayMixin:
    """Decoupled weight decay on the variables the include/exclude patterns select."""

    weight_decay: float
    includes: tuple[str, ...] | None
    excludes: tuple[str, ...] | None

    def _init_decay(
        self,
        weight_decay: float | None,
        includes: str | Sequence[str] | None,
        excludes: str | Sequence[str] | None,
    ) -> None:
        if includes is not None and excludes is not None:
            raise ArgumentError("weight_decay_includes and weight_decay_excludes are exclusive")
        self.weight_decay = float(weight_decay or 0.0)
        self.includes = _patterns(includes)
        self.excludes = _patterns(excludes)

    def decay_for(self, name: str) -> float:
        """The weight decay applied to ``name`` (partial regex match, as OneFlow)."""
        if self.includes is not None:
            return self.weight_decay if any(re.search(p, name) for p in self.includes) else 0.0
        if self.excludes is not None:
            return 0.0 if any(re.search(p, name) for p in self.excludes) else self.weight_decay
        return self.weight_decay


def _patterns(value: str | Sequence[str] | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    return (value,) if isinstance(value, str) else tuple(value)
