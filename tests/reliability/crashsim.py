"""A power-loss simulator for flowsnap's writer (in the spirit of ALICE and CrashMonkey).

A save, an overwrite or a retention delete runs for real in a scratch directory while the
format layer's file-system seam (``flowsnap.format._fs``) records every operation. This module
replays the trace under a **persistence model**, enumerates the on-disk states a power loss could
leave after each operation, materializes each distinct state in a temporary directory and hands
it to a checker.

The file system is modelled by inodes: a directory inode maps names to inodes, a file inode holds
bytes. A recorded operation is resolved once, on a live model of the whole run, to the inodes it
touches (``rename a b`` moves inode 17 from directory 3 to directory 3 under another name), so a
crash state is simply "the initial tree, plus the chosen subset of the operations issued before
the crash, applied in program order". Operations whose effect needs something that was lost (a
file created in a directory whose ``mkdir`` was lost) change only unreachable inodes.

The two models (what may survive a crash after operation ``k``; written out with their sources in
docs/RELIABILITY.md):

``ext4`` (``data=ordered``, delayed allocation, journal):
    * metadata operations (mkdir, create, rename, exchange, unlink, rmdir) reach the disk in
      program order, through the journal: what survives is a *prefix* of them;
    * an fsync (of a file or a directory) commits the journal: every metadata operation issued
      before it survives;
    * a file's data survives as a prefix of its writes (blocks are allocated at writeback and the
      on-disk size only grows over written blocks, so there is never garbage, at worst a short or
      empty file); the writes issued before an fsync of that file survive;
    * data writeback is *not* ordered with the journal: a rename or create may survive while the
      data of the file it names does not (the zero-length-file problem; ``auto_da_alloc`` covers
      only a rename over an existing *file*, which flowsnap never does, so it is not relied on).

``weak`` (only what a sync made durable is guaranteed, POSIX-like):
    * a write survives if an fsync/fdatasync of its file followed it;
    * a create, mkdir, unlink or rmdir survives if an fsync of its directory followed it; a rename
      or exchange if fsyncs of both directories involved followed it (one, when the same);
    * every other operation issued before the crash may or may not survive, independently of the
      others, in any combination (so in any order): all subsets are tried when there are at most
      ``exhaustive_bits`` such operations, else the extremes (none, all), every "all but one" and
      "only one", and ``samples`` random subsets drawn with a fixed seed.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import random
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from flowsnap.format import _fs

# ``truncate`` (the sharded writer sizing ``out``) changes the inode's size: journaled metadata.
METADATA = {"mkdir", "create", "truncate", "rename", "exchange", "unlink", "rmdir"}
SYNCS = {"fsync", "fdatasync", "fsync_dir"}


@dataclass(frozen=True)
class ROp:
    """A recorded operation resolved to inodes."""

    kind: str
    inode: int = -1  # the file or directory created, written, synced, moved or removed
    parent: int = -1
    name: str = ""
    parent2: int = -1  # rename/exchange: the destination
    name2: str = ""
    inode2: int = -1  # exchange: the inode at the destination
    offset: int = 0
    data: bytes = b""
    label: str = ""  # a "mark" (not a file-system operation)


@dataclass
class Tree:
    """An abstract file system: directory inodes map names to inodes, files hold bytes."""

    dirs: dict[int, dict[str, int]] = field(default_factory=dict)
    files: dict[int, bytearray] = field(default_factory=dict)

    def copy(self) -> Tree:
        return Tree(
            {k: dict(v) for k, v in self.dirs.items()},
            {k: bytearray(v) for k, v in self.files.items()},
        )


ROOT = 0


@dataclass
class Trace:
    """A recorded run: the initial tree (all durable) and the resolved operations."""

    base: Path
    initial: Tree
    ops: list[ROp]

    def marks(self) -> dict[str, int]:
        """``label -> number of operations issued before the mark``."""
        return {op.label: i for i, op in enumerate(self.ops) if op.kind == "mark"}

    def counts(self) -> Counter[str]:
        return Counter(op.kind for op in self.ops if op.kind != "mark")


def scan(base: Path) -> Tree:
    """The tree under ``base`` as it is on disk now."""
    tree = Tree({ROOT: {}})
    counter = itertools.count(1)

    def walk(path: Path, inode: int) -> None:
        for entry in sorted(os.scandir(path), key=lambda e: e.name):
            child = next(counter)
            if entry.is_dir(follow_symlinks=False):
                tree.dirs[child] = {}
                walk(Path(entry.path), child)
            else:
                tree.files[child] = bytearray(Path(entry.path).read_bytes())
            tree.dirs[inode][entry.name] = child

    walk(base, ROOT)
    return tree


class Recording:
    """Record what a block of code does under ``base``; ``mark(label)`` notes a moment."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.initial = scan(base)
        self._rec: _fs.Recorder | None = None

    def mark(self, label: str) -> None:
        assert self._rec is not None
        self._rec.add(_fs.Op("mark", label))

    @contextmanager
    def run(self) -> Iterator[Recording]:
        with _fs.recording() as rec:
            self._rec = rec
            yield self
        self._rec = None
        self.trace = resolve(self.base, self.initial, rec.ops)


