"""The new optimizer names under each version's facade, with that version's positional order."""

from __future__ import annotations

import inspect

import flowsnap as flow
from flowsnap.compat import facade
from flowsnap.optimizers import LAMB


def const() -> flow.optimizer.PiecewiseConstantScheduler:
    return flow.optimizer.PiecewiseConstantScheduler([], [0.1])


def test_lamb_takes_v0_5_positional_order() -> None:
    names = list(inspect.signature(LAMB).parameters)
    assert names.index("weight_decay") == names.index("loss_scale_factor") + 1
    opt = LAMB(const(), 0.9, 0.999, 1e-6, None, 0.01)
    assert opt.weight_decay == 0.01


def test_facades_bind_lars_lazy_adam_combined_custom() -> None:
    old, new = facade("0.3"), facade("0.5")
    assert "weight_decay" not in inspect.signature(old.optimizer.LARS).parameters
    lars = new.optimizer.LARS(const(), 0.8, 1e-9, 0.001, None, 0.1)
    assert (lars.momentum_beta, lars.lars_coefficient, lars.weight_decay) == (0.8, 0.001, 0.1)
    lazy = old.optimizer.LazyAdam(const(), 0.8)
    assert lazy.beta1 == 0.8
    part = new.optimizer.SGD(const(), variables=["w"])
    combined = new.optimizer.CombinedOptimizer([part], 2.0)
    assert combined.loss_scale == 2.0
    assert combined.Variables() == ["w"]
    assert "lbn" in inspect.signature(new.optimizer.CustomScheduler).parameters
