"""A stored variable of a sharded save: checked against its chunk checksums (SPEC.md 5.1)
instead of a whole-file checksum, with the block checksums (SPEC.md 5.2) a loader of exactly
those blocks checks instead."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from flowsnap.format._chunks import BlockRecord, ChunkRecord, check_buffer
from flowsnap.format._io import byte_view
from flowsnap.format._variable import StoredVariable


class ChunkedStoredVariable(StoredVariable):
    """A :class:`StoredVariable` whose manifest entry holds chunk checksums (a sharded save).

    Reading the whole variable checks every chunk from the bytes read (no second read).

    Attributes:
        expected_chunks: ``(offset, length, checksum)`` of byte ranges tiling ``out``.
        expected_blocks: box -> checksum of the blocks whose bytes are strided in ``out``
            (empty for a save that recorded none, e.g. one written before block checksums).
    """

    __slots__ = ("expected_blocks", "expected_chunks")

    def __init__(
        self,
        *args: Any,
        chunks: tuple[ChunkRecord, ...],
        blocks: Sequence[BlockRecord] | Mapping[Any, str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.expected_chunks = chunks
        self.expected_blocks: Mapping[Any, str] = dict(blocks or ())

    def with_meta(self, shape: tuple[int, ...] | list[int], dtype: object) -> StoredVariable:
        """This variable read as ``shape`` and ``dtype`` (see :meth:`StoredVariable.with_meta`)."""
        plain = super().with_meta(shape, dtype)
        var = ChunkedStoredVariable(
            plain.name,
            plain.path,
            shape=plain.shape,
            data_type=plain.data_type,
            nbytes=plain.nbytes,
            expected_checksum=plain.expected_checksum,
            has_meta=plain.has_meta,
            verify=plain.verify,
            data_path=plain.file_path,
            chunks=self.expected_chunks,
            # the boxes are in the recorded shape's coordinates
            blocks=self.expected_blocks if plain.shape == self.shape else None,
        )
        var._reader = self._reader
        return var

    def numpy(self, *, verify: bool | None = None) -> np.ndarray:
        """Read the whole variable (every chunk checked unless ``verify=False``)."""
        out = super().numpy(verify=verify)
        self._check(byte_view(out), verify)
        return out

    def readinto(self, out: np.ndarray, *, verify: bool | None = None) -> None:
        """Read the whole variable into ``out`` (every chunk checked unless ``verify=False``)."""
        super().readinto(out, verify=verify)
        self._check(byte_view(out), verify)

    def mmap(self, *, verify: bool | None = None, populate: bool = False) -> np.ndarray:
        """Map ``out`` read-only (every chunk checked unless ``verify=False``)."""
        array = super().mmap(verify=verify, populate=populate)
        if array.nbytes:
            self._check(byte_view(array), verify)
        return array

    def _check(self, data: memoryview, verify: bool | None) -> None:
        if self.verify if verify is None else verify:
            check_buffer(self.name, self.file_path, self.expected_chunks, data)