def resolve(base: Path, initial: Tree, ops: Iterable[_fs.Op]) -> Trace:
    """Resolve recorded paths to inodes by replaying the whole run on a live model."""
    live = initial.copy()
    counter = itertools.count(max([*live.dirs, *live.files]) + 1)
    root = str(base.resolve())
    out: list[ROp] = []

    def where(path: str) -> tuple[int, str]:
        rel = os.path.relpath(os.path.realpath(os.path.dirname(path)), root)
        parent = ROOT
        for part in [] if rel == "." else rel.split(os.sep):
            if part == ".." or part not in live.dirs[parent]:
                raise ValueError(f"{path} is outside the recorded tree {root}")
            parent = live.dirs[parent][part]
        return parent, os.path.basename(path)

    def lookup(path: str) -> int:
        if os.path.realpath(path) == root:
            return ROOT
        parent, name = where(path)
        return live.dirs[parent][name]

    for op in ops:
        if op.kind == "mark":
            out.append(ROp("mark", label=op.path))
        elif op.kind in ("mkdir", "create"):
            parent, name = where(op.path)
            inode = next(counter)
            if op.kind == "mkdir":
                live.dirs[inode] = {}
            else:
                live.files[inode] = bytearray()
            live.dirs[parent][name] = inode
            out.append(ROp(op.kind, inode, parent, name))
        elif op.kind == "write":
            inode = lookup(op.path)
            _write(live, inode, op.offset, op.data)
            out.append(ROp("write", inode, offset=op.offset, data=op.data))
        elif op.kind == "truncate":
            inode = lookup(op.path)
            _truncate(live, inode, op.offset)
            out.append(ROp("truncate", inode, offset=op.offset))
        elif op.kind in SYNCS:
            out.append(ROp(op.kind, lookup(op.path)))
        elif op.kind in ("unlink", "rmdir"):
            parent, name = where(op.path)
            inode = live.dirs[parent].pop(name)
            out.append(ROp(op.kind, inode, parent, name))
        elif op.kind == "rename":
            assert op.dest is not None
            parent, name = where(op.path)
            parent2, name2 = where(op.dest)
            inode = live.dirs[parent].pop(name)
            live.dirs[parent2][name2] = inode
            out.append(ROp("rename", inode, parent, name, parent2, name2))
        elif op.kind == "exchange":
            assert op.dest is not None
            parent, name = where(op.path)
            parent2, name2 = where(op.dest)
            a, b = live.dirs[parent][name], live.dirs[parent2][name2]
            live.dirs[parent][name], live.dirs[parent2][name2] = b, a
            out.append(ROp("exchange", a, parent, name, parent2, name2, b))
        else:  # pragma: no cover
            raise ValueError(f"unknown operation {op.kind}")
    return Trace(base, initial, out)


