"""OneFlow's optimizers and learning-rate schedules, built from pure functions.

Here: the optimizer classes (``SGD``, ``SGDW``, ``Adam``, ``AdamW``, ``LazyAdam``, ``RMSProp``,
``LAMB``, ``LARS``, and ``CombinedOptimizer`` over several of them) whose ``minimize(loss)`` trains
a job; the schedules (``PiecewiseConstantScheduler`` and friends, ``CustomScheduler`` reading a
blob of the job) and warmups, each a frozen record whose call maps a train step to a float32
learning rate (also inside ``jax.jit``); the per-variable update rules (``SGDRule``,
``AdamRule``, ``RMSPropRule``, ``LAMBRule``, ``LARSRule``, ``LazyAdamRule``) with OneFlow's slot
names and sign conventions; and the regularizers.
"""

from flowsnap.errors import missing_name
from flowsnap.optimizers import grad_clipping as grad_clipping
from flowsnap.optimizers import loss_scale as loss_scale
from flowsnap.optimizers import regularizers as regularizers
from flowsnap.optimizers import warmup as warmup
from flowsnap.optimizers._classes import LAMB as LAMB
from flowsnap.optimizers._classes import LARS as LARS
from flowsnap.optimizers._classes import SGD as SGD
from flowsnap.optimizers._classes import SGDW as SGDW
from flowsnap.optimizers._classes import Adam as Adam
from flowsnap.optimizers._classes import AdamW as AdamW
from flowsnap.optimizers._classes import LazyAdam as LazyAdam
from flowsnap.optimizers._classes import RMSProp as RMSProp
from flowsnap.optimizers._combined import CombinedOptimizer as CombinedOptimizer
from flowsnap.optimizers._custom_scheduler import CustomScheduler as CustomScheduler
from flowsnap.optimizers._legacy_conf import add_loss as add_loss
from flowsnap.optimizers._legacy_conf import optimizer_from_conf as optimizer_from_conf
from flowsnap.optimizers._optimizer import Optimizer as Optimizer
from flowsnap.optimizers._rules import AdamRule as AdamRule
from flowsnap.optimizers._rules import LAMBRule as LAMBRule
from flowsnap.optimizers._rules import LARSRule as LARSRule
from flowsnap.optimizers._rules import LazyAdamRule as LazyAdamRule
from flowsnap.optimizers._rules import RMSPropRule as RMSPropRule
from flowsnap.optimizers._rules import SGDRule as SGDRule
from flowsnap.optimizers._rules import UpdateRule as UpdateRule
from flowsnap.optimizers._rules import regularize_gradient as regularize_gradient
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
    "LAMB",
    "LARS",
    "SGD",
    "SGDW",
    "Adam",
    "AdamRule",
    "AdamW",
    "CombinedOptimizer",
    "CosineScheduler",
    "CustomScheduler",
    "ExponentialScheduler",
    "InverseTimeScheduler",
    "LAMBRule",
    "LARSRule",
    "LazyAdam",
    "LazyAdamRule",
    "LinearCosineScheduler",
    "NaturalExpScheduler",
    "Optimizer",
    "PiecewiseConstantScheduler",
    "PiecewiseScalingScheduler",
    "PolynomialSchduler",
    "PolynomialScheduler",
    "RMSProp",
    "RMSPropRule",
    "SGDRule",
    "UpdateRule",
    "add_loss",
    "grad_clipping",
    "loss_scale",
    "optimizer_from_conf",
    "regularize_gradient",
    "regularizers",
    "warmup",
]


def __getattr__(name: str) -> object:
    raise missing_name("flow.optimizer", name)
