"""Which format a path holds, and opening it lazily: :func:`detect_format`, :func:`open_foreign`,
:func:`open_checkpoint`."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from flowsnap.errors import ConversionError, NotASnapshotError, SnapshotNotFoundError
from flowsnap.foreign._npz import open_npz
from flowsnap.foreign._safetensors import INDEX_SUFFIX, open_safetensors, open_sharded
from flowsnap.foreign._tensor import ForeignTensor
from flowsnap.foreign._torch import open_torch
from flowsnap.format import (
    SNAPSHOT_DONE,
    Snapshot,
    StoredVariable,
    is_variable_dir,
    open_path,
)

FOREIGN_FORMATS = ("safetensors", "safetensors-sharded", "torch", "npz")
FORMATS = ("flowsnap", *FOREIGN_FORMATS)
SUFFIXES = {
    INDEX_SUFFIX: "safetensors-sharded",
    ".safetensors": "safetensors",
    ".pt": "torch",
    ".pth": "torch",
    ".bin": "torch",
    ".npz": "npz",
}

PathLike = str | os.PathLike[str]
Shapes = Mapping[str, tuple[Sequence[int], Any]]

_OPENERS: dict[str, Callable[[str], dict[str, ForeignTensor]]] = {
    "safetensors": open_safetensors,
    "safetensors-sharded": open_sharded,
    "torch": open_torch,
    "npz": open_npz,
}


def format_of_name(path: PathLike) -> str | None:
    """The format a file name announces by its suffix (``None`` for no known suffix)."""
    lower = os.fspath(path).lower()
    for suffix, fmt in SUFFIXES.items():  # the index suffix is tried first
        if lower.endswith(suffix):
            return fmt
    return None


def detect_format(path: PathLike) -> str:
    """The format of an existing checkpoint: one of :data:`FORMATS`.

    A directory is ``"flowsnap"`` (a OneFlow/flowsnap snapshot or one variable's directory)
    unless it holds a ``*.safetensors.index.json`` (``"safetensors-sharded"``); a file is known by
    its suffix (``.safetensors``, ``.safetensors.index.json``, ``.pt``/``.pth``/``.bin``,
    ``.npz``).

    Raises:
        SnapshotNotFoundError: ``path`` does not exist.
        NotASnapshotError: a directory without ``snapshot_done``, variable directories or
            OneFlow 0.6-0.9's ``pickled_data``.
        ConversionError: a file whose name tells no format.
    """
    p = os.fspath(path)
    if not os.path.lexists(p):
        raise SnapshotNotFoundError(_not_found(p))
    if os.path.isdir(p):
        if format_of_name(p) == "safetensors-sharded":
            return "safetensors-sharded"
        if any(e.endswith(INDEX_SUFFIX) for e in os.listdir(p)):
            return "safetensors-sharded"
        _require_checkpoint(p)
        return "flowsnap"
    fmt = format_of_name(p)
    if fmt is not None:
        return fmt
    hint = ""
    if os.path.basename(p) in ("out", "meta", "snapshot_done"):
        hint = f" ({p} is a file of a OneFlow checkpoint: name its directory instead)"
    raise ConversionError(
        f"cannot tell the format of {p} from its name{hint}: a checkpoint is a directory "
        "(flowsnap/OneFlow, or sharded safetensors with an index), *.safetensors, "
        "*.safetensors.index.json, *.pt/*.pth/*.bin (PyTorch) or *.npz; rename it or name its "
        f"format ({', '.join(FORMATS)})"
    )


def _not_found(path: str) -> str:
    index = path + INDEX_SUFFIX[len(".safetensors") :]
    if path.lower().endswith(".safetensors") and os.path.isfile(index):
        return (
            f"{path} does not exist, but {index} does: a sharded safetensors checkpoint is named "
            "by its index file"
        )
    return f"{path} does not exist; check the path"


def open_foreign(path: PathLike, *, fmt: str | None = None) -> dict[str, ForeignTensor]:
    """Open a checkpoint in another format lazily: ``{name: ForeignTensor}``.

    Args:
        path: a ``.safetensors`` file, a sharded safetensors index (or its directory), a PyTorch
            ``state_dict`` file (read with ``weights_only=True``) or an ``.npz``.
        fmt: one of :data:`FOREIGN_FORMATS` (default: :func:`detect_format`).

    Raises:
        SnapshotNotFoundError: ``path`` does not exist.
        ConversionError: the format is unknown, or flowsnap's own (use :func:`open_checkpoint`).
        CorruptCheckpointError: the file is damaged or not of that format.
        UnsafePathError: the file is a FIFO, a device or a directory.
    """
    p = os.fspath(path)
    fmt = fmt or detect_format(p)
    if not os.path.lexists(p):
        raise SnapshotNotFoundError(_not_found(p))
    opener = _OPENERS.get(fmt)
    if opener is None:
        raise ConversionError(
            f"{p}: {fmt!r} is not a foreign format ({', '.join(FOREIGN_FORMATS)}); flowsnap and "
            "OneFlow checkpoints open with flowsnap.format.open_path or open_checkpoint"
            if fmt == "flowsnap"
            else f"{p}: unknown format {fmt!r}; use one of {', '.join(FORMATS)}"
        )
    return opener(p)


def open_checkpoint(
    path: PathLike,
    *,
    fmt: str | None = None,
    verify: bool = True,
    allow_incomplete: bool = False,
    shapes: Shapes | None = None,
) -> Snapshot | StoredVariable | Mapping[str, StoredVariable | ForeignTensor]:
    """Open a checkpoint of any format lazily.

    A flowsnap/OneFlow directory gives what :func:`flowsnap.format.open_path` gives (a
    :class:`~flowsnap.format.Snapshot`, or one :class:`~flowsnap.format.StoredVariable` for a
    variable's directory); every other format gives ``{name: ForeignTensor}``.
    ``verify`` and ``allow_incomplete`` apply to flowsnap directories (other formats have no
    checksums and no commit marker). ``shapes`` (``{name: (shape, dtype)}``) gives legacy
    variables without ``meta`` their shape and dtype (then a snapshot comes back as a dict).
    """
    fmt = fmt or detect_format(path)
    if fmt != "flowsnap":
        return open_foreign(path, fmt=fmt)
    if not os.path.lexists(path):
        raise SnapshotNotFoundError(_not_found(os.fspath(path)))
    _require_checkpoint(os.fspath(path))
    opened = open_path(path, verify=verify, allow_incomplete=allow_incomplete)
    if not shapes:
        return opened
    if isinstance(opened, StoredVariable):
        return with_shapes({opened.name: opened}, shapes)[opened.name]  # type: ignore[return-value]
    return with_shapes(opened, shapes)


def _require_checkpoint(path: str) -> None:
    """Refuse a directory that holds nothing of a checkpoint (a typo'd path, a source tree)
    before it is taken for an unfinished save."""
    if not os.path.isdir(path) or is_variable_dir(path):
        return
    names = os.listdir(path)
    if SNAPSHOT_DONE in names or "pickled_data" in names:
        return
    if any(is_variable_dir(os.path.join(path, n)) for n in names):
        return
    files = sorted(n for n in names if format_of_name(n) is not None)
    hint = (
        f" It holds {', '.join(files[:3])}{' ...' if len(files) > 3 else ''}: name that file."
        if files
        else " Check the path."
    )
    raise NotASnapshotError(
        f"{path} is not a checkpoint: it has no '{SNAPSHOT_DONE}' and no variable directories "
        "(<name>/out); a OneFlow/flowsnap checkpoint is a directory with one sub-directory per "
        f"variable.{hint}"
    )


def with_shapes(
    tensors: Mapping[str, StoredVariable | ForeignTensor], shapes: Shapes
) -> dict[str, StoredVariable | ForeignTensor]:
    """Legacy variables without ``meta`` read with the shape and dtype ``shapes`` gives for
    their names; everything else as it is."""
    out = dict(tensors)
    for name, value in tensors.items():
        if isinstance(value, StoredVariable) and value.shape is None and name in shapes:
            shape, dtype = shapes[name]
            out[name] = value.with_meta(tuple(int(d) for d in shape), dtype)
    return out