def _write(tree: Tree, inode: int, offset: int, data: bytes) -> None:
    buf = tree.files.setdefault(inode, bytearray())
    if len(buf) < offset:
        buf.extend(bytes(offset - len(buf)))  # a hole reads as zeros
    buf[offset : offset + len(data)] = data


def _truncate(tree: Tree, inode: int, size: int) -> None:
    buf = tree.files.setdefault(inode, bytearray())
    if len(buf) < size:
        buf.extend(bytes(size - len(buf)))
    else:
        del buf[size:]


def apply(trace: Trace, crash: int, kept: frozenset[int]) -> Tree:
    """The tree after a crash following ``crash`` operations, of which ``kept`` survived."""
    tree = trace.initial.copy()
    for i in range(crash):
        if i not in kept:
            continue
        op = trace.ops[i]
        if op.kind == "mkdir":
            tree.dirs.setdefault(op.inode, {})
            tree.dirs.setdefault(op.parent, {})[op.name] = op.inode
        elif op.kind == "create":
            tree.files.setdefault(op.inode, bytearray())
            tree.dirs.setdefault(op.parent, {})[op.name] = op.inode
        elif op.kind == "write":
            _write(tree, op.inode, op.offset, op.data)
        elif op.kind == "truncate":
            _truncate(tree, op.inode, op.offset)
        elif op.kind in ("unlink", "rmdir"):
            if tree.dirs.get(op.parent, {}).get(op.name) == op.inode:
                del tree.dirs[op.parent][op.name]
        elif op.kind == "rename":
            src = tree.dirs.setdefault(op.parent, {})
            if src.get(op.name) == op.inode:
                del src[op.name]
            tree.dirs.setdefault(op.parent2, {})[op.name2] = op.inode
        elif op.kind == "exchange":
            tree.dirs.setdefault(op.parent, {})[op.name] = op.inode2
            tree.dirs.setdefault(op.parent2, {})[op.name2] = op.inode
    return tree


Ignore = Callable[[str], bool]


def _never(relpath: str) -> bool:
    return False


def fingerprint(tree: Tree, ignore: Ignore = _never) -> str:
    """A digest of what is reachable from the root (the state a reader would see), leaving out
    the entries ``ignore(relative path)`` names."""
    digest = hashlib.blake2b(digest_size=16)

    def walk(inode: int, prefix: str, depth: int) -> None:
        for name in sorted(tree.dirs.get(inode, {})):
            child = tree.dirs[inode][name]
            path = f"{prefix}/{name}"
            if ignore(path[1:]):
                continue
            if child in tree.files:
                digest.update(f"F{path}\0".encode() + bytes(tree.files[child]) + b"\0")
            elif depth < 8:
                digest.update(f"D{path}\0".encode())
                walk(child, path, depth + 1)

    walk(ROOT, "", 0)
    return digest.hexdigest()


def materialize(tree: Tree, dest: Path, ignore: Ignore = _never) -> None:
    """Write the reachable part of ``tree`` under ``dest`` (which exists and is empty)."""

    def walk(inode: int, path: Path, rel: str, depth: int) -> None:
        for name, child in tree.dirs.get(inode, {}).items():
            if ignore(f"{rel}{name}"):
                continue
            if child in tree.files:
                (path / name).write_bytes(bytes(tree.files[child]))
            elif depth < 8:
                (path / name).mkdir()
                walk(child, path / name, f"{rel}{name}/", depth + 1)

    walk(ROOT, dest, "", 0)


# -- the models ------------------------------------------------------------------------------


def _covers(sync: ROp, op: ROp) -> bool:
    if op.kind in ("write", "truncate"):
        return sync.kind in ("fsync", "fdatasync") and sync.inode == op.inode
    if sync.kind != "fsync_dir":
        return False
    if op.kind in ("mkdir", "create", "unlink", "rmdir"):
        return sync.inode == op.parent
    return False


