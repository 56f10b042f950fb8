"""Committed reference checkpoints (scripts/make_golden.py): each loads, or fails as recorded."""

from __future__ import annotations

import math
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest
from scripts.make_golden import CASES, LENET, pattern

from flowsnap import errors
from flowsnap.format import open_snapshot, read_snapshot, verify_snapshot, write_snapshot
from tests.conftest import GOLDEN

SEED_TREE = [
    "System-Train-TrainStep-train_job",
    "conv1-bias",
    "conv1-weight",
    "conv2-bias",
    "conv2-weight",
    "dense1-bias",
    "dense1-weight",
    "dense2-bias",
    "dense2-weight",
]


def test_cases_file_matches_the_generator(golden_cases: dict[str, dict[str, str]]) -> None:
    assert golden_cases == CASES
    on_disk = sorted(p.name for p in GOLDEN.iterdir() if p.is_dir())
    assert on_disk == sorted(CASES)


def opens_incomplete(name: str) -> bool:
    """Whether a fixture opens only with allow_incomplete=True (OneFlow 0.6-0.9's flow.save)."""
    return CASES[name].get("open") == "incomplete"


@pytest.mark.parametrize("name", sorted(n for n, c in CASES.items() if c["expect"] == "loads"))
def test_sound_fixture_loads(name: str) -> None:
    if opens_incomplete(name):
        with pytest.raises(errors.IncompleteSnapshotError, match=name):
            open_snapshot(GOLDEN / name)
    snap = open_snapshot(GOLDEN / name, allow_incomplete=opens_incomplete(name))
    assert len(snap) > 0
    for var in snap.values():
        if var.shape is None:
            continue  # legacy: tested below
        np.testing.assert_array_equal(var.numpy(), pattern(var.shape, var.dtype))
    problems = {p.kind for p in verify_snapshot(GOLDEN / name).problems}
    assert problems == ({"IncompleteSnapshotError"} if opens_incomplete(name) else set())


@pytest.mark.parametrize("name", sorted(n for n, c in CASES.items() if c["expect"] != "loads"))
def test_damaged_fixture_fails_as_recorded(name: str) -> None:
    case = CASES[name]
    error = getattr(errors, case["expect"])
    incomplete = opens_incomplete(name)
    if case["when"] == "open":
        with pytest.raises(error) as info:
            read_snapshot(GOLDEN / name, allow_incomplete=incomplete)
    else:
        snap = open_snapshot(GOLDEN / name, allow_incomplete=incomplete)
        with pytest.raises(error) as info:
            snap[case["variable"]].numpy()
    assert isinstance(info.value, errors.FlowsnapError)
    assert name in str(info.value)  # the message names the file or directory
    report = verify_snapshot(GOLDEN / name)
    assert not report.ok
    assert case["expect"] in {p.kind for p in report.problems}


def test_lenet_tree_is_the_seed_chapters() -> None:
    root = GOLDEN / "lenet_models_name"
    entries = sorted(p.name for p in root.iterdir())
    assert entries == sorted([*SEED_TREE, "snapshot_done"])
    for name in SEED_TREE:
        assert sorted(p.name for p in (root / name).iterdir()) == ["meta", "out"]
    assert (root / "snapshot_done").read_bytes() == b""
    snap = open_snapshot(root)
    for name, (shape, dtype) in LENET.items():
        assert snap[name].shape == shape
        assert snap[name].dtype == np.dtype(dtype)
    assert (root / "System-Train-TrainStep-train_job" / "meta").read_text() == (
        "shape {\n  dim: 1\n}\ndata_type: kInt64\n"
    )


def test_flowsnap_writes_oneflow_bytes_for_the_lenet_tree(tmp_path: Path) -> None:
    snap = open_snapshot(GOLDEN / "lenet_models_name")
    write_snapshot(tmp_path / "again", {k: v.numpy() for k, v in snap.items()}, durable=False)
    for name in SEED_TREE:
        for part in ("meta", "out"):
            ours = (tmp_path / "again" / name / part).read_bytes()
            assert ours == (GOLDEN / "lenet_models_name" / name / part).read_bytes(), name


def test_legacy_out_only_reads_with_model_shapes() -> None:
    snap = open_snapshot(GOLDEN / "legacy_out_only")
    assert sorted(snap) == ["dense1-bias", "dense1-weight"]
    assert all(v.shape is None and not v.has_meta for v in snap.values())
    w = snap["dense1-weight"].with_meta((16, 8), np.float32).numpy()
    np.testing.assert_array_equal(w, pattern((16, 8), np.float32))


def test_bf16_fixture() -> None:
    w = open_snapshot(GOLDEN / "bf16")["w"]
    assert w.dtype == ml_dtypes.bfloat16
    assert w.data_type is not None
    assert w.data_type.name == "kBFloat16"
    assert w.nbytes == math.prod((3, 4)) * 2


def test_meta_variants_all_mean_2x3() -> None:
    snap = open_snapshot(GOLDEN / "meta_variants")
    assert len(snap) == 7
    assert {v.shape for v in snap.values()} == {(2, 3)}
    assert snap["char_as_int8"].dtype == np.int8
    assert snap["numeric_enum"].dtype == np.float32


def test_flowsnap_v1_is_stable(tmp_path: Path) -> None:
    # Writing the same values today gives the same bytes as the committed format-1 fixture.
    snap = open_snapshot(GOLDEN / "flowsnap_v1")
    assert snap.metadata == {"fixture": "flowsnap_v1"}
    write_snapshot(tmp_path / "again", {k: v.numpy() for k, v in snap.items()}, durable=False)
    again = open_snapshot(tmp_path / "again")
    assert snap.manifest is not None
    assert again.manifest is not None
    assert snap.manifest.variables == again.manifest.variables
    for name in snap:
        for part in ("meta", "out"):
            assert (tmp_path / "again" / name / part).read_bytes() == (
                GOLDEN / "flowsnap_v1" / name / part
            ).read_bytes()
