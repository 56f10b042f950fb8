"""Exact resume: N steps, save, a fresh process loads and trains M more steps, and every variable
is bitwise identical to N + M uninterrupted steps (optimizer slots, the train step, the schedule
with warmup, batch-norm statistics and dropout masks all travel in the checkpoint)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

WORKER = Path(__file__).with_name("resume_worker.py")
ROOT = Path(__file__).parent.parent.parent


def run(*args: str) -> None:
    result = subprocess.run(
        [sys.executable, str(WORKER), *args], capture_output=True, text=True, check=False, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr[-3000:]


def test_resume_in_a_fresh_process_is_bitwise_identical(tmp_path: Path) -> None:
    n, m = 4, 5
    run("0", str(n + m), str(tmp_path / "straight.npz"))
    run("0", str(n), str(tmp_path / "first.npz"), "--save", str(tmp_path / "ckpt"))
    run(str(n), str(m), str(tmp_path / "resumed.npz"), "--load", str(tmp_path / "ckpt"))
    straight, resumed = np.load(tmp_path / "straight.npz"), np.load(tmp_path / "resumed.npz")
    assert sorted(straight.files) == sorted(resumed.files)
    assert {
        "fc1-weight-m",
        "fc1-weight-v",
        "bn-moving_mean",
        "System-Train-TrainStep-train_job",
    } <= set(straight.files)
    for name in straight.files:
        np.testing.assert_array_equal(resumed[name], straight[name], err_msg=name)
    assert int(resumed["System-Train-TrainStep-train_job"][0]) == n + m
    first = np.load(tmp_path / "first.npz")
    assert not np.array_equal(first["fc1-weight"], straight["fc1-weight"])  # it did train on
