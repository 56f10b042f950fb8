"""The optimizers through the engine's ``TrainingOptimizer`` protocol alone, without any job:
``slot_specs`` describes the slots, ``apply`` turns raw (loss-scaled) gradients into new values
and slots, checked against an independent NumPy version of the whole chain: unscale, regularize
(OneFlow's rule), clip by the global norm, learning rate of the step, update rule, weight decay."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import flowsnap as flow
from flowsnap._engine import SlotSpec, TrainingOptimizer
from flowsnap.optimizers import (
    LAMB,
    SGD,
    Adam,
    AdamW,
    PiecewiseConstantScheduler,
    grad_clipping,
    loss_scale,
    warmup,
)

Array = np.ndarray[Any, Any]
RNG = np.random.default_rng(1)
VALUES = {
    "fc-weight": RNG.standard_normal((3, 4)).astype(np.float32),
    "fc-bias": RNG.standard_normal((3,)).astype(np.float32),
}
# raw gradients of the scaled loss, as value_and_grad would hand them over, one set per step
RAW = [
    {k: RNG.standard_normal(v.shape).astype(np.float32) for k, v in VALUES.items()} for _ in "abc"
]
REGULARIZERS = {"fc-weight": flow.regularizers.l1_l2(0.01, 0.02), "fc-bias": None}
SCALE, CLIP = 8.0, 0.2
LRS = [0.05, 0.075, 0.1]  # linear warmup over 2 steps from 0.5 x 0.1, then 0.1


def schedule() -> PiecewiseConstantScheduler:
    return PiecewiseConstantScheduler([], [0.1], warmup=warmup.linear(2, 0.5))


def init_slots(opt: TrainingOptimizer) -> dict[str, dict[str, jax.Array]]:
    """Slots as the engine creates them from ``slot_specs``."""
    return {
        name: {
            s.suffix: jnp.full(s.shape, s.fill, s.dtype)
            for s in opt.slot_specs(name, v.shape, v.dtype)
        }
        for name, v in VALUES.items()
    }


def run(opt: TrainingOptimizer, steps: int = 3) -> tuple[dict[str, Array], dict[str, Any]]:
    values = {k: jnp.asarray(v) for k, v in VALUES.items()}
    slots = init_slots(opt)
    for t in range(steps):
        grads = {k: jnp.asarray(g) for k, g in RAW[t].items()}
        values, slots = opt.apply(grads, values, slots, jnp.int32(t), REGULARIZERS)
    return (
        {k: np.asarray(v) for k, v in values.items()},
        {k: {s: np.asarray(a) for s, a in v.items()} for k, v in slots.items()},
    )


def processed_grads(t: int, values: dict[str, Array]) -> dict[str, Array]:
    """NumPy: unscale, regularize (sign(0) = +1, no factor 2 on l2), clip by the global norm."""
    out = {}
    for name, raw in RAW[t].items():
        g = raw.astype(np.float64) / SCALE
        reg = REGULARIZERS[name]
        if reg is not None:
            w = values[name]
            g = g + reg.l1 * np.where(w >= 0, 1.0, -1.0) + reg.l2 * w
        out[name] = g
    norm = np.sqrt(sum(np.sum(g * g) for g in out.values()))
    assert norm > CLIP  # the clip is active in every step
    return {k: g * CLIP / max(norm, CLIP) for k, g in out.items()}


def numpy_run(update: Callable[[str, Array, Array, dict[str, Array], float, int], Array]) -> Any:
    values = {k: v.astype(np.float64) for k, v in VALUES.items()}
    slots: dict[str, dict[str, Array]] = {k: {} for k in VALUES}
    for t in range(3):
        grads = processed_grads(t, values)
        for name, w in values.items():
            values[name] = update(name, w, grads[name], slots[name], LRS[t], t)
    return values, slots


def close(got: Array, want: Array) -> None:
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-6)


def test_an_optimizer_is_a_training_optimizer() -> None:
    opt: TrainingOptimizer = SGD(schedule(), loss_scale_factor=SCALE)
    assert opt.loss_scale == SCALE
    assert Adam(schedule()).loss_scale is None


def test_slot_specs_name_shape_dtype_and_fill() -> None:
    f32 = np.dtype(np.float32)
    assert list(SGD(schedule()).slot_specs("w", (3, 4), f32)) == [SlotSpec("momentum", (3, 4), f32)]
    assert list(SGD(schedule(), momentum=0).slot_specs("w", (3, 4), f32)) == []
    assert [s.suffix for s in Adam(schedule()).slot_specs("w", (2,), f32)] == ["m", "v"]
    lamb = {s.suffix: s for s in LAMB(schedule(), beta2=0.99).slot_specs("w", (5,), f32)}
    assert (lamb["beta2_t"].shape, lamb["beta2_t"].fill) == ((1,), 0.99)
    assert (lamb["v"].shape, lamb["v"].fill) == ((5,), 0.0)


def test_momentum_sgd_with_loss_scale_regularizer_and_clipping() -> None:
    opt = SGD(
        schedule(),
        momentum=0.9,
        loss_scale_factor=SCALE,
        grad_clipping=grad_clipping.by_global_norm(CLIP),
    )

    def update(name: str, w: Array, g: Array, slots: dict[str, Array], lr: float, t: int) -> Array:
        m = 0.9 * slots.get("momentum", np.zeros_like(w)) - lr * g
        slots["momentum"] = m
        return w + m

    want, want_slots = numpy_run(update)
    got, got_slots = run(opt)
    for name in VALUES:
        close(got[name], want[name])
        close(got_slots[name]["momentum"], want_slots[name]["momentum"])
        assert got[name].dtype == np.float32


@pytest.mark.parametrize("bias_correction", [False, True])
def test_adamw_with_loss_scale_regularizer_clipping_and_decay_patterns(
    bias_correction: bool,
) -> None:
    wd = 0.05
    opt = AdamW(
        schedule(),
        do_bias_correction=bias_correction,
        weight_decay=wd,
        weight_decay_includes="weight",
        loss_scale_policy=loss_scale.static_loss_scale(SCALE),
        grad_clipping=grad_clipping.by_global_norm(CLIP),
    )

    def update(name: str, w: Array, g: Array, slots: dict[str, Array], lr: float, t: int) -> Array:
        m = 0.9 * slots.get("m", np.zeros_like(w)) + 0.1 * g
        v = 0.999 * slots.get("v", np.zeros_like(w)) + 0.001 * g * g
        slots.update(m=m, v=v)
        if bias_correction:
            lr = lr * np.sqrt(1 - 0.999 ** (t + 1)) / (1 - 0.9 ** (t + 1))
        decay = wd if "weight" in name else 0.0
        return w - lr * (m / (np.sqrt(v) + 1e-8) + decay * w)

    want, want_slots = numpy_run(update)
    got, got_slots = run(opt)
    for name in VALUES:
        close(got[name], want[name])
        close(got_slots[name]["m"], want_slots[name]["m"])
        close(got_slots[name]["v"], want_slots[name]["v"])


def test_apply_casts_back_to_the_dtypes_of_values_and_slots() -> None:
    opt = Adam(schedule(), loss_scale_factor=SCALE)
    values = {"w": jnp.ones((2,), jnp.float16)}
    slots = {
        "w": {
            s.suffix: jnp.zeros(s.shape, s.dtype)
            for s in opt.slot_specs("w", (2,), np.dtype(np.float16))
        }
    }
    grads = {"w": jnp.ones((2,), jnp.float32)}
    new_values, new_slots = opt.apply(grads, values, slots, jnp.int32(0), {"w": None})
    assert new_values["w"].dtype == jnp.float16
    assert {a.dtype for a in new_slots["w"].values()} == {jnp.dtype(jnp.float16)}


def test_apply_is_pure_and_jittable() -> None:
    opt = SGD(schedule(), grad_clipping=grad_clipping.by_global_norm(CLIP))
    values = {k: jnp.asarray(v) for k, v in VALUES.items()}
    slots = init_slots(opt)
    grads = {k: jnp.asarray(g) for k, g in RAW[0].items()}

    def step(g: Any, v: Any, s: Any, t: jax.Array) -> Any:
        return opt.apply(g, v, s, t, REGULARIZERS)

    eager = opt.apply(grads, values, slots, jnp.int32(0), REGULARIZERS)
    jitted = jax.jit(step)(grads, values, slots, jnp.int32(0))
    for a, b in zip(
        jax.tree_util.tree_leaves(eager), jax.tree_util.tree_leaves(jitted), strict=True
    ):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6)
    np.testing.assert_array_equal(values["fc-bias"], VALUES["fc-bias"])  # inputs untouched