def weak_durable(trace: Trace, crash: int) -> tuple[set[int], list[int]]:
    """``(durable, optional)`` operations of the weak model for a crash after ``crash`` ops."""
    durable: set[int] = set()
    optional: list[int] = []
    for i in range(crash):
        op = trace.ops[i]
        if op.kind in SYNCS or op.kind == "mark":
            continue
        later = trace.ops[i + 1 : crash]
        if op.kind in ("rename", "exchange"):
            synced = {s.inode for s in later if s.kind == "fsync_dir"}
            ok = op.parent in synced and op.parent2 in synced
        else:
            ok = any(_covers(s, op) for s in later)
        (durable.add(i) if ok else optional.append(i))
    return durable, optional


def weak_states(
    trace: Trace, crash: int, *, rng: random.Random, exhaustive_bits: int, samples: int
) -> Iterator[frozenset[int]]:
    """The surviving-operation sets the weak model allows after ``crash`` operations."""
    durable, optional = weak_durable(trace, crash)
    if len(optional) <= exhaustive_bits:
        for bits in range(2 ** len(optional)):
            yield frozenset(durable | {o for j, o in enumerate(optional) if bits >> j & 1})
        return
    yield frozenset(durable)
    yield frozenset(durable | set(optional))
    for o in optional:
        yield frozenset(durable | {o})
        yield frozenset(durable | (set(optional) - {o}))
    for _ in range(samples):
        yield frozenset(durable | {o for o in optional if rng.random() < 0.5})


def ext4_states(
    trace: Trace, crash: int, *, rng: random.Random, limit: int
) -> Iterator[frozenset[int]]:
    """The surviving-operation sets the ext4 ``data=ordered`` model allows after ``crash`` ops."""
    ops = trace.ops[:crash]
    meta = [i for i, op in enumerate(ops) if op.kind in METADATA]
    last_sync = max((i for i, op in enumerate(ops) if op.kind in SYNCS), default=-1)
    forced = sum(1 for i in meta if i < last_sync)
    writes: dict[int, list[int]] = {}
    synced_upto: dict[int, int] = {}
    for i, op in enumerate(ops):
        if op.kind == "write":
            writes.setdefault(op.inode, []).append(i)
        elif op.kind in ("fsync", "fdatasync"):
            synced_upto[op.inode] = i
    base: set[int] = set()
    tails: list[list[int]] = []
    for inode, idx in writes.items():
        cut = synced_upto.get(inode, -1)
        base.update(i for i in idx if i < cut)
        tail = [i for i in idx if i > cut]
        if tail:
            tails.append(tail)
    choices = [range(forced, len(meta) + 1), *(range(len(t) + 1) for t in tails)]
    total = 1
    for c in choices:
        total *= len(c)

    def build(pick: tuple[int, ...]) -> frozenset[int]:
        kept = set(base) | set(meta[: pick[0]])
        for tail, n in zip(tails, pick[1:], strict=True):
            kept.update(tail[:n])
        return frozenset(kept)

    if total <= limit:
        for pick in itertools.product(*choices):
            yield build(pick)
        return
    yield build(tuple(c[-1] for c in choices))  # everything issued survived
    yield build(tuple(c[0] for c in choices))  # the least the model allows
    for m in choices[0]:
        yield build((m, *(c[0] for c in choices[1:])))  # each metadata prefix, no lost data
        yield build((m, *(c[-1] for c in choices[1:])))  # ... and with all data
    for _ in range(limit):
        yield build(tuple(rng.choice(c) for c in choices))


# -- running a check over every state --------------------------------------------------------


