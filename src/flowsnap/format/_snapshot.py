"""Reading snapshots: a lazy mapping ``name -> StoredVariable`` (SPEC.md sections 1, 5-7, 9)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np

from flowsnap.errors import (
    FlowsnapError,
    IncompleteSnapshotError,
    MissingVariableError,
    NotASnapshotError,
    SnapshotNotFoundError,
    VariableNotFoundError,
    plural,
)
from flowsnap.format._entries import (
    open_entry,
    open_var,
    read_marker,
    require_dir,
    resolve_file,
)
from flowsnap.format._io import inside, read_small
from flowsnap.format._manifest import Manifest
from flowsnap.format._names import DATA_FILENAME, SNAPSHOT_DONE
from flowsnap.format._parallel import map_with_progress
from flowsnap.format._pickled import PICKLE_FILENAME, PICKLE_LIMIT, read_pickled_index
from flowsnap.format._readahead import MANAGED_BYTES, Reader, Target
from flowsnap.format._variable import StoredVariable

PathLike = str | os.PathLike[str]


class Snapshot(Mapping[str, StoredVariable]):
    """An opened snapshot: a read-only mapping of variable name to :class:`StoredVariable`.

    Opening reads only the small ``meta`` files and the manifest; variable data is read when asked
    (``snapshot["w"].numpy()``, or :meth:`load` for everything, in parallel).

    Attributes:
        path: the snapshot directory.
        manifest: the flowsnap manifest, or ``None`` (OneFlow's empty ``snapshot_done``).
        complete: whether ``snapshot_done`` exists.
    """

    def __init__(
        self,
        path: str,
        variables: dict[str, StoredVariable],
        *,
        manifest: Manifest | None,
        complete: bool,
    ) -> None:
        self.path = path
        self.manifest = manifest
        self.complete = complete
        self._variables = dict(sorted(variables.items()))
        self._reader = _attach_reader(self._variables.values())

    def __getitem__(self, name: str) -> StoredVariable:
        try:
            return self._variables[name]
        except KeyError:
            raise VariableNotFoundError(_not_found(name, self._variables, self.path)) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._variables)

    def __len__(self) -> int:
        return len(self._variables)

    def __repr__(self) -> str:
        return f"Snapshot({self.path!r}, {len(self)} variables)"

    @property
    def metadata(self) -> Mapping[str, Any]:
        """The user metadata saved with the snapshot (empty without a manifest)."""
        return {} if self.manifest is None else self.manifest.metadata

    @property
    def nbytes(self) -> int:
        """The total size of all ``out`` files."""
        return sum(v.nbytes for v in self._variables.values())

    def load(
        self,
        names: list[str] | None = None,
        *,
        verify: bool | None = None,
        workers: int | None = None,
        progress: bool | None = None,
    ) -> dict[str, np.ndarray]:
        """Read variables into new arrays, in parallel, checksums verified (unless disabled).

        Args:
            names: the variables to read (default: all).
            verify: override the snapshot's verification setting.
            workers: I/O threads (default: a few per core).
            progress: draw a progress bar (default: for large loads on a terminal).
        """
        selected = [self[n] for n in (list(self._variables) if names is None else names)]
        arrays = map_with_progress(
            lambda var: var._read_alone(verify=verify),
            selected,
            desc="load",
            progress=progress,
            workers=workers,
        )
        return {v.name: a for v, a in zip(selected, arrays, strict=True)}


def _attach_reader(variables: Iterable[StoredVariable]) -> Reader | None:
    """Give the large variables (in iteration order) one reader: split reads and read-ahead."""
    managed = [
        v for v in variables if v.nbytes >= MANAGED_BYTES and v.dtype is not None and v.shape
    ]
    if not managed:
        return None
    targets = [
        Target(v.name, v.file_path, v.nbytes, v.shape or (), v.dtype, v._should_verify(None))  # type: ignore[arg-type]
        for v in managed
    ]
    reader = Reader(targets)
    for i, var in enumerate(managed):
        var._reader, var._index = reader, i
    return reader


def _not_found(name: str, known: Mapping[str, object], where: str) -> str:
    import difflib

    close = difflib.get_close_matches(name, list(known), n=3)
    hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
    return f"no variable {name!r} in {where} ({len(known)} variables).{hint}"


def is_variable_dir(path: PathLike) -> bool:
    """Whether ``path`` is a single variable's directory (it has its own ``out`` file)."""
    return os.path.isfile(os.path.join(os.fspath(path), DATA_FILENAME))


def open_snapshot(
    path: PathLike, *, verify: bool = True, allow_incomplete: bool = False
) -> Snapshot:
    """Open a snapshot directory written by flowsnap or OneFlow.

    A directory written by OneFlow 0.6 - 0.9's ``flow.save`` (``pickled_data`` plus one directory
    per tensor, SPEC.md section 11) opens too, its variables under their ``state_dict`` names
    (``conv1.weight``); it has no ``snapshot_done``, so it needs ``allow_incomplete=True``. Its
    pickle is read by a restricted unpickler that never imports or calls anything.

    Args:
        path: the snapshot directory.
        verify: check the manifest against the files and the checksums on every full read.
        allow_incomplete: read a directory without ``snapshot_done`` (a save that never finished,
            or a OneFlow directory that never had one).

    Raises:
        SnapshotNotFoundError: ``path`` is not a directory.
        NotASnapshotError: ``path`` is a single variable's directory (use :func:`open_path`).
        IncompleteSnapshotError: no ``snapshot_done`` and ``allow_incomplete`` is False.
        CorruptCheckpointError: a ``meta``, the manifest or a file size is wrong (subclasses say
            which).
        UnsafePathError: a symlink leads outside the snapshot, or a file is not a regular file.
        PickledDataError: OneFlow's ``pickled_data`` refers to anything but plain containers and
            tensors (refused, never run), or is damaged.
    """
    root = os.fspath(path)
    try:
        return scan_snapshot(root, verify=verify, allow_incomplete=allow_incomplete, errors=None)
    except FileNotFoundError as exc:
        if isinstance(exc, FlowsnapError):
            raise
        raise SnapshotNotFoundError(
            f"{root} changed while it was being opened ({exc.filename} vanished): the checkpoint "
            "was deleted or replaced meanwhile; open it again, or open the newest one"
        ) from None


def scan_snapshot(
    root: str,
    *,
    verify: bool,
    allow_incomplete: bool,
    errors: list[tuple[str | None, FlowsnapError]] | None,
) -> Snapshot:
    """Open a snapshot; with an ``errors`` list, record per-variable problems there and go on."""
    require_dir(root)
    if is_variable_dir(root):
        raise NotASnapshotError(
            f"{root} holds a single variable (it has its own '{DATA_FILENAME}' file), not a "
            "snapshot; open it with open_variable() or open_path()"
        )
    root_real = os.path.realpath(root)
    pickled = _pickle_file(root, root_real)
    if pickled is not None:
        return _scan_pickled(
            root,
            root_real,
            pickled,
            verify=verify,
            allow_incomplete=allow_incomplete,
            errors=errors,
        )
    manifest, complete = read_marker(root, root_real, verify=verify)
    if not complete:
        incomplete = IncompleteSnapshotError(
            f"{root} has no '{SNAPSHOT_DONE}': its save never finished (crash or interrupted "
            "copy), so some variables may be missing or partial. Use another checkpoint, or pass "
            "allow_incomplete=True to read what is there."
        )
        if errors is not None:
            errors.append((None, incomplete))
        elif not allow_incomplete:
            raise incomplete

    # Serial on purpose: opening is Python-bound, and threads measured 1.5x slower (GIL).
    variables: dict[str, StoredVariable] = {}
    with os.scandir(root) as entries:
        for entry in entries:
            if entry.name == SNAPSHOT_DONE:
                continue
            try:
                var = open_entry(root, root_real, entry, manifest, verify=verify)
            except FlowsnapError as exc:
                if errors is None:
                    raise
                errors.append((entry.name, exc))
                continue
            if var is not None:
                variables[var.name] = var

    if manifest is not None and verify:
        missing = sorted(set(manifest.variables) - set(variables))
        if missing:
            raise MissingVariableError(
                f"{root}: the manifest lists {plural(len(missing), 'variable')} whose "
                f"'{DATA_FILENAME}' is missing: {', '.join(map(repr, missing[:10]))}"
                f"{' ...' if len(missing) > 10 else ''}. The snapshot is damaged or was edited "
                "by hand; if on purpose, open it with verify=False."
            )
    return Snapshot(root, variables, manifest=manifest, complete=complete)


def _pickle_file(root: str, root_real: str) -> str | None:
    """The real path of OneFlow 0.6 - 0.9's ``pickled_data`` file, or None (a directory of that
    name is a variable, not the pickle)."""
    path = os.path.join(root, PICKLE_FILENAME)
    try:
        if stat.S_ISDIR(os.lstat(path).st_mode):
            return None
    except OSError:
        return None
    resolved = resolve_file(root_real, path, what="OneFlow pickle")
    return None if resolved is None else resolved[0]


def _scan_pickled(
    root: str,
    root_real: str,
    pickle_path: str,
    *,
    verify: bool,
    allow_incomplete: bool,
    errors: list[tuple[str | None, FlowsnapError]] | None,
) -> Snapshot:
    """Open a OneFlow 0.6 - 0.9 ``flow.save`` directory (SPEC.md section 11)."""
    incomplete = IncompleteSnapshotError(
        f"{root} was written by OneFlow 0.6-0.9's flow.save ('{PICKLE_FILENAME}' and one directory "
        f"per tensor, no '{SNAPSHOT_DONE}'): OneFlow never marked such saves complete, so a "
        "finished save cannot be told from an interrupted one. Pass allow_incomplete=True "
        "(flowsnap commands: --allow-incomplete) to read it."
    )
    if errors is not None:
        errors.append((None, incomplete))
    elif not allow_incomplete:
        raise incomplete
    where = os.path.join(root, PICKLE_FILENAME)
    data = read_small(pickle_path, limit=PICKLE_LIMIT, what="OneFlow pickle")
    variables: dict[str, StoredVariable] = {}
    for name, dirname in read_pickled_index(data, where=where).items():
        try:
            vdir = os.path.join(root, dirname)
            var = _open_pickled_tensor(root_real, vdir, name, where, verify=verify)
        except FlowsnapError as exc:
            if errors is None:
                raise
            errors.append((name, exc))
            continue
        variables[name] = var
    return Snapshot(root, variables, manifest=None, complete=False)


def _open_pickled_tensor(
    root_real: str, vdir: str, name: str, where: str, *, verify: bool
) -> StoredVariable:
    try:
        info = os.lstat(vdir)
    except OSError:
        info = None
    if info is not None and stat.S_ISLNK(info.st_mode):
        vdir = inside(root_real, vdir, what=f"variable {name!r}: directory")
    var = None
    if info is not None and os.path.isdir(vdir):
        var = open_var(root_real, vdir, name, None, verify=verify)
    if var is None:
        raise MissingVariableError(
            f"variable {name!r}: {where} names the directory {os.path.basename(vdir)!r} for it, "
            f"but {vdir} has no '{DATA_FILENAME}' file; the save is incomplete or damaged. "
            "Restore it from another copy."
        )
    return var


def open_variable(
    path: PathLike,
    *,
    shape: tuple[int, ...] | list[int] | None = None,
    dtype: object = None,
    verify: bool = True,
) -> StoredVariable:
    """Open one variable's directory (``<dir>/out`` and optionally ``<dir>/meta``).

    For a legacy directory without ``meta``, pass ``shape`` and ``dtype`` (both or neither). If the
    directory lies in a snapshot with a manifest, the manifest's checksum is used.

    Raises:
        SnapshotNotFoundError: ``path`` is not a directory.
        MissingVariableError: there is no ``out`` file.
        ValueError: only one of ``shape`` and ``dtype`` was given, or ``meta`` exists and they were.
    """
    vdir = os.fspath(path)
    require_dir(vdir)
    if (shape is None) != (dtype is None):
        raise ValueError(f"{vdir}: give both shape and dtype, or neither")
    vdir_real = os.path.realpath(vdir)
    parent = os.path.dirname(vdir_real)
    name = os.path.basename(vdir_real)
    manifest: Manifest | None = None
    if os.path.isfile(os.path.join(parent, SNAPSHOT_DONE)):
        manifest, _ = read_marker(parent, parent, verify=verify)
    var = open_var(vdir_real, vdir_real, name, manifest, verify=verify)
    if var is None:
        raise MissingVariableError(
            f"{vdir} has no '{DATA_FILENAME}' file, so it is not a variable directory"
        )
    if shape is not None:
        if var.has_meta:
            raise ValueError(
                f"{vdir} has a meta file; its shape and dtype come from it, do not pass them"
            )
        var = var.with_meta(shape, dtype)
    return var


def open_path(
    path: PathLike, *, verify: bool = True, allow_incomplete: bool = False
) -> Snapshot | StoredVariable:
    """OneFlow's ``checkpoint.get`` rule: a variable directory gives one variable, else a
    snapshot."""
    if is_variable_dir(path):
        return open_variable(path, verify=verify)
    return open_snapshot(path, verify=verify, allow_incomplete=allow_incomplete)


def read_snapshot(
    path: PathLike,
    *,
    verify: bool = True,
    allow_incomplete: bool = False,
    workers: int | None = None,
    progress: bool | None = None,
) -> dict[str, np.ndarray]:
    """Read every variable of a snapshot into memory: ``{name: array}`` (checksums verified)."""
    snap = open_snapshot(path, verify=verify, allow_incomplete=allow_incomplete)
    return snap.load(workers=workers, progress=progress)
