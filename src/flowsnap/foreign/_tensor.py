"""One tensor of a checkpoint in another format, read lazily: :class:`ForeignTensor`.

It answers the questions a :class:`flowsnap.format.StoredVariable` answers (name, shape, dtype,
size; whole or partial reads; raw bytes in slices), so the ``flowsnap`` command and
``load_variables`` treat both alike. Formats other than flowsnap's record no checksums:
``expected_checksum`` is always ``None``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from flowsnap.errors import FlowsnapError, SizeMismatchError
from flowsnap.format import DataType, data_type_for

READ_CHUNK = 4 * 2**20

Loader = Callable[[], "np.ndarray[Any, Any]"]


class ForeignTensor:
    """A tensor in a ``.safetensors``, ``.pt``/``.pth``/``.bin`` or ``.npz`` file.

    Nothing is read until asked: safetensors and PyTorch tensors are memory-mapped views of the
    file, ``.npz`` members are decompressed when read (their size is checked first).

    Attributes:
        name: the tensor's name in the file.
        path: the file holding it.
        format: ``"safetensors"``, ``"safetensors-sharded"``, ``"torch"`` or ``"npz"``.
        expected_checksum: always ``None`` (these formats record no checksums).
        has_meta: always ``True`` (shape and dtype come from the file).
    """

    __slots__ = ("_dtype", "_load", "_shape", "format", "name", "path")

    expected_checksum: str | None = None
    has_meta = True

    def __init__(
        self,
        name: str,
        path: str,
        fmt: str,
        *,
        shape: tuple[int, ...],
        dtype: np.dtype[Any],
        load: Loader,
    ) -> None:
        self.name, self.path, self.format = name, path, fmt
        self._shape, self._dtype, self._load = tuple(shape), np.dtype(dtype), load

    @property
    def shape(self) -> tuple[int, ...]:
        """The dims."""
        return self._shape

    @property
    def dtype(self) -> np.dtype[Any]:
        """The NumPy dtype."""
        return self._dtype

    @property
    def ndim(self) -> int:
        """The number of dims."""
        return len(self._shape)

    @property
    def nbytes(self) -> int:
        """The size of the data in bytes."""
        return math.prod(self._shape) * self._dtype.itemsize

    @property
    def data_type(self) -> DataType | None:
        """The OneFlow DataType of the dtype, or ``None`` when OneFlow has none (complex)."""
        try:
            return data_type_for(self._dtype, what=self.name)
        except FlowsnapError:
            return None

    @property
    def file_path(self) -> str:
        """The file holding the tensor."""
        return self.path

    def __repr__(self) -> str:
        return (
            f"ForeignTensor({self.name!r}, shape={list(self._shape)}, dtype={self._dtype}, "
            f"format={self.format!r}, path={self.path!r})"
        )

    def _known(self) -> tuple[tuple[int, ...], np.dtype[Any]]:
        return self._shape, self._dtype

    def _array(self) -> np.ndarray[Any, Any]:
        array = self._load()
        if array.shape != self._shape or array.dtype != self._dtype:
            raise SizeMismatchError(
                f"tensor {self.name!r} in {self.path}: the file now holds shape "
                f"{list(array.shape)} {array.dtype}, not {list(self._shape)} {self._dtype}; it "
                "changed since it was opened. Open it again."
            )
        return array

    def numpy(self, *, verify: bool | None = None) -> np.ndarray[Any, Any]:
        """Read the whole tensor into a new array (``verify`` is accepted and has no effect:
        there is no checksum to verify)."""
        del verify
        return np.array(self._array(), copy=True, order="C")

    def readinto(self, out: np.ndarray[Any, Any], *, verify: bool | None = None) -> None:
        """Copy the whole tensor into ``out`` (same shape and dtype, C-contiguous).

        Raises:
            ValueError: ``out`` does not match.
        """
        del verify
        if out.shape != self._shape or out.dtype != self._dtype or not out.flags.c_contiguous:
            raise ValueError(
                f"tensor {self.name!r}: cannot read into an array of shape {out.shape}, dtype "
                f"{out.dtype} (contiguous={out.flags.c_contiguous}); expected shape "
                f"{self._shape}, dtype {self._dtype}, C-contiguous"
            )
        np.copyto(out, self._array())

    def read(self, start: int, stop: int) -> np.ndarray[Any, Any]:
        """Read rows ``start:stop`` of the leading axis into a new array."""
        if not self._shape:
            raise ValueError(f"tensor {self.name!r} is a scalar; it has no rows to slice")
        if not 0 <= start <= stop <= self._shape[0]:
            raise ValueError(
                f"tensor {self.name!r}: rows {start}:{stop} are outside 0:{self._shape[0]}"
            )
        return np.array(self._array()[start:stop], copy=True, order="C")

    def _flat_bytes(self) -> memoryview:
        array = self._array()
        if not array.flags.c_contiguous:
            array = array.copy(order="C")
        if array.dtype.byteorder == ">":
            array = array.astype(array.dtype.newbyteorder("<"))
        flat: Any = array.reshape(-1).view(np.uint8)
        return memoryview(flat)

    def iter_chunks(self, chunk: int = READ_CHUNK) -> Iterator[memoryview]:
        """Yield the tensor's raw bytes (C order, little-endian) in slices of ``chunk`` bytes."""
        flat = self._flat_bytes()
        for off in range(0, len(flat), chunk):
            yield flat[off : off + chunk]

    def read_bytes(self, offset: int, length: int) -> bytes:
        """Read ``length`` raw bytes from ``offset``."""
        if offset < 0 or length < 0 or offset + length > self.nbytes:
            raise ValueError(
                f"tensor {self.name!r}: byte range {offset}:{offset + length} is outside "
                f"0:{self.nbytes}"
            )
        return bytes(self._flat_bytes()[offset : offset + length])

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray[Any, Any]:
        del copy
        array = self.numpy()
        return array if dtype is None else array.astype(dtype, copy=False)
