"""Checking a whole snapshot and reporting every problem, not just the first."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from flowsnap.errors import ChecksumMismatchError, FlowsnapError
from flowsnap.format._chunks import check_file
from flowsnap.format._entries import check_against_manifest, marker_problem, read_marker
from flowsnap.format._manifest import Manifest
from flowsnap.format._meta import VariableMeta
from flowsnap.format._parallel import map_with_progress
from flowsnap.format._shardread import check_blocks_file
from flowsnap.format._snapshot import PathLike, scan_snapshot
from flowsnap.format._variable import StoredVariable


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a snapshot.

    Attributes:
        name: the variable concerned, or ``None`` for the snapshot as a whole.
        kind: the error class name (``"ChecksumMismatchError"``...).
        message: the full explanation.
    """

    name: str | None
    kind: str
    message: str


@dataclass(frozen=True)
class VerifyReport:
    """The result of :func:`verify_snapshot`.

    Attributes:
        path: the snapshot checked.
        checked: names of the variables whose bytes were hashed.
        nbytes: bytes read.
        problems: everything found wrong (empty when the snapshot is sound).
        has_manifest: whether checksums were available (OneFlow snapshots have none).
    """

    path: str
    checked: tuple[str, ...] = ()
    nbytes: int = 0
    problems: tuple[Problem, ...] = field(default_factory=tuple)
    has_manifest: bool = False

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.problems


def verify_snapshot(
    path: PathLike, *, workers: int | None = None, progress: bool | None = None
) -> VerifyReport:
    """Check every variable of a snapshot: structure, sizes, ``meta`` and checksums.

    Unlike opening, which stops at the first problem, this reports every damaged variable. Memory
    use is bounded (data is hashed in slices, not loaded).
    """
    root = os.fspath(path)
    errors: list[tuple[str | None, FlowsnapError]] = []
    try:
        snap = scan_snapshot(root, verify=False, allow_incomplete=True, errors=errors)
    except FlowsnapError as exc:
        return VerifyReport(root, problems=(Problem(None, type(exc).__name__, str(exc)),))

    problems = [Problem(name, type(exc).__name__, str(exc)) for name, exc in errors]
    manifest = snap.manifest
    if manifest is None and snap.complete:
        # verify=False skipped a damaged manifest; report it.
        try:
            read_marker(root, os.path.realpath(root), verify=True)
        except FlowsnapError as exc:
            problems.append(Problem(None, type(exc).__name__, str(exc)))
    emptied = marker_problem(root)
    if emptied is not None:
        problems.append(Problem(None, "ManifestError", emptied))
    damaged = {name for name, _ in errors}
    if manifest is not None:
        for name in sorted(set(manifest.variables) - set(snap) - damaged):
            problems.append(
                Problem(
                    name,
                    "MissingVariableError",
                    f"variable {name!r} is in the manifest but its data file is missing",
                )
            )

    variables = list(snap.values())

    def check(var: StoredVariable) -> Problem | None:
        try:
            _check_variable(var, manifest)
        except FlowsnapError as exc:
            return Problem(var.name, type(exc).__name__, str(exc))
        return None

    found = map_with_progress(check, variables, desc="verify", progress=progress, workers=workers)
    problems.extend(p for p in found if p is not None)
    problems.sort(key=lambda p: (p.name or "", p.kind))
    return VerifyReport(
        root,
        checked=tuple(v.name for v in variables),
        nbytes=snap.nbytes,
        problems=tuple(problems),
        has_manifest=manifest is not None,
    )


def _check_variable(var: StoredVariable, manifest: Manifest | None) -> None:
    if manifest is None:
        return  # OneFlow snapshot: sizes were checked against meta when it was opened
    meta = None
    if var.has_meta and var.shape is not None and var.data_type is not None:
        meta = VariableMeta(var.shape, var.data_type)
    entry = manifest.variables.get(var.name)
    check_against_manifest(var.name, var.path, meta, var.nbytes, entry)
    if entry is not None and entry.chunks is not None:
        # A sharded save: every chunk is checked, each against its own checksum, so one host
        # verifies what many wrote (and the error names each damaged byte range).
        fd = var._open()
        try:
            check_file(var.name, var.file_path, fd, entry.chunks)
            if entry.blocks:  # and every block checksum (SPEC.md 5.2) a loader may rely on
                itemsize = entry.data_type.itemsize
                check_blocks_file(
                    var.name, var.file_path, fd, entry.shape, itemsize, entry.blocks, entry.chunks
                )
        finally:
            os.close(fd)
        return
    digest = var.compute_checksum()
    if entry is not None and digest != entry.checksum:
        raise ChecksumMismatchError(
            f"variable {var.name!r}: {var.file_path} has checksum {digest}, the manifest "
            f"recorded {entry.checksum}; the data was corrupted after the save"
        )
