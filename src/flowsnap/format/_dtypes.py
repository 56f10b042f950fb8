"""OneFlow's DataType enum and its mapping to NumPy (and ml_dtypes) array types."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import ml_dtypes
import numpy as np

from flowsnap.errors import UnsupportedDtypeError


@dataclass(frozen=True)
class DataType:
    """One entry of OneFlow's ``DataType`` enum (``oneflow/core/common/data_type.proto``).

    Attributes:
        name: the enum name written in ``meta`` (``"kFloat"``).
        number: the enum number (``2``).
        numpy: the little-endian NumPy dtype, or ``None`` for types with no array form.
    """

    name: str
    number: int
    numpy: np.dtype[np.generic] | None

    @property
    def itemsize(self) -> int:
        """Bytes per element (raises for unsupported types)."""
        return self.to_numpy().itemsize

    def to_numpy(self) -> np.dtype[np.generic]:
        """Return the NumPy dtype, or raise :class:`UnsupportedDtypeError`."""
        if self.numpy is None:
            raise UnsupportedDtypeError(
                f"OneFlow data type {self.name} ({self.number}) has no array representation; "
                "flowsnap cannot read or write variables of this type"
            )
        return self.numpy


def _le(dtype: Any) -> np.dtype[np.generic]:
    little: np.dtype[np.generic] = np.dtype(dtype).newbyteorder("<")
    return little


# The union of the enum across OneFlow versions. 12 was kMaxDataType (a sentinel, never a real
# type) in v0.5 and became kBool in v0.7; reading 12 as bool is therefore always right.
DATA_TYPES: tuple[DataType, ...] = (
    DataType("kInvalidDataType", 0, None),
    DataType("kChar", 1, _le(np.int8)),
    DataType("kFloat", 2, _le(np.float32)),
    DataType("kDouble", 3, _le(np.float64)),
    DataType("kInt8", 4, _le(np.int8)),
    DataType("kInt32", 5, _le(np.int32)),
    DataType("kInt64", 6, _le(np.int64)),
    DataType("kUInt8", 7, _le(np.uint8)),
    DataType("kOFRecord", 8, None),
    DataType("kFloat16", 9, _le(np.float16)),
    DataType("kTensorBuffer", 10, None),
    DataType("kBFloat16", 11, _le(ml_dtypes.bfloat16)),
    DataType("kBool", 12, _le(np.bool_)),
    DataType("kUInt16", 13, _le(np.uint16)),
    DataType("kUInt32", 14, _le(np.uint32)),
    DataType("kUInt64", 15, _le(np.uint64)),
    DataType("kUInt128", 16, None),
    DataType("kInt16", 17, _le(np.int16)),
    DataType("kInt128", 18, None),
    DataType("kComplex32", 19, None),
    DataType("kComplex64", 20, _le(np.complex64)),
    DataType("kComplex128", 21, _le(np.complex128)),
)

BY_NAME: dict[str, DataType] = {dt.name: dt for dt in DATA_TYPES}
BY_NUMBER: dict[int, DataType] = {dt.number: dt for dt in DATA_TYPES}

# What a writer records for each NumPy type (int8 is kInt8, never kChar).
_FOR_NUMPY: dict[np.dtype[np.generic], DataType] = {
    dt.numpy: dt for dt in DATA_TYPES if dt.numpy is not None and dt.name not in ("kChar",)
}

SUPPORTED_NUMPY_TYPES: tuple[str, ...] = tuple(sorted(str(d) for d in _FOR_NUMPY))


def data_type_for(dtype: object, *, what: str = "array") -> DataType:
    """Return the DataType a NumPy dtype is written as.

    Args:
        dtype: anything ``np.dtype`` accepts (byte order is ignored: data is stored little-endian).
        what: how to name the value in an error message (``"variable 'w'"``).

    Raises:
        UnsupportedDtypeError: the dtype has no OneFlow DataType (float8, int4, strings...).
    """
    try:
        np_dtype: np.dtype[Any] = np.dtype(dtype)  # type: ignore[call-overload]
    except TypeError as exc:
        raise UnsupportedDtypeError(f"{what}: {dtype!r} is not a data type") from exc
    key = np_dtype.newbyteorder("<") if np_dtype.byteorder != "|" else np_dtype
    found = _FOR_NUMPY.get(key)
    if found is None:
        raise UnsupportedDtypeError(
            f"{what} has dtype {np_dtype}, which OneFlow's checkpoint format cannot store. "
            f"Supported: {', '.join(SUPPORTED_NUMPY_TYPES)}. "
            "Cast it first (e.g. .astype('float32'))."
        )
    return found
