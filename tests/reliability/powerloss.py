"""Scenarios for the power-loss simulator (``crashsim``): record a save, an overwrite, an async
save or the manager's retention, then check every crash state the models allow.

Each scenario returns a :class:`crashsim.Trace` and a checker. The checkers judge what a reader
(``open_path`` and a full verified read) sees at the target:

* ``absent``: no checkpoint (nothing there, or a directory ``open_path`` refuses as incomplete);
* ``complete:<version>``: opens, every variable reads back verified (checksums) and equal to that
  version's values;
* ``unverified:<version>``: equal to a version, but the manifest did not survive, so nothing was
  verified (possible only without fsync);
* ``damage detected``: a flowsnap error (``CorruptCheckpointError``, ...) says the checkpoint is
  damaged;
* ``SILENT DAMAGE (no manifest)``: opens and reads without error, values wrong, and nothing could
  be verified because both copies of the manifest were lost (non-durable saves, weak model only);
* with a manifest, wrong values that read without error are always a failure (AssertionError).

Used by ``tests/reliability/test_power_loss.py`` and ``scripts/crash_harness.py --power-loss``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from flowsnap.errors import (
    FlowsnapError,
    IncompleteSnapshotError,
    SnapshotNotFoundError,
)
from flowsnap.format import Snapshot, _fs, _publish, _writer, open_path
from tests.reliability import crashsim

Values = dict[str, np.ndarray]
TMP = ".flowsnap-tmp-"


def model(version: int) -> Values:
    """A small model whose bytes depend on ``version``; ``out`` files span several writes."""
    return {
        "conv1-weight": np.arange(24, dtype=np.float32).reshape(2, 3, 4) + version,
        "dense-bias": np.full(5, version, dtype=np.float64),
        "System-Train-TrainStep-job": np.array([version], dtype=np.int64),
    }


def classify(path: Path, versions: Mapping[str, Values]) -> str:
    """What a reader sees at ``path`` (see the module docstring)."""
    if not os.path.lexists(path):
        return "absent"
    try:
        opened = open_path(path)
    except SnapshotNotFoundError:
        return "absent"
    except IncompleteSnapshotError:
        return "absent"
    except FlowsnapError:
        return "damage detected"
    if not isinstance(opened, Snapshot):
        raise AssertionError(f"{path} opened as a single variable")
    got: dict[str, bytes] = {}
    try:
        for name in opened:
            var = opened[name]
            got[name] = (
                var.numpy().tobytes() if var.shape is not None else var.read_bytes(0, var.nbytes)
            )
    except FlowsnapError:
        return "damage detected"
    for label, values in versions.items():
        if got == {k: np.ascontiguousarray(v).tobytes() for k, v in values.items()}:
            return f"{'complete' if opened.manifest is not None else 'unverified'}:{label}"
    if opened.manifest is None:
        return "SILENT DAMAGE (no manifest)"
    raise AssertionError(
        f"SILENT DAMAGE: {path} opens, verifies and reads as {sorted(got)}, which is no version "
        "that was saved"
    )


@contextmanager
def small_chunks(size: int = 16) -> Iterator[None]:
    """Write ``out`` files in slices of ``size`` bytes, so that each spans several writes."""
    real = _writer.WRITE_CHUNK
    _writer.WRITE_CHUNK = size
    try:
        yield
    finally:
        _writer.WRITE_CHUNK = real


@contextmanager
def after_reboot() -> Iterator[None]:
    """Every writer pid recorded in a temporary name is dead (as after a power loss)."""
    real = _publish._alive
    _publish._alive = lambda pid: False
    try:
        yield
    finally:
        _publish._alive = real


@contextmanager
def without_exchange() -> Iterator[None]:
    """Force the two-rename overwrite (as on a system without ``renameat2``)."""
    _fs._state.exchange_disabled = True
    try:
        yield
    finally:
        _fs._state.exchange_disabled = False


@dataclass
class Scenario:
    """A recorded operation and the rule its crash states must follow."""

    name: str
    trace: crashsim.Trace
    check: crashsim.Checker
    strict: bool  # only absent/complete outcomes allowed (durable operations)


def _target_checker(
    target: str,
    trace: crashsim.Trace,
    *,
    old: Values | None,
    new: Values,
    durable: bool,
    recover: bool = False,
) -> crashsim.Checker:
    """Checker for one target: before the save returned, the old checkpoint (or none) or the new
    one; after it returned, the new one (durable saves; non-durable ones are only counted).
    With ``recover``, the state is first recovered as the next save or manager open would, and
    must then hold nothing but the target."""
    returned = trace.marks()["returned"]
    versions = {"new": new} if old is None else {"old": old, "new": new}

    def observe(root: Path) -> str:
        extra = ""
        if recover:
            with after_reboot():
                _publish.sweep_temporaries(root)  # what the next save or manager open does
            left = sorted(p.name for p in root.iterdir())
            if left not in ([], [target]):
                extra = f" + leftovers {left}"
        return classify(root / target, versions) + extra

    def judge(outcome: str, crash: int) -> None:
        if not durable:
            return
        if crash > returned:
            allowed = {"complete:new"}
        elif old is None:
            allowed = {"absent", "complete:new"}
        else:
            allowed = {"complete:old", "complete:new"}
        if outcome not in allowed:
            raise AssertionError(f"{target}: {outcome}, expected one of {sorted(allowed)}")

    top = target.split("/", maxsplit=1)[0]

    def ignore(rel: str) -> bool:
        if recover:  # temporary directories are swept: their content cannot matter
            return TMP in rel.rsplit("/", 1)[-1]
        return rel.split("/", maxsplit=1)[0] != top

    return crashsim.Checker(observe, judge, ignore)


def _temporaries(rel: str) -> bool:
    return TMP in rel.rsplit("/", 1)[-1]


def record(base: Path, action: Callable[[crashsim.Recording], None]) -> crashsim.Trace:
    """Run ``action`` under the recorder (it marks ``returned`` when the operation returned)."""
    rec = crashsim.Recording(base)
    with small_chunks(), rec.run():
        action(rec)
    return rec.trace


def save_scenario(base: Path, *, durable: bool, nested: bool = False) -> Scenario:
    """``flow.checkpoint.save`` of a new checkpoint (into new parent directories if ``nested``)."""
    import flowsnap as flow

    target = "a/b/ckpt" if nested else "ckpt"

    def act(rec: crashsim.Recording) -> None:
        flow.checkpoint.save(base / target, model(1), durable=durable)
        rec.mark("returned")

    trace = record(base, act)
    check = _target_checker(target, trace, old=None, new=model(1), durable=durable)
    kind = "durable" if durable else "non-durable"
    return Scenario(
        f"checkpoint.save, {kind}{', new parents' if nested else ''}", trace, check, durable
    )


def write_snapshot_scenario(base: Path, *, durable: bool) -> Scenario:
    """``format.write_snapshot`` on 2 threads (the writer's parallel path)."""
    from flowsnap.format import write_snapshot

    def act(rec: crashsim.Recording) -> None:
        write_snapshot(base / "ckpt", model(1), durable=durable, workers=2)
        rec.mark("returned")

    trace = record(base, act)
    kind = "durable" if durable else "non-durable"
    return Scenario(
        f"write_snapshot, {kind}, 2 threads",
        trace,
        _target_checker("ckpt", trace, old=None, new=model(1), durable=durable),
        durable,
    )


def async_scenario(base: Path, *, durable: bool = True) -> Scenario:
    """``flow.checkpoint.save(blocking=False)``, then ``wait()``."""
    import flowsnap as flow

    def act(rec: crashsim.Recording) -> None:
        handle = flow.checkpoint.save(base / "ckpt", model(1), durable=durable, blocking=False)
        handle.wait()
        rec.mark("returned")

    trace = record(base, act)
    return Scenario(
        "async save (blocking=False), durable",
        trace,
        _target_checker("ckpt", trace, old=None, new=model(1), durable=durable),
        durable,
    )


def overwrite_scenario(base: Path, *, durable: bool, exchange: bool = True) -> Scenario:
    """``flow.checkpoint.save(overwrite=True)`` over a complete checkpoint."""
    import flowsnap as flow

    flow.checkpoint.save(base / "ckpt", model(0))

    def act(rec: crashsim.Recording) -> None:
        flow.checkpoint.save(base / "ckpt", model(1), durable=durable, overwrite=True)
        rec.mark("returned")

    if exchange:
        trace = record(base, act)
    else:
        with without_exchange():
            trace = record(base, act)
    how = "renameat2 exchange" if exchange else "two renames"
    kind = "durable" if durable else "non-durable"
    return Scenario(
        f"overwrite=True ({how}), {kind}",
        trace,
        _target_checker("ckpt", trace, old=model(0), new=model(1), durable=durable, recover=True),
        durable,
    )


def manager_scenario(base: Path, *, durable: bool = True) -> Scenario:
    """``CheckpointManager(max_to_keep=1)``: steps 2 and 3 saved, each save deleting the
    previous step (retention), over a root holding step 1."""
    import flowsnap as flow

    root = base / "run"
    flow.CheckpointManager(root, max_to_keep=1, durable=durable).save(1, model(1))

    def act(rec: crashsim.Recording) -> None:
        manager = flow.CheckpointManager(root, max_to_keep=1, durable=durable)
        manager.save(2, model(2))
        rec.mark("saved 2")
        manager.save(3, model(3))
        rec.mark("saved 3")

    trace = record(base, act)
    marks = trace.marks()

    def observe(state: Path) -> str:
        with after_reboot():
            manager = flow.CheckpointManager(state / "run", max_to_keep=1, durable=durable)
        outcomes = [
            classify(Path(manager.path(step)), {str(step): model(step)}) for step in (1, 2, 3)
        ]
        return f"{' '.join(outcomes)} latest={manager.latest_step()}"

    def judge(outcome: str, crash: int) -> None:
        if not durable:
            return
        *steps, latest_text = outcome.split(" ")
        for step, seen in zip((1, 2, 3), steps, strict=True):
            if seen not in ("absent", f"complete:{step}"):
                raise AssertionError(f"step {step}: {seen}")
        latest = None if latest_text == "latest=None" else int(latest_text.split("=")[1])
        newest = 3 if crash > marks["saved 3"] else 2 if crash > marks["saved 2"] else 1
        if latest is None or latest < newest:
            raise AssertionError(f"latest_step() is {latest} although step {newest} was saved")
        if steps[latest - 1] != f"complete:{latest}":
            raise AssertionError(f"latest_step() {latest} is {steps[latest - 1]}")

    check = crashsim.Checker(observe, judge, _temporaries)
    kind = "durable" if durable else "non-durable"
    return Scenario(f"CheckpointManager retention, {kind}", trace, check, durable)


def delete_scenario(base: Path, *, durable: bool) -> Scenario:
    """``delete_snapshot`` (the manager's retention delete) of a complete checkpoint."""
    from flowsnap.format.internals import delete_snapshot

    _writer.write_snapshot(base / "ckpt", model(1))

    def act(rec: crashsim.Recording) -> None:
        delete_snapshot(base / "ckpt", durable=durable)
        rec.mark("returned")

    trace = record(base, act)

    def judge(outcome: str, crash: int) -> None:
        if outcome not in ("absent", "complete:1"):
            raise AssertionError(f"a deletion left {outcome}")

    check = crashsim.Checker(
        lambda root: classify(root / "ckpt", {"1": model(1)}),
        judge,
        lambda rel: rel.split("/")[0] != "ckpt",
    )
    kind = "durable" if durable else "non-durable"
    return Scenario(f"retention delete, {kind}", trace, check, True)
