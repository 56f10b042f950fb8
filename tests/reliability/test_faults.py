"""Faults at the OS boundary: disk full, EIO, short writes, a read-only file system, two writers
racing for one target. Each gives a clear flowsnap error (or a correct save), publishes nothing
partial, and leaves no temporary directory."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import flowsnap.format._io as io
from flowsnap.errors import SnapshotWriteError, TargetExistsError
from flowsnap.format import open_snapshot, verify_snapshot, write_snapshot

ROOT = Path(__file__).parent.parent.parent


def model(mb: int = 4) -> dict[str, np.ndarray]:  # type: ignore[type-arg]
    n = mb * 2**20 // 4 // 4
    return {f"w{i}": np.arange(n, dtype=np.float32) + i for i in range(4)}


def leftovers(parent: Path) -> list[str]:
    return [p.name for p in parent.iterdir() if ".flowsnap-tmp-" in p.name]


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs (needs root and mount permission; skipped otherwise)."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting a small tmpfs needs root")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


def test_disk_full_on_a_real_small_file_system(small_fs: Path) -> None:
    with pytest.raises(SnapshotWriteError, match="No space left") as info:
        write_snapshot(small_fs / "ckpt", model(4))
    assert "ckpt" in str(info.value)
    assert not (small_fs / "ckpt").exists()
    assert leftovers(small_fs) == []
    write_snapshot(small_fs / "fits", {"w": np.ones(1000, np.float32)})  # space was freed
    assert verify_snapshot(small_fs / "fits").ok


def test_read_only_file_system(small_fs: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(small_fs)], check=True)
    with pytest.raises(SnapshotWriteError, match="Read-only file system"):
        write_snapshot(small_fs / "ckpt", model(1))


@pytest.mark.parametrize("code", [errno.EIO, errno.ENOSPC, errno.EACCES, errno.EDQUOT])
def test_injected_write_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int) -> None:
    real_write, calls = os.write, []

    def failing(fd: int, data: object) -> int:
        calls.append(1)
        if len(calls) == 7:
            raise OSError(code, os.strerror(code))
        return real_write(fd, data)  # type: ignore[arg-type]

    monkeypatch.setattr(io.os, "write", failing)
    with pytest.raises(SnapshotWriteError, match=os.strerror(code)):
        write_snapshot(tmp_path / "ckpt", model(8), durable=False)
    assert not (tmp_path / "ckpt").exists()
    assert leftovers(tmp_path) == []


def test_injected_fsync_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def failing(fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(io.os, "fsync", failing)
    with pytest.raises(SnapshotWriteError, match="Input/output error"):
        write_snapshot(tmp_path / "ckpt", model(1))
    assert not (tmp_path / "ckpt").exists()
    assert leftovers(tmp_path) == []


def test_short_writes_are_completed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_write = os.write

    def short(fd: int, data: object) -> int:
        return real_write(fd, memoryview(data)[:777])  # type: ignore[arg-type]

    monkeypatch.setattr(io.os, "write", short)
    values = model(1)
    write_snapshot(tmp_path / "ckpt", values, durable=False)
    assert verify_snapshot(tmp_path / "ckpt").ok
    snap = open_snapshot(tmp_path / "ckpt")
    for name, value in values.items():
        np.testing.assert_array_equal(snap[name].numpy(), value)


RACER = """
import sys, numpy as np
from flowsnap.errors import TargetExistsError
from flowsnap.format import write_snapshot
n = 4 * 2**20
try:
    write_snapshot(sys.argv[1], {f"w{i}": np.full(n, int(sys.argv[2]), np.float32)
                                 for i in range(4)})
    print("won")
except TargetExistsError as exc:
    print("lost", exc)
"""


def test_two_processes_saving_to_one_target(tmp_path: Path) -> None:
    target = tmp_path / "ckpt"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    for _ in range(3):
        shutil.rmtree(target, ignore_errors=True)
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", RACER, str(target), str(i)],
                stdout=subprocess.PIPE,
                text=True,
                env=env,
            )
            for i in (1, 2)
        ]
        outs = [p.communicate(timeout=120)[0] for p in procs]
        assert all(p.returncode == 0 for p in procs), outs
        assert sorted(o.split()[0] for o in outs) == ["lost", "won"], outs
        winner = 1 if outs[0].startswith("won") else 2
        assert verify_snapshot(target).ok
        assert float(open_snapshot(target)["w3"].read(0, 1)[0]) == winner
        assert leftovers(tmp_path) == []


def test_a_target_that_appears_as_a_file(tmp_path: Path) -> None:
    (tmp_path / "ckpt").write_text("someone else's")
    with pytest.raises(TargetExistsError, match="file"):
        write_snapshot(tmp_path / "ckpt", model(1))
    assert (tmp_path / "ckpt").read_text() == "someone else's"
