"""Data parallelism on a mesh of 4 CPU devices: a train job gives the one-device result in the
consistent view (global batch split over the devices) and in the mirrored view (one array per
device), the default placement comes from ``flow.config``, and the mistakes a user can make with
several devices are clear errors. The jobs run in a subprocess (``_mesh_worker.py data``)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.distributed._run import ok, run_worker


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    result = run_worker("_mesh_worker.py", "data", devices=4)
    assert result["devices"] == 4
    return result


def test_consistent_view_trains_as_on_one_device(report: dict[str, Any]) -> None:
    entry = ok(report, "consistent")
    assert entry["mismatch"] == []  # every variable, Adam's slots and the train step included
    assert entry["loss_close"]
    assert entry["devices"] == 4
    assert entry["w_spec"] == "P()"  # broadcast: replicated


def test_mirrored_view_takes_and_returns_one_array_per_device(report: dict[str, Any]) -> None:
    entry = ok(report, "mirrored")
    assert entry["mismatch"] == []
    assert entry["parts"] == [[2], [2], [2], [2]]  # each device's per-example losses
    assert entry["loss_close"]


def test_mirrored_local_blobs_hold_each_devices_part(report: dict[str, Any]) -> None:
    entry = ok(report, "mirrored_local_blobs")
    assert entry == {"parallel_num": 4, "parts_close": True, "device_2": True, "whole": True}


def test_momentum_sgd_trains_as_on_one_device(report: dict[str, Any]) -> None:
    assert ok(report, "momentum")["mismatch"] == []


def test_device_num_sets_the_default_placement(report: dict[str, Any]) -> None:
    entry = ok(report, "default_placement")
    assert entry == {"devices": 4, "close": True, "parallel_num": 4}


def test_gpu_placement_without_gpus_uses_the_cpu_devices(report: dict[str, Any]) -> None:
    assert ok(report, "gpu_falls_back_to_cpus") == {"platform": "cpu", "devices": 4, "close": True}


def test_mistakes_are_clear_errors(report: dict[str, Any]) -> None:
    found = ok(report, "errors")
    assert found["uneven_batch"].startswith("JobArgumentError: job 'uneven', argument 'x'")
    assert "6 rows" in found["uneven_batch"]
    assert "multiple of 4" in found["uneven_batch"]
    assert found["too_many_devices"].startswith("ArgumentError:")
    assert "0:7" in found["too_many_devices"]
    assert "--xla_force_host_platform_device_count=8" in found["too_many_devices"]
    assert "one array per device (4 devices here), got list of 3" in found["mirrored_count"]
    assert "different shapes" in found["mirrored_shapes"]
