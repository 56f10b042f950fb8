"""Sharded checkpoints on one host: the format layer without JAX (uneven blocks, OneFlow's
balanced split, byte-identical files, chunk checksums that name damaged byte ranges, verify and
ls without devices), and, in a subprocess with 8 CPU devices, round trips across 1, 2, 4 and 8
devices and load_variables into sharded variables."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import pytest

from flowsnap.cli import main as cli
from flowsnap.errors import (
    ChecksumMismatchError,
    ManifestError,
    SizeMismatchError,
    TargetExistsError,
)
from flowsnap.format import (
    data_type_for,
    open_snapshot,
    verify_snapshot,
    write_snapshot,
)
from flowsnap.format.internals import (
    ShardedVariable,
    block_records,
    box_slices,
    create_tmp,
    finish,
    full_box,
    hash_part,
    read_box,
    write_part,
)

WORKER = Path(__file__).parent / "_ckpt_worker.py"


def balanced(size: int, n: int) -> list[tuple[int, int]]:
    """OneFlow's balanced split: the first ``size % n`` parts get one more."""
    base, extra = divmod(size, n)
    bounds, start = [], 0
    for i in range(n):
        stop = start + base + (1 if i < extra else 0)
        bounds.append((start, stop))
        start = stop
    return bounds


def split_boxes(shape: tuple[int, ...], axis: int, n: int) -> list[tuple[tuple[int, int], ...]]:
    boxes = []
    for part in balanced(shape[axis], n):
        box = list(full_box(shape))
        box[axis] = part
        boxes.append(tuple(box))
    return boxes


STEP_METADATA: Mapping[str, Any] = MappingProxyType({"step": 3})


def sharded_save(
    path: Path,
    values: dict[str, np.ndarray],
    boxes: dict[str, list[tuple[tuple[int, int], ...]]],
    nprocs: int,
    chunk: int,
    blocked: bool = False,
    overwrite: bool = False,
    durable: bool = False,
    metadata: Mapping[str, Any] | None = STEP_METADATA,
) -> None:
    """Run the sharded protocol with ``nprocs`` simulated processes, one after the other: block
    ``i`` of each variable is written by process ``i % nprocs`` (``blocked``: neighbouring
    blocks by the same process, as a mesh of processes x local devices does). Also the crash
    tests' save (tests/reliability/test_crash_sharded.py)."""
    described = [(n, v.shape, data_type_for(v.dtype)) for n, v in values.items()]
    tmp, replace = create_tmp(str(path), described, durable=durable, overwrite=overwrite)

    def writer(i: int, count: int) -> int:
        return i * nprocs // count if blocked else i % nprocs

    owned = {
        n: tuple((b, writer(i, len(boxes[n]))) for i, b in enumerate(boxes[n])) for n in values
    }
    records: dict[str, list[Any]] = {n: [] for n in values}
    blocks: dict[str, list[Any]] = {n: [] for n in values}
    for p in range(nprocs):
        for name, value in values.items():
            local = {b: value[box_slices(b)] for b, q in owned[name] if q == p}
            var = ShardedVariable(name, value.shape, data_type_for(value.dtype), owned[name], local)
            records[name] += write_part(tmp, var, p, chunk_size=chunk, durable=durable)
            blocks[name] += block_records(var, p)  # SPEC.md 5.2
    for p in range(nprocs):
        for name, value in values.items():
            var = ShardedVariable(name, value.shape, data_type_for(value.dtype), owned[name], {})
            records[name] += hash_part(tmp, var, p, nprocs, chunk_size=chunk)
    finish(
        tmp,
        str(path),
        described,
        records,
        blocks=blocks,
        replace=replace,
        overwrite=overwrite,
        durable=durable,
        legacy=False,
        metadata=None if metadata is None else dict(metadata),
    )


