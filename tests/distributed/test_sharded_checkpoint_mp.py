"""Sharded checkpoints across processes on localhost: 2 processes x 2 CPU devices each save
without a gather and load into any process and device count; a save whose process is killed
publishes nothing and the next save works; CheckpointManager with background saves agrees on
every process."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from flowsnap.format import open_snapshot, verify_snapshot, write_snapshot

WORKER = Path(__file__).parent / "_ckpt_worker.py"

sys.path.insert(0, str(Path(__file__).parent))
from _ckpt_worker import reference  # noqa: E402


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def launch(
    scenario: str, root: Path, *, nprocs: int, devices: int, extra: str = "", timeout_s: float = 30
) -> list[dict[str, Any]]:
    """Run ``nprocs`` worker processes with ``devices`` CPU devices each; return their results."""
    env = dict(os.environ)
    env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    env["JAX_PLATFORMS"] = "cpu"
    env["FLOWSNAP_SYNC_TIMEOUT_S"] = "4"
    port = str(_free_port())
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), str(i), str(nprocs), port, scenario, str(root), extra],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(nprocs)
    ]
    results = []
    for i, proc in enumerate(procs):
        out, err = proc.communicate(timeout=timeout_s)
        lines = [line for line in out.splitlines() if line.startswith("RESULT ")]
        results.append(
            json.loads(lines[0][7:]) if lines else {"died": proc.returncode, "stderr": err[-3000:]}
        )
        if lines and "error" in results[-1]:
            raise AssertionError(f"process {i}: {results[-1]['traceback']}")
    return results


def check_files(path: Path) -> None:
    """The sharded save's files are byte-identical to an unsharded save of the same values, and
    the snapshot verifies on one host without devices."""
    report = verify_snapshot(path)
    assert report.ok, report.problems
    plain = path.parent / "plain"
    if not plain.exists():
        write_snapshot(plain, reference(), durable=False)
    for name in reference():
        for part in ("out", "meta"):
            assert (path / name / part).read_bytes() == (plain / name / part).read_bytes(), name


@pytest.mark.parametrize("mode", ["", "async"])
def test_two_processes_save_then_one_process_loads(tmp_path: Path, mode: str) -> None:
    saved = launch("save", tmp_path, nprocs=2, devices=2, extra=mode)
    assert saved[0]["devices"] == 4
    assert saved[0]["chunks"] == saved[1]["chunks"]  # both report the published manifest
    assert saved[0]["format_version"] == 2
    check_files(tmp_path / "ckpt")
    snap = open_snapshot(tmp_path / "ckpt")
    for name, value in reference().items():
        np.testing.assert_array_equal(snap[name].numpy(), value)
    loaded = launch("load", tmp_path, nprocs=1, devices=8)
    assert len(loaded[0]["checked"]) == 10


def test_one_process_saves_then_two_processes_load(tmp_path: Path) -> None:
    launch("save", tmp_path, nprocs=1, devices=4, extra="variant1")
    check_files(tmp_path / "ckpt")
    loaded = launch("load", tmp_path, nprocs=2, devices=2)
    assert all(len(r["checked"]) == 10 for r in loaded)


@pytest.mark.parametrize("victim", [1, 0])
def test_killed_process_publishes_nothing_and_next_save_works(tmp_path: Path, victim: int) -> None:
    results = launch("kill", tmp_path, nprocs=2, devices=2, extra=str(victim))
    assert "died" in results[victim]
    survivor = results[1 - victim]
    if victim == 0:
        # Process 0 hosts jax.distributed's coordination service: when it dies, JAX itself
        # terminates the other processes (or they time out waiting for it).
        # (how it fails depends on when it notices: a timeout, a lost connection, an abort)
        assert "died" in survivor or survivor["failed"], survivor
    else:
        assert "did not report" in (survivor["failed"] or ""), survivor
    assert not (tmp_path / "ckpt").exists()
    launch("save", tmp_path, nprocs=2, devices=2)
    check_files(tmp_path / "ckpt")
    assert sorted(os.listdir(tmp_path)) == ["ckpt", "plain"]  # the dead save's files are swept


def test_manager_with_background_saves_agrees_on_every_process(tmp_path: Path) -> None:
    results = launch("manager", tmp_path, nprocs=2, devices=2)
    assert results[0]["steps"] == results[1]["steps"] == [2, 3]
    assert results[0]["last_vec_offset"] == pytest.approx(4.0)
    assert sorted(os.listdir(tmp_path / "steps")) == [
        "snapshot_000000000002",
        "snapshot_000000000003",
    ]
