"""Loss scaling: ``flow.optimizer.loss_scale.static_loss_scale`` (dynamic scaling is refused)."""

from __future__ import annotations

from dataclasses import dataclass

from flowsnap.errors import UnsupportedFeatureError


@dataclass(frozen=True)
class StaticLossScale:
    """Multiply the loss by ``factor`` before differentiation and divide the gradients after."""

    factor: float


def static_loss_scale(loss_scale_factor: float) -> StaticLossScale:
    """``flow.optimizer.loss_scale.static_loss_scale(f)``."""
    return StaticLossScale(float(loss_scale_factor))


def dynamic_loss_scale(
    initial_loss_scale: float = 2.0**30, increment_period: int = 2000, multiplier: float = 2.0
) -> StaticLossScale:
    """OneFlow's dynamic loss scaling (for float16 training) is not implemented."""
    del initial_loss_scale, increment_period, multiplier
    raise UnsupportedFeatureError(
        "flow.optimizer.loss_scale.dynamic_loss_scale is not implemented (flowsnap trains in the "
        "variables' own dtype); use static_loss_scale or no loss scaling"
    )
