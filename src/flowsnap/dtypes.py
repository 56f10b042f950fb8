"""OneFlow's dtype names (``flow.float``, ``flow.int32``...) as NumPy dtypes.

``flow.float`` is ``numpy.dtype("float32")``, so a dtype from a legacy script can be passed straight
to NumPy, JAX and the on-disk format. ``bfloat16`` comes from ml_dtypes. OneFlow's ``char`` was an
8-bit signed integer in checkpoints and is ``int8`` here.
"""

from __future__ import annotations

from typing import Any

import ml_dtypes
import numpy as np

from flowsnap.errors import UnsupportedDtypeError

__all__ = [
    "all_dtypes",
    "as_dtype",
    "bfloat16",
    "bool",
    "char",
    "double",
    "dtype",
    "float",
    "float16",
    "float32",
    "float64",
    "half",
    "int",
    "int8",
    "int32",
    "int64",
    "long",
    "uint8",
]

dtype = np.dtype  # OneFlow 0.4/0.5's flow.dtype: the type of every flow.<dtype> here
float32 = np.dtype(np.float32)
float = float32
float64 = np.dtype(np.float64)
double = float64
float16 = np.dtype(np.float16)
half = float16
bfloat16 = np.dtype(ml_dtypes.bfloat16)
int8 = np.dtype(np.int8)
char = int8
int32 = np.dtype(np.int32)
int64 = np.dtype(np.int64)
int = int32  # OneFlow 0.4/0.5's aliases
long = int64
uint8 = np.dtype(np.uint8)
bool = np.dtype(np.bool_)

_SUPPORTED = frozenset({float32, float64, float16, bfloat16, int8, int32, int64, uint8, bool})


def all_dtypes() -> list[np.dtype[Any]]:
    """Every data type flowsnap provides, once each (OneFlow's ``flow.dtypes()``)."""
    return [float32, float64, float16, bfloat16, int8, int32, int64, uint8, bool]


def as_dtype(dtype: Any, what: str) -> np.dtype[Any]:
    """Return ``dtype`` (a flow dtype, NumPy dtype, type or name) as a supported NumPy dtype.

    ``what`` names the caller in the error, e.g. ``"get_variable('w')"``.
    """
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise UnsupportedDtypeError(
            f"{what}: {dtype!r} is not a dtype; use flow.float32, flow.int32, ..."
        ) from None
    if dt.newbyteorder("=") not in _SUPPORTED:
        raise UnsupportedDtypeError(
            f"{what}: dtype {dt} is not supported; use one of "
            f"{', '.join(sorted(str(d) for d in _SUPPORTED))}"
        )
    native: np.dtype[Any] = dt.newbyteorder("=")
    return native
