"""Power loss: every on-disk state a crash could leave, under two persistence models, is checked
(``crashsim`` enumerates them from a recorded trace, ``powerloss`` holds the scenarios and the
checkers). FLOWSNAP_RELIABILITY=long enumerates more subsets per crash point."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from flowsnap.format import _fs, open_snapshot, write_snapshot
from tests.reliability import crashsim
from tests.reliability import powerloss as pl

LONG = os.environ.get("FLOWSNAP_RELIABILITY") == "long"
BUDGET = (
    {"exhaustive_bits": 12, "samples": 200, "ext4_limit": 400}
    if LONG
    else {"exhaustive_bits": 8, "samples": 16, "ext4_limit": 48}
)

SCENARIOS: dict[str, Callable[[Path], pl.Scenario]] = {
    "save-durable": lambda b: pl.save_scenario(b, durable=True),
    "save-durable-new-parents": lambda b: pl.save_scenario(b, durable=True, nested=True),
    "save-non-durable": lambda b: pl.save_scenario(b, durable=False),
    "write_snapshot-2-threads": lambda b: pl.write_snapshot_scenario(b, durable=True),
    "async-durable": pl.async_scenario,
    "overwrite-exchange": lambda b: pl.overwrite_scenario(b, durable=True),
    "overwrite-two-renames": lambda b: pl.overwrite_scenario(b, durable=True, exchange=False),
    "overwrite-non-durable": lambda b: pl.overwrite_scenario(b, durable=False),
    "manager-retention": pl.manager_scenario,
    "retention-delete": lambda b: pl.delete_scenario(b, durable=True),
}


@pytest.fixture
def base(tmp_path: Path) -> Iterator[Path]:
    """A scratch directory in memory (tmpfs) where there is one: the scenarios' real saves only
    produce traces, and their fsyncs need not wait for a disk shared with other jobs."""
    if not os.access("/dev/shm", os.W_OK):
        yield tmp_path
        return
    path = Path(tempfile.mkdtemp(prefix="powerloss-", dir="/dev/shm"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.mark.parametrize("model", ["ext4", "weak"])
@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_every_crash_state_is_safe(base: Path, name: str, model: str) -> None:
    scenario = SCENARIOS[name](base)
    result = crashsim.simulate(scenario.trace, scenario.check, model=model, **BUDGET)
    assert result.failures == [], result.summary()
    assert result.states >= result.crash_points > 10
    if scenario.strict:  # durable: only "no checkpoint" or a complete, verified one
        assert all(
            o.startswith(("absent", "complete")) or " latest=" in o for o in result.outcomes
        ), result.summary()
    if model == "ext4":  # non-durable under ext4: every damaged state is detected
        assert not any("SILENT" in o for o in result.outcomes), result.summary()


def test_the_trace_records_every_kind_of_operation(base: Path) -> None:
    trace = pl.overwrite_scenario(base, durable=True).trace
    kinds = trace.counts()
    assert {"mkdir", "create", "write", "fsync", "fsync_dir", "unlink", "rmdir"} <= set(kinds)
    assert kinds["exchange"] + kinds["rename"] >= 1
    # 3 variables: out and meta each fsynced, plus the manifest copy and snapshot_done
    assert kinds["fsync"] == 3 * 2 + 2


def test_a_durable_overwrite_publishes_only_fully_synced_data(base: Path) -> None:
    trace = pl.overwrite_scenario(base, durable=True).trace
    ops = trace.ops
    swap = next(i for i, op in enumerate(ops) if op.kind == "exchange")
    first_removal = next(i for i, op in enumerate(ops) if op.kind == "unlink")
    # the parent is fsynced after the swap and before the old checkpoint's files go
    assert any(op.kind == "fsync_dir" for op in ops[swap:first_removal])
    # every file written before the swap was fsynced before it
    written = {op.inode for op in ops[:swap] if op.kind == "write"}
    synced = {op.inode for op in ops[:swap] if op.kind == "fsync"}
    assert written <= synced


# -- regressions: the ordering bugs the simulator found --------------------------------------


def test_regression_retention_delete_syncs_the_rename_before_removing_files(
    base: Path,
) -> None:
    """Found by the weak model: the manager renamed a step away and removed its files without
    fsyncing the directory between, so a power loss could keep the removals but not the rename:
    the step directory came back with ``snapshot_done`` and without some ``out`` files."""
    (base / "old").mkdir()
    (base / "new").mkdir()
    old_order = pl.delete_scenario(base / "old", durable=False)  # the order before the fix
    found = crashsim.simulate(old_order.trace, old_order.check, model="weak")
    assert found.failures, "the simulator must find the old ordering bug"
    # the failing state: everything but the rename survived
    unlinks = [i for i, op in enumerate(old_order.trace.ops) if op.kind == "unlink"]
    crash = unlinks[0] + 1
    tree = crashsim.apply(old_order.trace, crash, frozenset(range(1, crash)))
    state = base / "state"
    state.mkdir()
    crashsim.materialize(tree, state)
    assert pl.classify(state / "ckpt", {"1": pl.model(1)}) != "complete:1"

    fixed = pl.delete_scenario(base / "new", durable=True)
    rename = next(i for i, op in enumerate(fixed.trace.ops) if op.kind == "rename")
    first_unlink = next(i for i, op in enumerate(fixed.trace.ops) if op.kind == "unlink")
    durable, _ = crashsim.weak_durable(fixed.trace, first_unlink + 1)
    assert rename in durable  # that state can no longer happen
    assert crashsim.simulate(fixed.trace, fixed.check, model="weak").failures == []


def test_regression_new_parent_directories_are_made_durable(
    base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by the weak model: a durable save into new parent directories (``os.makedirs``)
    fsynced the parent after publishing but never the grandparent, so after the save returned a
    power loss could lose the new parent's name, and with it the checkpoint."""

    real = _fs.makedirs

    def old_makedirs(path: str) -> list[str]:
        real(path)  # like os.makedirs: the directories are created, and nothing is fsynced
        return []

    (base / "old").mkdir()
    (base / "new").mkdir()
    monkeypatch.setattr(_fs, "makedirs", old_makedirs)
    before = pl.save_scenario(base / "old", durable=True, nested=True)
    monkeypatch.undo()
    found = crashsim.simulate(before.trace, before.check, model="weak")
    assert any("complete:new" in f and "absent" in f for f in found.failures), found.failures

    fixed = pl.save_scenario(base / "new", durable=True, nested=True)
    mkdirs = [op for op in fixed.trace.ops if op.kind == "mkdir"][:2]  # a, then a/b
    assert [op.name for op in mkdirs] == ["a", "b"]
    assert crashsim.simulate(fixed.trace, fixed.check, model="weak").failures == []


