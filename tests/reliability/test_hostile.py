"""Hostile and damaged input to the other readers: safetensors headers, IDX files and .npz, fuzzed;
hard links, deep and odd names. The outcome is always a flowsnap error or a correct load: never a
crash, a hang, an allocation the file does not justify, or a read outside the checkpoint."""

from __future__ import annotations

import gzip
import json
import os
import struct
from pathlib import Path

import hypothesis.strategies as st
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from flowsnap.data import read_idx
from flowsnap.errors import DatasetError, FlowsnapError, InvalidNameError
from flowsnap.format import open_snapshot, verify_snapshot, write_snapshot
from flowsnap.tools import read_safetensors, read_tensors, write_safetensors

SAFE = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


def good_safetensors(path: Path) -> bytes:
    write_safetensors(
        str(path),
        {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.ones(4, np.int64)}.items(),
    )
    return path.read_bytes()


@SAFE
@given(data=st.data())
def test_fuzzed_safetensors_are_refused_or_read_correctly(
    tmp_path: Path, data: st.DataObject
) -> None:
    path = tmp_path / "f.safetensors"
    raw = bytearray(good_safetensors(tmp_path / "good.safetensors"))
    (tmp_path / "good.safetensors").unlink()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + n])
    kind = data.draw(st.sampled_from(["flip", "truncate", "header"]))
    if kind == "flip":
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] ^= 1 << data.draw(st.integers(0, 7))
    elif kind == "truncate":
        raw = raw[: data.draw(st.integers(0, len(raw) - 1))]
    else:
        entry = header[data.draw(st.sampled_from(["a", "b"]))]
        field = data.draw(st.sampled_from(["dtype", "shape", "data_offsets"]))
        entry[field] = data.draw(
            st.one_of(
                st.sampled_from(["F32", "I64", "BF16", "XX", 7]),
                st.lists(st.integers(-(2**62), 2**62), max_size=4),
            )
        )
        body = json.dumps(header).encode()
        raw = bytearray(len(body).to_bytes(8, "little") + body + raw[8 + n :])
    path.write_bytes(bytes(raw))
    try:
        tensors = read_safetensors(str(path))
    except FlowsnapError:
        return
    for array in tensors.values():  # whatever loads lies inside the file
        assert array.nbytes <= len(raw)
        array.sum()


@SAFE
@given(raw=st.binary(max_size=300), compress=st.booleans())
def test_fuzzed_idx_files(tmp_path: Path, raw: bytes, compress: bool) -> None:
    path = tmp_path / ("f.gz" if compress else "f")
    path.write_bytes(gzip.compress(raw) if compress else raw)
    try:
        array = read_idx(path)
    except DatasetError:
        return
    assert array.nbytes <= len(raw)


@SAFE
@given(dims=st.lists(st.integers(0, 2**31), min_size=1, max_size=3))
def test_idx_headers_cannot_ask_for_huge_allocations(tmp_path: Path, dims: list[int]) -> None:
    header = bytes([0, 0, 8, len(dims)]) + struct.pack(f">{len(dims)}I", *dims)
    (tmp_path / "f").write_bytes(header + b"\x01" * 10)
    try:
        array = read_idx(tmp_path / "f")
    except DatasetError:
        return
    assert array.size == 10


@SAFE
@given(raw=st.binary(max_size=400))
def test_fuzzed_npz(tmp_path: Path, raw: bytes) -> None:
    path = tmp_path / "f.npz"
    path.write_bytes(raw)
    try:
        tensors = read_tensors(str(path))
        for value in tensors.values():
            np.asarray(value)
    except FlowsnapError:
        return


def test_fifo_in_place_of_a_safetensors_file_does_not_hang(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "f.safetensors")
    with pytest.raises(FlowsnapError, match="not a regular file"):
        read_tensors(str(tmp_path / "f.safetensors"))
    os.mkfifo(tmp_path / "g.npz")
    with pytest.raises(FlowsnapError, match="not a regular file"):
        read_tensors(str(tmp_path / "g.npz"))


def test_hard_link_to_an_outside_file_is_caught_by_size_or_checksum(tmp_path: Path) -> None:
    write_snapshot(tmp_path / "ckpt", {"w": np.ones(4, np.float32)})
    outside = tmp_path / "secret"
    outside.write_bytes(b"0123456789abcdef")  # the same size as w's data
    out = tmp_path / "ckpt" / "w" / "out"
    out.unlink()
    os.link(outside, out)
    report = verify_snapshot(tmp_path / "ckpt")
    assert not report.ok
    with pytest.raises(FlowsnapError, match="checksum"):
        open_snapshot(tmp_path / "ckpt")["w"].numpy()


@pytest.mark.parametrize("name", ["a" * 256, "x/y", "..", "", "snapshot_done", "a\0b"])
def test_bad_names_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(InvalidNameError):
        write_snapshot(tmp_path / "ckpt", {name: np.ones(1)})
    assert not (tmp_path / "ckpt").exists()


def test_odd_but_valid_names_round_trip(tmp_path: Path) -> None:
    names = ["ünï-cødé", "with space", "a" * 255, "tab\there", "-leading-dash", ".dot"]
    write_snapshot(tmp_path / "ckpt", {n: np.full(2, i, np.int32) for i, n in enumerate(names)})
    snap = open_snapshot(tmp_path / "ckpt")
    assert sorted(snap) == sorted(names)
    for i, n in enumerate(names):
        np.testing.assert_array_equal(snap[n].numpy(), [i, i])


def test_deeply_nested_directories_are_not_walked(tmp_path: Path) -> None:
    write_snapshot(tmp_path / "ckpt", {"w": np.ones(2, np.float32)})
    deep = tmp_path / "ckpt" / "junk"
    for _ in range(50):
        deep = deep / "d"
    deep.mkdir(parents=True)
    (tmp_path / "ckpt" / "loop").symlink_to(tmp_path / "ckpt")
    assert sorted(open_snapshot(tmp_path / "ckpt")) == ["w"]


def test_npz_headers_cannot_ask_for_huge_allocations(tmp_path: Path) -> None:
    import io
    import zipfile

    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f4", "fortran_order": False, "shape": (2**40,)}
    )
    with zipfile.ZipFile(tmp_path / "bomb.npz", "w") as z:
        z.writestr("w.npy", header.getvalue() + b"\0" * 64)
    with pytest.raises(FlowsnapError, match="claims"):
        read_tensors(str(tmp_path / "bomb.npz"))
