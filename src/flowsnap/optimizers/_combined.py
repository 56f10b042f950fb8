"""``flow.optimizer.CombinedOptimizer``: several optimizers in one train job, each training the
variables its ``variables=`` lists."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import jax

from flowsnap._engine import RegularizerLike, Slots
from flowsnap.errors import ArgumentError, UnsupportedFeatureError
from flowsnap.optimizers._loss_scale import LossScalePolicy
from flowsnap.optimizers._optimizer import Optimizer, Updated
from flowsnap.optimizers._rules import UpdateRule


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
        loss_scale_policy: LossScalePolicy | None = None,
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
            if part.loss_scale is not None or part.dynamic_loss_scale is not None:
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
