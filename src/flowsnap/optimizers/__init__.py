"""OneFlow's optimizers and learning-rate schedules, as pure functions.

This part holds the schedules (``PiecewiseConstantScheduler`` and friends) and warmups; each is a
frozen record whose call maps a train step to a float32 learning rate, also inside ``jax.jit``.
"""

from flowsnap.optimizers import warmup as warmup
from flowsnap.optimizers._schedules import CosineScheduler as CosineScheduler
from flowsnap.optimizers._schedules import ExponentialScheduler as ExponentialScheduler
from flowsnap.optimizers._schedules import InverseTimeScheduler as InverseTimeScheduler
from flowsnap.optimizers._schedules import LinearCosineScheduler as LinearCosineScheduler
from flowsnap.optimizers._schedules import NaturalExpScheduler as NaturalExpScheduler
from flowsnap.optimizers._schedules import (
    PiecewiseConstantScheduler as PiecewiseConstantScheduler,
)
from flowsnap.optimizers._schedules import (
    PiecewiseScalingScheduler as PiecewiseScalingScheduler,
)
from flowsnap.optimizers._schedules import PolynomialScheduler as PolynomialScheduler

PolynomialSchduler = PolynomialScheduler  # OneFlow's misspelled, deprecated alias

__all__ = [
    "CosineScheduler",
    "ExponentialScheduler",
    "InverseTimeScheduler",
    "LinearCosineScheduler",
    "NaturalExpScheduler",
    "PiecewiseConstantScheduler",
    "PiecewiseScalingScheduler",
    "PolynomialSchduler",
    "PolynomialScheduler",
    "warmup",
]
