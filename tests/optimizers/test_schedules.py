"""Learning-rate schedules against the formulas of OneFlow's kernel, written out in plain Python."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from flowsnap import optimizers as opt

STEPS = [0, 1, 2, 5, 9, 10, 11, 50, 99, 100, 101, 250, 1000]


def check(scheduler: object, reference: object) -> None:
    jitted = jax.jit(scheduler)  # type: ignore[arg-type]
    for step in STEPS:
        want = reference(step)  # type: ignore[operator]
        got = scheduler(step)  # type: ignore[operator]
        assert got.dtype == jnp.float32
        assert float(got) == pytest.approx(want, rel=2e-6, abs=1e-9), step
        assert float(jitted(jnp.int32(step))) == pytest.approx(want, rel=2e-6, abs=1e-9), step


def piecewise(boundaries: list[int], values: list[float]) -> object:
    def lr(step: int) -> float:
        for b, v in zip(boundaries, values, strict=False):
            if step <= b:  # inclusive upper bounds
                return v
        return values[-1]

    return lr


def test_piecewise_constant_inclusive_boundaries() -> None:
    check(
        opt.PiecewiseConstantScheduler([10, 100], [0.1, 0.01, 0.001]),
        piecewise([10, 100], [0.1, 0.01, 0.001]),
    )
    assert float(opt.PiecewiseConstantScheduler([10], [1.0, 2.0])(10)) == 1.0
    assert float(opt.PiecewiseConstantScheduler([10], [1.0, 2.0])(11)) == 2.0
    check(opt.PiecewiseConstantScheduler([], [0.1]), lambda s: np.float32(0.1))


def test_piecewise_scaling() -> None:
    check(
        opt.PiecewiseScalingScheduler(0.5, [10, 100], 0.1), piecewise([10, 100], [0.5, 0.05, 0.05])
    )
    check(
        opt.PiecewiseScalingScheduler(0.5, [10, 100], [0.1, 0.01]),
        piecewise([10, 100], [0.5, 0.05, 0.005]),
    )


def test_cosine_and_linear_cosine() -> None:
    def cosine(step: int) -> float:
        c = min(step, 100)
        return 0.2 * ((1 - 0.1) * 0.5 * (1 + math.cos(math.pi * c / 100)) + 0.1)

    check(opt.CosineScheduler(0.2, 100, alpha=0.1), cosine)

    def linear_cosine(step: int) -> float:
        c = min(step, 100)
        return 0.2 * (
            (0 + (100 - c) / 100) * 0.5 * (1 + math.cos(2 * math.pi * 0.5 * c / 100)) + 0.001
        )

    check(opt.LinearCosineScheduler(0.2, 100), linear_cosine)


@pytest.mark.parametrize("cycle", [False, True])
def test_polynomial(cycle: bool) -> None:
    def poly(step: int) -> float:
        horizon, c = 100, min(step, 100)
        if cycle:
            horizon, c = 100 * math.ceil(max(step, 1) / 100), step
        return (0.1 - 1e-4) * (1 - c / horizon) ** 2.0 + 1e-4

    check(opt.PolynomialScheduler(0.1, 100, power=2.0, cycle=cycle), poly)
    assert opt.PolynomialSchduler is opt.PolynomialScheduler


@pytest.mark.parametrize("staircase", [False, True])
def test_rate_schedulers(staircase: bool) -> None:
    def p(step: int) -> float:
        return math.floor(step / 30) if staircase else step / 30

    check(opt.ExponentialScheduler(0.1, 30, 0.5, staircase), lambda s: 0.1 * 0.5 ** p(s))
    check(opt.InverseTimeScheduler(0.1, 30, 0.5, staircase), lambda s: 0.1 / (1 + 0.5 * p(s)))
    check(opt.NaturalExpScheduler(0.1, 30, 0.5, staircase), lambda s: 0.1 * math.exp(-0.5 * p(s)))


def test_warmups_replace_decay_then_use_absolute_step() -> None:
    cosine = opt.CosineScheduler(0.2, 100)

    def with_linear(step: int) -> float:
        if step < 10:
            return 0.2 * (0.1 + 0.9 * step / 10)
        return float(cosine(step))

    check(opt.CosineScheduler(0.2, 100, warmup=opt.warmup.linear(10, 0.1)), with_linear)

    def with_constant(step: int) -> float:
        return 0.1 * 0.5 if step < 10 else piecewise([50], [0.1, 0.01])(step)

    check(
        opt.PiecewiseConstantScheduler([50], [0.1, 0.01], warmup=opt.warmup.constant(10, 0.5)),
        with_constant,
    )


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda: opt.PiecewiseConstantScheduler([10], [0.1]), "one value more"),
        (lambda: opt.PiecewiseConstantScheduler([10, 5], [1, 2, 3]), "ascending"),
        (lambda: opt.PiecewiseScalingScheduler(1.0, [1, 2], [0.1]), "one scale per boundary"),
        (lambda: opt.CosineScheduler(0.1, 0), "positive integer"),
        (lambda: opt.PolynomialScheduler(0.1, -5), "positive integer"),
        (lambda: opt.ExponentialScheduler(0.1, 0, 0.5), "positive integer"),
        (lambda: opt.warmup.constant(10, 1.5), r"\(0, 1\)"),
        (lambda: opt.warmup.linear(0, 0.1), "positive integer"),
        (lambda: opt.warmup.linear(10, 2.0), r"\[0, 1\]"),
    ],
)
def test_bad_arguments(make: object, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        make()  # type: ignore[operator]


def test_schedulers_are_hashable_records() -> None:
    a = opt.PiecewiseConstantScheduler([], [0.1])
    assert a == opt.PiecewiseConstantScheduler([], [0.1])
    assert hash(a) == hash(opt.PiecewiseConstantScheduler([], [0.1]))
    assert "values=(0.1,)" in repr(a)
