"""Per-variable update rules of OneFlow's optimizers (reference 6.1-6.2), as pure functions.

A rule says which state ("slot") variables it keeps per parameter (:meth:`UpdateRule.slot_specs`,
under OneFlow's suffixes: ``<var>-momentum``, ``<var>-m``, ``<var>-v``, ``<var>-mean_square``...),
and maps ``(w, g, slots, lr, step)`` to the new ``(w, slots)``. ``g`` is the gradient after
unscaling, regularization and clipping; ``step`` is the train step before this step's increment
(0-based). The optimizer classes apply one rule per variable.

Compatibility: the momentum slot keeps OneFlow's sign: it holds ``-lr * v`` of the textbook
``v = beta * v + g`` form, so OneFlow checkpoints resume exactly. Adam follows OneFlow v0.3.4
(``w -= lr_t * (m / (sqrt(v) + eps) + wd * w)``, bias correction optional and off by default).
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from flowsnap._engine import SlotSpec

Slots = Mapping[str, jax.Array]
Shape = tuple[int, ...]


def _moment_slots(shape: Shape, dtype: np.dtype[Any]) -> tuple[SlotSpec, SlotSpec]:
    """Adam's first and second moments ``m`` and ``v`` (zeros of the parameter's shape)."""
    return SlotSpec("m", shape, dtype), SlotSpec("v", shape, dtype)


def _power_slots(dtype: np.dtype[Any], beta1: float, beta2: float) -> tuple[SlotSpec, SlotSpec]:
    """``beta1_t``/``beta2_t`` (shape (1,), starting at ``beta1``/``beta2``): the powers of the
    betas that OneFlow's LAMB and LazyAdam kernels keep for bias correction."""
    return SlotSpec("beta1_t", (1,), dtype, beta1), SlotSpec("beta2_t", (1,), dtype, beta2)


def _moments(slots: Slots, g: jax.Array, beta1: float, beta2: float) -> tuple[jax.Array, jax.Array]:
    """``m = b1 m + (1 - b1) g`` and ``v = b2 v + (1 - b2) g²`` from the slots ``m`` and ``v``."""
    return beta1 * slots["m"] + (1 - beta1) * g, beta2 * slots["v"] + (1 - beta2) * g * g


class UpdateRule(abc.ABC):
    """How one optimizer updates one variable."""

    @abc.abstractmethod
    def slot_specs(self, shape: Shape, dtype: np.dtype[Any]) -> tuple[SlotSpec, ...]:
        """The state variables kept for a parameter of ``shape`` and ``dtype``: the one
        description from which slots are created (by the engine, or by a test)."""

    @abc.abstractmethod
    def update(
        self, w: jax.Array, g: jax.Array, slots: Slots, lr: jax.Array, step: jax.Array
    ) -> tuple[jax.Array, dict[str, jax.Array]]:
        """Return the new value of ``w`` and of its slots (by suffix)."""


@dataclass(frozen=True)
class SGDRule(UpdateRule):
    """Plain SGD (``momentum=0``) or OneFlow's momentum SGD, with optional decoupled weight decay.

    plain: ``w -= lr * (g + wd * w)``; momentum: ``m = beta * m - lr * g; w = w + m - lr * wd * w``.
    """

    momentum: float = 0.9
    weight_decay: float = 0.0

    def slot_specs(self, shape: Shape, dtype: np.dtype[Any]) -> tuple[SlotSpec, ...]:
        """``momentum`` (zeros) unless ``momentum == 0``."""
        return (SlotSpec("momentum", shape, dtype),) if self.momentum != 0 else ()

    def update(
        self, w: jax.Array, g: jax.Array, slots: Slots, lr: jax.Array, step: jax.Array
    ) -> tuple[jax.Array, dict[str, jax.Array]]:
        """One SGD step."""
        del step
        lr = lr.astype(w.dtype)
        if self.momentum == 0:
            return w - lr * (g + self.weight_decay * w), {}
        m = self.momentum * slots["momentum"] - lr * g
        return w + m - lr * self.weight_decay * w, {"momentum": m}


