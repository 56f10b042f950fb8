"""The command as a real process: closed pipes, the umask, no progress frames off a terminal."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from flowsnap.format import write_snapshot

FLOWSNAP = [sys.executable, "-m", "flowsnap"]


@pytest.fixture
def many(tmp_path: Path) -> Path:
    """A checkpoint whose listing is larger than a pipe's buffer."""
    names = {f"layer{i:04d}-{'x' * 80}-weight": np.zeros(1, np.float32) for i in range(1500)}
    write_snapshot(tmp_path / "many", names, durable=False)
    return tmp_path / "many"


@pytest.mark.parametrize("argv", [["ls"], ["ls", "--json"], ["diff", "--json", "SELF"]])
def test_a_closed_pipe_is_a_quiet_exit(many: Path, argv: list[str]) -> None:
    args = [str(many) if a == "SELF" else a for a in argv]
    with subprocess.Popen(
        [*FLOWSNAP, *args, str(many)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as proc:
        assert proc.stdout is not None
        assert proc.stderr is not None
        first = proc.stdout.readline()  # then go away, as `| head -1` does
        proc.stdout.close()
        err = proc.stderr.read().decode()
        code = proc.wait(timeout=120)
    assert first
    assert err == "", err
    assert code == 141  # 128 + SIGPIPE, what a shell reports for Unix tools


def test_head_in_a_shell_pipeline(many: Path) -> None:
    cmd = f"{' '.join(FLOWSNAP)} ls {many} | head -1; exit ${{PIPESTATUS[0]}}"
    result = subprocess.run(
        ["bash", "-c", cmd], capture_output=True, text=True, check=False, timeout=120
    )
    assert result.stdout.startswith("name")
    assert result.stderr == ""
    assert result.returncode == 141


@pytest.mark.parametrize(
    ("umask", "file_mode", "dir_mode"), [(0o022, 0o644, 0o755), (0o027, 0o640, 0o750)]
)
def test_converted_files_respect_the_umask(
    tmp_path: Path, umask: int, file_mode: int, dir_mode: int
) -> None:
    write_snapshot(tmp_path / "ck", {"w": np.ones((64, 64), np.float32)}, durable=False)
    targets = ["m.safetensors", "m.npz", "sh", "hf.safetensors"]
    for target in targets:
        extra = ["--max-shard-size", "4KB"] if target in ("sh", "hf.safetensors") else []
        cmd = [*FLOWSNAP, "convert", str(tmp_path / "ck"), str(tmp_path / target), *extra]
        subprocess.run(
            ["sh", "-c", f'umask {umask:03o} && exec "$@"', "sh", *cmd],
            check=True,
            capture_output=True,
        )

    def mode(path: Path) -> int:
        return stat.S_IMODE(os.stat(path).st_mode)

    assert mode(tmp_path / "m.safetensors") == file_mode
    assert mode(tmp_path / "m.npz") == file_mode
    assert mode(tmp_path / "sh") == dir_mode
    assert {mode(p) for p in (tmp_path / "sh").iterdir()} == {file_mode}
    assert mode(tmp_path / "hf.safetensors.index.json") == file_mode
    assert mode(tmp_path / "hf-00001-of-00001.safetensors") == file_mode


def test_torch_target_respects_the_umask(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    write_snapshot(tmp_path / "ck", {"w": np.ones(4, np.float32)}, durable=False)
    cmd = [*FLOWSNAP, "convert", str(tmp_path / "ck"), str(tmp_path / "m.pt")]
    subprocess.run(["sh", "-c", 'umask 002 && exec "$@"', "sh", *cmd], check=True)
    assert stat.S_IMODE(os.stat(tmp_path / "m.pt").st_mode) == 0o664


def test_progress_draws_no_frames_off_a_terminal(tmp_path: Path) -> None:
    code = (
        "from flowsnap.format.internals import Progress\n"
        "bar = Progress(3 * 2**20, desc='verify', enabled=True)\n"
        "for _ in range(3): bar.update(2**20)\n"
        "bar.close()\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert "\r" not in result.stderr
    assert result.stderr.startswith("verify: 3.0 MiB in ")
    assert result.stderr.count("\n") == 1
