"""Any supported dtype, shape, layout and name round-trips bit for bit."""

from __future__ import annotations

import math
import os
from pathlib import Path

import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from flowsnap.format import (
    encode_meta,
    open_path,
    open_snapshot,
    open_variable,
    read_snapshot,
    write_snapshot,
)
from flowsnap.format._dtypes import DATA_TYPES

NUMPY_TYPES = sorted(
    {str(dt.numpy) for dt in DATA_TYPES if dt.numpy is not None and dt.numpy != ml_dtypes.bfloat16}
)

names = st.text(
    alphabet=st.characters(blacklist_characters="/\\\0", blacklist_categories=("Cs",)),
    min_size=1,
    max_size=40,
).filter(lambda n: n not in (".", "..", "snapshot_done") and len(n.encode()) <= 255)


def arrays() -> st.SearchStrategy[np.ndarray]:
    shapes = hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5)
    plain = st.sampled_from(NUMPY_TYPES).flatmap(lambda dt: hnp.arrays(np.dtype(dt), shapes))
    bf16 = hnp.arrays(np.uint16, shapes).map(lambda a: a.view(ml_dtypes.bfloat16))
    return st.one_of(plain, bf16)


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return (
        a.shape == b.shape
        and a.dtype == b.dtype
        and np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes()
    )


@given(st.dictionaries(names, arrays(), max_size=5), st.booleans())
def test_round_trip_bit_for_bit(
    tmp_path_factory: pytest.TempPathFactory, variables: dict[str, np.ndarray], durable: bool
) -> None:
    path = tmp_path_factory.mktemp("rt") / "ckpt"
    manifest = write_snapshot(path, variables, durable=durable, workers=2)
    assert set(manifest.variables) == set(variables)
    loaded = read_snapshot(path)
    assert set(loaded) == set(variables)
    for name, array in variables.items():
        assert same_bits(loaded[name], array), name
        meta = (path / name / "meta").read_bytes()
        assert meta == encode_meta(array.shape, manifest.variables[name].data_type)
        assert (path / name / "out").stat().st_size == array.nbytes


@given(arrays())
def test_every_access_path_agrees(tmp_path_factory: pytest.TempPathFactory, a: np.ndarray) -> None:
    path = tmp_path_factory.mktemp("acc") / "ckpt"
    write_snapshot(path, {"v": a}, durable=False)
    var = open_snapshot(path)["v"]
    assert var.shape == a.shape
    assert var.dtype == a.dtype
    assert same_bits(var.numpy(), a)
    assert same_bits(var.mmap(), a)
    assert same_bits(np.asarray(var), a)
    assert b"".join(bytes(c) for c in var.iter_chunks(7)) == a.tobytes()
    assert var.read_bytes(0, a.nbytes) == a.tobytes()
    if a.ndim:
        for start, stop in [(0, a.shape[0]), (0, 0), (a.shape[0] // 2, a.shape[0])]:
            assert same_bits(var.read(start, stop), a[start:stop])
    out = np.empty_like(a)
    var.readinto(out)
    assert same_bits(out, a)


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: np.arange(24, dtype=np.float32).reshape(4, 6).T, id="transposed"),
        pytest.param(lambda: np.asfortranarray(np.arange(24.0).reshape(4, 6)), id="fortran"),
        pytest.param(lambda: np.arange(40, dtype=np.int32)[::3], id="strided"),
        pytest.param(lambda: np.arange(12, dtype=">f8").reshape(3, 4), id="big-endian"),
        pytest.param(lambda: np.arange(12, dtype=">i2").reshape(3, 4)[:, ::2], id="big-strided"),
        pytest.param(lambda: np.float32(2.5), id="numpy-scalar"),
        pytest.param(lambda: 7, id="python-int"),
        pytest.param(lambda: [[1.0, 2.0], [3.0, 4.0]], id="nested-list"),
        pytest.param(lambda: memoryview(np.arange(6, dtype=np.int16)), id="buffer-protocol"),
        pytest.param(lambda: jnp.arange(10, dtype=jnp.float32).reshape(2, 5), id="jax"),
        pytest.param(lambda: jnp.ones((3,), dtype=jnp.bfloat16), id="jax-bf16"),
    ],
)
def test_layouts_are_written_c_order_little_endian(tmp_path: Path, make: object) -> None:
    value = make()  # type: ignore[operator]
    expected = np.asarray(value)
    write_snapshot(tmp_path / "c", {"v": value}, durable=False)
    got = read_snapshot(tmp_path / "c")["v"]
    assert got.dtype == expected.dtype.newbyteorder("<") or got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)
    raw = (tmp_path / "c" / "v" / "out").read_bytes()
    assert raw == np.ascontiguousarray(expected, dtype=expected.dtype.newbyteorder("<")).tobytes()