@dataclass(frozen=True)
class AdamRule(UpdateRule):
    """OneFlow v0.3.4 Adam (and AdamW when ``weight_decay`` is set).

    ``m = b1 m + (1 - b1) g``; ``v = b2 v + (1 - b2) g²``;
    ``w -= lr_t (m / (sqrt(v) + eps) + wd w)``
    with ``lr_t = lr sqrt(1 - b2^(t+1)) / (1 - b1^(t+1))`` if ``do_bias_correction`` else ``lr``.
    """

    beta1: float = 0.9
    beta2: float = 0.999
    epsilon: float = 1e-8
    do_bias_correction: bool = False
    weight_decay: float = 0.0

    def slot_specs(self, shape: Shape, dtype: np.dtype[Any]) -> tuple[SlotSpec, ...]:
        """``m`` and ``v`` (zeros)."""
        return _moment_slots(shape, dtype)

    def update(
        self, w: jax.Array, g: jax.Array, slots: Slots, lr: jax.Array, step: jax.Array
    ) -> tuple[jax.Array, dict[str, jax.Array]]:
        """One Adam step."""
        m, v = _moments(slots, g, self.beta1, self.beta2)
        lr_t = lr.astype(jnp.float32)
        if self.do_bias_correction:
            t = step.astype(jnp.float32) + 1
            lr_t = lr_t * jnp.sqrt(1 - self.beta2**t) / (1 - self.beta1**t)
        lr_t = lr_t.astype(w.dtype)
        w = w - lr_t * (m / (jnp.sqrt(v) + self.epsilon) + self.weight_decay * w)
        return w, {"m": m, "v": v}


@dataclass(frozen=True)
class RMSPropRule(UpdateRule):
    """``ms = (1 - d) g² + d ms``; centered: ``mg = (1 - d) g + d mg``, ``denom = ms - mg²``;
    ``w -= lr * g * rsqrt(denom + eps)``."""

    decay_rate: float = 0.99
    epsilon: float = 1e-8
    centered: bool = False

    def slot_specs(self, shape: Shape, dtype: np.dtype[Any]) -> tuple[SlotSpec, ...]:
        """``mean_square``, plus ``mean_gradient`` when centered (zeros)."""
        names = ("mean_square", "mean_gradient") if self.centered else ("mean_square",)
        return tuple(SlotSpec(name, shape, dtype) for name in names)

    def update(
        self, w: jax.Array, g: jax.Array, slots: Slots, lr: jax.Array, step: jax.Array
    ) -> tuple[jax.Array, dict[str, jax.Array]]:
        """One RMSProp step."""
        del step
        d = self.decay_rate
        ms = (1 - d) * g * g + d * slots["mean_square"]
        new = {"mean_square": ms}
        denom = ms
        if self.centered:
            mg = (1 - d) * g + d * slots["mean_gradient"]
            new["mean_gradient"] = mg
            denom = ms - mg * mg
        return w - lr.astype(w.dtype) * g * jax.lax.rsqrt(denom + self.epsilon), new


@dataclass(frozen=True)
class LAMBRule(UpdateRule):
    """OneFlow's LAMB (legacy kernel with power slots).

    ``adam_diff = (m / (1 - b1_t)) / sqrt(v / (1 - b2_t) + eps)`` (epsilon inside the root), then
    ``w -= lr * r * (adam_diff + wd * w)`` with the trust ratio ``r = |w| / |adam_diff|`` (1 if
    either norm is 0). The slots ``beta1_t``/``beta2_t`` (shape (1,)) start at ``beta1``/``beta2``
    and are multiplied by them after each step.
    """

    beta1: float = 0.9
    beta2: float = 0.999
    epsilon: float = 1e-6
    weight_decay: float = 0.0

    def slot_specs(self, shape: Shape, dtype: np.dtype[Any]) -> tuple[SlotSpec, ...]:
        """``m``, ``v`` (zeros of the parameter's shape), then ``beta1_t``/``beta2_t`` (shape
        (1,), starting at ``beta1``/``beta2``)."""
        return (*_moment_slots(shape, dtype), *_power_slots(dtype, self.beta1, self.beta2))

    def update(
        self, w: jax.Array, g: jax.Array, slots: Slots, lr: jax.Array, step: jax.Array
    ) -> tuple[jax.Array, dict[str, jax.Array]]:
        """One LAMB step."""
        del step
        b1_t, b2_t = slots["beta1_t"], slots["beta2_t"]
        m, v = _moments(slots, g, self.beta1, self.beta2)
        adam_diff = (m / (1 - b1_t)) / jnp.sqrt(v / (1 - b2_t) + self.epsilon)
        w_norm = jnp.linalg.norm(w)
        d_norm = jnp.linalg.norm(adam_diff)
        ratio = jnp.where((w_norm > 0) & (d_norm > 0), w_norm / d_norm, 1.0)
        local_lr = (lr.astype(jnp.float32) * ratio).astype(w.dtype)
        new_w = w - local_lr * (adam_diff + self.weight_decay * w)
        return new_w, {"m": m, "v": v, "beta1_t": b1_t * self.beta1, "beta2_t": b2_t * self.beta2}


