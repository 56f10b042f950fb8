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
from flowsnap.optimizers._loss_scale import StaticLossScale
from flowsnap.optimizers._rules import (
    AdamRule,
    LAMBRule,
    LARSRule,
    LazyAdamRule,
    RMSPropRule,
    SGDRule,
    UpdateRule,
    regularize_gradient,
)

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
        loss_scale_policy: StaticLossScale | None = None,
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
        self, loss_scale_factor: float | None, loss_scale_policy: StaticLossScale | None
    ) -> None:
        if loss_scale_factor is not None and loss_scale_policy is not None:
            raise ArgumentError(
                f"{type(self).__name__}: give loss_scale_factor or loss_scale_policy, not both"
            )
        scale = loss_scale_policy.factor if loss_scale_policy is not None else loss_scale_factor
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

        In order: divide by the loss scale, add each variable's l1/l2 term
        (:func:`regularize_gradient`), clip by the global norm, take the learning rate of
        ``step``, apply each variable's update rule (decoupled weight decay included), and cast
        the new values and slots back to their dtypes. See ``TrainingOptimizer.apply``.
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


class SGD(Optimizer):
    """SGD with OneFlow's default ``momentum=0.9`` (``momentum=0``: plain SGD, no slot)."""

    def __init__(
        self,
        lr_scheduler: Any,
        loss_scale_factor: float | None = None,
        momentum: float = 0.9,
        grad_clipping: ClipByGlobalNorm | None = None,
        train_step_lbn: str | None = None,
        loss_scale_policy: StaticLossScale | None = None,
        variables: VariableList = None,
    ) -> None:
        super().__init__(
            lr_scheduler,
            loss_scale_factor,
            grad_clipping,
            train_step_lbn,
            loss_scale_policy,
            variables,
        )
        self.momentum = float(momentum)

    def rule_for(self, name: str) -> UpdateRule:
        """Momentum SGD (slot ``<var>-momentum``) or plain SGD."""
        del name
        return SGDRule(self.momentum)


class SGDW(SGD, _WeightDecayMixin):
    """SGD with decoupled weight decay."""

    def __init__(
        self,
        lr_scheduler: Any,
        loss_scale_factor: float | None = None,
        momentum: float = 0.9,
        weight_decay: float | None = None,
        weight_decay_includes: str | Sequence[str] | None = None,
        weight_decay_excludes: str | Sequence[str] | None = None,
        grad_clipping: ClipByGlobalNorm | None = None,
        train_step_lbn: str | None = None,
        loss_scale_policy: StaticLossScale | None = None,
        variables: VariableList = None,
    ) -> None:
        super().__init__(
            lr_scheduler,
            loss_scale_factor,
            momentum,
            grad_clipping,
            train_step_lbn,
            loss_scale_policy,
            variables,
        )
        self._init_decay(weight_decay, weight_decay_includes, weight_decay_excludes)

    def rule_for(self, name: str) -> UpdateRule:
        """SGD with this variable's weight decay."""
        return SGDRule(self.momentum, self.decay_for(name))


class Adam(Optimizer):
    """OneFlow v0.3.4 Adam: slots ``<var>-m``, ``<var>-v``; bias correction off by default."""

    def __init__(
        self,
        lr_scheduler: Any,
        beta1: float = 0.9,
        beta2: float = 0.999,
        epsilon: float = 1e-8,
        do_bias_correction: bool = False,
        loss_scale_factor: float | None = None,
        grad_clipping: ClipByGlobalNorm | None = None,
        train_step_lbn: str | None = None,
        loss_scale_policy: StaticLossScale | None = None,
        variables: VariableList = None,
    ) -> None:
        super().__init__(
            lr_scheduler,
            loss_scale_factor,
            grad_clipping,
            train_step_lbn,
            loss_scale_policy,
            variables,
        )
        self.beta1, self.beta2, self.epsilon = float(beta1), float(beta2), float(epsilon)
        self.do_bias_correction = bool(do_bias_correction)

    def rule_for(self, name: str) -> UpdateRule:
        """Adam."""
        del name
        return AdamRule(self.beta1, self.beta2, self.epsilon, self.do_bias_correction)


class AdamW(Adam, _WeightDecayMixin):
    """Adam with decoupled weight decay."""

    def __init__(
        self,
        lr_scheduler: Any,
        beta1: float = 0.9,
        beta2: float = 0.999,
        epsilon: float = 1e-8,
        do_bias_correction: bool = False,
        loss_scale_factor: float | None = None,
        weight_decay: float | None = None,
        weight_decay_includes: str | Sequence[str] | None = None,
        weight_decay_excludes: str | Sequence[str] | None = None,
        grad_clipping: ClipByGlobalNorm | None = None,
        train_step_lbn: str | None = None,
        loss_scale_policy: StaticLossScale | None = None,
        variables: VariableList = None,
    ) -> None:
        super().__init__(
            lr_scheduler,
            beta1,
            beta2,
            epsilon,
            do_bias_correction,
            loss_scale_factor,
            grad_clipping,
            train_step_lbn,
            loss_scale_policy,
            variables,
        )
        self._init_decay(weight_decay, weight_decay_includes, weight_decay_excludes)

    def rule_for(self, name: str) -> UpdateRule:
        """Adam with this variable's weight decay."""
        return AdamRule(
            self.beta1, self.beta2, self.epsilon, self.do_bias_correction, self.decay_for(name)
        )