# -- the simulator itself --------------------------------------------------------------------


def test_the_simulator_catches_a_publish_before_fsync(
    base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writer that renames before its data is durable must fail under both models."""
    from flowsnap.format import _writer

    monkeypatch.setattr(_writer, "_write_marker", _marker_without_sync(_writer))
    real_write_chunks = _writer.write_chunks
    monkeypatch.setattr(
        _writer,
        "write_chunks",
        lambda path, chunks, durable: real_write_chunks(path, chunks, durable=False),
    )
    broken = pl.save_scenario(base, durable=True)
    for model in ("ext4", "weak"):
        result = crashsim.simulate(broken.trace, broken.check, model=model)
        assert result.failures, f"{model}: {result.summary()}"


def _marker_without_sync(writer: object) -> Callable[..., None]:
    real = writer._write_marker  # type: ignore[attr-defined]

    def marker(tmp: str, manifest: object, *, durable: bool) -> None:
        real(tmp, manifest, durable=False)

    return marker


def test_materialized_complete_state_is_the_saved_checkpoint(base: Path) -> None:
    (base / "run").mkdir()
    scenario = pl.save_scenario(base / "run", durable=True)
    n = len(scenario.trace.ops)
    tree = crashsim.apply(scenario.trace, n, frozenset(range(n)))
    (base / "state").mkdir()
    crashsim.materialize(tree, base / "state")
    snap = open_snapshot(base / "state" / "ckpt")
    for name, value in pl.model(1).items():
        np.testing.assert_array_equal(snap[name].numpy(), value)


def test_recording_is_exclusive_and_ends(base: Path) -> None:
    with _fs.recording() as rec:
        with pytest.raises(RuntimeError, match="already active"), _fs.recording():
            pass
        write_snapshot(base / "c", {"w": np.ones(2)}, durable=False)
    n = len(rec.ops)
    write_snapshot(base / "d", {"w": np.ones(2)}, durable=False)
    assert len(rec.ops) == n > 0


def test_every_change_to_the_disk_goes_through_the_seam(
    base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Count the real system calls that change the disk while a save, an overwrite and the
    manager's retention run: the recorder must have seen each one (nothing bypasses the seam)."""
    import flowsnap as flow

    calls: dict[str, int] = {}

    def counting(name: str, kind: str) -> Callable[..., object]:
        real = getattr(os, name)

        def call(*args: object, **kwargs: object) -> object:
            if name != "open" or int(args[1]) & os.O_CREAT:  # type: ignore[call-overload]
                calls[kind] = calls.get(kind, 0) + 1
            return real(*args, **kwargs)

        return call

    for name, kind in (
        ("mkdir", "mkdir"),
        ("rename", "rename"),
        ("unlink", "unlink"),
        ("rmdir", "rmdir"),
        ("write", "write"),
        ("fsync", "fsync"),
        ("open", "create"),
    ):
        monkeypatch.setattr(os, name, counting(name, kind))
    write_snapshot(base / "c", pl.model(0))
    manager = flow.CheckpointManager(base / "run", max_to_keep=1)
    manager.save(1, pl.model(1))
    calls.clear()
    with _fs.recording() as rec:
        write_snapshot(base / "c", pl.model(1), overwrite=True)
        write_snapshot(base / "new" / "deep" / "c", pl.model(1))
        manager.save(2, pl.model(2))  # retention deletes step 1
    monkeypatch.undo()
    seen = {k: sum(1 for op in rec.ops if op.kind == k) for k in calls}
    seen["fsync"] = sum(1 for op in rec.ops if op.kind in ("fsync", "fsync_dir"))
    assert seen == calls
    assert min(seen["unlink"], seen["rmdir"], seen["rename"]) > 0