def regularize_gradient(g: jax.Array, w: jax.Array, l1: float, l2: float) -> jax.Array:
    """OneFlow's l1/l2 gradient rule: ``g + l1 * (w >= 0 ? 1 : -1) + l2 * w``.

    No factor 2 on ``l2``, and the sign of 0 is +1, as OneFlow's kernel computes it.
    """
    if l1:
        g = g + l1 * jnp.where(w >= 0, 1, -1).astype(g.dtype)
    if l2:
        g = g + l2 * w
    return g


@dataclass(frozen=True)
class LARSRule(UpdateRule):
    """OneFlow's LARS (layer-wise adaptive rate scaling), slot ``<var>-momentum``.

    With the root-mean-square norms ``|w| = sqrt(mean(w²))`` and ``|g| = sqrt(mean(g²))``:
    ``local_lr = lr * coef * |w| / (eps + |g| + wd * |w|)`` (no ``wd * |w|`` term at train step
    0), ``m = beta * m - local_lr * (g + wd * w)``, ``w = w + m``. The momentum slot keeps
    OneFlow's sign (it holds the step added to ``w``).
    """

    momentum_beta: float = 0.9
    epsilon: float = 1e-9
    lars_coefficient: float = 1e-4
    weight_decay: float = 0.0

    def slot_specs(self, shape: Shape, dtype: np.dtype[Any]) -> tuple[SlotSpec, ...]:
        """``momentum`` (zeros)."""
        return (SlotSpec("momentum", shape, dtype),)

    def update(
        self, w: jax.Array, g: jax.Array, slots: Slots, lr: jax.Array, step: jax.Array
    ) -> tuple[jax.Array, dict[str, jax.Array]]:
        """One LARS step."""
        w32, g32 = w.astype(jnp.float32), g.astype(jnp.float32)
        w_norm = jnp.sqrt(jnp.mean(w32 * w32))
        g_norm = jnp.sqrt(jnp.mean(g32 * g32))
        decay_term = jnp.where(step == 0, 0.0, self.weight_decay * w_norm)
        local_lr = (
            lr.astype(jnp.float32)
            * self.lars_coefficient
            * w_norm
            / (self.epsilon + g_norm + decay_term)
        ).astype(w.dtype)
        m = self.momentum_beta * slots["momentum"] - local_lr * (g + self.weight_decay * w)
        return w + m, {"momentum": m}


@dataclass(frozen=True)
class LazyAdamRule(UpdateRule):
    """OneFlow's LazyAdam: Adam that leaves alone every element whose gradient is zero.

    An element with ``|g| < 1e-12`` (a row an embedding lookup did not touch) keeps its value and
    its ``m``/``v``; the others take ``m = b1 m + (1 - b1) g``, ``v = b2 v + (1 - b2) g²``,
    ``w -= lr_t m / (sqrt(v) + eps)`` with ``lr_t = lr sqrt(1 - b2_t) / (1 - b1_t)``. The slots
    ``beta1_t``/``beta2_t`` (shape (1,)) start at ``beta1``/``beta2`` and are multiplied by them
    after each step, as OneFlow's kernel keeps them.
    """

    beta1: float = 0.9
    beta2: float = 0.999
    epsilon: float = 1e-8

    def slot_specs(self, shape: Shape, dtype: np.dtype[Any]) -> tuple[SlotSpec, ...]:
        """``m``, ``v`` (zeros), ``beta1_t``/``beta2_t`` (shape (1,), ``beta1``/``beta2``)."""
        return (*_moment_slots(shape, dtype), *_power_slots(dtype, self.beta1, self.beta2))

    def update(
        self, w: jax.Array, g: jax.Array, slots: Slots, lr: jax.Array, step: jax.Array
    ) -> tuple[jax.Array, dict[str, jax.Array]]:
        """One LazyAdam step."""
        del step
        b1_t, b2_t = slots["beta1_t"], slots["beta2_t"]
        lr_t = (
            lr.astype(jnp.float32)
            * jnp.sqrt(1 - b2_t[0].astype(jnp.float32))
            / (1 - b1_t[0].astype(jnp.float32))
        ).astype(w.dtype)
        touched = jnp.abs(g) >= 1e-12
        m, v = _moments(slots, g, self.beta1, self.beta2)
        m, v = jnp.where(touched, m, slots["m"]), jnp.where(touched, v, slots["v"])
        new_w = jnp.where(touched, w - lr_t * m / (jnp.sqrt(v) + self.epsilon), w)
        return new_w, {"m": m, "v": v, "beta1_t": b1_t * self.beta1, "beta2_t": b2_t * self.beta2}