CASES = [
    ((50, 7), 0, 4, 1, False),  # uneven rows over 4 devices of one process
    ((50, 7), 0, 3, 3, False),  # ... over 3 processes
    ((13, 10, 3), 1, 4, 2, False),  # a non-leading axis: strided blocks, shared chunks
    ((13, 10, 3), 1, 4, 2, True),  # ... each process's blocks neighbours (joined runs)
    ((6, 5, 9), 2, 8, 2, False),  # the last axis, more parts than some rows
    ((9,), 0, 2, 2, False),
    ((5, 0), 0, 2, 2, False),  # empty
]


@pytest.mark.parametrize(("shape", "axis", "parts", "nprocs", "blocked"), CASES)
def test_sharded_files_equal_unsharded_and_every_block_reads_back(
    tmp_path: Path, shape: tuple[int, ...], axis: int, parts: int, nprocs: int, blocked: bool
) -> None:
    rng = np.random.default_rng(math.prod(shape) + axis)
    value = rng.standard_normal(shape).astype(np.float32)
    ids = rng.integers(-(2**40), 2**40, shape).astype(np.int64)
    values = {"w": value, "ids": ids, "s": np.array(2.5, np.float32)}
    boxes = {"w": split_boxes(shape, axis, parts), "ids": split_boxes(shape, axis, parts)}
    boxes["s"] = [full_box(())]
    sharded_save(tmp_path / "sharded", values, boxes, nprocs, chunk=64, blocked=blocked)
    write_snapshot(tmp_path / "plain", values, durable=False)
    for name in values:
        for part in ("out", "meta"):
            sharded = (tmp_path / "sharded" / name / part).read_bytes()
            assert sharded == (tmp_path / "plain" / name / part).read_bytes()
    assert verify_snapshot(tmp_path / "sharded").ok
    snap = open_snapshot(tmp_path / "sharded")
    assert snap.manifest is not None
    assert snap.manifest.format_version == 2
    assert snap.metadata == {"step": 3}
    for name, v in values.items():
        np.testing.assert_array_equal(snap[name].numpy(), v)
        entry = snap.manifest.variables[name]
        assert entry.checksum == ""
        assert sum(length for _, length, _ in entry.chunks or ()) == v.nbytes
    # any block, in any other split, reads back exactly, verified or not
    for other in range(1, 4):
        for ax in range(len(shape)):
            for box in split_boxes(shape, ax, other):
                for verify in (True, False):
                    got = read_box(
                        "w",
                        str(tmp_path / "sharded" / "w" / "out"),
                        value.nbytes,
                        shape,
                        value.dtype,
                        box,
                        chunks=snap.manifest.variables["w"].chunks,
                        verify=verify,
                    )
                    np.testing.assert_array_equal(got, value[box_slices(box)])