class LazyAdam(Optimizer):
    """OneFlow's LazyAdam: Adam that updates only the elements with a nonzero gradient (the rows
    a gather touched); slots ``<var>-m``, ``<var>-v``, ``<var>-beta1_t``, ``<var>-beta2_t``
    (:class:`~flowsnap.optimizers.LazyAdamRule`)."""

    def __init__(
        self,
        lr_scheduler: Any,
        beta1: float = 0.9,
        beta2: float = 0.999,
        epsilon: float = 1e-8,
        loss_scale_factor: float | None = None,
        grad_clipping: ClipByGlobalNorm | None = None,
        train_step_lbn: str | None = None,
        loss_scale_policy: StaticLossScale | None = None,
        variables: VariableList = None,
    ) -> None:
        super().__init__(
            lr_scheduler,
            loss_scale_factor,
            grad_clipping,
            train_step_lbn,
            loss_scale_policy,
            variables,
        )
        self.beta1, self.beta2, self.epsilon = float(beta1), float(beta2), float(epsilon)

    def rule_for(self, name: str) -> UpdateRule:
        """LazyAdam."""
        del name
        return LazyAdamRule(self.beta1, self.beta2, self.epsilon)


class RMSProp(Optimizer):
    """RMSProp: slot ``<var>-mean_square`` (and ``<var>-mean_gradient`` if centered)."""

    def __init__(
        self,
        lr_scheduler: Any,
        decay_rate: float = 0.99,
        epsilon: float = 1e-8,
        centered: bool = False,
        loss_scale_factor: float | None = None,
        grad_clipping: ClipByGlobalNorm | None = None,
        train_step_lbn: str | None = None,
        loss_scale_policy: StaticLossScale | None = None,
        variables: VariableList = None,
    ) -> None:
        super().__init__(
            lr_scheduler,
            loss_scale_factor,
            grad_clipping,
            train_step_lbn,
            loss_scale_policy,
            variables,
        )
        self.decay_rate, self.epsilon = float(decay_rate), float(epsilon)
        self.centered = bool(centered)

    def rule_for(self, name: str) -> UpdateRule:
        """RMSProp."""
        del name
        return RMSPropRule(self.decay_rate, self.epsilon, self.centered)


class LAMB(Optimizer, _WeightDecayMixin):
    """LAMB: slots ``<var>-m``, ``<var>-v``, ``<var>-beta1_t``, ``<var>-beta2_t``.

    Parameters in OneFlow v0.5.0's order (``weight_decay*`` after ``loss_scale_factor``); 0.3.4
    had no weight decay here.
    """

    def __init__(
        self,
        lr_scheduler: Any,
        beta1: float = 0.9,
        beta2: float = 0.999,
        epsilon: float = 1e-6,
        loss_scale_factor: float | None = None,
        weight_decay: float | None = None,
        weight_decay_includes: str | Sequence[str] | None = None,
        weight_decay_excludes: str | Sequence[str] | None = None,
        grad_clipping: ClipByGlobalNorm | None = None,
        train_step_lbn: str | None = None,
        loss_scale_policy: StaticLossScale | None = None,
        variables: VariableList = None,
    ) -> None:
        super().__init__(
            lr_scheduler,
            loss_scale_factor,
            grad_clipping,
            train_step_lbn,
            loss_scale_policy,
            variables,
        )
        self.beta1, self.beta2, self.epsilon = float(beta1), float(beta2), float(epsilon)
        self._init_decay(weight_decay, weight_decay_includes, weight_decay_excludes)

    def rule_for(self, name: str) -> UpdateRule:
        """LAMB with this variable's weight decay."""
        return LAMBRule(self.beta1, self.beta2, self.epsilon, self.decay_for(name))


