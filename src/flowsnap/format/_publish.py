"""Publishing, replacing, retiring and recovering snapshot directories (SPEC.md section 8).

A save builds its snapshot in a sibling temporary directory; this module decides what may be
replaced, publishes the finished directory with one atomic step, removes checkpoints (always by
renaming them away first), and sweeps what crashed saves left behind, undoing an overwrite that a
crash interrupted. Every change to the disk goes through the :mod:`._fs` seam.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import time

from flowsnap.errors import TargetExistsError
from flowsnap.format import _fs
from flowsnap.format._names import DATA_FILENAME, MANIFEST_COPY, META_FILENAME, SNAPSHOT_DONE

PathLike = str | os.PathLike[str]

TMP_MARKER = ".flowsnap-tmp-"  # a save in progress, a crashed save, or a retired checkpoint
OLD_MARKER = ".flowsnap-old-"  # a checkpoint moved aside by an overwrite (two-rename fallback)

# OneFlow 0.6-0.9's flow.save index (SPEC.md section 11); its tensor_<n>/ are variable directories.
PICKLED_DATA = "pickled_data"

_TMP_RE = re.compile(r"^\.(.+)" + re.escape(TMP_MARKER) + r"(?:(\d+)-)?[0-9a-f]+$")
_OLD_RE = re.compile(r"^\.(.+)" + re.escape(OLD_MARKER) + r"(\d+)-[0-9a-f]+$")


def temporary_name(base: str) -> str:
    """The name of a save's temporary directory: ``.<base>.flowsnap-tmp-<pid>-<random>``."""
    return f".{base}{TMP_MARKER}{os.getpid()}-{secrets.token_hex(6)}"


def _old_name(base: str) -> str:
    return f".{base}{OLD_MARKER}{os.getpid()}-{secrets.token_hex(6)}"


# -- what may be replaced --------------------------------------------------------------------


def check_target(target: str, *, overwrite: bool) -> bool:
    """Raise unless a save may publish at ``target``; return whether it replaces a checkpoint.

    A new path or an empty directory may always be published to. With ``overwrite``, so may a
    directory that is a checkpoint (:func:`is_checkpoint_dir`); never a file, a symlink, a
    single variable's directory or a directory holding anything else.
    """
    problem = None
    if os.path.islink(target):
        problem = "is a symlink"
    elif os.path.lexists(target):
        if not os.path.isdir(target):
            problem = "is a file"
        elif not os.listdir(target):
            return False
        elif overwrite:
            why = _stable_why_not_checkpoint(target)
            if why is None:
                return True
            raise TargetExistsError(
                errno.EEXIST,
                f"cannot overwrite {target}: it {why}, so it is not a OneFlow/flowsnap checkpoint. "
                "overwrite=True replaces only a checkpoint directory (variable directories with "
                "'out' and 'meta' files, 'snapshot_done'); it never deletes other files. Choose "
                "another path or move the directory away yourself.",
                target,
            )
        else:
            problem = "is a non-empty directory"
    if problem is None:
        return False
    hint = (
        "pass overwrite=True to replace an existing checkpoint atomically"
        if problem == "is a non-empty directory"
        else "choose another path or remove it"
    )
    raise TargetExistsError(
        errno.EEXIST,
        f"cannot save to {target}: it {problem}. A snapshot is a directory with one "
        "sub-directory per variable, so the target must be a new or empty directory (this "
        f"protects earlier checkpoints from being overwritten); {hint}.",
        target,
    )


def _stable_why_not_checkpoint(path: str) -> str | None:
    """:func:`why_not_checkpoint`, looked at again when another save replaced the directory
    while it was being listed (its files may then vanish under the listing)."""
    why = None
    for _ in range(8):
        try:
            before = os.lstat(path).st_ino
            why = why_not_checkpoint(path)
            if why is None or os.lstat(path).st_ino == before:
                return why
        except FileNotFoundError:
            continue  # replaced or moved aside this very moment: look again
    return why


def why_not_checkpoint(path: str) -> str | None:
    """Why the non-empty directory ``path`` is not a checkpoint ``overwrite`` may replace, or
    None if it is one: every entry is ``snapshot_done``, ``.flowsnap-manifest``, OneFlow 0.6-0.9's
    ``pickled_data`` (regular files) or a variable directory (a real directory holding ``out``
    and at most ``meta``)."""
    if os.path.lexists(os.path.join(path, DATA_FILENAME)):
        return "is a single variable's directory (it has its own 'out' file)"
    with os.scandir(path) as entries:
        for entry in entries:
            if entry.name in (SNAPSHOT_DONE, MANIFEST_COPY, PICKLED_DATA):
                if not entry.is_file(follow_symlinks=False):
                    return f"has a {entry.name} that is not a regular file"
                continue
            if not entry.is_dir(follow_symlinks=False):
                return f"holds {entry.name!r}, which is not a variable directory"
            inside = set(os.listdir(entry.path))
            if DATA_FILENAME not in inside or not inside <= {DATA_FILENAME, META_FILENAME}:
                return f"holds the directory {entry.name!r}, which is not a variable directory"
    return None


# -- publishing ------------------------------------------------------------------------------