def test_large_variable_streams_in_slices(tmp_path: Path) -> None:
    # Bigger than the write and read slices, with a non-contiguous source.
    a = np.arange(3 * 2**20, dtype=np.float32).reshape(1024, 3072)[:, ::2]
    write_snapshot(tmp_path / "c", {"big": a, "small": np.ones(3)}, durable=True)
    var = open_snapshot(tmp_path / "c")["big"]
    np.testing.assert_array_equal(var.numpy(), a)
    np.testing.assert_array_equal(var.read(100, 612), a[100:612])


def test_scalar_and_empty_round_trip(tmp_path: Path) -> None:
    write_snapshot(tmp_path / "c", {"s": np.float64(1.5), "e": np.zeros((0, 7), np.int8)})
    snap = open_snapshot(tmp_path / "c")
    assert snap["s"].shape == ()
    assert snap["s"].numpy() == 1.5
    assert (tmp_path / "c" / "s" / "meta").read_text() == "shape {\n}\ndata_type: kDouble\n"
    assert snap["e"].numpy().shape == (0, 7)
    assert (tmp_path / "c" / "e" / "out").stat().st_size == 0


def test_stored_variables_can_be_saved_again(tmp_path: Path) -> None:
    a = np.random.default_rng(0).standard_normal((300, 700)).astype(np.float32)
    write_snapshot(tmp_path / "one", {"w": a, "b": np.ones(4, np.int64)})
    snap = open_snapshot(tmp_path / "one")
    write_snapshot(tmp_path / "two", snap)  # a Snapshot is a Mapping of StoredVariables
    assert (tmp_path / "two" / "w" / "out").read_bytes() == a.tobytes()
    assert (tmp_path / "two" / "w" / "meta").read_bytes() == (
        tmp_path / "one" / "w" / "meta"
    ).read_bytes()
    np.testing.assert_array_equal(read_snapshot(tmp_path / "two")["w"], a)


def test_pairs_and_legacy_layout(tmp_path: Path) -> None:
    pairs = [("a", np.ones(3, np.float32)), ("b", np.zeros((2, 2), np.int32))]
    manifest = write_snapshot(tmp_path / "leg", pairs, legacy=True)
    assert sorted(os.listdir(tmp_path / "leg")) == [".flowsnap-manifest", "a", "b", "snapshot_done"]
    assert os.listdir(tmp_path / "leg" / "a") == ["out"]
    assert not manifest.variables["a"].has_meta
    # flowsnap's manifest describes legacy variables, so they read without help.
    snap = open_snapshot(tmp_path / "leg")
    assert snap["b"].shape == (2, 2)
    assert not snap["b"].has_meta
    np.testing.assert_array_equal(snap["b"].numpy(), np.zeros((2, 2), np.int32))


def test_checkpoint_get_rule_single_variable_dir(tmp_path: Path) -> None:
    write_snapshot(tmp_path / "c", {"w": np.arange(6.0).reshape(2, 3)})
    single = open_path(tmp_path / "c" / "w")
    assert not hasattr(single, "manifest")
    assert single.name == "w"  # type: ignore[union-attr]
    np.testing.assert_array_equal(single.numpy(), np.arange(6.0).reshape(2, 3))  # type: ignore[union-attr]
    whole = open_path(tmp_path / "c")
    assert list(whole) == ["w"]  # type: ignore[arg-type]
    assert open_variable(tmp_path / "c" / "w").expected_checksum is not None


def test_metadata_is_kept(tmp_path: Path) -> None:
    write_snapshot(tmp_path / "c", {"w": np.ones(1)}, metadata={"step": 3, "tags": ["x"]})
    assert open_snapshot(tmp_path / "c").metadata == {"step": 3, "tags": ["x"]}


def test_many_variables_in_parallel(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    variables = {f"v{i}": rng.standard_normal(int(rng.integers(0, 3000))) for i in range(600)}
    write_snapshot(tmp_path / "c", variables, durable=False, workers=4)
    loaded = open_snapshot(tmp_path / "c").load(workers=4)
    assert all(np.array_equal(loaded[k], v) for k, v in variables.items())
    assert sum(v.nbytes for v in variables.values()) == sum(
        open_snapshot(tmp_path / "c")[k].nbytes for k in variables
    )
    assert math.isfinite(float(loaded["v1"].sum()))


def test_progress_bars_draw_on_request(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from flowsnap.format import verify_snapshot

    variables = {f"v{i}": np.ones(1000) for i in range(3)}
    write_snapshot(tmp_path / "c", variables, durable=False, progress=True)
    open_snapshot(tmp_path / "c").load(progress=True)
    verify_snapshot(tmp_path / "c", progress=True)
    err = capsys.readouterr().err
    for label in ("save", "load", "verify"):
        assert label in err
    write_snapshot(tmp_path / "d", variables, durable=False)  # default: no bar for small saves
    assert capsys.readouterr().err == ""
