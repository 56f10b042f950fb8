"""Saving live variables and opening checkpoints: ``flow.checkpoint.save/get``, ``flow.save/load``.

Saving hands each variable's value to the atomic, checksummed writer of :mod:`flowsnap.format`
(OneFlow's pre-0.3.2 layout when ``flow.config.enable_legacy_model_io`` is on), in the foreground
or, with ``blocking=False``, through the background saver (:mod:`flowsnap.checkpoint._async`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any, Literal, overload

import numpy as np

from flowsnap._store import Variable, current_session
from flowsnap.checkpoint._async import SaveHandle, saver
from flowsnap.checkpoint._distributed import is_sharded, needs_sharded_save, prepare_save
from flowsnap.checkpoint._report import SavedCheckpoint
from flowsnap.foreign import ForeignTensor, open_checkpoint
from flowsnap.format import Snapshot, StoredVariable, write_snapshot

_log = logging.getLogger("flowsnap")

# what flow.checkpoint.get returns: a snapshot, one variable, or another format's tensors
Opened = Snapshot | StoredVariable | Mapping[str, StoredVariable | ForeignTensor]


@overload
def save(
    path: str | os.PathLike[str],
    var_dict: Mapping[str, Any] | None = None,
    *,
    durable: bool = True,
    metadata: Mapping[str, Any] | None = None,
    progress: bool | None = None,
    blocking: Literal[True] = True,
    overwrite: bool = False,
) -> SavedCheckpoint: ...


@overload
def save(
    path: str | os.PathLike[str],
    var_dict: Mapping[str, Any] | None = None,
    *,
    durable: bool = True,
    metadata: Mapping[str, Any] | None = None,
    progress: bool | None = None,
    blocking: Literal[False],
    overwrite: bool = False,
) -> SaveHandle: ...


def save(
    path: str | os.PathLike[str],
    var_dict: Mapping[str, Any] | None = None,
    *,
    durable: bool = True,
    metadata: Mapping[str, Any] | None = None,
    progress: bool | None = None,
    blocking: bool = True,
    overwrite: bool = False,
) -> SavedCheckpoint | SaveHandle:
    """Save variables to the snapshot directory ``path`` (OneFlow's ``flow.checkpoint.save``).

    Args:
        path: a new or empty directory (parents are created); saving never overwrites unless
            ``overwrite=True``.
        var_dict: ``{name: value}``: live variables, values from :func:`get`, NumPy or JAX arrays.
            Default: every variable of the session (optimizer slots and train steps included).
        durable: fsync before returning (default).
        metadata: a JSON object stored in the manifest (e.g. ``{"epoch": 3}``).
        progress: draw a progress bar (default: for large saves on a terminal).
        blocking: if False, return a :class:`SaveHandle` as soon as the values are copied to
            host memory; the files are written in the background (``handle.wait()``).
        overwrite: replace an existing checkpoint at ``path`` (never anything else: a directory
            holding other files is refused). The old checkpoint stays complete until the new one
            is published in one atomic step, and a crash at any point (with ``durable``, a power
            loss too) leaves exactly one complete checkpoint at ``path``. Default: never
            overwrite.

    Returns:
        A :class:`SavedCheckpoint` (path, variable count and size in a one-line repr; the full
        manifest in ``.manifest``), or, with ``blocking=False``, a :class:`SaveHandle` whose
        ``wait()`` returns it.

    The save is atomic (nothing appears at ``path`` unless all of it was written) and
    checksummed. Values sharded over several devices, and every save of a multi-process run
    (``jax.distributed``; every process calls ``save`` with the same arguments), are saved
    without a gather: each process writes its own shards into the files (OneFlow's layout),
    process 0 publishes, and the manifest holds chunk checksums (``format/SPEC.md`` 5.1).
    With ``flow.config.enable_legacy_model_io(True)`` it writes OneFlow's pre-0.3.2
    layout (``out`` files only).

    Raises:
        TargetExistsError: ``path`` is a file or a non-empty directory (with ``overwrite``: a
            file, a symlink or a directory that is not a checkpoint).
        SnapshotWriteError: the OS failed a write; nothing is published.
    """
    session = current_session()
    if var_dict is None:
        session.sync()
        var_dict = session.variables()
    values = {name: _saveable(value) for name, value in var_dict.items()}
    legacy = session.settings.legacy_model_io
    background = saver()
    if needs_sharded_save(values):
        # Sharded values, or several processes: each process writes its own shards into the
        # files, process 0 publishes (flowsnap.checkpoint._distributed); no gather.
        dtypes = {n: v.dtype for n, v in var_dict.items() if isinstance(v, Variable)}
        job = prepare_save(
            path,
            values,
            dtypes=dtypes,
            durable=durable,
            metadata=metadata,
            legacy=legacy,
            overwrite=overwrite,
        )
        if not blocking:
            return background.submit(job.target, job.nbytes, job.run)
        background.raise_unobserved_failure()
        return SavedCheckpoint(os.fspath(path), job.run())
    if not blocking:
        return background.save(
            path, values, durable=durable, metadata=metadata, legacy=legacy, overwrite=overwrite
        )
    background.raise_unobserved_failure()
    manifest = write_snapshot(
        path,
        values,
        durable=durable,
        metadata=metadata,
        legacy=legacy,
        progress=progress,
        overwrite=overwrite,
    )
    return SavedCheckpoint(os.fspath(path), manifest)


def _saveable(value: Any) -> Any:
    """A live variable as an array in its declared dtype (JAX arrays are read without a copy on
    the CPU); anything else as given."""
    if isinstance(value, Variable):
        current = value.value
        if np.dtype(current.dtype) == value.dtype or is_sharded(current):
            return current  # a sharded value is converted shard by shard
        return np.asarray(current).astype(value.dtype)
    return value


def get(path: str | os.PathLike[str], *, allow_incomplete: bool = False) -> Opened:
    """Open a checkpoint lazily (OneFlow's ``flow.checkpoint.get``), in any format flowsnap reads.

    * a snapshot directory (flowsnap's or OneFlow's): ``{name: StoredVariable}`` (a
      :class:`~flowsnap.format.Snapshot`), checksums verified on reads; a directory written by
      OneFlow 0.6 - 0.9's ``flow.save`` (``pickled_data``) gives its ``state_dict`` names
      (``conv1.weight``), and needs ``allow_incomplete=True`` (OneFlow never marked it complete);
    * one variable's directory (it holds an ``out`` file): that :class:`StoredVariable`;
    * ``.safetensors``, a sharded safetensors index (``*.safetensors.index.json``), a PyTorch
      ``state_dict`` file (``.pt``/``.pth``/``.bin``, read with ``weights_only=True``) or ``.npz``:
      ``{name: ForeignTensor}`` (see :mod:`flowsnap.foreign`).

    Nothing is read until the values are used. Every result loads with
    :func:`flow.load_variables <flowsnap.checkpoint.load_variables>`, whose ``rename=`` maps
    foreign names to the model's: ``flow.load_variables(flow.checkpoint.get("model.safetensors"),
    rename={r"\\.": "-"})``.

    Raises:
        SnapshotNotFoundError: ``path`` does not exist.
        ConversionError: a file whose name tells no format flowsnap reads.
        IncompleteSnapshotError: no ``snapshot_done`` (a save that never finished), unless
            ``allow_incomplete``.
        CorruptCheckpointError: the checkpoint is damaged (subclasses say how).
    """
    opened = open_checkpoint(path, allow_incomplete=allow_incomplete)
    if isinstance(opened, Snapshot):
        manifest = "checksums recorded" if opened.manifest is not None else "no manifest"
        _log.info("checkpoint.get: %d variables in %s (%s)", len(opened), path, manifest)
    elif not isinstance(opened, StoredVariable):
        _log.info("checkpoint.get: %d tensors in %s (no checksums)", len(opened), path)
    return opened


def save_obj(obj: Mapping[str, Any] | None, save_dir: str | os.PathLike[str]) -> SavedCheckpoint:
    """OneFlow 0.5's ``flow.save(obj, save_dir)``: :func:`save` with the arguments swapped;
    ``obj=None`` saves every variable."""
    return save(save_dir, obj)


def load(path: str | os.PathLike[str], *, allow_incomplete: bool = False) -> Opened:
    """OneFlow 0.5's ``flow.load(path)``: the same as :func:`get` (which also reads what OneFlow
    0.6 - 0.9's ``flow.save`` wrote, with ``allow_incomplete=True``)."""
    return get(path, allow_incomplete=allow_incomplete)
