"""Reading ``.npz`` archives (NumPy's ``savez``) without pickle, one member at a time.

Each member's ``.npy`` header is read first and its claimed size is checked against the zip entry
before NumPy is allowed to allocate anything; object arrays (which need pickle) are refused.
"""

from __future__ import annotations

import math
import os
import zipfile
import zlib
from typing import Any

import numpy as np

from flowsnap.errors import CorruptCheckpointError
from flowsnap.foreign._tensor import ForeignTensor
from flowsnap.format.internals import open_regular

# what a damaged or hostile .npz makes NumPy's reader raise
NPZ_ERRORS = (
    OSError,
    ValueError,
    EOFError,
    KeyError,
    zipfile.BadZipFile,
    zlib.error,
    NotImplementedError,
    UnicodeDecodeError,
    SyntaxError,
    TypeError,
    MemoryError,
)


def open_npz(path: str) -> dict[str, ForeignTensor]:
    """``{name: ForeignTensor}`` of an ``.npz`` file (headers read and checked, data not)."""
    real = os.path.realpath(path)
    fd, _ = open_regular(real, what=".npz file")  # never block on a FIFO
    os.close(fd)
    try:
        npz = np.load(real, allow_pickle=False)
        if not isinstance(npz, np.lib.npyio.NpzFile):
            raise ValueError("a single .npy array, not an .npz archive")
        out = {}
        for name in npz.files:
            shape, dtype = _member_header(npz, name)
            little = dtype.newbyteorder("<") if dtype.byteorder == ">" else dtype
            out[name] = ForeignTensor(
                name, path, "npz", shape=shape, dtype=little, load=_Member(npz, name, path, little)
            )
        return out
    except NPZ_ERRORS as exc:
        raise CorruptCheckpointError(f"{path}: not a readable .npz file: {exc}") from None


def _member_header(npz: Any, name: str) -> tuple[tuple[int, ...], np.dtype[Any]]:
    with npz.zip.open(name + ".npy") as member:
        version = np.lib.format.read_magic(member)
        read_header = (
            np.lib.format.read_array_header_1_0
            if version == (1, 0)
            else np.lib.format.read_array_header_2_0
        )
        shape, fortran, dtype = read_header(member)
    shape, dtype = tuple(int(d) for d in shape), np.dtype(dtype)
    if dtype.hasobject:
        raise ValueError(f"member {name!r} is an object array, which needs pickle: refused")
    # NumPy allocates what the header claims before reading: check the claim first
    info = npz.zip.getinfo(name + ".npy")
    needed = math.prod(shape) * dtype.itemsize
    if needed > info.file_size or info.file_size > 1100 * max(info.compress_size, 1):
        raise ValueError(
            f"member {name!r} claims {needed} bytes of data but holds {info.file_size} "
            f"({info.compress_size} compressed)"
        )
    del fortran  # NumPy returns Fortran-ordered members as such; numpy() makes them C-ordered
    return shape, dtype


class _Member:
    """Decompresses one member when called (zip's CRC-32 is checked as it is read)."""

    __slots__ = ("dtype", "name", "npz", "path")

    def __init__(self, npz: Any, name: str, path: str, dtype: np.dtype[Any]) -> None:
        self.npz, self.name, self.path, self.dtype = npz, name, path, dtype

    def __call__(self) -> np.ndarray[Any, Any]:
        try:
            array: np.ndarray[Any, Any] = self.npz[self.name]
        except NPZ_ERRORS as exc:  # damaged data; object arrays need pickle: refused
            raise CorruptCheckpointError(
                f"{self.path}: member {self.name!r} is damaged: {exc}"
            ) from None
        # big-endian members are read as little-endian, the byte order of every other format
        return array if array.dtype == self.dtype else array.astype(self.dtype)
