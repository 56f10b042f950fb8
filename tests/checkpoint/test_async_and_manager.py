"""Background saves (snapshot taken before returning, safe under donation, failures surface and
publish nothing, bounded staging) and the CheckpointManager (interval, retention, best-by-metric,
incomplete checkpoints ignored, stale temporaries swept, interop with the legacy manager)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import flowsnap as flow
import flowsnap.typing as tp
from flowsnap.checkpoint import _async
from flowsnap.errors import SnapshotWriteError, TargetExistsError
from flowsnap.format import open_snapshot, sweep_temporaries


def define_train(n: int = 64) -> flow.JobFunction:  # type: ignore[name-defined]
    @flow.global_function(type="train")
    def train_job(x: tp.Numpy.Placeholder((n,))) -> tp.Numpy:
        w = flow.get_variable("w", shape=(n,), initializer=flow.zeros_initializer())
        loss = (w - x) ** 2
        flow.optimizer.SGD(flow.optimizer.PiecewiseConstantScheduler([], [0.25])).minimize(loss)
        return loss

    return train_job


def values() -> dict[str, np.ndarray]:  # type: ignore[type-arg]
    return {k: v.numpy() for k, v in flow.get_all_variables().items()}


def test_async_save_holds_the_values_of_when_it_was_called(tmp_path: Path) -> None:
    train_job = define_train()
    train_job(np.ones(64, np.float32))
    before = values()
    handle = flow.checkpoint.save(tmp_path / "a", blocking=False)
    for _ in range(5):  # donated buffers are updated in place while the save runs
        train_job(np.full(64, 3, np.float32))
    manifest = handle.wait().manifest
    assert handle.done()
    assert sorted(manifest.variables) == sorted(before)
    saved = {k: v.numpy() for k, v in open_snapshot(tmp_path / "a").items()}
    for name, value in before.items():
        np.testing.assert_array_equal(saved[name], value)
    assert not np.array_equal(values()["w"], before["w"])


def test_a_background_failure_publishes_nothing_and_surfaces(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    define_train()
    import flowsnap.format._writer as writer

    real = writer.write_chunks

    def disk_full(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(writer, "write_chunks", disk_full)
    handle = flow.checkpoint.save(tmp_path / "x", blocking=False)
    with pytest.raises(SnapshotWriteError, match="No space left"):
        handle.wait()
    assert not (tmp_path / "x").exists()
    assert [p.name for p in tmp_path.iterdir()] == []  # no temporary directory left

    second = flow.checkpoint.save(tmp_path / "y", blocking=False)  # nobody waits for this one
    while not second.done():
        time.sleep(0.01)
    monkeypatch.setattr(writer, "write_chunks", real)
    with pytest.raises(SnapshotWriteError, match="No space left"):  # surfaces on the next save
        flow.checkpoint.save(tmp_path / "z")
    flow.checkpoint.save(tmp_path / "z")  # reported once; later saves work
    assert (tmp_path / "z" / "snapshot_done").is_file()


def test_one_save_per_target_and_bounded_staging(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    define_train()
    gate = threading.Event()
    real = _async.write_snapshot
    started: list[str] = []

    def slow(path, values, **kwargs):  # type: ignore[no-untyped-def]
        started.append(os.path.basename(path))
        gate.wait(10)
        return real(path, values, **kwargs)

    monkeypatch.setattr(_async, "write_snapshot", slow)
    first = flow.checkpoint.save(tmp_path / "a", blocking=False)
    with pytest.raises(TargetExistsError, match="still in progress"):
        flow.checkpoint.save(tmp_path / "a", blocking=False)
    returned = threading.Event()

    def second_save() -> None:
        flow.checkpoint.save(tmp_path / "b", blocking=False).wait()
        returned.set()

    thread = threading.Thread(target=second_save)
    thread.start()
    time.sleep(0.3)
    assert started == ["a"]  # the second save waits: one staged save at a time by default
    assert not returned.is_set()
    gate.set()
    first.wait()
    thread.join(10)
    assert returned.is_set()
    assert (tmp_path / "b" / "snapshot_done").is_file()


def test_manager_interval_retention_and_restore(tmp_path: Path) -> None:
    train_job = define_train(4)
    manager = flow.CheckpointManager(
        tmp_path / "run", save_interval_steps=2, max_to_keep=2, keep_every_n_steps=4
    )
    saved = {}
    for step in range(1, 11):
        train_job(np.full(4, step, np.float32))
        if manager.save(step):
            saved[step] = values()["w"]
    assert sorted(saved) == [2, 4, 6, 8, 10]
    assert manager.all_steps() == [4, 8, 10]  # the 2 newest, plus multiples of 4
    assert manager.latest_step() == 10
    assert not manager.save(10)  # already saved
    train_job(np.zeros(4, np.float32))
    report = manager.restore_latest()
    assert report is not None
    np.testing.assert_array_equal(values()["w"], saved[10])
    manager.restore(4)
    np.testing.assert_array_equal(values()["w"], saved[4])
    legacy = flow.train.SimpleCheckPointManager(tmp_path / "run")
    assert legacy.latest_checkpoint() == os.path.basename(manager.path(10))


def test_manager_keeps_the_best_and_ignores_incomplete(tmp_path: Path) -> None:
    define_train(4)
    manager = flow.CheckpointManager(
        tmp_path / "run", max_to_keep=1, best_metric="acc", keep_best=1
    )
    for step, acc in enumerate([0.5, 0.9, 0.7, 0.6], start=1):
        manager.save(step, metrics={"acc": acc})
    assert manager.all_steps() == [2, 4]
    assert manager.metrics(2) == {"acc": 0.9}
    os.unlink(Path(manager.path(4)) / "snapshot_done")  # a checkpoint cut short
    assert manager.latest_step() == 2
    with pytest.raises(ValueError, match="metrics must include 'acc'"):
        manager.save(5)


def test_manager_never_deletes_the_only_checkpoint(tmp_path: Path) -> None:
    define_train(4)
    manager = flow.CheckpointManager(tmp_path / "run", max_to_keep=1)
    manager.save(0)
    manager.save(1)
    assert manager.all_steps() == [1]


def test_async_manager(tmp_path: Path) -> None:
    train_job = define_train(4)
    manager = flow.CheckpointManager(tmp_path / "run", max_to_keep=2, async_save=True)
    for step in range(5):
        train_job(np.ones(4, np.float32))
        manager.save(step)
    manager.wait()
    assert manager.all_steps() == [3, 4]


def test_stale_temporaries_of_dead_writers_are_swept(tmp_path: Path) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    pid = int(dead.stdout)
    stale = tmp_path / f".snapshot_000000000001.flowsnap-tmp-{pid}-abcdef"
    live = tmp_path / f".other.flowsnap-tmp-{os.getpid()}-123456"
    old_style = tmp_path / ".x.flowsnap-tmp-0123456789ab"
    for p in (stale, live, old_style):
        p.mkdir()
        (p / "out").write_bytes(b"x")
    assert sweep_temporaries(tmp_path) == [str(stale)]
    assert live.exists()
    assert old_style.exists()  # no pid: only when old
    os.utime(old_style, (time.time() - 7200, time.time() - 7200))
    assert sweep_temporaries(tmp_path) == [str(old_style)]
    define_train(4)
    stale.mkdir()
    manager = flow.CheckpointManager(tmp_path)
    assert manager.swept == [str(stale)]


def test_a_zero_copy_view_survives_a_donating_step() -> None:
    """The JAX behaviour async saves of CPU arrays rely on (flowsnap.checkpoint._async.stage)."""
    import jax
    import jax.numpy as jnp

    step = jax.jit(lambda a: a * 2 + 1, donate_argnums=(0,))
    x = jnp.arange(1000, dtype=jnp.float32)
    view = np.asarray(x)
    assert view.ctypes.data == x.unsafe_buffer_pointer()  # zero-copy
    for _ in range(3):
        y = step(x)
        y.block_until_ready()
    np.testing.assert_array_equal(view, np.arange(1000, dtype=np.float32))
    assert not x.is_deleted()  # not donated: it has an external reference


def test_save_overwrite_sync_async_and_manager(tmp_path: Path) -> None:
    """``overwrite=True`` through every entry point: the checkpoint is replaced, the default
    still refuses, and nothing is left beside it."""
    define_train()
    flow.checkpoint.save(tmp_path / "c")
    with pytest.raises(TargetExistsError, match="overwrite=True"):
        flow.checkpoint.save(tmp_path / "c")
    flow.checkpoint.save(tmp_path / "c", {"w": np.full(64, 2, np.float32)}, overwrite=True)
    assert open_snapshot(tmp_path / "c")["w"].numpy()[0] == 2
    handle = flow.checkpoint.save(
        tmp_path / "c", {"w": np.full(64, 3, np.float32)}, blocking=False, overwrite=True
    )
    handle.wait()
    assert open_snapshot(tmp_path / "c")["w"].numpy()[0] == 3
    assert os.listdir(tmp_path) == ["c"]

    manager = flow.CheckpointManager(tmp_path / "run")
    manager.save(5, {"w": np.ones(2, np.float32)})
    assert not manager.save(5, {"w": np.zeros(2, np.float32)})  # not due: already saved
    with pytest.raises(TargetExistsError):
        manager.save(5, {"w": np.zeros(2, np.float32)}, force=True)
    assert manager.save(5, {"w": np.zeros(2, np.float32)}, force=True, overwrite=True)
    assert open_snapshot(manager.path(5))["w"].numpy().tolist() == [0.0, 0.0]
    assert manager.all_steps() == [5]


def test_retention_deletes_through_the_seam_and_sync_the_rename(tmp_path: Path) -> None:
    from flowsnap.format import _fs

    manager = flow.CheckpointManager(tmp_path, max_to_keep=1, durable=False)
    manager.save(1, {"w": np.ones(2, np.float32)})
    with _fs.recording() as rec:
        manager.save(2, {"w": np.ones(2, np.float32)})
    kinds = [(op.kind, os.path.basename(op.path)) for op in rec.ops]
    rename = kinds.index(("rename", "snapshot_000000000001"))
    first_unlink = next(i for i, (kind, _) in enumerate(kinds) if kind == "unlink")
    assert ("fsync_dir", os.path.basename(tmp_path)) in kinds[rename:first_unlink]
    assert manager.all_steps() == [2]
