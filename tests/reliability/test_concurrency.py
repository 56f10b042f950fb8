"""Concurrency between real processes: writers racing for one target or one manager root, readers
opening a checkpoint while it is published, overwritten or deleted, many readers at once.

Every worker is a separate Python process (``python -c``, engine-free: only ``flowsnap.format``
and the manager) that runs for a short, fixed time and prints its tallies as JSON. A reader's
outcome is ``v<n>`` (opened, read in full and verified, equal to version n), ``absent`` (a clear
"not found"/"incomplete", also when the checkpoint vanished between the listing and the read:
``SnapshotNotFoundError`` saying so), ``flowsnap:<Error>`` (a flowsnap error with its message),
or ``RAW:``/``TORN``, which fail the tests: any other exception (a builtin ``FileNotFoundError``
included), or a read that verifies but holds no version's data. FLOWSNAP_RELIABILITY=long runs
them longer.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np

from flowsnap.format import open_snapshot, verify_snapshot, write_snapshot

ROOT = Path(__file__).resolve().parents[2]
LONG = os.environ.get("FLOWSNAP_RELIABILITY") == "long"
SECONDS = 6.0 if LONG else 1.2

PRELUDE = """
import json, os, sys, time
import numpy as np
from flowsnap.errors import FlowsnapError, IncompleteSnapshotError, SnapshotNotFoundError
from flowsnap.format import open_path, write_snapshot

def version(v):
    return {f"layer{i}": np.full(4096, v * 10 + i, np.float32) for i in range(4)}

def read(path):
    try:
        snap = open_path(path)
        got = {k: snap[k].numpy() for k in snap}
    except (SnapshotNotFoundError, IncompleteSnapshotError):
        return "absent"
    except FlowsnapError as exc:
        return "flowsnap:" + type(exc).__name__
    except Exception as exc:
        return "RAW:" + type(exc).__name__ + ":" + str(exc)[:200]
    for v in range(8):
        want = version(v)
        if sorted(got) == sorted(want) and all((got[k] == want[k]).all() for k in want):
            return f"v{v}"
    return "TORN"

until = time.monotonic() + float(sys.argv[2])
tally = {}
"""

READER = (
    PRELUDE
    + """
while time.monotonic() < until:
    outcome = read(sys.argv[1])
    tally[outcome] = tally.get(outcome, 0) + 1
print(json.dumps(tally))
"""
)

OVERWRITER = (
    PRELUDE
    + """
v = int(sys.argv[3])
while time.monotonic() < until:
    try:
        write_snapshot(sys.argv[1], version(v), overwrite=True, durable=False)
        tally["saved"] = tally.get("saved", 0) + 1
    except FlowsnapError as exc:
        tally["flowsnap:" + type(exc).__name__] = tally.get("flowsnap:" + type(exc).__name__, 0) + 1
    v = 1 + v % 7
print(json.dumps(tally))
"""
)

MANAGER = (
    PRELUDE
    + """
import flowsnap
from flowsnap.errors import TargetExistsError
manager = flowsnap.CheckpointManager(sys.argv[1], max_to_keep=2, durable=False)
until = time.monotonic() + float(sys.argv[2])  # after the (slow) import of the runtime
step = 0
while time.monotonic() < until:
    step += 1
    try:
        manager.save(step, version(step % 8))
        tally["saved"] = tally.get("saved", 0) + 1
    except TargetExistsError:
        tally["lost the race"] = tally.get("lost the race", 0) + 1
