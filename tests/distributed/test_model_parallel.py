"""Model parallelism on 4 CPU devices: split variables (a dense layer's weight, an embedding table
split by rows, a weight split over one axis of a 2-d hierarchy) hold the one-device initial
values and train to the one-device values; optimizer slots follow their variable's layout; a
dimension that does not split evenly is held whole, with a note. The jobs run in a subprocess
(``_mesh_worker.py model``)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.distributed._run import ok, run_worker


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    result = run_worker("_mesh_worker.py", "model", devices=4)
    assert result["devices"] == 4
    return result


def test_a_split_variable_starts_with_the_one_device_value(report: dict[str, Any]) -> None:
    entry = ok(report, "initial_split_values")
    assert entry == {"equal": True, "spec": "P(None, 'p0')"}


def test_dense_layer_with_a_split_weight_trains_as_on_one_device(report: dict[str, Any]) -> None:
    entry = ok(report, "dense")
    assert entry["mismatch"] == []
    assert entry["loss_close"]
    assert entry["weight_spec"] == "P('p0',)"
    assert entry["slot_spec"] == "P('p0',)"  # the momentum follows its variable


def test_row_split_embedding_trains_as_on_one_device(report: dict[str, Any]) -> None:
    entry = ok(report, "embedding")
    assert entry["mismatch"] == []
    assert entry["table_spec"] == "P('p0',)"
    assert entry["slot_specs"] == ["P('p0',)", "P('p0',)"]
    assert entry["shard_shapes"] == [[4, 4]]  # 16 rows over 4 devices


def test_nd_sbp_on_a_2d_hierarchy_trains_as_on_one_device(report: dict[str, Any]) -> None:
    entry = ok(report, "hierarchy")
    assert entry["mismatch"] == []
    assert entry["loss_close"]
    assert entry["mesh"] == {"p0": 2, "p1": 2}
    assert entry["w_spec"] == "P(None, 'p1')"  # ["B", "S(1)"]
    assert entry["v_spec"] == "P('p0',)"  # ["S(0)", "B"]


def test_uneven_split_is_held_whole_with_a_note(report: dict[str, Any]) -> None:
    entry = ok(report, "uneven_split")
    assert entry["mismatch"] == []
    assert entry["w_spec"] == "P()"
    assert "axis 0 of size 6 does not split evenly over 4 devices" in entry["note"]
    assert "first 2 parts one more element" in entry["note"]
