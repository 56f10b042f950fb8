"""Block checksums of sharded saves (format/SPEC.md 5.2): a loader whose block is one a writer
wrote reads only that block's bytes (counted at the positioned reads every reader makes) and
checks them; damage inside a block is named by variable, file and byte range, damage outside
it does not concern it; manifests without block checksums load as before; ``flowsnap verify``
checks them; and across 2 processes each one reads exactly its own half."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xxhash

from flowsnap.cli import main as cli
from flowsnap.errors import ChecksumMismatchError, ManifestError
from flowsnap.format import open_snapshot, verify_snapshot
from flowsnap.format.internals import box_slices, read_blocks, read_box
from tests.distributed.test_sharded_checkpoint import flip, sharded_save, split_boxes

WORKER = Path(__file__).parent / "_blocks_worker.py"
Box = tuple[tuple[int, int], ...]


@contextmanager
def counting_reads(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, int]]:
    """Count the bytes every positioned read returns (``os.preadv``, ``os.pread``: what the
    format's readers call)."""
    seen = {"bytes": 0, "calls": 0}
    real_preadv, real_pread = os.preadv, os.pread

    def preadv(fd: int, buffers: list[Any], offset: int) -> int:
        n = real_preadv(fd, buffers, offset)
        seen["bytes"] += n
        seen["calls"] += 1
        return n

    def pread(fd: int, size: int, offset: int) -> bytes:
        data = real_pread(fd, size, offset)
        seen["bytes"] += len(data)
        seen["calls"] += 1
        return data

    with monkeypatch.context() as m:
        m.setattr(os, "preadv", preadv)
        m.setattr(os, "pread", pread)
        yield seen


def save_cols(path: Path, value: np.ndarray, parts: int, nprocs: int) -> list[Box]:
    boxes = split_boxes(value.shape, value.ndim - 1, parts)
    sharded_save(path, {"emb": value}, {"emb": boxes}, nprocs, 256, blocked=True)
    return boxes


def rewrite_manifest(path: Path, change: Any) -> None:
    """Apply ``change`` to the manifest's JSON, in the marker and its copy alike."""
    doc = json.loads((path / "snapshot_done").read_text())
    change(doc)
    text = json.dumps(doc)
    (path / "snapshot_done").write_text(text)
    (path / ".flowsnap-manifest").write_text(text)


def oracle(block: np.ndarray) -> str:
    return xxhash.xxh3_64(np.ascontiguousarray(block).tobytes()).hexdigest()


@pytest.mark.parametrize(
    ("shape", "axis", "parts", "nprocs"),
    [((40, 16), 1, 4, 2), ((6, 10, 3), 1, 4, 2), ((5, 4, 9), 2, 3, 3), ((40, 16), 0, 4, 2)],
)
def test_the_writer_records_the_checksum_of_every_strided_block(
    tmp_path: Path, shape: tuple[int, ...], axis: int, parts: int, nprocs: int
) -> None:
    value = np.random.default_rng(3).standard_normal(shape).astype(np.float32)
    boxes = split_boxes(shape, axis, parts)
    sharded_save(tmp_path / "c", {"v": value}, {"v": boxes}, nprocs, 64)
    entry = open_snapshot(tmp_path / "c").manifest.variables["v"]  # type: ignore[union-attr]
    if axis == 0:  # row blocks are contiguous: their chunks tile them exactly, no block needed
        assert entry.blocks is None
        assert "blocks" not in (tmp_path / "c" / "snapshot_done").read_text()
        return
    assert entry.blocks is not None
    assert dict(entry.blocks) == {box: oracle(value[box_slices(box)]) for box in boxes}
    assert open_snapshot(tmp_path / "c").manifest.format_version == 2  # type: ignore[union-attr]


def test_a_same_layout_read_reads_only_its_own_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    value = np.arange(64 * 32, dtype=np.float32).reshape(64, 32)
    boxes = save_cols(tmp_path / "c", value, 4, 2)
    var = open_snapshot(tmp_path / "c")["emb"]
    blocks = var.expected_blocks  # type: ignore[attr-defined]
    mine = boxes[:2]  # process 0's two neighbouring column blocks
    args = ("emb", var.file_path, var.nbytes, value.shape, value.dtype)
    digests = [blocks[b] for b in mine]
    from flowsnap.format import _runread

    with monkeypatch.context() as m:
        m.setattr(_runread, "_MAX_GAP", 0)  # as if its rows were a page apart or more
        with counting_reads(monkeypatch) as seen:
            got = read_blocks(*args, mine, digests=digests, chunks=None)
    for box, block in zip(mine, got, strict=True):
        np.testing.assert_array_equal(block, value[box_slices(box)])
        assert block.flags.c_contiguous
    assert seen["bytes"] == value.nbytes // 2  # exactly its own bytes
    assert seen["calls"] == 64  # one preadv per row: its two blocks' runs are neighbours
    # gaps shorter than a page (64 bytes here) are read through: one call, no page more
    with counting_reads(monkeypatch) as seen:
        got = read_blocks(*args, mine, digests=digests)
    for box, block in zip(mine, got, strict=True):
        np.testing.assert_array_equal(block, value[box_slices(box)])
    assert (seen["bytes"], seen["calls"]) == (63 * 128 + 64, 1)
    # the chunk path (a box not recorded) reads whole rows: the whole file here
    chunks = var.expected_chunks  # type: ignore[attr-defined]
    with counting_reads(monkeypatch) as seen:
        read_box(*args, ((0, 64), (0, 16)), chunks=chunks)
    assert seen["bytes"] == value.nbytes


def test_whole_rows_of_several_blocks_are_read_in_few_calls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    value = np.arange(64 * 32, dtype=np.int32).reshape(64, 32)
    boxes = save_cols(tmp_path / "c", value, 4, 1)
    var = open_snapshot(tmp_path / "c")["emb"]
    blocks = var.expected_blocks  # type: ignore[attr-defined]
    args = ("emb", var.file_path, var.nbytes, value.shape, value.dtype)
    with counting_reads(monkeypatch) as seen:
        got = read_blocks(*args, boxes, digests=[blocks[b] for b in boxes])
    assert seen["bytes"] == value.nbytes
    assert seen["calls"] == 1  # 256 runs following each other: one preadv
    np.testing.assert_array_equal(np.concatenate(got, axis=1), value)


def test_damage_inside_a_block_is_named_and_outside_it_does_not_matter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    value = np.arange(40 * 16, dtype=np.float32).reshape(40, 16)
    boxes = save_cols(tmp_path / "c", value, 4, 2)
    out = tmp_path / "c" / "emb" / "out"
    flip(out, 13 * 64 + 40)  # row 13, column 10: block 2 (columns 8:12), chunk 768:1024
    var = open_snapshot(tmp_path / "c")["emb"]
    blocks = var.expected_blocks  # type: ignore[attr-defined]
    args = ("emb", var.file_path, var.nbytes, value.shape, value.dtype)
    chunks = var.expected_chunks  # type: ignore[attr-defined]
    with pytest.raises(ChecksumMismatchError) as caught:
        read_blocks(*args, [boxes[2]], digests=[blocks[boxes[2]]], chunks=chunks)
    message = str(caught.value)
    assert "'emb'" in message
    assert str(out) in message
    assert "[0:40, 8:12]" in message
    assert "bytes 32:2544" in message  # where the block's bytes lie
    assert "bytes 768:1024" in message  # the damaged chunk
    assert "Restore the checkpoint" in message
    # the other blocks' bytes are intact: they read (the damaged bytes, between their runs, are
    # not part of any of them)
    others = [b for b in boxes if b != boxes[2]]
    got = read_blocks(*args, others, digests=[blocks[b] for b in others], chunks=chunks)
    for box, block in zip(others, got, strict=True):
        np.testing.assert_array_equal(block, value[box_slices(box)])
    # verify=False reads the damaged bytes
    (bad,) = read_blocks(*args, [boxes[2]], digests=[None])
    assert bad[13, 2] != value[13, 10]
    assert not verify_snapshot(tmp_path / "c").ok


def test_a_damaged_block_checksum_is_told_from_damaged_data(tmp_path: Path) -> None:
    value = np.arange(40 * 16, dtype=np.float32).reshape(40, 16)
    boxes = save_cols(tmp_path / "c", value, 4, 2)

    def damage(doc: dict[str, Any]) -> None:
        doc["variables"]["emb"]["blocks"][1][1] = "0123456789abcdef"

    rewrite_manifest(tmp_path / "c", damage)
    var = open_snapshot(tmp_path / "c")["emb"]
    args = ("emb", var.file_path, var.nbytes, value.shape, value.dtype)
    with pytest.raises(ChecksumMismatchError, match="the chunks holding it verify"):
        read_blocks(
            *args,
            [boxes[1]],
            digests=["0123456789abcdef"],
            chunks=var.expected_chunks,  # type: ignore[attr-defined]
        )
    report = verify_snapshot(tmp_path / "c")
    assert [p.kind for p in report.problems] == ["ChecksumMismatchError"]
    assert "[0:40, 4:8]" in report.problems[0].message


def test_verify_command_checks_block_checksums(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    value = np.arange(24 * 8, dtype=np.int64).reshape(24, 8)
    save_cols(tmp_path / "c", value, 2, 2)
    assert cli(["verify", str(tmp_path / "c")]) == 0
    capsys.readouterr()

    def damage(doc: dict[str, Any]) -> None:
        doc["variables"]["emb"]["blocks"][0][1] = "fedcba9876543210"

    rewrite_manifest(tmp_path / "c", damage)
    assert cli(["verify", str(tmp_path / "c")]) != 0
    assert "[0:24, 0:4]" in capsys.readouterr().out
    assert cli(["verify", str(tmp_path / "c" / "emb")]) != 0  # one variable alone, too
    assert "[0:24, 0:4]" in capsys.readouterr().out


def test_a_manifest_without_block_checksums_loads_as_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    value = np.arange(64 * 32, dtype=np.float32).reshape(64, 32)
    boxes = save_cols(tmp_path / "c", value, 4, 2)

    def strip(doc: dict[str, Any]) -> None:
        del doc["variables"]["emb"]["blocks"]
        doc["variables"]["emb"]["from_the_future"] = [1, 2]  # unknown keys are ignored

    rewrite_manifest(tmp_path / "c", strip)
    snap = open_snapshot(tmp_path / "c")
    var = snap["emb"]
    assert var.expected_blocks == {}  # type: ignore[attr-defined]
    assert verify_snapshot(tmp_path / "c").ok
    np.testing.assert_array_equal(var.numpy(), value)
    got = read_box(
        "emb",
        var.file_path,
        var.nbytes,
        value.shape,
        value.dtype,
        boxes[0],
        chunks=var.expected_chunks,  # type: ignore[attr-defined]
    )
    np.testing.assert_array_equal(got, value[box_slices(boxes[0])])


@pytest.mark.parametrize(
    "blocks",
    [
        [[[[0, 64], [0, 8]], "nothex"]],
        [[[[0, 64]], "0123456789abcdef"]],  # one dim of two
        [[[[0, 65], [0, 8]], "0123456789abcdef"]],  # outside the shape
        [[[[0, 64], [0, 8]], "0123456789abcdef"], [[[0, 64], [0, 8]], "0123456789abcdef"]],
        [[[[0, 64], [0, True]], "0123456789abcdef"]],
        {"box": "checksum"},
    ],
)
def test_malformed_block_checksums_are_refused(tmp_path: Path, blocks: Any) -> None:
    value = np.arange(64 * 32, dtype=np.float32).reshape(64, 32)
    save_cols(tmp_path / "c", value, 4, 2)

    def spoil(doc: dict[str, Any]) -> None:
        doc["variables"]["emb"]["blocks"] = blocks

    rewrite_manifest(tmp_path / "c", spoil)
    with pytest.raises(ManifestError, match="'emb' is malformed"):
        open_snapshot(tmp_path / "c")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def launch(scenario: str, root: Path) -> list[dict[str, Any]]:
    """Run 2 worker processes with 2 CPU devices each; return their results."""
    env = dict(os.environ)
    env["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
    env["JAX_PLATFORMS"] = "cpu"
    env["FLOWSNAP_SYNC_TIMEOUT_S"] = "10"
    port = str(_free_port())
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), str(i), "2", port, scenario, str(root)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    results = []
    for i, proc in enumerate(procs):
        out, err = proc.communicate(timeout=60)
        lines = [line for line in out.splitlines() if line.startswith("RESULT ")]
        assert lines, f"process {i}: {err[-3000:]}"
        result: dict[str, Any] = json.loads(lines[0][7:])
        assert "error" not in result, f"process {i}: {result['traceback']}"
        results.append(result)
    return results


def test_two_processes_read_only_their_own_blocks(tmp_path: Path) -> None:
    sys.path.insert(0, str(Path(__file__).parent))
    from _blocks_worker import values

    saved = launch("save", tmp_path)
    assert saved[0]["devices"] == 4
    assert saved[0]["blocks"] == {"cols": 4, "mid": 4, "rows": 0}
    assert verify_snapshot(tmp_path / "ckpt").ok
    loaded = launch("load", tmp_path)
    for result in loaded:
        assert result["errors"] == {}
        for name, value in values().items():
            # the save's layout: each process reads exactly its half, bit-exact
            assert result["own"][f"{name}/same"] == value.nbytes // 2
            assert result["read"][f"{name}/same"] == value.nbytes // 2, (name, result)
        # another layout (rows) goes through the chunk path: bit-exact too; the process's two
        # neighbouring row blocks lie in one chunk (the whole file), read once, not once each
        assert result["own"]["cols/other"] == values()["cols"].nbytes // 2
        assert result["read"]["cols/other"] == values()["cols"].nbytes
    # damage in process 1's block of "cols" (row 7, column 1800): process 1's same-layout load
    # fails naming it; process 0's, which does not read those bytes, is not concerned
    flip(tmp_path / "ckpt" / "cols" / "out", 7 * 8192 + 1800 * 4)
    loaded = launch("load", tmp_path)
    assert "cols/same" not in loaded[0]["errors"]
    error = loaded[1]["errors"]["cols/same"]
    assert error.startswith("ChecksumMismatchError")
    assert "'cols'" in error
    assert "[0:40, 1536:2048]" in error


@pytest.mark.parametrize("path", ["staged", "gaps", "direct"])
def test_long_groups_and_windows_of_runs_read_right(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    """Coalesced runs staged in small buffers (with or without the gaps between them), or
    read straight into the blocks (split at IOV_MAX buffers per preadv and at small windows),
    in any block order."""
    from flowsnap.format import _runread

    monkeypatch.setattr(_runread, "_WINDOW", 7)
    monkeypatch.setattr(_runread, "_STAGE", 100)
    if path != "gaps":
        monkeypatch.setattr(_runread, "_MAX_GAP", 0)
    if path == "direct":
        monkeypatch.setattr(_runread, "_read_staged", lambda *args: False)
    value = np.random.default_rng(2).integers(0, 255, (3000, 12)).astype(np.uint8)
    boxes = split_boxes(value.shape, 1, 3)
    sharded_save(tmp_path / "c", {"m": value}, {"m": boxes}, 3, 100)
    var = open_snapshot(tmp_path / "c")["m"]
    blocks = var.expected_blocks  # type: ignore[attr-defined]
    args = ("m", var.file_path, var.nbytes, value.shape, value.dtype)
    for chosen in (boxes, boxes[:1], boxes[1:], [boxes[2], boxes[0]]):
        with counting_reads(monkeypatch) as seen:
            got = read_blocks(*args, chosen, digests=[blocks[b] for b in chosen])
        for box, block in zip(chosen, got, strict=True):
            np.testing.assert_array_equal(block, value[box_slices(box)])
        own = sum(value[box_slices(b)].nbytes for b in chosen)
        if path == "gaps":  # at most the span from the first byte to the last
            first = min(b[1][0] for b in chosen)
            last = 2999 * 12 + max(b[1][1] for b in chosen)
            assert own <= seen["bytes"] <= last - first
        else:
            assert seen["bytes"] == own


def test_irregular_blocks_read_right(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks whose runs do not interleave at a constant distance (an irregular tiling) are
    read straight into place."""
    from flowsnap.format import _runread

    monkeypatch.setattr(_runread, "_MAX_GAP", 0)  # with the gaps read, the distances are equal
    value = np.arange(10 * 8, dtype=np.float32).reshape(10, 8)
    boxes = [((0, 10), (0, 4)), ((0, 5), (4, 8)), ((5, 10), (4, 8))]
    sharded_save(tmp_path / "c", {"m": value}, {"m": boxes}, 3, 64)
    var = open_snapshot(tmp_path / "c")["m"]
    blocks = var.expected_blocks  # type: ignore[attr-defined]
    assert set(blocks) == set(boxes)
    args = ("m", var.file_path, var.nbytes, value.shape, value.dtype)
    with counting_reads(monkeypatch) as seen:
        got = read_blocks(*args, boxes[:2], digests=[blocks[b] for b in boxes[:2]])
    for box, block in zip(boxes[:2], got, strict=True):
        np.testing.assert_array_equal(block, value[box_slices(box)])
    assert seen["bytes"] == (40 + 20) * 4
