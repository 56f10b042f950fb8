"""Every ``FunctionConfig`` option of OneFlow 0.3.4/0.4.0/0.5.0, per version: the facade's
``flow.FunctionConfig`` accepts exactly its version's options with their parameters and defaults
(the oracle: the API tables, ``function_config.json`` in ``compat/api/``), records them, and
``flowsnap.core.job_config_proto`` turns them into the ``JobConfigProto`` fields OneFlow's
setters filled."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import flowsnap as flow
from flowsnap import core
from flowsnap import typing as tp
from flowsnap._engine._fc_options import ALIASES, OPTIONS, UNLISTED
from flowsnap.compat import get_facade
from flowsnap.compat._table import load_table
from flowsnap.core._job_config import NEGATED, OPTION_FIELDS
from flowsnap.errors import ArgumentError, MissingOpError, UnknownOptionError

VERSIONS = ("0.3", "0.4", "0.5")

# a value of the right kind for each option kind
SAMPLES: dict[str, Any] = {
    "bool": False,
    "int": 3,
    "float": 0.25,
    "str": "tensorrt",
    "any": 7,
    "mode": "distributed_split",
    "policy": "use_time_line_algo",
    "dtype": flow.float16,
    "initializer": {"constant_conf": {"value": 2.0}},
    "view": flow.scope.mirrored_view(),
    "dict": {},
}
DICTS = {
    "train.model_update_conf": {"momentum_conf": {"beta": 0.8}},
    "indexed_slices_optimizer_conf": {"include_op_names": {"op_name": ["emb"]}},
    "exp_run_conf": {"enable_experiment_run": True},
}


def _get(config: Any, dotted: str) -> Any:
    obj = config
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


def _sample(name: str) -> Any:
    kind = OPTIONS[name].kind
    if kind == "dict":
        return DICTS[name]
    if kind == "placement":
        return flow.scope.placement("cpu", "0:0")
    return SAMPLES[kind]


@pytest.mark.parametrize("version", VERSIONS)
def test_the_table_has_exactly_each_versions_options(version: str) -> None:
    table = load_table(version).function_config
    ours = {n: o.params for n, o in OPTIONS.items() if version in o.versions and n not in UNLISTED}
    assert ours == dict(table)


SHARED_TABLE = Path("/work/shared/reference/oneflow-api/function_config.json")


@pytest.mark.skipif(not SHARED_TABLE.exists(), reason="the shared reference is not on this machine")
def test_the_packaged_tables_are_the_reference_json() -> None:
    """``function_config.json`` (every ``@oneflow_function_config`` registration with its
    parameters, read from OneFlow's source per version) is what the API tables carry."""
    import json

    reference = json.loads(SHARED_TABLE.read_text())
    for version, tag in zip(VERSIONS, ("v0.3.4", "v0.4.0", "v0.5.0"), strict=True):
        expected = {name: tuple(row["params"]) for name, row in reference[tag].items()}
        assert dict(load_table(version).function_config) == expected


@pytest.mark.parametrize("version", VERSIONS)
def test_every_option_of_every_version_is_callable_with_its_parameters(version: str) -> None:
    flow_v = get_facade(version).root
    for name, params in sorted(load_table(version).function_config.items()):
        config = flow_v.FunctionConfig()
        setter = _get(config, name)
        signature = inspect.signature(setter)
        # the parameters as OneFlow's setter declared them, its defaults included
        assert [p.name for p in signature.parameters.values()] == [
            t.split("=")[0].split(":")[0].strip() for t in params
        ], name
        for text, p in zip(params, signature.parameters.values(), strict=True):
            if "=" in text:
                assert p.default is True, name
            else:
                assert p.default is inspect.Parameter.empty, name
        option = OPTIONS[name]
        if option.kind == "none":
            result = setter()
            assert isinstance(result, str | list), name
            continue
        if name == "tensorrt.int8_calibration":
            config.tensorrt.use_int8()
        result = setter(_sample(name))
        if name.endswith(".has"):
            assert result is False, name  # MemoryAllocationAlgorithmConf's default for it
            continue
        recorded = config.options
        key = ALIASES.get(name, name)
        if option.kind == "policy":
            assert recorded["static_mem_alloc_policy_white_list"] == {
                "use_time_line_algo": name.endswith(".add")
            }
        else:
            assert key in recorded, name
        # options OneFlow kept in JobConfigProto convert to it (and back through the bytes)
        job = core.job_config_proto(config, job_name="job", job_type="train")
        assert job.IsInitialized()
        if key in OPTION_FIELDS:
            back = core.function_config_options(type(job).FromString(job.SerializeToString()))
            assert back, name
        if key in NEGATED:
            assert job.cudnn_conv_enable_pseudo_half is (not _sample(name))


@pytest.mark.parametrize("version", VERSIONS)
def test_value_true_defaults(version: str) -> None:
    config = get_facade(version).root.FunctionConfig()
    defaulted = [n for n, p in load_table(version).function_config.items() if p == ("value=True",)]
    assert len(defaulted) >= 29
    for name in defaulted:
        _get(config, name)()
        assert config.options[ALIASES.get(name, name)] is True, name


def test_another_versions_option_names_that_version() -> None:
    cfg3 = get_facade("0.3").root.FunctionConfig()
    with pytest.raises(UnknownOptionError, match=r"OneFlow 0\.4\.0, 0\.5\.0"):
        cfg3.train.num_gradient_accumulation_steps(4)
    with pytest.raises(UnknownOptionError, match=r"option of OneFlow 0\.4\.0, 0\.5\.0"):
        cfg3.qat.target_backend("x")
    cfg5 = get_facade("0.5").root.function_config()
    with pytest.raises(UnknownOptionError, match=r"OneFlow 0\.3\.4.*--oneflow-version 0\.3"):
        cfg5.use_memory_allocation_algorithm_v2(True)
    # flowsnap's own FunctionConfig takes every version's options
    cfg = flow.FunctionConfig()
    cfg.use_memory_allocation_algorithm_v2(False)
    cfg.train.num_gradient_accumulation_steps(2)
    assert cfg.num_gradient_accumulation_steps == 2


def test_unknown_options_suggest_the_closest_one() -> None:
    cfg = get_facade("0.4").root.FunctionConfig()
    with pytest.raises(UnknownOptionError, match=r"did you mean 'train\.primary_lr'\?"):
        cfg.train.primry_lr(0.1)
    with pytest.raises(UnknownOptionError, match=r"did you mean 'enable_cudnn'\?"):
        cfg.enable_cudn()
    with pytest.raises(UnknownOptionError, match="no option 'trian'"):
        cfg.trian.primary_lr(0.1)
    assert "primary_lr" in dir(cfg.train)


def test_bad_values_name_the_option() -> None:
    cfg = flow.FunctionConfig()
    with pytest.raises(ArgumentError, match=r"enable_cudnn takes True or False, got 'yes'"):
        cfg.enable_cudnn("yes")
    with pytest.raises(ArgumentError, match="cudnn_buf_limit_mbyte takes an integer"):
        cfg.cudnn_buf_limit_mbyte("1G")
    with pytest.raises(ArgumentError, match=r"num_gradient_accumulation_steps.*at least 1"):
        cfg.train.num_gradient_accumulation_steps(0)
    with pytest.raises(ArgumentError, match="non_distributed"):
        cfg.optimizer_placement_optimization_mode("everywhere")
    with pytest.raises(ArgumentError, match="takes a dict"):
        cfg.train.model_update_conf("sgd")
    with pytest.raises(ArgumentError, match="include_op_names"):
        cfg.indexed_slices_optimizer_conf({"op_name": ["emb"]})
    with pytest.raises(ArgumentError, match="use_int8"):
        cfg.tensorrt.int8_calibration("calib/")
    with pytest.raises(ArgumentError, match="policy must be one of"):
        cfg.static_mem_alloc_policy_white_list.add("fastest")
    with pytest.raises(ArgumentError, match=r"primary_lr\(value\): missing"):
        cfg.train.primary_lr()
    with pytest.raises(ArgumentError, match="placement scope"):
        cfg.default_placement_scope("cpu:0")


def test_side_effects_of_oneflows_setters() -> None:
    cfg = flow.FunctionConfig()
    cfg.tensorrt.use_fp16()
    assert cfg.options["use_tensorrt"] is True
    cfg.enable_non_distributed_optimizer()
    assert cfg.options["optimizer_placement_optimization_mode"] == "non_distributed"
    cfg.default_distribute_strategy(flow.scope.mirrored_view())
    assert cfg.options["default_logical_view"] == flow.scope.mirrored_view()
    cfg.enable_quantization_aware_training(False)  # OneFlow's second name of enable_qat
    assert cfg.options["enable_qat"] is False
    cfg.enable_ssp()  # a C++ flag OneFlow's FunctionConfig.__getattr__ set: None turns it on
    assert cfg.options["enable_ssp"] is True
    with pytest.raises(ArgumentError, match="ssp_partition_strategy takes a string"):
        cfg.ssp_partition_strategy()
    job = core.job_config_proto(cfg, job_name="j")
    assert job.xrt_config.use_tensorrt
    assert job.xrt_config.tensorrt_config.use_fp16
    assert job.optimizer_placement_optimization_mode == "non_distributed"
    assert job.HasField("enable_quantization_aware_training")


def test_properties_the_engine_reads() -> None:
    cfg = flow.FunctionConfig()
    assert cfg.num_gradient_accumulation_steps == 1
    assert cfg.auto_mixed_precision is False
    assert cfg.loss_scale_factor is None
    assert cfg.legacy_optimizer_conf is None
    assert cfg.indexed_slices_variables == frozenset()
    cfg.enable_auto_mixed_precision()
    cfg.train.loss_scale_factor(128)
    cfg.train.primary_lr(0.5)
    cfg.indexed_slices_optimizer_conf({"include_op_names": {"op_name": ["a", "b"]}})
    assert cfg.auto_mixed_precision is True
    assert cfg.loss_scale_factor == 128.0
    assert cfg.legacy_optimizer_conf == {
        "model_update_conf": None,
        "primary_lr": 0.5,
        "loss_scale_factor": 128.0,
    }
    assert cfg.indexed_slices_variables == {"a", "b"}
    cfg.indexed_slices_optimizer_conf({"enable": False, "include_op_names": {"op_name": ["a"]}})
    assert cfg.indexed_slices_variables == frozenset()


def test_a_job_keeps_the_options_it_was_defined_with() -> None:
    cfg = flow.FunctionConfig()
    cfg.default_initializer_conf({"constant_conf": {"value": 2.0}})

    @flow.global_function(function_config=cfg)
    def job() -> tp.Numpy:
        return flow.get_variable("v", shape=(2,)) + 1

    # set after the definition: OneFlow's job had cloned the config, so it keeps 2.0
    cfg.default_initializer_conf({"constant_conf": {"value": 5.0}})
    np.testing.assert_array_equal(job(), [3.0, 3.0])


def test_default_placement_scope_builds_the_body_there() -> None:
    seen: list[str] = []
    cfg = flow.FunctionConfig()
    cfg.default_placement_scope(flow.scope.placement("cpu", "0:0"))

    @flow.global_function(function_config=cfg)
    def job(x: tp.Numpy.Placeholder((2,))) -> tp.Numpy:
        seen.append(flow.current_scope().device_parallel_desc_symbol.device_tag)
        return x * 2

    np.testing.assert_array_equal(job(np.ones(2, np.float32)), [2, 2])
    np.testing.assert_array_equal(job(np.ones(2, np.float32)), [2, 2])
    assert seen
    assert set(seen) == {"cpu"}


def test_qat_jobs_are_refused_with_the_reason() -> None:
    cfg = flow.FunctionConfig()
    cfg.enable_qat(True)
    cfg.qat.symmetric(False)
    cfg.qat.moving_min_max_momentum(0.9)
    assert cfg.options["qat.moving_min_max_momentum"] == 0.9
    with pytest.raises(MissingOpError, match=r"job 'quantized'.*enable_qat\(True\).*fake-quant"):

        @flow.global_function(function_config=cfg)
        def quantized() -> None:
            pass


# -- the pre-0.3 training set-up: flow.losses.add_loss + train.primary_lr/model_update_conf ------

X = (np.arange(24, dtype=np.float32).reshape(8, 3) - 10) / 10
Y = np.linspace(-1, 1, 8, dtype=np.float32).reshape(8, 1)
W0 = np.array([[0.5], [-0.25], [0.125]], np.float32)
B0 = np.array([0.1], np.float32)


def _legacy_train(version: str, configure: Any, steps: int) -> dict[str, np.ndarray]:  # type: ignore[type-arg]
    """A OneFlow 0.3-style linear regression: the optimizer comes from the FunctionConfig and
    the body only calls flow.losses.add_loss."""
    flow.clear_default_session()
    f = get_facade(version).root
    cfg = f.FunctionConfig()
    configure(cfg)

    @f.global_function(type="train", function_config=cfg)
    def train(x: tp.Numpy.Placeholder((8, 3)), y: tp.Numpy.Placeholder((8, 1))) -> tp.Numpy:
        w = f.get_variable("w", shape=(3, 1), initializer=f.constant_initializer(0.0))
        b = f.get_variable("b", shape=(1,), initializer=f.constant_initializer(0.0))
        loss = f.math.square(f.matmul(x, w) + b - y)
        f.losses.add_loss(loss)
        return loss

    flow.load_variables({"w": W0, "b": B0})
    for _ in range(steps):
        train(X, Y)
    values = {k: v.numpy() for k, v in flow.get_all_variables().items()}
    flow.clear_default_session()
    return values


def _grads(w: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # type: ignore[type-arg]
    # d mean((xw + b - y)^2): OneFlow scales the diff by the loss instance count (a mean)
    r = X.astype(np.float64) @ w + b - Y
    return 2 * X.T @ r / r.size, np.array([2 * r.sum() / r.size])


@pytest.mark.parametrize("version", VERSIONS)
def test_model_update_conf_momentum_matches_numpy(version: str) -> None:
    def configure(cfg: Any) -> None:
        cfg.train.primary_lr(0.1)
        cfg.train.secondary_lr(5.0)  # no effect, as in OneFlow (biases use primary_lr too)
        cfg.train.model_update_conf({"momentum_conf": {"beta": 0.8}})

    got = _legacy_train(version, configure, 5)
    w, b = W0.astype(np.float64), B0.astype(np.float64)
    mw, mb = np.zeros_like(w), np.zeros_like(b)
    for _ in range(5):
        gw, gb = _grads(w, b)
        mw, mb = 0.8 * mw - 0.1 * gw, 0.8 * mb - 0.1 * gb  # OneFlow's momentum sign
        w, b = w + mw, b + mb
    np.testing.assert_allclose(got["w"], w, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got["b"], b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got["w-momentum"], mw, rtol=1e-5, atol=1e-6)
    assert got["System-Train-TrainStep-train"].tolist() == [5]


def test_model_update_conf_adam_with_warmup_and_decay_matches_numpy() -> None:
    def configure(cfg: Any) -> None:
        cfg.train.primary_lr(0.05)
        cfg.train.model_update_conf(
            {
                "adam_conf": {"beta1": 0.8},  # the rest: proto defaults (bias correction on)
                "warmup_conf": {"linear_conf": {"warmup_batches": 2, "start_multiplier": 0.5}},
                "learning_rate_decay": {"cosine_conf": {"decay_batches": 6, "alpha": 0.1}},
            }
        )

    got = _legacy_train("0.3", configure, 6)
    w, b = W0.astype(np.float64), B0.astype(np.float64)
    m = [np.zeros_like(w), np.zeros_like(b)]
    v = [np.zeros_like(w), np.zeros_like(b)]
    b1, b2, eps = 0.8, 0.999, 1e-8
    for step in range(6):
        if step < 2:
            lr = 0.05 * (0.5 + 0.5 * step / 2)
        else:
            lr = 0.05 * (0.9 * 0.5 * (1 + np.cos(np.pi * min(step, 6) / 6)) + 0.1)
        lr_t = lr * np.sqrt(1 - b2 ** (step + 1)) / (1 - b1 ** (step + 1))
        params = [w, b]
        for i, g in enumerate(_grads(w, b)):
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = b2 * v[i] + (1 - b2) * g * g
            params[i] = params[i] - lr_t * m[i] / (np.sqrt(v[i]) + eps)
        w, b = params
    np.testing.assert_allclose(got["w"], w, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(got["b"], b, rtol=1e-4, atol=1e-6)


def test_model_update_conf_equals_the_optimizer_it_describes() -> None:
    """OneFlow 0.3.4's optimizer classes only filled these fields: the same training either way,
    bitwise (naive SGD with weight decay, clipping and a piecewise-scaling schedule)."""
    conf = {
        "naive_conf": {},
        "weight_decay_conf": {"weight_decay_rate": 0.01, "excludes": {"pattern": ["b"]}},
        "clip_conf": {"clip_by_global_norm": {"clip_norm": 0.5}},
        "learning_rate_decay": {
            "piecewise_scaling_conf": {"boundaries": [2], "scales": [1.0, 0.5]}
        },
    }

    def configure(cfg: Any) -> None:
        cfg.train.primary_lr(0.2)
        cfg.train.model_update_conf(conf)

    legacy = _legacy_train("0.4", configure, 4)

    @flow.global_function(type="train")
    def train(x: tp.Numpy.Placeholder((8, 3)), y: tp.Numpy.Placeholder((8, 1))) -> tp.Numpy:
        w = flow.get_variable("w", shape=(3, 1), initializer=flow.constant_initializer(0.0))
        b = flow.get_variable("b", shape=(1,), initializer=flow.constant_initializer(0.0))
        loss = flow.math.square(flow.matmul(x, w) + b - y)
        flow.optimizer.SGDW(
            flow.optimizer.PiecewiseScalingScheduler(0.2, [2], [0.5]),
            momentum=0,
            weight_decay=0.01,
            weight_decay_excludes=["b"],
            grad_clipping=flow.optimizer.grad_clipping.by_global_norm(0.5),
        ).minimize(loss)
        return loss

    flow.load_variables({"w": W0, "b": B0})
    for _ in range(4):
        train(X, Y)
    np.testing.assert_array_equal(flow.get_all_variables()["w"].numpy(), legacy["w"])
    np.testing.assert_array_equal(flow.get_all_variables()["b"].numpy(), legacy["b"])
    assert not np.array_equal(legacy["w"], W0)


def test_add_loss_errors_say_what_to_set() -> None:
    from flowsnap.errors import TraceError, UnsupportedFeatureError

    f = get_facade("0.3").root
    cfg = f.FunctionConfig()
    cfg.train.primary_lr(0.1)  # no model_update_conf

    @f.global_function(type="train", function_config=cfg)
    def no_conf(x: tp.Numpy.Placeholder((2,))) -> None:
        v = f.get_variable("v", shape=(2,), initializer=f.zeros_initializer())
        f.losses.add_loss(x * v)

    with pytest.raises(TraceError, match=r"train\.model_update_conf"):
        no_conf(np.ones(2, np.float32))
    flow.clear_default_session()

    @f.global_function(type="predict")
    def predict(x: tp.Numpy.Placeholder((2,))) -> None:
        f.losses.add_loss(x)

    with pytest.raises(TraceError, match="predict job"):
        predict(np.ones(2, np.float32))
    flow.clear_default_session()
    from flowsnap.optimizers import optimizer_from_conf

    with pytest.raises(ArgumentError, match="exactly one of"):
        optimizer_from_conf({"naive_conf": {}, "momentum_conf": {}}, 0.1)
    with pytest.raises(ArgumentError, match=r"lamb_conf requires \['beta1', 'beta2', 'epsilon'\]"):
        optimizer_from_conf({"lamb_conf": {}}, 0.1)
    with pytest.raises(ArgumentError, match="momentum_conf has no field"):
        optimizer_from_conf({"momentum_conf": {"momentum": 0.9}}, 0.1)
    with pytest.raises(UnsupportedFeatureError, match="adagrad_conf"):
        optimizer_from_conf({"adagrad_conf": {}}, 0.1)
    with pytest.raises(UnsupportedFeatureError, match="step_conf"):
        optimizer_from_conf(
            {"naive_conf": {}, "learning_rate_decay": {"step_conf": {"step_size": 2}}}, 0.1
        )


# -- indexed_slices_optimizer_conf: rows not gathered keep value and optimizer state ----------

VOCAB, DIM = 6, 3
TABLE0 = (np.arange(VOCAB * DIM, dtype=np.float32).reshape(VOCAB, DIM) - 8) / 10
IDS = [np.array([0, 2, 2], np.int32), np.array([2, 5, 0], np.int32), np.array([1, 1, 1], np.int32)]
TARGET = np.array([[0.5, -0.5, 0.25]] * 3, np.float32)


def _embedding_train(optimizer: Any, sparse: bool) -> np.ndarray:  # type: ignore[type-arg]
    flow.clear_default_session()
    cfg = flow.FunctionConfig()
    if sparse:
        cfg.indexed_slices_optimizer_conf({"include_op_names": {"op_name": ["emb"]}})

    @flow.global_function(type="train", function_config=cfg)
    def train(ids: tp.Numpy.Placeholder((3,), dtype=flow.int32)) -> tp.Numpy:
        table = flow.get_variable("emb", shape=(VOCAB, DIM), initializer=flow.zeros_initializer())
        loss = flow.math.square(flow.gather(table, ids) - TARGET)
        optimizer().minimize(loss)
        return loss

    flow.load_variables({"emb": TABLE0})
    for ids in IDS:
        train(ids)
    return flow.get_all_variables()["emb"].numpy()


def _numpy_embedding(update: Any, sparse: bool) -> np.ndarray:  # type: ignore[type-arg]
    """The oracle: per step, the dense gradient of mean((table[ids] - target)^2) (duplicates
    summed); with sparse updates, rows absent from ids keep value and state."""
    table = TABLE0.astype(np.float64)
    state: dict[str, np.ndarray] = {}  # type: ignore[type-arg]
    for t, ids in enumerate(IDS):
        g = np.zeros_like(table)
        np.add.at(g, ids, 2 * (table[ids] - TARGET) / TARGET.size)
        new_table, new_state = update(table, g, state, t)
        if sparse:
            rows = np.zeros(VOCAB, bool)
            rows[ids] = True
            new_table = np.where(rows[:, None], new_table, table)
            new_state = {
                k: np.where(rows[:, None], v, state.get(k, 0 * v)) for k, v in new_state.items()
            }
        table, state = new_table, new_state
    return table


def _momentum_wd(table: Any, g: Any, state: Any, t: int) -> Any:
    m = 0.9 * state.get("m", np.zeros_like(table)) - 0.1 * g
    return table + m - 0.1 * 0.01 * table, {"m": m}


def _adam(table: Any, g: Any, state: Any, t: int) -> Any:
    m = 0.9 * state.get("m", np.zeros_like(table)) + 0.1 * g
    v = 0.999 * state.get("v", np.zeros_like(table)) + 0.001 * g * g
    lr_t = 0.1 * np.sqrt(1 - 0.999 ** (t + 1)) / (1 - 0.9 ** (t + 1))
    return table - lr_t * m / (np.sqrt(v) + 1e-8), {"m": m, "v": v}


@pytest.mark.parametrize("sparse", [True, False])
def test_indexed_slices_momentum_with_weight_decay_matches_numpy(sparse: bool) -> None:
    def sgdw() -> Any:
        lr = flow.optimizer.PiecewiseConstantScheduler([], [0.1])
        return flow.optimizer.SGDW(lr, momentum=0.9, weight_decay=0.01)

    got = _embedding_train(sgdw, sparse)
    np.testing.assert_allclose(got, _numpy_embedding(_momentum_wd, sparse), rtol=1e-5, atol=1e-6)
    # rows 3 and 4 are never gathered: untouched only with sparse updates (weight decay)
    assert np.array_equal(got[[3, 4]], TABLE0[[3, 4]]) is sparse


@pytest.mark.parametrize("sparse", [True, False])
def test_indexed_slices_adam_matches_numpy(sparse: bool) -> None:
    def adam() -> Any:
        lr = flow.optimizer.PiecewiseConstantScheduler([], [0.1])
        return flow.optimizer.Adam(lr, do_bias_correction=True)

    got = _embedding_train(adam, sparse)
    np.testing.assert_allclose(got, _numpy_embedding(_adam, sparse), rtol=1e-4, atol=1e-5)
    # row 0 is gathered in steps 1 and 2, not 3: dense Adam still moves it with its moments
    dense, rows = _numpy_embedding(_adam, False), _numpy_embedding(_adam, True)
    assert np.abs(dense[0] - rows[0]).min() > 1e-3


def test_indexed_slices_fall_back_to_dense_where_oneflow_did() -> None:
    """A gradient clip (a scaling tensor on the update op) kept OneFlow's update dense."""

    def clipped() -> Any:
        lr = flow.optimizer.PiecewiseConstantScheduler([], [0.1])
        return flow.optimizer.SGDW(
            lr,
            momentum=0.9,
            weight_decay=0.01,
            grad_clipping=flow.optimizer.grad_clipping.by_global_norm(100.0),
        )

    np.testing.assert_array_equal(_embedding_train(clipped, True), _embedding_train(clipped, False))


def test_the_readme_table_lists_every_option_with_its_effect() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    start = readme.index("### FunctionConfig options\n")
    section = readme[start : readme.index("\n### ", start + 5)]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if line.startswith("| `"):
            rows[cells[0].strip("`")] = (cells[1], cells[2])
    assert set(rows) == set(OPTIONS)
    for name, option in OPTIONS.items():
        versions = "all" if len(option.versions) == 3 else ", ".join(option.versions)
        assert rows[name] == (versions, option.effect), name


@pytest.mark.parametrize("version", VERSIONS)
def test_model_update_conf_and_minimize_at_once(version: str) -> None:
    """OneFlow 0.4/0.5 refused the two ('Use model update conf and optimizer conf at same
    time'); 0.3.4's minimize replaced the config's optimizer."""
    from flowsnap.errors import TraceError

    flow.clear_default_session()
    f = get_facade(version).root
    cfg = f.FunctionConfig()
    cfg.train.primary_lr(0.5)
    cfg.train.model_update_conf({"naive_conf": {}})

    @f.global_function(type="train", function_config=cfg)
    def both(x: tp.Numpy.Placeholder((2,))) -> tp.Numpy:
        v = f.get_variable("v", shape=(2,), initializer=f.constant_initializer(1.0))
        loss = x * v
        f.optimizer.SGD(f.optimizer.PiecewiseConstantScheduler([], [0.1]), momentum=0).minimize(
            loss
        )
        return loss

    if version == "0.3":
        both(np.ones(2, np.float32))
        # minimize's learning rate 0.1, not primary_lr 0.5: d mean(x v)/dv = x / 2
        np.testing.assert_allclose(flow.get_all_variables()["v"].numpy(), [0.95, 0.95])
    else:
        with pytest.raises(TraceError, match="model update conf and optimizer conf"):
            both(np.ones(2, np.float32))
    flow.clear_default_session()
