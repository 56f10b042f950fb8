"""Learning-rate warmups, as ``flow.optimizer.warmup.constant`` / ``.linear``."""

from flowsnap.optimizers._schedules import ConstantWarmup, LinearWarmup, constant, linear

__all__ = ["ConstantWarmup", "LinearWarmup", "constant", "linear"]