print(json.dumps(tally))
"""
)


def version(v: int) -> dict[str, np.ndarray]:  # type: ignore[type-arg]
    return {f"layer{i}": np.full(4096, v * 10 + i, np.float32) for i in range(4)}


def spawn(code: str, *args: object) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"}
    return subprocess.Popen(
        [sys.executable, "-c", code, *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def collect(procs: list[subprocess.Popen[str]]) -> list[Counter[str]]:
    tallies = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err[-2000:]
        tallies.append(Counter(json.loads(out.strip().splitlines()[-1])))
    return tallies


def assert_clean(tally: Counter[str]) -> None:
    print(f"reader outcomes: {dict(sorted(tally.items()))}")  # figures (pytest -s)
    bad = {k: n for k, n in tally.items() if k.startswith(("RAW", "TORN"))}
    assert not bad, f"readers saw raw errors or torn data: {bad} (all: {dict(tally)})"


def test_readers_during_overwrites(tmp_path: Path) -> None:
    """Two processes overwrite one checkpoint over and over while three read it: every read is
    a complete version or a clear error, and the checkpoint left at the end verifies."""
    target = tmp_path / "ckpt"
    write_snapshot(target, version(0))
    writers = [spawn(OVERWRITER, target, SECONDS, v) for v in (1, 4)]
    readers = [spawn(READER, target, SECONDS) for _ in range(3)]
    wrote = collect(writers)
    seen = sum(collect(readers), Counter())
    assert_clean(seen)
    # every overwrite succeeds, one after the other (the last exchange wins); a directory being
    # replaced by the other writer is never mistaken for something that may not be overwritten
    assert all(set(t) == {"saved"} for t in wrote), wrote
    print(f"overwriters: {wrote}")
    assert sum(n for k, n in seen.items() if k.startswith("v")) > 0, seen
    assert verify_snapshot(target).ok
    assert sorted(os.listdir(tmp_path)) == ["ckpt"]  # no temporary or old copy left


def test_two_managers_on_one_root_and_a_reader(tmp_path: Path) -> None:
    """Two processes run a CheckpointManager (retention on) on one root, saving the same steps:
    each step is won by one of them (the other gets TargetExistsError), retention deletes race,
    and every step directory left verifies and holds its step's values."""
    root = tmp_path / "run"
    root.mkdir()
    managers = [spawn(MANAGER, root, SECONDS) for _ in range(2)]
    reader = spawn(
        READER.replace(
            "while time.monotonic() < until:",
            "def steps():\n"
            "    return sorted(n for n in os.listdir(sys.argv[1]) if n.startswith('snapshot_'))\n"
            "deadline = time.monotonic() + 120\n"
            "while not steps() and time.monotonic() < deadline:\n"
            "    time.sleep(0.01)  # the managers are still importing the runtime\n"
            "until = time.monotonic() + float(sys.argv[2])\n"
            "while time.monotonic() < until:",
        ).replace(
            "outcome = read(sys.argv[1])",
            "names = steps()\n"
            "    outcome = read(os.path.join(sys.argv[1], names[-1])) if names else 'absent'",
        ),
        root,
        SECONDS,
    )
    tallies = collect(managers)
    seen = collect([reader])[0]
    assert_clean(seen)
    assert sum(n for k, n in seen.items() if k.startswith("v")) > 0, seen
    assert all(t["saved"] > 0 for t in tallies), tallies
    print(f"managers: {tallies}")
    steps = sorted(p.name for p in root.iterdir() if not p.name.startswith("."))
    assert steps, "retention must keep the newest checkpoints"
    for name in steps:
        assert verify_snapshot(root / name).ok, name
        step = int(name.removeprefix("snapshot_"))
        assert open_snapshot(root / name)["layer0"].numpy()[0] == (step % 8) * 10


def test_many_readers_of_one_checkpoint(tmp_path: Path) -> None:
    target = tmp_path / "ckpt"
    write_snapshot(target, version(3))
    tallies = collect([spawn(READER, target, SECONDS / 2) for _ in range(6)])
    print(f"6 readers at once: {sum(tallies, Counter())}")
    for tally in tallies:
        assert set(tally) == {"v3"}, tally


def test_a_reader_while_a_checkpoint_is_published_and_deleted(tmp_path: Path) -> None:
    """Saves and retention deletes of one path in a loop (publish, then delete) while readers
    open it: each read is absent, complete or a clear error."""
    target = tmp_path / "ckpt"
    cycler = spawn(
        PRELUDE
        + """
from flowsnap.format.internals import delete_snapshot
v = 0
while time.monotonic() < until:
    write_snapshot(sys.argv[1], version(v % 8), durable=False)
    delete_snapshot(sys.argv[1], durable=False)
    v += 1
    tally["cycles"] = v
print(json.dumps(tally))
""",
        target,
        SECONDS,
    )
    readers = [spawn(READER, target, SECONDS) for _ in range(2)]
    cycles = collect([cycler])[0]
    seen = sum(collect(readers), Counter())
    assert_clean(seen)
    assert cycles["cycles"] > 0
    print(f"publish/delete cycles: {cycles['cycles']}")
