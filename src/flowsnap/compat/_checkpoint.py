"""Checkpoints as the OneFlow world wrote them (issue #11 item 6), for the version facades.

OneFlow's ``flow.checkpoint.get(path)`` never required ``snapshot_done``, and the converters of
OneFlow's model zoo (PyTorch/TensorFlow -> OneFlow scripts) wrote variable directories without
it, sometimes with stray files beside ``meta`` (a ``meta.npy``) or with ``out`` files only. Under
a facade, ``flow.checkpoint.get``, ``flow.load`` and ``flow.train.CheckPoint().load`` read such
directories as OneFlow did: every ``out`` file's size is still checked against its ``meta``, and
one warning says that completeness could not be verified. flowsnap's own API keeps refusing them
unless ``allow_incomplete=True``.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable
from typing import Any

from flowsnap.format import SNAPSHOT_DONE, Snapshot

_log = logging.getLogger("flowsnap")


def _warn_unverified(path: str | os.PathLike[str]) -> None:
    _log.warning(
        "%s has no %s (OneFlow's converters and older savers did not write one): loaded as "
        "OneFlow did, each variable's out size checked against its meta, but the checkpoint's "
        "completeness could not be verified",
        os.fspath(path),
        SNAPSHOT_DONE,
    )


def legacy_checkpoint_get(path: str | os.PathLike[str]) -> Any:
    """OneFlow's ``flow.checkpoint.get(path)``: opens a checkpoint lazily, with or without
    ``snapshot_done`` (one warning when it is missing)."""
    from flowsnap import checkpoint

    opened = checkpoint.get(path, allow_incomplete=True)
    if isinstance(opened, Snapshot) and not opened.complete:
        _warn_unverified(path)
    return opened


@functools.cache
def legacy_checkpoint_class() -> type:
    """``flow.train.CheckPoint`` whose ``load(path)`` reads directories without
    ``snapshot_done`` (a subclass of flowsnap's, built on first use: it needs the engine)."""
    from flowsnap import checkpoint

    base: Any = checkpoint.CheckPoint  # flow.train.CheckPoint

    def load(self: Any, path: str | os.PathLike[str]) -> Any:
        """Load ``path`` into the variables, with or without ``snapshot_done``."""
        complete = os.path.isfile(os.path.join(os.fspath(path), SNAPSHOT_DONE))
        report = base.load(self, path, allow_incomplete=True)
        if not complete:
            _warn_unverified(path)
        return report

    return type(base.__name__, (base,), {"load": load, "__qualname__": base.__qualname__})


# dotted OneFlow name -> the function giving the facade's implementation
PROVIDERS: dict[str, Callable[[], Any]] = {
    "checkpoint.get": lambda: legacy_checkpoint_get,
    "load": lambda: legacy_checkpoint_get,
    "train.CheckPoint": legacy_checkpoint_class,
}
