"""Mixed precision (``enable_auto_mixed_precision``) and loss scaling (static, dynamic,
``train.loss_scale_factor``). Oracles: NumPy/JAX re-implementations with the same casts, float32
training, NumPy's version of OneFlow's dynamic loss scale schedule, protobuf's text parser for the
checkpoint's meta files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from google.protobuf import text_format

import flowsnap as flow
import flowsnap.typing as tp
from flowsnap.errors import ArgumentError
from flowsnap.format._proto import variable_meta_info_class

BATCH, IN, HIDDEN, CLASSES = 16, 8, 16, 4
RNG = np.random.default_rng(3)
XS = RNG.normal(size=(6, BATCH, IN)).astype(np.float32)
LABELS = RNG.integers(0, CLASSES, size=(6, BATCH)).astype(np.int32)
W1 = (RNG.normal(size=(HIDDEN, IN)) * 0.5).astype(np.float32)
W2 = (RNG.normal(size=(CLASSES, HIDDEN)) * 0.5).astype(np.float32)
LR = 0.5


@pytest.fixture(autouse=True)
def _fresh_session() -> Any:
    flow.clear_default_session()
    yield
    flow.clear_default_session()


def amp_config(on: bool = True) -> flow.FunctionConfig:
    cfg = flow.FunctionConfig()
    if on:
        cfg.enable_auto_mixed_precision(True)
    return cfg


def test_allow_list_ops_compute_in_float16() -> None:
    x = np.array([[1 + 2.0**-12, 3 + 2.0**-10]], np.float32)  # not representable in float16
    w = np.array([[1.0], [1 + 2.0**-13]], np.float32)

    @flow.global_function(function_config=amp_config())
    def amp_job(a: tp.Numpy.Placeholder((1, 2)), b: tp.Numpy.Placeholder((2, 1))) -> tp.Numpy:
        return flow.matmul(a, b) + flow.math.reduce_sum(a)  # matmul in half, the sum in float32

    got = amp_job(x, w)
    half = (x.astype(np.float16) @ w.astype(np.float16)).astype(np.float32)
    assert got.dtype == np.float32
    assert got.tobytes() == (half + x.sum(dtype=np.float32)).tobytes()
    assert got.tobytes() != (x @ w + x.sum(dtype=np.float32)).tobytes()


def test_conv2d_computes_in_float16_and_conv3d_does_not() -> None:
    x = (1 + RNG.integers(1, 8, size=(1, 1, 3, 3, 3)) * 2.0**-12).astype(np.float32)
    k = (1 + RNG.integers(1, 8, size=(1, 1, 2, 2, 2)) * 2.0**-12).astype(np.float32)

    @flow.global_function(function_config=amp_config())
    def conv_job(
        a: tp.Numpy.Placeholder((1, 1, 3, 3, 3)), f: tp.Numpy.Placeholder((1, 1, 2, 2, 2))
    ) -> tuple[tp.Numpy, tp.Numpy]:
        return flow.nn.conv2d(a[:, :, 0], f[:, :, 0], 1, "VALID"), flow.nn.conv3d(a, f, 1, "VALID")

    got2, got3 = conv_job(x, k)

    def conv(a: np.ndarray, f: np.ndarray, dtype: Any) -> np.ndarray:
        return np.asarray(
            jax.lax.conv_general_dilated(
                jnp.asarray(a, dtype), jnp.asarray(f, dtype), (1,) * (a.ndim - 2), "VALID"
            ).astype(jnp.float32)
        )

    x2, k2 = x[:, :, 0], k[:, :, 0]
    assert got2.tobytes() == conv(x2, k2, jnp.float16).tobytes()
    assert got2.tobytes() != conv(x2, k2, jnp.float32).tobytes()
    assert got3.tobytes() == conv(x, k, jnp.float32).tobytes()  # conv3d: not on the allow list


def test_bfloat16_by_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWSNAP_AMP_DTYPE", "bfloat16")
    x = np.array([[1 + 2.0**-9]], np.float32)  # float16 keeps it, bfloat16 does not

    @flow.global_function(function_config=amp_config())
    def bf16_job(a: tp.Numpy.Placeholder((1, 1))) -> tp.Numpy:
        return flow.matmul(a, a)

    got = bf16_job(x)
    bf16 = jnp.asarray(x, jnp.bfloat16)
    assert got.tobytes() == np.asarray((bf16 @ bf16).astype(jnp.float32)).tobytes()

    monkeypatch.setenv("FLOWSNAP_AMP_DTYPE", "float8")
    with pytest.raises(ArgumentError, match="FLOWSNAP_AMP_DTYPE"):

        @flow.global_function(function_config=amp_config())
        def bad_job(a: tp.Numpy.Placeholder((1, 1))) -> tp.Numpy:
            return a


def define_mlp(amp: bool, policy: Any = None, cfg: flow.FunctionConfig | None = None) -> Any:
    """dense -> relu -> dense -> sparse softmax cross entropy, plain SGD."""

    @flow.global_function(type="train", function_config=cfg or amp_config(amp))
    def mlp_job(
        x: tp.Numpy.Placeholder((BATCH, IN)), y: tp.Numpy.Placeholder((BATCH,), dtype=flow.int32)
    ) -> tp.Numpy:
        h = flow.layers.dense(x, HIDDEN, activation=flow.nn.relu, use_bias=False, name="d1")
        logits = flow.layers.dense(h, CLASSES, use_bias=False, name="d2")
        loss = flow.nn.sparse_softmax_cross_entropy_with_logits(y, logits)
        flow.optimizer.SGD(
            flow.optimizer.PiecewiseConstantScheduler([], [LR]),
            momentum=0,
            loss_scale_policy=policy,
        ).minimize(loss)
        return loss

    flow.load_variables({"d1-weight": W1, "d2-weight": W2})
    return mlp_job


def jax_mlp(steps: int, half: Any) -> tuple[np.ndarray, np.ndarray]:
    """The same training written directly in JAX, matmuls in ``half`` (None: float32)."""

    def mm(a: jax.Array, b: jax.Array) -> jax.Array:
        if half is None:
            return a @ b
        return (a.astype(half) @ b.astype(half)).astype(jnp.float32)

    def loss(params: tuple[jax.Array, jax.Array], x: jax.Array, y: jax.Array) -> jax.Array:
        w1, w2 = params
        logits = mm(jax.nn.relu(mm(x, w1.T)), w2.T)
        logp = jax.nn.log_softmax(logits)
        return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))

    params = (jnp.asarray(W1), jnp.asarray(W2))
    for k in range(steps):
        grads = jax.grad(loss)(params, jnp.asarray(XS[k]), jnp.asarray(LABELS[k]))
        params = tuple(p - LR * g for p, g in zip(params, grads, strict=True))
    return np.asarray(params[0]), np.asarray(params[1])


def test_amp_training_matches_a_half_precision_oracle_and_stays_close_to_float32(
    tmp_path: Path,
) -> None:
    job = define_mlp(amp=True, policy=flow.optimizer.loss_scale.dynamic_loss_scale(2.0**8))
    for k in range(6):
        job(XS[k], LABELS[k])
    got = {k: v.numpy() for k, v in flow.get_all_variables().items()}
    assert got["d1-weight"].dtype == got["d2-weight"].dtype == np.float32  # master variables
    w1, w2 = jax_mlp(6, jnp.float16)
    np.testing.assert_allclose(got["d1-weight"], w1, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got["d2-weight"], w2, rtol=1e-4, atol=1e-5)
    f1, f2 = jax_mlp(6, None)
    np.testing.assert_allclose(got["d1-weight"], f1, rtol=2e-2, atol=2e-3)
    np.testing.assert_allclose(got["d2-weight"], f2, rtol=2e-2, atol=2e-3)
    assert not np.array_equal(got["d1-weight"], f1)  # really computed in half

    flow.checkpoint.save(str(tmp_path / "ckpt"))
    for name, want in [
        ("d1-weight", "kFloat"),
        ("System-Train-DynamicLossScale-mlp_job-LossScale", "kFloat"),
        ("System-Train-DynamicLossScale-mlp_job-GoodStepCounter", "kInt64"),
    ]:
        meta_class = variable_meta_info_class()
        meta = text_format.Parse((tmp_path / "ckpt" / name / "meta").read_text(), meta_class())
        data_type = meta_class.DESCRIPTOR.fields_by_name["data_type"].enum_type
        assert data_type.values_by_number[meta.data_type].name == want
    out = (tmp_path / "ckpt" / "d1-weight" / "out").read_bytes()
    assert out == got["d1-weight"].astype("<f4").tobytes()


def test_loss_scaling_keeps_float16_gradients_from_underflowing() -> None:
    tiny = 1e-9  # d(loss)/d(logits) below float16's smallest subnormal (6e-8)

    def define(cfg: flow.FunctionConfig) -> Any:
        @flow.global_function(type="train", function_config=cfg)
        def tiny_job(x: tp.Numpy.Placeholder((1, 1))) -> tp.Numpy:
            w = flow.get_variable("w", shape=(1, 1), initializer=flow.ones_initializer())
            loss = flow.matmul(x, w) * tiny
            flow.optimizer.SGD(flow.optimizer.PiecewiseConstantScheduler([], [1e6])).minimize(loss)
            return loss

        return tiny_job

    define(amp_config())(np.ones((1, 1), np.float32))
    assert flow.get_all_variables()["w"].numpy()[0, 0] == 1.0  # the gradient underflowed

    flow.clear_default_session()
    cfg = amp_config()
    cfg.train.loss_scale_factor(2.0**20)
    define(cfg)(np.ones((1, 1), np.float32))
    w = flow.get_all_variables()["w"].numpy()[0, 0]
    np.testing.assert_allclose(w, 1.0 - 1e6 * tiny, rtol=1e-2)  # scaled: it survived


def numpy_schedule(
    finite: list[bool], initial: float, period: int, multiplier: float
) -> list[tuple[float, int, int]]:
    """OneFlow's dynamic_loss_scale_schedule kernel and its train-step rule, in NumPy: the scale,
    good-step count and train step after each step."""
    scale, good, step = np.float32(initial), 0, 0
    out = []
    for ok in finite:
        if ok:
            good += 1
            if good >= period:
                scale = np.float32(min(float(scale) * multiplier, float(np.finfo(np.float32).max)))
                good = 0
            step += 1
        else:
            good = 0
            scale = np.float32(max(float(scale) / multiplier, 1.0))
        out.append((float(scale), good, step))
    return out


C = np.array([1.0, -2.0, 0.5, 3.0], np.float32)


def define_scaled(policy: Any) -> Any:
    @flow.global_function(type="train")
    def scaled_job(c: tp.Numpy.Placeholder((4,))) -> tp.Numpy:
        w = flow.get_variable("w", shape=(4,), initializer=flow.ones_initializer())
        loss = w * c
        flow.optimizer.SGD(
            flow.optimizer.PiecewiseConstantScheduler([2], [0.1, 0.01]),
            momentum=0.9,
            loss_scale_policy=policy,
        ).minimize(loss)
        return loss

    return scaled_job


def numpy_sgd(finite: list[bool]) -> tuple[np.ndarray, np.ndarray]:
    """Momentum SGD on mean(w * c) with the piecewise rate, skipping the overflow steps."""
    w, v, step = np.ones(4), np.zeros(4), 0
    for ok in finite:
        if ok:
            lr = 0.1 if step <= 2 else 0.01  # OneFlow: boundaries inclusive
            v = 0.9 * v - lr * C / 4
            w = w + v
            step += 1
    return w, v


def test_dynamic_loss_scale_follows_oneflows_schedule_and_skips_overflows(
    tmp_path: Path,
) -> None:
    finite = [True, True, True, False, True, True, True, True, False, False, True, False, True]
    policy = flow.optimizer.loss_scale.dynamic_loss_scale(2.0**3, 3, 2.0)
    job = define_scaled(policy)
    want = numpy_schedule(finite, 2.0**3, 3, 2.0)
    names = (
        "System-Train-DynamicLossScale-scaled_job-LossScale",
        "System-Train-DynamicLossScale-scaled_job-GoodStepCounter",
        "System-Train-TrainStep-scaled_job",
    )
    for i, ok in enumerate(finite):
        if i == 6:
            flow.checkpoint.save(str(tmp_path / "mid"))
        job(C if ok else np.array([1.0, np.inf, 0.0, 1.0], np.float32))
        values = flow.get_all_variables()
        got = tuple(values[n].numpy()[0].item() for n in names)
        assert got == want[i], f"after step {i}"
    w, v = numpy_sgd(finite)
    final = {k: val.numpy() for k, val in flow.get_all_variables().items()}
    np.testing.assert_allclose(final["w"], w, rtol=1e-6)
    np.testing.assert_allclose(final["w-momentum"], v, rtol=1e-6)

    # resume from step 6 in a fresh session: every variable bitwise as in the straight run
    flow.clear_default_session()
    job = define_scaled(flow.optimizer.loss_scale.dynamic_loss_scale(2.0**3, 3, 2.0))
    flow.load_variables(flow.checkpoint.get(str(tmp_path / "mid")))
    for ok in finite[6:]:
        job(C if ok else np.array([1.0, np.inf, 0.0, 1.0], np.float32))
    resumed = {k: val.numpy() for k, val in flow.get_all_variables().items()}
    assert sorted(resumed) == sorted(final)
    for name, value in final.items():
        assert resumed[name].tobytes() == value.tobytes(), name


def test_dynamic_loss_scale_is_capped_at_float32_max() -> None:
    job = define_scaled(flow.optimizer.loss_scale.dynamic_loss_scale(2.0**127, 1, 2.0))
    job(C / 8)
    scale = flow.get_all_variables()["System-Train-DynamicLossScale-scaled_job-LossScale"]
    assert scale.numpy()[0] == np.finfo(np.float32).max


def test_bad_dynamic_loss_scale_arguments_are_refused() -> None:
    with pytest.raises(ArgumentError, match="increment_period"):
        flow.optimizer.loss_scale.dynamic_loss_scale(2.0**10, 0)
    with pytest.raises(ArgumentError, match="multiplier"):
        flow.optimizer.loss_scale.dynamic_loss_scale(2.0**10, 10, -2.0)
    with pytest.raises(ArgumentError, match="loss_scale_factor"):
        flow.optimizer.loss_scale.static_loss_scale(0.0)


def test_policies_write_oneflows_train_conf() -> None:
    from flowsnap.core.job import job_conf_pb2

    conf = job_conf_pb2.TrainConf()
    flow.optimizer.loss_scale.dynamic_loss_scale(2.0**10, 100, 4.0).SetLossScaleFieldsInTrainConf(
        conf
    )
    policy = conf.dynamic_loss_scale_policy
    assert (policy.initial_loss_scale, policy.increment_period, policy.multiplier) == (
        1024,
        100,
        4,
    )
    static = flow.optimizer.loss_scale.static_loss_scale(8.0)
    static.SetLossScaleFieldsInTrainConf(conf)  # a oneof: replaces the dynamic policy
    assert conf.WhichOneof("loss_scale_policy") == "loss_scale_factor"
    assert conf.loss_scale_factor == static.loss_scale_factor == 8.0
    defaults = job_conf_pb2.DynamicLossScalePolicy()  # OneFlow's defaults are ours
    ours = flow.optimizer.loss_scale.dynamic_loss_scale()
    assert (defaults.initial_loss_scale, defaults.increment_period, defaults.multiplier) == (
        ours.initial_loss_scale,
        ours.increment_period,
        ours.multiplier,
    )


def test_amp_with_accumulation_and_dynamic_scale_resumes_bitwise(tmp_path: Path) -> None:
    def define() -> Any:
        cfg = amp_config()
        cfg.train.num_gradient_accumulation_steps(2)
        return define_mlp(True, flow.optimizer.loss_scale.dynamic_loss_scale(2.0**6, 2), cfg)

    job = define()
    for k in range(2):
        job(XS[k], LABELS[k])
    flow.checkpoint.save(str(tmp_path / "mid"))
    for k in range(2, 5):
        job(XS[k], LABELS[k])
    straight = {k: v.numpy() for k, v in flow.get_all_variables().items()}
    assert straight["System-Train-DynamicLossScale-mlp_job-LossScale"][0] > 2.0**6  # it grew

    flow.clear_default_session()
    job = define()
    flow.load_variables(flow.checkpoint.get(str(tmp_path / "mid")))
    for k in range(2, 5):
        job(XS[k], LABELS[k])
    resumed = {k: v.numpy() for k, v in flow.get_all_variables().items()}
    assert sorted(resumed) == sorted(straight)
    for name, value in straight.items():
        assert resumed[name].tobytes() == value.tobytes(), name
