"""Soak: many save/load cycles of live variables without growth in open files, threads or memory
(150 cycles in CI; FLOWSNAP_RELIABILITY=long runs 1,000)."""

from __future__ import annotations

import gc
import os
import shutil
import threading
from pathlib import Path

import numpy as np

import flowsnap as flow
import flowsnap.typing as tp

LONG = os.environ.get("FLOWSNAP_RELIABILITY") == "long"


def open_files() -> int:
    return len(os.listdir("/proc/self/fd"))


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def test_save_load_cycles_do_not_leak(tmp_path: Path) -> None:
    @flow.global_function(type="train")
    def train_job(x: tp.Numpy.Placeholder((256,))) -> tp.Numpy:
        w = flow.get_variable("w", shape=(256, 256), initializer=flow.zeros_initializer())
        loss = flow.matmul(flow.reshape(x, [1, 256]), w)
        flow.optimizer.Adam(flow.optimizer.PiecewiseConstantScheduler([], [0.01])).minimize(loss)
        return loss

    x = np.ones(256, np.float32)
    cycles = 1000 if LONG else 150
    manager = flow.CheckpointManager(tmp_path / "run", max_to_keep=2, durable=False)
    baseline: tuple[int, int, float] | None = None
    for i in range(cycles):
        train_job(x)
        if i % 2:
            manager.save(i)
            manager.restore_latest()
        else:
            handle = flow.checkpoint.save(tmp_path / "async", durable=False, blocking=False)
            handle.wait()
            flow.load_variables(flow.checkpoint.get(tmp_path / "async"))
            shutil.rmtree(tmp_path / "async")
        if i == 20:
            gc.collect()
            baseline = (open_files(), threading.active_count(), rss_mb())
    gc.collect()
    assert baseline is not None
    files, threads, rss = open_files(), threading.active_count(), rss_mb()
    assert files <= baseline[0], (files, baseline)
    assert threads <= baseline[1] + 2, (threads, baseline)  # pools may start a worker late
    assert rss < baseline[2] + 64, (rss, baseline)
    assert len(manager.all_steps()) == 2