def publish(tmp: str, target: str, *, replace: bool, overwrite: bool = False) -> str | None:
    """Move the finished snapshot ``tmp`` to ``target`` in one atomic step.

    Without ``replace``: ``rename(tmp, target)``, which replaces only an empty directory.
    With ``replace``: ``renameat2(RENAME_EXCHANGE)`` swaps the two names (``target`` is the old
    checkpoint, then the new one, never absent); without that system call, the two-rename
    fallback moves the old one aside to ``.<base>.flowsnap-old-<pid>-<random>`` and renames
    ``tmp`` in (a crash between the two is undone by :func:`sweep_temporaries`). With
    ``overwrite``, a checkpoint that another save published at ``target`` meanwhile is replaced
    too.

    Returns:
        The path now holding the replaced checkpoint, for the caller to delete once the new name
        is durable; None if nothing was replaced.

    Raises:
        TargetExistsError: ``target`` became something that may not be replaced meanwhile.
    """
    for _ in range(8):
        if replace:
            try:
                if _fs.exchange(tmp, target):
                    return tmp
            except FileNotFoundError:
                pass  # the old checkpoint went away meanwhile: publish as new
            else:
                return _replace_by_renames(tmp, target)
        try:
            _fs.rename(tmp, target)
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR, errno.EISDIR):
                raise
            if not overwrite or _stable_why_not_checkpoint(target) is not None:
                raise _raced(target) from None
            replace = True  # another save published a checkpoint there: replace it
            continue
        return None
    raise _raced(target)


def _replace_by_renames(tmp: str, target: str) -> str | None:
    old = os.path.join(os.path.dirname(target), _old_name(os.path.basename(target)))
    try:
        _fs.rename(target, old)
    except FileNotFoundError:
        old = ""
    try:
        _fs.rename(tmp, target)
    except OSError as exc:
        if old:
            # Put the old one back; if another save published meanwhile, the sweeper removes it.
            with contextlib.suppress(OSError):
                _fs.rename(old, target)
        if exc.errno in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR, errno.EISDIR):
            raise _raced(target) from None
        raise
    return old or None


def _raced(target: str) -> TargetExistsError:
    return TargetExistsError(
        errno.EEXIST,
        f"cannot save to {target}: something was created there while saving (another "
        "save won the race?). Nothing was written; choose another path.",
        target,
    )


# -- removing --------------------------------------------------------------------------------


def delete_snapshot(path: PathLike, *, durable: bool = True) -> bool:
    """Delete a checkpoint directory so that no crash leaves a damaged one that looks complete.

    It is first renamed to a temporary name (atomic: ``path`` is complete or gone); durable: the
    rename is made durable (the parent directory fsynced) **before** any file is removed, since
    otherwise a power loss could keep the removals of files but not the rename. Then the tree is
    removed. A deletion cut short leaves a temporary directory that the next sweep removes.

    Returns:
        False if ``path`` did not exist.
    """
    target = os.path.abspath(os.fspath(path))
    parent = os.path.dirname(target)
    doomed = os.path.join(parent, temporary_name(os.path.basename(target)))
    try:
        _fs.rename(target, doomed)
    except FileNotFoundError:
        return False
    if durable:
        _fs.fsync_dir(parent)
    _fs.rmtree(doomed)
    return True


# -- sweeping and recovery -------------------------------------------------------------------


def sweep_temporaries(
    directory: PathLike, *, min_age_s: float = 3600.0, base: str | None = None
) -> list[str]:
    """Clean up after crashed saves in ``directory``; return the paths removed or restored.
    With ``base``, only those of saves to ``directory/base``.

    * A temporary directory whose writer no longer runs (its name holds the pid; one without a
      pid, from older writers, when older than ``min_age_s``) is removed.
    * An old checkpoint moved aside by an overwrite whose writer no longer runs is **renamed
      back** when the target is missing (the crash came between the two renames: the old one is
      still the checkpoint), and removed when the target exists (the new one was published).

    Saves in progress, in this process or another, are never touched.
    """
    root = os.fspath(directory)
    try:
        names = sorted(os.listdir(root))
    except FileNotFoundError:
        return []
    done: list[str] = []
    for name in names:
        path = os.path.join(root, name)
        old = _OLD_RE.match(name)
        if old is not None and (base is None or old[1] == base):
            if os.path.isdir(path) and not os.path.islink(path) and not _alive(int(old[2])):
                target = os.path.join(root, old[1])
                if not os.path.lexists(target):
                    try:
                        _fs.rename(path, target)
                        _fs.fsync_dir(root)
                    except OSError:
                        continue
                else:
                    _fs.rmtree(path)
                done.append(path)
            continue
        tmp = _TMP_RE.match(name)
        if tmp is None or (base is not None and tmp[1] != base):
            continue
        if not os.path.isdir(path) or os.path.islink(path):
            continue
        if tmp[2] is not None:
            stale = not _alive(int(tmp[2]))
        else:
            try:
                stale = time.time() - os.lstat(path).st_mtime > min_age_s
            except FileNotFoundError:
                continue
        if stale:
            _fs.rmtree(path)
            done.append(path)
    return done


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True
