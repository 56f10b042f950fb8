"""OneFlow's dtype names (``flow.float``, ``flow.int32``...) as NumPy dtypes.

``flow.float`` is ``numpy.dtype("float32")``, so a dtype from a legacy script can be passed straight
to NumPy, JAX and the on-disk format. ``bfloat16`` comes from ml_dtypes. OneFlow's ``char`` was an
8-bit signed integer in checkpoints and is ``int8`` here.

``flow.record`` and ``flow.tensor_buffer`` are not element types but OneFlow's types of the blobs
data ops pass between them (a batch of OFRecords, a TensorBuffer of variable-size arrays): they
are :class:`BlobDtype` objects, the ``dtype`` of those blobs, and :func:`as_dtype` refuses them
for variables and placeholders.
"""

from __future__ import annotations

from typing import Any

import ml_dtypes
import numpy as np

from flowsnap.errors import UnsupportedDtypeError

__all__ = [
    "BlobDtype",
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
    "record",
    "tensor_buffer",
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


class BlobDtype:
    """One of OneFlow's non-numeric blob types (``flow.record``, ``flow.tensor_buffer``): the
    ``dtype`` of data ops' host blobs, compared by identity (``blob.dtype is flow.record``).

    Attributes:
        name: OneFlow's name (``"record"``, ``"tensor_buffer"``).
        proto_name: its ``DataType`` enum name in OneFlow's protos (``"kOFRecord"``...).
        holds: what a blob of this type holds, for messages.
    """

    __slots__ = ("holds", "name", "proto_name")

    def __init__(self, name: str, proto_name: str, holds: str) -> None:
        self.name = name
        self.proto_name = proto_name
        self.holds = holds

    def __repr__(self) -> str:
        return f"flow.{self.name}"

    def __reduce__(self) -> str:
        return self.name  # pickles as this module's singleton


record = BlobDtype(
    "record", "kOFRecord", "a batch of OFRecords (flow.data.ofrecord_reader's output)"
)
tensor_buffer = BlobDtype(
    "tensor_buffer",
    "kTensorBuffer",
    "a TensorBuffer, a batch of variable-size arrays (decoded images, boxes, polygons)",
)

_SUPPORTED = frozenset({float32, float64, float16, bfloat16, int8, int32, int64, uint8, bool})


def all_dtypes() -> list[np.dtype[Any]]:
    """Every data type flowsnap provides, once each (OneFlow's ``flow.dtypes()``)."""
    return [float32, float64, float16, bfloat16, int8, int32, int64, uint8, bool]


def as_dtype(dtype: Any, what: str) -> np.dtype[Any]:
    """Return ``dtype`` (a flow dtype, NumPy dtype, type or name) as a supported NumPy dtype.

    ``what`` names the caller in the error, e.g. ``"get_variable('w')"``.
    """
    if isinstance(dtype, BlobDtype):
        raise UnsupportedDtypeError(
            f"{what}: {dtype!r} is OneFlow's type of {dtype.holds}, not an element type; "
            "variables, placeholders and tensors hold numbers: use flow.float32, flow.int32, "
            "flow.uint8, ..."
        )
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