class LARS(Optimizer, _WeightDecayMixin):
    """OneFlow's LARS: momentum SGD with a per-variable trust ratio, slot ``<var>-momentum``
    (:class:`~flowsnap.optimizers.LARSRule`). The weight decay is part of the gradient (and of the
    trust ratio), not decoupled; ``weight_decay_includes``/``excludes`` select the variables it
    applies to (OneFlow 0.4+; 0.3.4 had no weight decay here)."""

    def __init__(
        self,
        lr_scheduler: Any,
        momentum_beta: float = 0.9,
        epsilon: float = 1e-9,
        lars_coefficient: float = 0.0001,
        loss_scale_factor: float | None = None,
        weight_decay: float | None = None,
        weight_decay_includes: str | Sequence[str] | None = None,
        weight_decay_excludes: str | Sequence[str] | None = None,
        grad_clipping: ClipByGlobalNorm | None = None,
        train_step_lbn: str | None = None,
        loss_scale_policy: StaticLossScale | None = None,
        variables: VariableList = None,
    ) -> None:
        super().__init__(
            lr_scheduler,
            loss_scale_factor,
            grad_clipping,
            train_step_lbn,
            loss_scale_policy,
            variables,
        )
        self.momentum_beta, self.epsilon = float(momentum_beta), float(epsilon)
        self.lars_coefficient = float(lars_coefficient)
        self._init_decay(weight_decay, weight_decay_includes, weight_decay_excludes)

    def rule_for(self, name: str) -> UpdateRule:
        """LARS with this variable's weight decay."""
        return LARSRule(
            self.momentum_beta, self.epsilon, self.lars_coefficient, self.decay_for(name)
        )


class CombinedOptimizer(Optimizer):
    """Several optimizers in one train job, each training the variables it lists
    (``variables=``): ``CombinedOptimizer([SGD(s1, variables=["a"]), Adam(s2, variables=["b"])])``.

    The loss scale is the combined optimizer's own (the parts must have none); each part keeps its
    learning rate, clipping (over its own variables) and update rule. A trainable variable that
    no part lists is not trained; one that two parts list is an error.
    """

    def __init__(
        self,
        optimizers: Sequence[Optimizer],
        loss_scale_factor: float | None = None,
        train_step_lbn: str | None = None,
        loss_scale_policy: StaticLossScale | None = None,
    ) -> None:
        if train_step_lbn is not None:
            raise UnsupportedFeatureError(
                "CombinedOptimizer(train_step_lbn=...): a custom train-step blob is not "
                "supported; the job's System-Train-TrainStep-<job> variable counts steps"
            )
        parts = list(optimizers)
        if not parts:
            raise ArgumentError("CombinedOptimizer: give at least one optimizer")
        for part in parts:
            if not isinstance(part, Optimizer) or isinstance(part, CombinedOptimizer):
                raise TypeError(
                    "CombinedOptimizer takes flow.optimizer optimizers (SGD, Adam, ...), got "
                    f"{part!r}"
                )
            if part.loss_scale is not None:
                raise ArgumentError(
                    f"CombinedOptimizer: the part {type(part).__name__} has its own loss scale; "
                    "give loss_scale_factor/loss_scale_policy to the CombinedOptimizer instead"
                )
        self.optimizers = tuple(parts)
        self.grad_clipping = None
        self._variables = None
        self._init_scale(loss_scale_factor, loss_scale_policy)

    def Variables(self) -> list[str]:  # noqa: N802 (OneFlow's name)
        """Every part's variables, in order."""
        return [name for part in self.optimizers for name in part.Variables()]

    def owner(self, name: str) -> Optimizer | None:
        """The part that trains ``name`` (None: none does).

        Raises:
            ArgumentError: two parts list ``name``.
        """
        owners = [part for part in self.optimizers if part.trains(name)]
        if len(owners) > 1:
            raise ArgumentError(
                f"CombinedOptimizer: variable {name!r} is trained by "
                f"{[type(p).__name__ for p in owners]}; give each part its own variables= so "
                "that every variable has one optimizer"
            )
        return owners[0] if owners else None

    def trains(self, name: str) -> bool:
        """Whether a part trains ``name``."""
        return self.owner(name) is not None

    def learning_rate(self, step: jax.Array) -> jax.Array:
        """Not one rate: each part has its own."""
        raise ArgumentError("CombinedOptimizer has no single learning rate; ask its parts")

    def rule_for(self, name: str) -> UpdateRule:
        """The update rule of ``name``'s part."""
        owner = self.owner(name)
        if owner is None:
            raise ArgumentError(f"CombinedOptimizer: no part trains {name!r}")
        return owner.rule_for(name)

    def _capture_schedules(self) -> None:
        for part in self.optimizers:
            part._capture_schedules()

    def _update(
        self,
        grads: Mapping[str, jax.Array],
        values: Mapping[str, jax.Array],
        slots: Slots,
        step: jax.Array,
        regularizers: Mapping[str, RegularizerLike | None],
    ) -> Updated:
        for name in values:
            self.owner(name)  # two owners: an error before any update
        new_values: dict[str, jax.Array] = {}
        new_slots: dict[str, dict[str, jax.Array]] = {}
        for part in self.optimizers:
            part_values, part_slots = part._update(grads, values, slots, step, regularizers)
            new_values.update(part_values)
            new_slots.update(part_slots)
        return new_values, new_slots
