"""The ``meta`` file: ``oneflow.VariableMetaInfo`` in protobuf text format (SPEC.md section 3)."""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass

import numpy as np

from flowsnap.errors import MetaError, UnsupportedDtypeError
from flowsnap.format._dtypes import BY_NAME, BY_NUMBER, DataType

_INT64_MAX = 2**63 - 1

# What MessageToString prints: the only form flowsnap writes and the form OneFlow wrote.
_CANONICAL = re.compile(rb"shape \{\n((?:  dim: (?:0|[1-9][0-9]{0,18})\n)*)\}\ndata_type: (k\w+)\n")
_DIM = re.compile(rb"  dim: ([0-9]+)\n")


@dataclass(frozen=True)
class VariableMeta:
    """Shape and data type of one stored variable.

    Attributes:
        shape: the dims, outermost first (``()`` for a scalar).
        data_type: the OneFlow DataType.
    """

    shape: tuple[int, ...]
    data_type: DataType

    @property
    def dtype(self) -> np.dtype[np.generic]:
        """The NumPy dtype of the data (raises for unsupported types)."""
        return self.data_type.to_numpy()

    @property
    def nbytes(self) -> int:
        """The exact size ``out`` must have: prod(shape) * itemsize (a Python int: no overflow)."""
        return math.prod(self.shape) * self.dtype.itemsize


def encode_meta(shape: tuple[int, ...], data_type: DataType) -> bytes:
    """Return the bytes of a ``meta`` file, identical to protobuf's ``MessageToString``."""
    dims = "".join(f"  dim: {d}\n" for d in shape)
    return f"shape {{\n{dims}}}\ndata_type: {data_type.name}\n".encode("ascii")


def parse_meta(data: bytes, *, where: str) -> VariableMeta:
    """Parse a ``meta`` file's bytes.

    The canonical form is parsed directly; anything else goes through protobuf's own text-format
    parser, so every form protobuf accepts (numeric enums, comments, reordered fields,
    ``dim: [..]``)
    is accepted, and everything it rejects is rejected.

    Args:
        data: the file's content.
        where: the file path, for error messages.

    Raises:
        MetaError: the text is not a valid VariableMetaInfo, or a dim is negative.
        UnsupportedDtypeError: the data type is unknown or has no array form (kOFRecord...).
    """
    meta = _parse_canonical(data)
    if meta is not None:
        return meta
    return _parse_with_protobuf(data, where)


@functools.lru_cache(maxsize=4096)
def _parse_canonical(data: bytes) -> VariableMeta | None:
    """The fast path; cached, since models repeat the same few shapes (layer after layer)."""
    match = _CANONICAL.fullmatch(data)
    if match is None:
        return None
    data_type = BY_NAME.get(match.group(2).decode())
    if data_type is None or data_type.numpy is None:
        return None  # let the slow path produce the error
    shape = tuple(int(d) for d in _DIM.findall(match.group(1)))
    if any(d > _INT64_MAX for d in shape):
        return None
    return VariableMeta(shape, data_type)


def _parse_with_protobuf(data: bytes, where: str) -> VariableMeta:
    from google.protobuf import text_format

    from flowsnap.format._proto import variable_meta_info_class

    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MetaError(
            f"{where}: not a text file ({exc.reason} at byte {exc.start}); expected an "
            "oneflow.VariableMetaInfo in protobuf text format. The file is damaged: restore it "
            "from another copy of the checkpoint."
        ) from None
    message = variable_meta_info_class()()
    try:
        text_format.Parse(text, message)
    except text_format.ParseError as exc:
        if "Enum type" in str(exc) and "DataType" in str(exc):
            raise UnsupportedDtypeError(
                f"{where}: unknown data_type ({exc}); known OneFlow data types: "
                f"{', '.join(BY_NAME)}"
            ) from None
        raise MetaError(
            f"{where}: cannot parse as oneflow.VariableMetaInfo ({exc}). Expected e.g. "
            "'shape {\\n  dim: 2\\n}\\ndata_type: kFloat\\n'. The file is damaged or not a "
            "OneFlow meta file."
        ) from None
    missing = [f for f in ("shape", "data_type") if not message.HasField(f)]
    if missing:
        raise MetaError(
            f"{where}: required field(s) {', '.join(missing)} missing; a OneFlow meta file has "
            "both 'shape' and 'data_type'."
        )
    data_type = BY_NUMBER.get(message.data_type)
    if data_type is None:  # pragma: no cover - protobuf rejects unknown closed-enum numbers itself
        raise UnsupportedDtypeError(f"{where}: unknown data_type number {message.data_type}")
    return _checked(tuple(int(d) for d in message.shape.dim), data_type, where)


def _checked(shape: tuple[int, ...], data_type: DataType, where: str) -> VariableMeta:
    bad = [d for d in shape if d < 0]
    if bad:
        raise MetaError(
            f"{where}: shape {list(shape)} has a negative dimension; dims must be >= 0. "
            "The file is damaged."
        )
    if data_type.numpy is None:
        raise UnsupportedDtypeError(
            f"{where}: data_type {data_type.name} ({data_type.number}) has no array form; "
            "flowsnap can read only numeric and bool variables"
        )
    return VariableMeta(shape, data_type)
