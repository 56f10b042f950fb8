"""``flow.optimizer.loss_scale``: static loss scaling (dynamic scaling is not implemented)."""

from flowsnap.optimizers._loss_scale import StaticLossScale, dynamic_loss_scale, static_loss_scale

__all__ = ["StaticLossScale", "dynamic_loss_scale", "static_loss_scale"]
