"""Streaming a stored variable as typed chunks, with its checksum verified at the end (or, for
a sharded save's variable, each chunk checksum as its bytes pass)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from flowsnap.errors import ChecksumMismatchError
from flowsnap.foreign import ForeignTensor
from flowsnap.format import StoredVariable
from flowsnap.format.internals import Progress, StreamChecker, new_hasher

CHUNK = 4 * 2**20  # a multiple of every item size


def typed_chunks(
    var: StoredVariable | ForeignTensor, *, verify: bool = True, progress: Progress | None = None
) -> Iterator[np.ndarray[Any, Any]]:
    """Yield the variable's elements as flat arrays of at most :data:`CHUNK` bytes (each valid
    until the next is requested); after the last, raise if the checksum does not match."""
    dtype = var.dtype
    if dtype is None or var.shape is None:
        var._known()  # raises MissingMetaError with the fix
        raise AssertionError  # pragma: no cover - _known raised
    hasher = new_hasher() if verify and var.expected_checksum else None
    chunks = getattr(var, "expected_chunks", None)  # a sharded save: checksums per chunk
    checker = StreamChecker(var.name, var.file_path, chunks) if verify and chunks else None
    for view in var.iter_chunks(CHUNK):
        if hasher is not None:
            hasher.update(view)
        if checker is not None:
            checker.feed(view)
        yield np.frombuffer(view, dtype)
        if progress is not None:
            progress.update(len(view))
    if hasher is not None and hasher.hexdigest() != var.expected_checksum:
        raise ChecksumMismatchError(
            f"variable {var.name!r}: {var.file_path} does not match its recorded checksum "
            f"(expected {var.expected_checksum}, got {hasher.hexdigest()}); the file is damaged "
            "(flowsnap verify lists every damaged variable; --no-verify reads the damaged bytes)"
        )