@dataclass
class Result:
    """What a simulation enumerated and found."""

    model: str
    operations: int = 0
    crash_points: int = 0
    states: int = 0  # surviving-operation sets enumerated
    distinct: int = 0  # distinct (crash point, on-disk state) pairs judged
    observed: int = 0  # distinct on-disk states materialized and inspected
    outcomes: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)

    def summary(self) -> str:
        outcomes = ", ".join(f"{k}: {v}" for k, v in sorted(self.outcomes.items()))
        return (
            f"{self.model}: {self.operations} ops, {self.crash_points} crash points, "
            f"{self.states} states, {self.distinct} judged, {self.observed} inspected "
            f"({outcomes}); "
            f"{len(self.failures)} failures"
        )


@dataclass(frozen=True)
class Checker:
    """How to judge a crash state.

    ``observe(root)`` inspects the materialized ``root`` and returns an outcome label (it depends
    only on what is on disk, so it runs once per distinct state); ``judge(outcome, crash)``
    raises AssertionError if that outcome is wrong for a crash after ``crash`` operations.
    """

    observe: Callable[[Path], str]
    judge: Callable[[str, int], None]
    ignore: Ignore = _never  # entries that cannot change the outcome (not materialized)


def simulate(
    trace: Trace,
    check: Checker,
    *,
    model: str,
    seed: int = 0,
    exhaustive_bits: int = 10,
    samples: int = 24,
    ext4_limit: int = 64,
    max_failures: int = 5,
) -> Result:
    """Enumerate the crash states of ``trace`` under ``model`` (``"ext4"`` or ``"weak"``) and
    check each distinct one; the result counts states and outcomes and lists failures."""
    rng = random.Random(seed)
    result = Result(model, operations=sum(1 for op in trace.ops if op.kind != "mark"))
    seen: dict[str, str] = {}
    observed: dict[str, str] = {}  # fingerprint -> outcome
    # States are materialized in memory (tmpfs) where there is one: they need no durability.
    shm = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
    scratch = Path(tempfile.mkdtemp(prefix="crashsim-", dir=shm))
    try:
        for crash in range(len(trace.ops) + 1):
            result.crash_points += 1
            if model == "ext4":
                sets = ext4_states(trace, crash, rng=rng, limit=ext4_limit)
            else:
                sets = weak_states(
                    trace, crash, rng=rng, exhaustive_bits=exhaustive_bits, samples=samples
                )
            for kept in sets:
                result.states += 1
                tree = apply(trace, crash, kept)
                key = f"{crash}:{fingerprint(tree, check.ignore)}"
                # The same on-disk state is judged once per crash point (the checker's
                # expectations depend on how far the run got).
                if key in seen:
                    continue
                result.distinct += 1
                digest = key.split(":", 1)[1]
                outcome = observed.get(digest, "")
                try:
                    if not outcome:
                        root = scratch / "state"
                        shutil.rmtree(root, ignore_errors=True)
                        root.mkdir()
                        materialize(tree, root, check.ignore)
                        outcome = observed[digest] = check.observe(root)
                        result.observed += 1
                    check.judge(outcome, crash)
                except AssertionError as exc:
                    outcome = "FAILED"
                    if len(result.failures) < max_failures:
                        lost = sorted(set(range(crash)) - kept - _marks(trace))
                        result.failures.append(
                            f"crash after op {crash} ({_describe(trace, crash)}), lost ops "
                            f"{[_describe(trace, i + 1) for i in lost][:8]}: {exc}"
                        )
                seen[key] = outcome
                result.outcomes[outcome] += 1
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return result


def _marks(trace: Trace) -> set[int]:
    return {i for i, op in enumerate(trace.ops) if op.kind == "mark"}


def _describe(trace: Trace, crash: int) -> str:
    if crash == 0:
        return "start"
    op = trace.ops[crash - 1]
    if op.kind == "mark":
        return f"mark {op.label}"
    where = f" {op.name}" if op.name else ""
    dest = f" -> {op.name2}" if op.name2 else ""
    return f"#{crash - 1} {op.kind}{where}{dest} inode {op.inode}"
