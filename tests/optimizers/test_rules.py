"""Update rules against NumPy oracles of OneFlow's kernels, over several steps."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from flowsnap.optimizers import (
    AdamRule,
    LAMBRule,
    RMSPropRule,
    SGDRule,
    UpdateRule,
    regularize_gradient,
    regularizers,
)

RNG = np.random.default_rng(0)
W0 = RNG.standard_normal((4, 5)).astype(np.float32)
GRADS = [RNG.standard_normal((4, 5)).astype(np.float32) for _ in range(5)]
LRS = [0.1, 0.1, 0.05, 0.05, 0.01]


def init_slots(rule: UpdateRule, w: jax.Array) -> dict[str, jax.Array]:
    """Slots as the engine creates them: each filled with its spec's value."""
    return {s.suffix: jnp.full(s.shape, s.fill, s.dtype) for s in rule.slot_specs(w.shape, w.dtype)}


def suffixes(rule: UpdateRule, shape: tuple[int, ...] = (4, 5)) -> tuple[str, ...]:
    return tuple(s.suffix for s in rule.slot_specs(shape, np.dtype(np.float32)))


def run(rule: UpdateRule) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    w = jnp.asarray(W0)
    slots = init_slots(rule, w)
    step_fn = jax.jit(rule.update)
    for t, (g, lr) in enumerate(zip(GRADS, LRS, strict=True)):
        w, slots = step_fn(w, jnp.asarray(g), slots, jnp.float32(lr), jnp.int32(t))
    return np.asarray(w), {k: np.asarray(v) for k, v in slots.items()}


def close(a: np.ndarray, b: np.ndarray) -> None:
    np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize("wd", [0.0, 0.01])
def test_plain_sgd(wd: float) -> None:
    w = W0.astype(np.float64)
    for g, lr in zip(GRADS, LRS, strict=True):
        w = w - lr * (g + wd * w)
    got, slots = run(SGDRule(momentum=0.0, weight_decay=wd))
    close(got, w)
    assert slots == {}


def test_momentum_sgd_keeps_oneflows_negative_buffer() -> None:
    w, m = W0.astype(np.float64), np.zeros_like(W0, dtype=np.float64)
    for g, lr in zip(GRADS, LRS, strict=True):
        m = 0.9 * m - lr * g
        w = w + m
    got, slots = run(SGDRule())  # momentum defaults to 0.9, as in OneFlow
    close(got, w)
    close(slots["momentum"], m)
    # With a constant learning rate this is the textbook v = beta v + g; w -= lr v, and
    # OneFlow's buffer is -lr * v.
    w2, v = W0.astype(np.float64), np.zeros_like(W0, dtype=np.float64)
    for g in GRADS:
        v = 0.9 * v + g
        w2 = w2 - 0.1 * v
    rule = SGDRule()
    wj, sj = jnp.asarray(W0), init_slots(rule, jnp.asarray(W0))
    for t, g in enumerate(GRADS):
        wj, sj = rule.update(wj, jnp.asarray(g), sj, jnp.float32(0.1), jnp.int32(t))
    close(np.asarray(wj), w2)
    close(np.asarray(sj["momentum"]), -0.1 * v)


@pytest.mark.parametrize("bias_correction", [False, True])
@pytest.mark.parametrize("wd", [0.0, 0.01])
def test_adam_v034(bias_correction: bool, wd: float) -> None:
    b1, b2, eps = 0.9, 0.999, 1e-8
    w = W0.astype(np.float64)
    m, v = np.zeros_like(w), np.zeros_like(w)
    for t, (g, lr) in enumerate(zip(GRADS, LRS, strict=True)):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        lr_t = lr * np.sqrt(1 - b2 ** (t + 1)) / (1 - b1 ** (t + 1)) if bias_correction else lr
        w = w - lr_t * (m / (np.sqrt(v) + eps) + wd * w)
    got, slots = run(AdamRule(do_bias_correction=bias_correction, weight_decay=wd))
    close(got, w)
    close(slots["m"], m)
    close(slots["v"], v)


@pytest.mark.parametrize("centered", [False, True])
def test_rmsprop(centered: bool) -> None:
    d, eps = 0.99, 1e-8
    w = W0.astype(np.float64)
    ms, mg = np.zeros_like(w), np.zeros_like(w)
    for g, lr in zip(GRADS, LRS, strict=True):
        ms = (1 - d) * g * g + d * ms
        denom = ms
        if centered:
            mg = (1 - d) * g + d * mg
            denom = ms - mg * mg
        w = w - lr * g / np.sqrt(denom + eps)
    got, slots = run(RMSPropRule(centered=centered))
    np.testing.assert_allclose(got, w, rtol=2e-4, atol=2e-5)
    assert sorted(slots) == (["mean_gradient", "mean_square"] if centered else ["mean_square"])


def test_slot_names_follow_oneflow() -> None:
    assert suffixes(SGDRule()) == ("momentum",)
    assert suffixes(SGDRule(momentum=0)) == ()
    assert suffixes(AdamRule()) == ("m", "v")
    assert suffixes(RMSPropRule(centered=True)) == ("mean_square", "mean_gradient")


def test_slot_specs_give_shape_dtype_and_fill() -> None:
    specs = {s.suffix: s for s in LAMBRule(beta1=0.8).slot_specs((3, 2), np.dtype(np.float16))}
    assert (specs["m"].shape, specs["m"].dtype, specs["m"].fill) == ((3, 2), np.float16, 0.0)
    assert (specs["beta1_t"].shape, specs["beta1_t"].fill) == ((1,), 0.8)
    assert specs["beta2_t"].fill == 0.999


def test_regularize_gradient_rule() -> None:
    w = jnp.asarray([-2.0, 0.0, 3.0])
    g = jnp.asarray([1.0, 1.0, 1.0])
    # sign(0) counts as +1 and l2 has no factor 2, as in OneFlow's kernel.
    np.testing.assert_allclose(
        np.asarray(regularize_gradient(g, w, 0.1, 0.01)),
        [1 - 0.1 - 0.02, 1 + 0.1, 1 + 0.1 + 0.03],
        rtol=1e-6,
    )
    assert regularize_gradient(g, w, 0.0, 0.0) is g


@pytest.mark.parametrize("wd", [0.0, 0.01])
def test_lamb_legacy_kernel(wd: float) -> None:
    b1, b2, eps = 0.9, 0.999, 1e-6
    w = W0.astype(np.float64)
    m, v, b1_t, b2_t = np.zeros_like(w), np.zeros_like(w), b1, b2
    for g, lr in zip(GRADS, LRS, strict=True):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        diff = (m / (1 - b1_t)) / np.sqrt(v / (1 - b2_t) + eps)
        ratio = np.linalg.norm(w) / np.linalg.norm(diff)
        w = w - lr * ratio * (diff + wd * w)
        b1_t, b2_t = b1_t * b1, b2_t * b2
    got, slots = run(LAMBRule(weight_decay=wd))
    np.testing.assert_allclose(got, w, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(slots["beta1_t"], [b1_t], rtol=1e-6)
    assert slots["beta2_t"].shape == (1,)
    assert suffixes(LAMBRule()) == ("m", "v", "beta1_t", "beta2_t")


def test_regularizer_records() -> None:
    assert regularizers.l1() == regularizers.Regularizer(l1=0.01)
    assert regularizers.l2(0.5) == regularizers.Regularizer(l2=0.5)
    assert regularizers.l1_l2() == regularizers.Regularizer(0.01, 0.01)
    with pytest.raises(ValueError, match="l2 must be"):
        regularizers.l2(-1.0)
