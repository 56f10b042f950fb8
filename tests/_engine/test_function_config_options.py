"""Every ``FunctionConfig`` option of OneFlow 0.3.4/0.4.0/0.5.0, per version: the facade's
``flow.FunctionConfig`` accepts exactly its version's options with their parameters and defaults
(the oracle: the API tables, ``function_config.json`` in ``compat/api/``), records them, and
``flowsnap.core.job_config_proto`` turns them into the ``JobConfigProto`` fields OneFlow's
setters filled."""

from __future__ import annotations

import inspect
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
