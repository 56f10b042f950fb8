"""``flow.optimizer.loss_scale``: static and dynamic loss scaling."""

from flowsnap.optimizers._loss_scale import (
    DynamicLossScale,
    StaticLossScale,
    dynamic_loss_scale,
    static_loss_scale,
)

__all__ = ["DynamicLossScale", "StaticLossScale", "dynamic_loss_scale", "static_loss_scale"]
