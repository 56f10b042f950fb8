"""LARS and LazyAdam against NumPy versions of OneFlow's kernels (``LarsUpdateKernelUtil``: RMS
norms, no weight-decay term in the trust ratio at step 0; the dense ``lazy_adam`` kernel: elements
with ``|g| < 1e-12`` untouched, ``beta1_t``/``beta2_t`` power slots), inside train jobs and
through the protocol alone."""

from __future__ import annotations

from typing import Any

import numpy as np

import flowsnap as flow
import flowsnap.typing as tp
from flowsnap.optimizers import LARS, LazyAdam
from tests.optimizers.test_protocol import (
    CLIP,
    SCALE,
    close,
    grad_clipping,
    numpy_run,
    run,
    schedule,
)

Array = np.ndarray[Any, Any]
W0 = np.array([1.0, -2.0, 3.0, 0.5])
C = np.array([0.4, -1.2, 2.0, 0.8])
GRAD = C / 4  # minimize(loss) trains on mean(loss)


def const(lr: float = 0.1) -> flow.optimizer.PiecewiseConstantScheduler:
    return flow.optimizer.PiecewiseConstantScheduler([], [lr])


def lars_numpy(
    w: Array, g: Array, m: Array, lr: float, t: int, beta: float, eps: float, coef: float, wd: float
) -> tuple[Array, Array]:
    w_norm = np.sqrt(np.mean(w * w))
    g_norm = np.sqrt(np.mean(g * g))
    denom = eps + g_norm + (0.0 if t == 0 else wd * w_norm)
    local_lr = lr * coef * w_norm / denom
    m = beta * m - local_lr * (g + wd * w)
    return w + m, m


def test_lars_in_a_train_job_with_weight_decay() -> None:
    @flow.global_function(type="train")
    def train_job(c: tp.Numpy.Placeholder((4,))) -> tp.Numpy:
        w = flow.get_variable("w", shape=(4,), initializer=flow.constant_initializer(0))
        loss = w * c
        LARS(const(0.5), momentum_beta=0.8, lars_coefficient=0.01, weight_decay=0.1).minimize(loss)
        return loss

    flow.load_variables({"w": W0.astype(np.float32)})
    for _ in range(3):
        train_job(C.astype(np.float32))
    got = {k: v.numpy() for k, v in flow.get_all_variables().items()}
    w, m = W0.copy(), np.zeros(4)
    for t in range(3):
        w, m = lars_numpy(w, GRAD, m, 0.5, t, 0.8, 1e-9, 0.01, 0.1)
    assert sorted(got) == ["System-Train-TrainStep-train_job", "w", "w-momentum"]
    np.testing.assert_allclose(got["w"], w, rtol=1e-5)
    np.testing.assert_allclose(got["w-momentum"], m, rtol=1e-5)


def test_lars_weight_decay_excludes() -> None:
    opt = LARS(const(), weight_decay=0.1, weight_decay_excludes=["bias"])
    assert opt.rule_for("fc-weight").weight_decay == 0.1  # type: ignore[attr-defined]
    assert opt.rule_for("fc-bias").weight_decay == 0.0  # type: ignore[attr-defined]


def test_lars_through_the_protocol() -> None:
    opt = LARS(
        schedule(),
        momentum_beta=0.9,
        lars_coefficient=0.02,
        weight_decay=0.05,
        loss_scale_factor=SCALE,
        grad_clipping=grad_clipping.by_global_norm(CLIP),
    )
    got, slots = run(opt)

    def update(name: str, w: Array, g: Array, s: dict[str, Array], lr: float, t: int) -> Array:
        new_w, s["momentum"] = lars_numpy(
            w, g, s.get("momentum", np.zeros_like(w)), lr, t, 0.9, 1e-9, 0.02, 0.05
        )
        return new_w

    want, want_slots = numpy_run(update)
    for name in got:
        close(got[name], want[name])
        close(slots[name]["momentum"], want_slots[name]["momentum"])


