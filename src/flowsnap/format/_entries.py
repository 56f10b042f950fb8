"""Opening the entries of a snapshot directory: ``snapshot_done`` and its manifest copy, one
variable's ``meta`` and ``out`` (symlinks and sizes checked before anything is read), and the
comparison of a variable with its manifest entry. Used by the reader (``_snapshot.py``) and by
``verify``."""

from __future__ import annotations

import errno
import os
import stat

from flowsnap.errors import (
    ManifestError,
    MissingVariableError,
    SizeMismatchError,
    SnapshotNotFoundError,
    UnsafePathError,
)
from flowsnap.format._chunkedvar import ChunkedStoredVariable
from flowsnap.format._io import inside, read_small
from flowsnap.format._manifest import Manifest, ManifestEntry, decode_manifest
from flowsnap.format._meta import VariableMeta, parse_meta
from flowsnap.format._names import DATA_FILENAME, MANIFEST_COPY, META_FILENAME, SNAPSHOT_DONE
from flowsnap.format._variable import StoredVariable

META_LIMIT = 2**20
_ABSENT = (errno.ENOENT, errno.ENOTDIR, errno.ELOOP)
MANIFEST_LIMIT = 256 * 2**20


def require_dir(path: str) -> None:
    if not os.path.isdir(path):
        what = "is not a directory" if os.path.lexists(path) else "does not exist"
        raise SnapshotNotFoundError(
            f"{path} {what}; a OneFlow/flowsnap checkpoint is a directory with one "
            "sub-directory per variable. Check the path."
        )


def read_marker(root: str, root_real: str, *, verify: bool) -> tuple[Manifest | None, bool]:
    """Return ``(manifest or None, whether snapshot_done exists)``.

    The manifest comes from ``snapshot_done``, or from its copy ``.flowsnap-manifest`` when
    ``snapshot_done`` is empty (a flowsnap marker emptied by damage must not turn off the
    checksums). When both hold bytes they must be identical.
    """
    marker = resolve_file(root_real, os.path.join(root, SNAPSHOT_DONE), what="snapshot marker")
    if marker is None:
        return None, False
    data = read_small(marker[0], limit=MANIFEST_LIMIT, what="snapshot marker")
    copy_path = resolve_file(root_real, os.path.join(root, MANIFEST_COPY), what="manifest copy")
    copy = (
        None
        if copy_path is None
        else read_small(copy_path[0], limit=MANIFEST_LIMIT, what="manifest copy")
    )
    try:
        if copy is not None and copy != data:
            if data.strip():
                raise ManifestError(
                    f"{root}: {SNAPSHOT_DONE} and its copy {MANIFEST_COPY} differ, so one of them "
                    "is damaged. To read the variables without verification, open the snapshot "
                    "with verify=False."
                )
            return decode_manifest(copy, where=os.path.join(root, MANIFEST_COPY)), True
        return decode_manifest(data, where=os.path.join(root, SNAPSHOT_DONE)), True
    except ManifestError:
        if verify:
            raise
        return None, True


def marker_problem(root: str) -> str | None:
    """Why ``snapshot_done`` itself is damaged although its copy saved the day, or None."""
    done, copy = os.path.join(root, SNAPSHOT_DONE), os.path.join(root, MANIFEST_COPY)
    try:
        if os.path.isfile(copy) and os.path.getsize(copy) and not os.path.getsize(done):
            return (
                f"{done} is empty although the snapshot was written by flowsnap (its manifest "
                f"copy {MANIFEST_COPY} exists); the copy's checksums were used"
            )
    except OSError:
        return None
    return None


def resolve_file(root_real: str, path: str, *, what: str) -> tuple[str, int] | None:
    """Return ``(real path, size)`` of a regular file, ``None`` if absent; enforce SPEC 9."""
    try:
        info = os.lstat(path)
    except OSError as exc:
        if exc.errno in _ABSENT:
            return None
        raise
    real = path
    if stat.S_ISLNK(info.st_mode):
        real = inside(root_real, path, what=what)
        try:
            info = os.stat(real)
        except OSError as exc:
            if exc.errno in _ABSENT:
                return None  # a dangling or looping link inside the snapshot: not a file
            raise
    if not stat.S_ISREG(info.st_mode):
        raise UnsafePathError(
            f"{what} {path} is not a regular file (mode {stat.filemode(info.st_mode)}); a "
            "checkpoint holds only regular files. Remove it or restore the checkpoint."
        )
    return real, info.st_size