def flip(path: Path, offset: int) -> None:
    with path.open("r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0x01]))


def test_a_flipped_byte_is_named_by_variable_file_and_byte_range(tmp_path: Path) -> None:
    value = np.arange(40 * 16, dtype=np.float32).reshape(40, 16)
    sharded_save(tmp_path / "c", {"emb": value}, {"emb": split_boxes((40, 16), 1, 4)}, 2, 256)
    out = tmp_path / "c" / "emb" / "out"
    flip(out, 1000)  # chunk 768:1024, i.e. rows 12..15
    report = verify_snapshot(tmp_path / "c")
    assert [p.kind for p in report.problems] == ["ChecksumMismatchError"]
    message = report.problems[0].message
    assert "'emb'" in message
    assert str(out) in message
    assert "bytes 768:1024" in message
    with pytest.raises(ChecksumMismatchError, match="bytes 768:1024"):
        open_snapshot(tmp_path / "c")["emb"].numpy()
    chunks = open_snapshot(tmp_path / "c").manifest.variables["emb"].chunks  # type: ignore[union-attr]
    with pytest.raises(ChecksumMismatchError, match="bytes 768:1024"):
        read_box(
            "emb",
            str(out),
            value.nbytes,
            value.shape,
            value.dtype,
            ((10, 20), (0, 16)),
            chunks=chunks,
        )
    # a block whose chunks are intact reads (the damaged chunk is not read at all)
    got = read_box(
        "emb", str(out), value.nbytes, value.shape, value.dtype, ((20, 40), (4, 8)), chunks=chunks
    )
    np.testing.assert_array_equal(got, value[20:40, 4:8])
    # verify=False gets the damaged bytes
    assert open_snapshot(tmp_path / "c")["emb"].numpy(verify=False)[15, 10] != value[15, 10]


def test_ls_and_verify_commands_need_no_devices(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    value = np.arange(64, dtype=np.int32).reshape(8, 8)
    sharded_save(tmp_path / "c", {"t": value}, {"t": split_boxes((8, 8), 1, 2)}, 2, 32)
    assert cli(["ls", str(tmp_path / "c")]) == 0
    listed = capsys.readouterr().out
    assert "xxh3 x8 chunks" in listed
    assert "1 with recorded checksums" in listed
    assert cli(["verify", str(tmp_path / "c")]) == 0
    assert cli(["verify", str(tmp_path / "c" / "t")]) == 0
    assert "checksum verified" in capsys.readouterr().out
    flip(tmp_path / "c" / "t" / "out", 3)
    assert cli(["verify", str(tmp_path / "c")]) != 0
    assert "bytes 0:32" in capsys.readouterr().out
    assert cli(["verify", str(tmp_path / "c" / "t")]) != 0  # one variable alone, too
    assert "bytes 0:32" in capsys.readouterr().out
    probe = (
        "import sys; from flowsnap.cli import main; "
        f"main(['verify', {str(tmp_path / 'c')!r}]); print('jax' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=False
    )
    assert done.stdout.strip().endswith("False"), done.stdout + done.stderr


def test_manifest_chunks_must_tile_the_file(tmp_path: Path) -> None:
    value = np.arange(32, dtype=np.float32)
    sharded_save(tmp_path / "c", {"v": value}, {"v": split_boxes((32,), 0, 2)}, 2, 32)
    marker = tmp_path / "c" / "snapshot_done"
    doc = json.loads(marker.read_text())
    doc["variables"]["v"]["chunks"] = doc["variables"]["v"]["chunks"][1:]  # a hole at byte 0
    text = json.dumps(doc)
    marker.write_text(text)
    (tmp_path / "c" / ".flowsnap-manifest").write_text(text)
    with pytest.raises(ManifestError, match="'v' is malformed"):
        open_snapshot(tmp_path / "c")


def test_a_process_that_reported_no_chunks_publishes_nothing(tmp_path: Path) -> None:
    value = np.arange(32, dtype=np.float32)
    described = [("v", value.shape, data_type_for(value.dtype))]
    tmp, _ = create_tmp(str(tmp_path / "c"), described, durable=False, overwrite=False)
    owned = tuple((b, i) for i, b in enumerate(split_boxes((32,), 0, 2)))
    var = ShardedVariable("v", (32,), data_type_for(value.dtype), owned, {owned[0][0]: value[:16]})
    half = write_part(tmp, var, 0, chunk_size=16, durable=False)
    with pytest.raises(SizeMismatchError, match="do not cover"):
        finish(tmp, str(tmp_path / "c"), described, {"v": half}, replace=False, overwrite=False,
               durable=False, legacy=False, metadata=None)  # fmt: skip
    assert os.listdir(tmp_path) == []


def run_worker(scenario: str, root: Path, devices: int = 8) -> dict[str, Any]:
    env = dict(os.environ)
    env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    env["JAX_PLATFORMS"] = "cpu"
    done = subprocess.run(
        [sys.executable, str(WORKER), "0", "1", "0", scenario, str(root)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(lines[0][7:])
    assert "error" not in result, result.get("traceback")
    return result


def test_round_trips_across_1_2_4_8_devices_bit_exactly(tmp_path: Path) -> None:
    result = run_worker("matrix", tmp_path)
    assert result["saved"] == 12
    assert result["loads"] == 12 * 12 * 2


def test_load_variables_into_sharded_variables(tmp_path: Path) -> None:
    result = run_worker("session", tmp_path)
    assert result["loaded"] == ["emb"]
    assert result["kept_sharding"]
    assert result["equal"]
    assert result["explicit_sharding"]
    assert result["numpy_kept_sharding"]
    assert "'emb'" in result["damage"]
    assert "bytes 640:768" in result["damage"]  # the chunk of the 6th device's rows
    assert result["unchanged"]


def test_a_sharded_save_replaces_a_checkpoint_only_with_overwrite(tmp_path: Path) -> None:
    old = np.zeros((8, 4), np.float32)
    new = np.arange(32, dtype=np.float32).reshape(8, 4)
    boxes = {"v": split_boxes((8, 4), 1, 2)}
    sharded_save(tmp_path / "c", {"v": old}, boxes, 2, 16)
    with pytest.raises(TargetExistsError, match="overwrite=True"):
        sharded_save(tmp_path / "c", {"v": new}, boxes, 2, 16)
    sharded_save(tmp_path / "c", {"v": new}, boxes, 2, 16, overwrite=True)
    np.testing.assert_array_equal(open_snapshot(tmp_path / "c")["v"].numpy(), new)
    assert os.listdir(tmp_path) == ["c"]  # the old one and every temporary directory are gone


def test_copying_a_damaged_sharded_variable_is_refused(tmp_path: Path) -> None:
    value = np.arange(64, dtype=np.float32).reshape(16, 4)
    sharded_save(tmp_path / "c", {"v": value}, {"v": split_boxes((16, 4), 0, 4)}, 2, 64)
    write_snapshot(tmp_path / "copy", open_snapshot(tmp_path / "c"), durable=False)  # intact
    np.testing.assert_array_equal(open_snapshot(tmp_path / "copy")["v"].numpy(), value)
    flip(tmp_path / "c" / "v" / "out", 200)
    with pytest.raises(ChecksumMismatchError, match="bytes 192:256"):
        write_snapshot(tmp_path / "copy2", open_snapshot(tmp_path / "c"), durable=False)
    assert not (tmp_path / "copy2").exists()


def test_legacy_layout_sharded_save_writes_no_meta(tmp_path: Path) -> None:
    value = np.arange(24, dtype=np.int32).reshape(6, 4)
    described = [("v", value.shape, data_type_for(value.dtype))]
    tmp, _ = create_tmp(str(tmp_path / "c"), described, durable=True, overwrite=False)
    owned = tuple((b, 0) for b in split_boxes((6, 4), 1, 2))
    local = {b: value[box_slices(b)] for b, _ in owned}
    var = ShardedVariable("v", (6, 4), data_type_for(value.dtype), owned, local)
    records = write_part(tmp, var, 0, chunk_size=32, durable=True)
    finish(tmp, str(tmp_path / "c"), described, {"v": records}, replace=False, overwrite=False,
           durable=True, legacy=True, metadata=None)  # fmt: skip
    assert sorted(os.listdir(tmp_path / "c" / "v")) == ["out"]
    snap = open_snapshot(tmp_path / "c")
    assert snap.manifest is not None
    assert not snap.manifest.variables["v"].has_meta
    np.testing.assert_array_equal(snap["v"].numpy(), value)  # shape and dtype from the manifest


def test_convert_checks_chunk_checksums_of_a_sharded_save(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    value = np.arange(40 * 16, dtype=np.float32).reshape(40, 16)
    sharded_save(tmp_path / "c", {"emb": value}, {"emb": split_boxes((40, 16), 1, 4)}, 2, 256)
    assert cli(["convert", str(tmp_path / "c"), str(tmp_path / "ok.npz")]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "ok.npz")["emb"], value)
    flip(tmp_path / "c" / "emb" / "out", 1000)
    capsys.readouterr()
    assert cli(["convert", str(tmp_path / "c"), str(tmp_path / "bad.npz")]) == 3
    assert "bytes 768:1024" in capsys.readouterr().err
    assert not (tmp_path / "bad.npz").exists()  # nothing written from damaged bytes