def test_lazy_adam_leaves_untouched_rows_alone() -> None:
    table0 = np.arange(15, dtype=np.float32).reshape(5, 3) / 10
    ids_per_step = [np.array([0, 2], np.int32), np.array([2, 3], np.int32)]

    @flow.global_function(type="train")
    def embed_job(ids: tp.Numpy.Placeholder((2,), dtype=flow.int32)) -> tp.Numpy:
        table = flow.get_variable("emb", shape=(5, 3), initializer=flow.constant_initializer(0))
        rows = flow.gather(table, ids)
        loss = flow.math.reduce_sum(rows * rows, axis=1)
        LazyAdam(const(0.1), beta1=0.8, beta2=0.9).minimize(loss)
        return loss

    flow.load_variables({"emb": table0})
    for ids in ids_per_step:
        embed_job(ids)
    got = {k: v.numpy() for k, v in flow.get_all_variables().items()}

    w, m, v = table0.astype(np.float64), np.zeros((5, 3)), np.zeros((5, 3))
    b1_t, b2_t = 0.8, 0.9
    for ids in ids_per_step:
        g = np.zeros((5, 3))
        for i in ids:
            g[i] += 2 * w[i] / 2  # mean over the 2 examples of sum(row²)
        lr_t = 0.1 * np.sqrt(1 - b2_t) / (1 - b1_t)
        touched = np.abs(g) >= 1e-12
        m = np.where(touched, 0.8 * m + 0.2 * g, m)
        v = np.where(touched, 0.9 * v + 0.1 * g * g, v)
        w = np.where(touched, w - lr_t * m / (np.sqrt(v) + 1e-8), w)
        b1_t, b2_t = b1_t * 0.8, b2_t * 0.9
    assert sorted(got) == [
        "System-Train-TrainStep-embed_job",
        "emb",
        "emb-beta1_t",
        "emb-beta2_t",
        "emb-m",
        "emb-v",
    ]
    np.testing.assert_allclose(got["emb"], w, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got["emb-m"], m, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(got["emb-v"], v, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(got["emb-beta1_t"], [0.8**3], rtol=1e-6)
    np.testing.assert_allclose(got["emb-beta2_t"], [0.9**3], rtol=1e-6)
    # rows 1 and 4 were never looked up: value and moments as they started
    np.testing.assert_array_equal(got["emb"][[1, 4]], table0[[1, 4]])
    assert not got["emb-m"][[1, 4]].any()
    # row 0 was touched in step 1 only: its moments kept step 1's values (no decay in step 2)
    assert got["emb-m"][0].any()


def test_lazy_adam_through_the_protocol_equals_adam_with_bias_correction_on_dense_grads() -> None:
    opt = LazyAdam(schedule(), beta1=0.9, beta2=0.99, loss_scale_factor=SCALE)
    got, slots = run(opt)
    adam = flow.optimizer.Adam(
        schedule(), beta1=0.9, beta2=0.99, do_bias_correction=True, loss_scale_factor=SCALE
    )
    want, want_slots = run(adam)
    for name in got:
        close(got[name], want[name])
        close(slots[name]["m"], want_slots[name]["m"])
        np.testing.assert_allclose(slots[name]["beta2_t"], [0.99**4], rtol=1e-6)


def test_lazy_adam_with_an_element_mask_in_the_style_of_oneflow_tests() -> None:
    mask = np.random.default_rng(0).integers(0, 2, size=(4, 5)).astype(np.float32)
    x0 = np.random.default_rng(1).uniform(0, 100, size=(4, 5)).astype(np.float32)

    @flow.global_function(type="train")
    def masked(m: tp.Numpy.Placeholder((4, 5))) -> tp.Numpy:
        x = flow.get_variable("x", shape=(4, 5), initializer=flow.constant_initializer(0))
        LazyAdam(const(0.01), beta1=0.9, beta2=0.99, epsilon=1e-7).minimize(
            flow.math.reduce_mean(x * m)
        )
        return x

    flow.load_variables({"x": x0})
    for _ in range(4):
        masked(mask)
    got = flow.get_all_variables()["x"].numpy()
    param, m, v = x0.astype(np.float64), np.zeros((4, 5)), np.zeros((4, 5))
    g = mask / mask.size
    on = mask == 1
    for t in range(4):
        lr_t = 0.01 * np.sqrt(1 - 0.99 ** (t + 1)) / (1 - 0.9 ** (t + 1))
        m = np.where(on, 0.9 * m + 0.1 * g, m)
        v = np.where(on, 0.99 * v + 0.01 * g * g, v)
        param = np.where(on, param - lr_t * m / (np.sqrt(v) + 1e-7), param)
    np.testing.assert_allclose(got, param, rtol=1e-5)
    np.testing.assert_array_equal(got[~on], x0[~on])
