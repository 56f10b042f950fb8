"""Placements, layouts and multi-process settings checked without several devices: parsing
``flow.scope.placement`` arguments and ``hierarchy``, ``nd_sbp``/``distribute`` validation,
``flow.config``'s default placement, and the ``jax.distributed`` settings from ``flow.env`` and
the environment (the runs on several devices and processes are the other tests here)."""

from __future__ import annotations

import numpy as np
import pytest

import flowsnap as flow
from flowsnap import typing as tp
from flowsnap._engine._placement import (
    Placement,
    default_placement,
    distributed_settings,
    parse_placement,
)
from flowsnap._store import Distribute, current_session
from flowsnap.errors import ArgumentError, SessionError


def test_placements_parse_per_machine() -> None:
    assert parse_placement("gpu", "0:0-3") == Placement("gpu", ((0, (0, 1, 2, 3)),))
    two = parse_placement("gpu", ["0:0-1", "1:0-1"], hierarchy=[2, 2])
    assert two.machines == ((0, (0, 1)), (1, (0, 1)))
    assert (two.count, two.hierarchy, two.devices) == (4, (2, 2), (0, 1))
    assert parse_placement("cpu", ["0:0", "0:2"]).devices == (0, 2)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (("tpu", "0:0"), "device_tag must be 'cpu' or 'gpu'"),
        (("gpu", "0-3"), "is not '<machine>:<device>'"),
        (("gpu", "0:3-1"), "last device before its first"),
        (("gpu", ["0:0-1", "0:1"]), "device 0:1 is named twice"),
        (("gpu", []), "no devices given"),
    ],
)
def test_malformed_placements_are_argument_errors(args: tuple[str, object], match: str) -> None:
    with pytest.raises(ArgumentError, match=match):
        parse_placement(*args)  # type: ignore[arg-type]


def test_hierarchy_must_fit_the_devices() -> None:
    with pytest.raises(ArgumentError, match=r"hierarchy \[2, 3\] .* number of devices \(4\)"):
        parse_placement("gpu", "0:0-3", hierarchy=[2, 3])
    with pytest.raises(ArgumentError, match="list of ints"):
        parse_placement("gpu", "0:0-3", hierarchy=["two", 2])  # type: ignore[list-item]


def test_device_counts_set_the_default_placement(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("flowsnap._engine._placement._DISTRIBUTED", [True])  # start nothing
    assert default_placement() is None  # nothing set: JAX's default device, as before
    flow.config.gpu_device_num(0)
    flow.config.cpu_device_num(3)
    assert default_placement() == Placement("cpu", ((0, (0, 1, 2)),))
    flow.clear_default_session()
    flow.config.gpu_device_num(2)
    assert default_placement() == Placement("gpu", ((0, (0, 1)),))
    current_session().settings.recorded["env.machine"] = [{"addr": "a"}, {"addr": "b"}]
    assert default_placement() == Placement("gpu", ((0, (0, 1)), (1, (0, 1))))


def test_distributed_settings_from_flow_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    assert distributed_settings() is None
    recorded = current_session().settings.recorded
    # recorded directly: flow.env.machine + ctrl_port would start jax.distributed here
    recorded["env.machine"] = [{"addr": "10.0.0.1"}, {"addr": "10.0.0.2"}, "10.0.0.3"]
    recorded["env.ctrl_port"] = 12345
    with pytest.raises(SessionError, match="set RANK"):
        distributed_settings()
    monkeypatch.setenv("RANK", "2")
    assert distributed_settings() == {
        "coordinator_address": "10.0.0.1:12345",
        "num_processes": 3,
        "process_id": 2,
    }
    recorded["env.rank"] = 1  # flow.env.init_bootstrap_confs(..., rank=1, ...)
    assert distributed_settings()["process_id"] == 1  # type: ignore[index]


def test_distributed_settings_from_launcher_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MASTER_ADDR", "host0")
    monkeypatch.setenv("MASTER_PORT", "2222")
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "3")
    assert distributed_settings() == {
        "coordinator_address": "host0:2222",
        "num_processes": 4,
        "process_id": 3,
    }
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert distributed_settings() is None


def _declare(**kwargs: object) -> Distribute:
    @flow.global_function()
    def job(x: tp.Numpy.Placeholder((2, 3))) -> tp.Numpy:
        w = flow.get_variable("w", shape=(3, 4), initializer=flow.ones_initializer(), **kwargs)
        return flow.matmul(x, w)

    np.testing.assert_allclose(job(np.ones((2, 3), np.float32)), np.full((2, 4), 3.0))
    return current_session().specs["w"].distribute


def test_layouts_are_recorded_and_harmless_on_one_device() -> None:
    assert _declare() == Distribute(None)
    flow.clear_default_session()
    assert _declare(distribute=flow.distribute.split(1)) == Distribute(1)
    flow.clear_default_session()
    nd = _declare(nd_sbp=["S(0)", "B"])
    assert (nd.nd, str(nd)) == (("S(0)", "B"), "[S(0), B]")
    flow.clear_default_session()
    assert _declare(nd_sbp="S(1)") == Distribute(1, ("S(1)",))
    flow.clear_default_session()
    mixed = _declare(nd_sbp=[flow.distribute.broadcast(), flow.distribute.split(0)])
    assert mixed.nd == ("B", "S(0)")
    flow.clear_default_session()
    # as OneFlow's get_variable: a str is split at commas, an empty list is "not given"
    assert _declare(nd_sbp="S(0),B").nd == ("S(0)", "B")
    flow.clear_default_session()
    assert _declare(nd_sbp=[]) == Distribute(None)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"nd_sbp": ["P"]}, "cannot be 'P'"),
        ({"nd_sbp": ["S(2)", "B"]}, "cannot split axis 2 of a variable with 2 dimension"),
        ({"distribute": flow.distribute.split(2)}, "cannot split axis 2"),
        ({"distribute": "split(0)"}, "distribute must be flow.distribute.broadcast()"),
    ],
)
def test_bad_layouts_are_argument_errors(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ArgumentError, match=match):
        _declare(**kwargs)
