"""The optimizer protocol: everything a train step asks of the optimizer given to ``minimize``.

The engine knows optimizers only through :class:`TrainingOptimizer` (shaped like optax's
``init``/``update`` pair): before the first step it asks :meth:`~TrainingOptimizer.slot_specs`
which state variables each trainable variable needs and creates them as ``<var>-<suffix>``
variables; in every step it multiplies the loss by :attr:`~TrainingOptimizer.loss_scale` before
differentiation and hands the raw gradients to :meth:`~TrainingOptimizer.apply`, which does the
rest (unscaling a static scale, regularization, clipping, learning rate, update rule, weight
decay); a :attr:`~TrainingOptimizer.dynamic_loss_scale` is the step's to apply. The optimizer
classes of ``flowsnap.optimizers`` implement it; the engine never imports them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import jax
import numpy as np

from flowsnap._engine._scaling import DynamicLossScale
from flowsnap._store import RegularizerLike

__all__ = ["RegularizerLike", "SlotSpec", "Slots", "TrainingOptimizer"]

Slots = Mapping[str, Mapping[str, jax.Array]]
"""Optimizer state: for each trainable variable, its slot values by suffix."""


@dataclass(frozen=True)
class SlotSpec:
    """One state ("slot") variable an optimizer keeps for one trainable variable.

    The engine creates it as variable ``<var>-<suffix>`` (OneFlow's names: ``w-momentum``,
    ``w-m``, ``w-v``...), not trainable, every element set to ``fill``.

    Attributes:
        suffix: the part of the name after ``<var>-``.
        shape: the slot's shape (usually the variable's own).
        dtype: the slot's element type (usually the variable's own).
        fill: the initial value of every element.
    """

    suffix: str
    shape: tuple[int, ...]
    dtype: np.dtype[Any]
    fill: float = 0.0


class TrainingOptimizer(Protocol):
    """What a train job's compiled step needs from the optimizer passed to ``minimize``."""

    @property
    def loss_scale(self) -> float | None:
        """The static loss scale: the step multiplies the loss by it before differentiation (so
        the gradients :meth:`apply` receives are scaled by it), or None for no scaling."""

    @property
    def dynamic_loss_scale(self) -> DynamicLossScale | None:
        """A dynamic loss scale policy, or None. With one (and no static :attr:`loss_scale`),
        the step scales the loss by the job's scale variable, hands :meth:`apply` *unscaled*
        gradients, and keeps the old values on an overflow (``_scaling.py``)."""

    def slot_specs(
        self, name: str, shape: tuple[int, ...], dtype: np.dtype[Any]
    ) -> Sequence[SlotSpec]:
        """The state variables to keep for trainable variable ``name`` of ``shape``/``dtype``."""

    def apply(
        self,
        grads: Mapping[str, jax.Array],
        values: Mapping[str, jax.Array],
        slots: Slots,
        step: jax.Array,
        regularizers: Mapping[str, RegularizerLike | None],
    ) -> tuple[dict[str, jax.Array], dict[str, dict[str, jax.Array]]]:
        """One optimizer step over every trainable variable.

        Args:
            grads: the gradient of the scaled loss with respect to each trainable variable.
            values: each trainable variable's current value (the same names as ``grads``).
            slots: each trainable variable's slots, by the suffixes :meth:`slot_specs` gave.
            step: the train step before this step's increment (a 0-based integer scalar).
            regularizers: each trainable variable's l1/l2 regularizer, or None.

        Returns:
            The new value of each variable and of each of its slots, in the dtypes of ``values``
            and ``slots``.
        """
