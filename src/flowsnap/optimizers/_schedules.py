"""Learning-rate schedules: pure functions ``train_step -> learning rate`` (reference 6.4-6.5).

Each scheduler is a frozen record of OneFlow's constructor arguments; calling it with the train step
(the value *before* this step's increment, starting at 0, as OneFlow's kernel read it) returns a
float32 scalar. They work on Python ints and inside ``jax.jit`` on traced steps. While a warmup is
active the decay is not applied; after it, the decay uses the absolute step (OneFlow's rule).
"""

from __future__ import annotations

import abc
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp

from flowsnap.errors import ArgumentError

StepLike = int | jax.Array


# -- warmup ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConstantWarmup:
    """``lr * multiplier`` while ``step < steps`` (``flow.optimizer.warmup.constant``)."""

    steps: int
    multiplier: float

    def __post_init__(self) -> None:
        _positive_int(self.steps, "warmup.constant: steps")
        if not 0 < self.multiplier < 1:
            raise ArgumentError(
                f"warmup.constant: multiplier must be in (0, 1), got {self.multiplier}"
            )

    def factor(self, step: jax.Array) -> jax.Array:
        """The multiplier applied to the base learning rate at ``step`` (during warmup)."""
        del step
        return jnp.asarray(self.multiplier, jnp.float32)


@dataclass(frozen=True)
class LinearWarmup:
    """``lr * (s + (1 - s) * step / steps)`` while ``step < steps`` (``warmup.linear``)."""

    steps: int
    start_multiplier: float

    def __post_init__(self) -> None:
        _positive_int(self.steps, "warmup.linear: steps")
        if not 0 <= self.start_multiplier <= 1:
            raise ArgumentError(
                f"warmup.linear: start_multiplier must be in [0, 1], got {self.start_multiplier}"
            )

    def factor(self, step: jax.Array) -> jax.Array:
        """The multiplier applied to the base learning rate at ``step`` (during warmup)."""
        s = jnp.asarray(self.start_multiplier, jnp.float32)
        return s + (1 - s) * step.astype(jnp.float32) / self.steps


Warmup = ConstantWarmup | LinearWarmup


def constant(steps: int, multiplier: float) -> ConstantWarmup:
    """OneFlow's ``flow.optimizer.warmup.constant(steps, multiplier)``."""
    return ConstantWarmup(steps, multiplier)


def linear(steps: int, start_multiplier: float) -> LinearWarmup:
    """OneFlow's ``flow.optimizer.warmup.linear(steps, start_multiplier)``."""
    return LinearWarmup(steps, start_multiplier)


# -- schedulers ------------------------------------------------------------------------------


class _Scheduler(abc.ABC):
    """Shared call logic: warmup first, then the scheduler's own decay."""

    base_lr: float
    warmup: Warmup | None

    def __call__(self, step: StepLike) -> jax.Array:
        """The learning rate (float32) for the train step ``step``."""
        s = jnp.asarray(step)
        lr = self.decay(s).astype(jnp.float32)
        if self.warmup is None:
            return lr
        warm = jnp.float32(self.base_lr) * self.warmup.factor(s)
        return jnp.where(s < self.warmup.steps, warm, lr)

    @abc.abstractmethod
    def decay(self, step: jax.Array) -> jax.Array:
        """The learning rate without warmup."""


@dataclass(frozen=True)
class PiecewiseConstantScheduler(_Scheduler):
    """``values[i]`` for the first ``i`` with ``step <= boundaries[i]``, else ``values[-1]``.

    Boundaries are inclusive upper bounds counted in steps. ``PiecewiseConstantScheduler([],
    [0.1])`` is a constant 0.1.
    """

    boundaries: Sequence[int]
    values: Sequence[float]
    warmup: Warmup | None = None

    def __post_init__(self) -> None:
        if len(self.values) != len(self.boundaries) + 1:
            raise ArgumentError(
                f"PiecewiseConstantScheduler: {len(self.values)} values for "
                f"{len(self.boundaries)} boundaries; give one value more than boundaries"
            )
        _ascending(self.boundaries, "PiecewiseConstantScheduler")
        object.__setattr__(self, "boundaries", tuple(int(b) for b in self.boundaries))
        object.__setattr__(self, "values", tuple(float(v) for v in self.values))

    @property
    def base_lr(self) -> float:  # type: ignore[override]
        """The first value, which warmup scales."""
        return self.values[0]

    def decay(self, step: jax.Array) -> jax.Array:
        """Piecewise constant value."""
        return jnp.asarray(self.values, jnp.float32)[_segment(step, self.boundaries)]


@dataclass(frozen=True)
class PiecewiseScalingScheduler(_Scheduler):
    """``base_lr * scales[i]`` with the piecewise rule; ``scales`` gets a leading 1."""

    base_lr: float
    boundaries: Sequence[int]
    scale: float | Sequence[float]
    warmup: Warmup | None = None
    scales: tuple[float, ...] = field(init=False)

    def __post_init__(self) -> None:
        _ascending(self.boundaries, "PiecewiseScalingScheduler")
        if isinstance(self.scale, int | float):
            scales = [float(self.scale)] * len(self.boundaries)
        else:
            scales = [float(s) for s in self.scale]
            object.__setattr__(self, "scale", tuple(scales))  # hashable, like the record
        if len(scales) != len(self.boundaries):
            raise ArgumentError(
                f"PiecewiseScalingScheduler: {len(scales)} scales for {len(self.boundaries)} "
                "boundaries; give one scale per boundary (or one number)"
            )
        object.__setattr__(self, "boundaries", tuple(int(b) for b in self.boundaries))
        object.__setattr__(self, "scales", (1.0, *scales))

    def decay(self, step: jax.Array) -> jax.Array:
        """Scaled base rate."""
        scales = jnp.asarray(self.scales, jnp.float32)
        return self.base_lr * scales[_segment(step, self.boundaries)]