def read_meta(root_real: str, path: str, *, what: str) -> bytes | None:
    """Read a ``meta`` file (``None`` if absent) in as few system calls as possible."""
    try:
        return read_small(path, limit=META_LIMIT, what=what)
    except FileNotFoundError:
        return None
    except UnsafePathError:
        pass  # a symlink, a loop, or not a regular file: the careful path below tells which
    resolved = resolve_file(root_real, path, what=what)
    return None if resolved is None else read_small(resolved[0], limit=META_LIMIT, what=what)


def open_entry(
    root: str,
    root_real: str,
    entry: os.DirEntry[str],
    manifest: Manifest | None,
    *,
    verify: bool,
) -> StoredVariable | None:
    vdir = entry.path
    if entry.is_symlink():
        vdir = inside(root_real, vdir, what=f"variable {entry.name!r}: directory")
    elif not entry.is_dir():
        return None
    return open_var(root_real, vdir, entry.name, manifest, verify=verify)


def open_var(
    root_real: str,
    vdir: str,
    name: str,
    manifest: Manifest | None,
    *,
    verify: bool,
) -> StoredVariable | None:
    what = f"variable {name!r}:"
    data = resolve_file(root_real, f"{vdir}{os.sep}{DATA_FILENAME}", what=f"{what} data file")
    meta_path = f"{vdir}{os.sep}{META_FILENAME}"
    raw = read_meta(root_real, meta_path, what=f"{what} meta file")
    if data is None:
        if raw is not None:
            raise MissingVariableError(
                f"{what} {vdir} has a meta file but no '{DATA_FILENAME}' file: the variable's "
                "data is missing. Restore the checkpoint from another copy."
            )
        return None
    meta = None if raw is None else parse_meta(raw, where=meta_path)
    entry: ManifestEntry | None = None if manifest is None else manifest.variables.get(name)
    if manifest is not None and verify:
        check_against_manifest(name, vdir, meta, data[1], entry)
    shape = meta.shape if meta is not None else (entry.shape if entry is not None else None)
    data_type = (
        meta.data_type if meta is not None else (entry.data_type if entry is not None else None)
    )
    if entry is not None and entry.chunks is not None:  # a sharded save (SPEC.md 5.1)
        return ChunkedStoredVariable(
            name,
            vdir,
            shape=shape,
            data_type=data_type,
            nbytes=data[1],
            has_meta=meta is not None,
            verify=verify,
            data_path=data[0],
            chunks=entry.chunks,
            blocks=entry.blocks,
        )
    return StoredVariable(
        name,
        vdir,
        shape=shape,
        data_type=data_type,
        nbytes=data[1],
        expected_checksum=None if entry is None else entry.checksum,
        has_meta=meta is not None,
        verify=verify,
        data_path=data[0],
    )


def check_against_manifest(
    name: str, vdir: str, meta: VariableMeta | None, size: int, entry: ManifestEntry | None
) -> None:
    """Raise if a variable on disk disagrees with its manifest entry (SPEC.md section 7)."""
    if entry is None:
        raise ManifestError(
            f"variable {name!r} ({vdir}) is on disk but not in the snapshot's manifest: it was "
            "added after the save. Remove it, or open the snapshot with verify=False."
        )
    if meta is None and entry.has_meta:
        raise ManifestError(
            f"variable {name!r}: {os.path.join(vdir, META_FILENAME)} is missing, but the "
            "manifest says it was written; the snapshot was damaged after the save. Restore it "
            "from another copy."
        )
    if meta is not None and (meta.shape != entry.shape or meta.data_type != entry.data_type):
        raise ManifestError(
            f"variable {name!r}: {os.path.join(vdir, META_FILENAME)} says shape "
            f"{list(meta.shape)} {meta.data_type.name}, the "
            f"manifest says {list(entry.shape)} {entry.data_type.name}; one of them was changed "
            "after the save. Restore the checkpoint from another copy."
        )
    if size != entry.nbytes:
        raise SizeMismatchError(
            f"variable {name!r}: {os.path.join(vdir, DATA_FILENAME)} is {size} bytes, the "
            f"manifest recorded {entry.nbytes}; the file was "
            f"{'truncated' if size < entry.nbytes else 'extended'} after the save. Restore the "
            "checkpoint from another copy."
        )
