"""Loss scaling: ``flow.optimizer.loss_scale.static_loss_scale`` and ``dynamic_loss_scale``.

OneFlow 0.3-0.5 give both as an optimizer's ``loss_scale_policy=`` (and the static factor also as
``loss_scale_factor=`` or ``FunctionConfig.train.loss_scale_factor``). A static factor multiplies
the loss before differentiation and divides the gradients after. The dynamic policy keeps its
scale and good-step count as variables of the job and skips the update of a step whose gradients
overflow; the train step applies it (see ``flowsnap._engine._scaling``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from flowsnap._engine import DynamicLossScale
from flowsnap.errors import ArgumentError

__all__ = [
    "DynamicLossScale",
    "LossScalePolicy",
    "StaticLossScale",
    "dynamic_loss_scale",
    "static_loss_scale",
]


@dataclass(frozen=True)
class StaticLossScale:
    """Multiply the loss by ``factor`` before differentiation and divide the gradients after."""

    factor: float

    @property
    def loss_scale_factor(self) -> float:
        """OneFlow's name of the factor."""
        return self.factor

    def SetLossScaleFieldsInTrainConf(self, train_conf: Any) -> None:  # noqa: N802 (OneFlow's)
        """Write the policy into OneFlow's ``TrainConf`` message (``loss_scale_factor``)."""
        train_conf.loss_scale_factor = self.factor


def static_loss_scale(loss_scale_factor: float) -> StaticLossScale:
    """``flow.optimizer.loss_scale.static_loss_scale(f)``.

    Raises:
        ArgumentError: ``f`` is not a positive finite number.
    """
    factor = float(loss_scale_factor)
    if not math.isfinite(factor) or factor <= 0:
        raise ArgumentError(
            "flow.optimizer.loss_scale.static_loss_scale: loss_scale_factor must be a positive "
            f"finite number, got {loss_scale_factor!r}"
        )
    return StaticLossScale(factor)


def dynamic_loss_scale(
    initial_loss_scale: float = 2.0**30, increment_period: int = 2000, multiplier: float = 2.0
) -> DynamicLossScale:
    """``flow.optimizer.loss_scale.dynamic_loss_scale(initial_loss_scale=2**30,
    increment_period=2000, multiplier=2.0)``: start at ``initial_loss_scale``; after every
    ``increment_period`` steps without inf/NaN gradients multiply the scale by ``multiplier``; on
    a step with one, skip the update and divide the scale by ``multiplier`` (never below 1)."""
    return DynamicLossScale(initial_loss_scale, increment_period, multiplier)


LossScalePolicy = StaticLossScale | DynamicLossScale
"""What an optimizer's ``loss_scale_policy=`` takes."""