@dataclass(frozen=True)
class CosineScheduler(_Scheduler):
    """``base * ((1 - alpha) * 0.5 * (1 + cos(pi * c / steps)) + alpha)``, c = min(step, steps)."""

    base_lr: float
    steps: int
    alpha: float = 0.0
    warmup: Warmup | None = None

    def __post_init__(self) -> None:
        _positive_int(self.steps, "CosineScheduler: steps")

    def decay(self, step: jax.Array) -> jax.Array:
        """Cosine decay."""
        c = jnp.minimum(step, self.steps).astype(jnp.float32)
        cosine = 0.5 * (1 + jnp.cos(math.pi * c / self.steps))
        return self.base_lr * ((1 - self.alpha) * cosine + self.alpha)


@dataclass(frozen=True)
class LinearCosineScheduler(_Scheduler):
    """``base * ((alpha + (steps - c) / steps) * 0.5 * (1 + cos(2 pi n c / steps)) + beta)``.

    ``n`` is ``num_periods`` and ``c = min(step, steps)``.
    """

    base_lr: float
    steps: int
    num_periods: float = 0.5
    alpha: float = 0.0
    beta: float = 0.001
    warmup: Warmup | None = None

    def __post_init__(self) -> None:
        _positive_int(self.steps, "LinearCosineScheduler: steps")

    def decay(self, step: jax.Array) -> jax.Array:
        """Linear times cosine decay."""
        c = jnp.minimum(step, self.steps).astype(jnp.float32)
        linear_part = self.alpha + (self.steps - c) / self.steps
        cosine = 0.5 * (1 + jnp.cos(2 * math.pi * self.num_periods * c / self.steps))
        return self.base_lr * (linear_part * cosine + self.beta)


@dataclass(frozen=True)
class PolynomialScheduler(_Scheduler):
    """``(base - end) * (1 - c / steps) ** power + end``; with ``cycle`` the horizon repeats."""

    base_lr: float
    steps: int
    end_learning_rate: float = 0.0001
    power: float = 1.0
    cycle: bool = False
    warmup: Warmup | None = None

    def __post_init__(self) -> None:
        _positive_int(self.steps, "PolynomialScheduler: steps")

    def decay(self, step: jax.Array) -> jax.Array:
        """Polynomial decay."""
        s = step.astype(jnp.float32)
        if self.cycle:
            horizon = self.steps * jnp.ceil(jnp.maximum(s, 1.0) / self.steps)
            c = s
        else:
            horizon = jnp.float32(self.steps)
            c = jnp.minimum(s, self.steps)
        fraction = (1 - c / horizon) ** self.power
        return (self.base_lr - self.end_learning_rate) * fraction + self.end_learning_rate


@dataclass(frozen=True)
class _RateScheduler(_Scheduler):
    base_lr: float
    steps: int
    decay_rate: float
    staircase: bool = False
    warmup: Warmup | None = None

    def __post_init__(self) -> None:
        _positive_int(self.steps, f"{type(self).__name__}: steps")

    def _progress(self, step: jax.Array) -> jax.Array:
        p = step.astype(jnp.float32) / self.steps
        return jnp.floor(p) if self.staircase else p


class ExponentialScheduler(_RateScheduler):
    """``base * decay_rate ** p``, ``p = step / steps`` (floored if ``staircase``)."""

    def decay(self, step: jax.Array) -> jax.Array:
        """Exponential decay."""
        return self.base_lr * jnp.asarray(self.decay_rate, jnp.float32) ** self._progress(step)


class InverseTimeScheduler(_RateScheduler):
    """``base / (1 + decay_rate * p)``."""

    def decay(self, step: jax.Array) -> jax.Array:
        """Inverse-time decay."""
        return self.base_lr / (1 + self.decay_rate * self._progress(step))


class NaturalExpScheduler(_RateScheduler):
    """``base * exp(-decay_rate * p)``."""

    def decay(self, step: jax.Array) -> jax.Array:
        """Natural exponential decay."""
        return self.base_lr * jnp.exp(-self.decay_rate * self._progress(step))


# -- helpers ---------------------------------------------------------------------------------


def _segment(step: jax.Array, boundaries: Sequence[int]) -> jax.Array:
    """Index of the first boundary ``>= step`` (= number of boundaries below ``step``)."""
    if not boundaries:
        return jnp.asarray(0, jnp.int32)
    return jnp.sum(jnp.asarray(boundaries) < step).astype(jnp.int32)


def _ascending(boundaries: Sequence[int], what: str) -> None:
    if list(boundaries) != sorted(boundaries):
        raise ArgumentError(f"{what}: boundaries {list(boundaries)} must be in ascending order")


def _positive_int(value: int, what: str) -> None:
    if not (isinstance(value, int) and value > 0):
        raise ArgumentError(f"{what} must be a positive integer, got {value!r}")
