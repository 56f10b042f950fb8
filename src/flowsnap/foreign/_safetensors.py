"""Reading safetensors files, one or sharded, by mapping them (nothing copied).

Layout (https://github.com/huggingface/safetensors): an 8-byte little-endian header length, a JSON
header ``{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}``
padded with spaces, then the tensors' bytes, C order, little-endian. Sharded checkpoints are
``<stem>-0000i-of-0000n.safetensors`` files named by ``<stem>.safetensors.index.json``
(``{"metadata": {"total_size": N}, "weight_map": {name: shard}}``). Every offset, size and dtype
is checked against the file before any array is made; FIFOs and devices are refused.
"""

from __future__ import annotations

import itertools
import json
import math
import mmap
import os
from collections.abc import Mapping
from typing import Any

import ml_dtypes
import numpy as np

from flowsnap.errors import CorruptCheckpointError
from flowsnap.foreign._tensor import ForeignTensor, Loader
from flowsnap.format.internals import open_regular

MAX_HEADER = 100 * 2**20
INDEX_SUFFIX = ".safetensors.index.json"
MAX_INDEX = 64 * 2**20

SAFETENSORS_DTYPES: Mapping[str, np.dtype[Any]] = {
    "BOOL": np.dtype(np.bool_),
    "U8": np.dtype(np.uint8),
    "I8": np.dtype(np.int8),
    "I16": np.dtype("<i2"),
    "U16": np.dtype("<u2"),
    "F16": np.dtype("<f2"),
    "BF16": np.dtype(ml_dtypes.bfloat16),
    "I32": np.dtype("<i4"),
    "U32": np.dtype("<u4"),
    "F32": np.dtype("<f4"),
    "F64": np.dtype("<f8"),
    "I64": np.dtype("<i8"),
    "U64": np.dtype("<u8"),
    "C64": np.dtype("<c8"),
    "F8_E4M3": np.dtype(ml_dtypes.float8_e4m3fn),
    "F8_E5M2": np.dtype(ml_dtypes.float8_e5m2),
}


def read_safetensors(path: str) -> dict[str, np.ndarray[Any, Any]]:
    """Map one ``.safetensors`` file: ``{name: read-only array view}`` (nothing copied).

    Raises:
        CorruptCheckpointError: the header is malformed, or offsets, sizes or dtypes are wrong.
        UnsafePathError: ``path`` is not a regular file (a FIFO, a device, a directory).
    """
    fd, _ = open_regular(os.path.realpath(path), what="safetensors file")
    with os.fdopen(fd, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        prefix = f.read(8)
        if len(prefix) < 8:
            raise CorruptCheckpointError(
                f"{path}: {size} bytes is too short to be a safetensors file (it starts with an "
                "8-byte header length)"
            )
        n = int.from_bytes(prefix, "little")
        if n > MAX_HEADER or 8 + n > size:
            raise CorruptCheckpointError(
                f"{path}: header length {n} is impossible for a file of {size} bytes; the file "
                "is truncated or not a safetensors file"
            )
        try:
            header = json.loads(f.read(n))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CorruptCheckpointError(f"{path}: the header is not JSON: {exc}") from None
        data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
    if not isinstance(header, dict):
        raise CorruptCheckpointError(f"{path}: the header is not a JSON object")
    out: dict[str, np.ndarray[Any, Any]] = {}
    spans = []
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype = SAFETENSORS_DTYPES[entry["dtype"]]
            shape = tuple(int(d) for d in entry["shape"])
            begin, end = (int(x) for x in entry["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise CorruptCheckpointError(
                f"{path}: tensor {name!r} has a bad header entry {entry!r} (expected dtype one of "
                f"{', '.join(SAFETENSORS_DTYPES)}, a shape and two data_offsets)"
            ) from None
        expected = math.prod(shape) * dtype.itemsize
        if (
            min(shape, default=0) < 0
            or end - begin != expected
            or begin < 0
            or (8 + n + end > size)
        ):
            raise CorruptCheckpointError(
                f"{path}: tensor {name!r} ({entry['dtype']} {list(shape)}) needs {expected} "
                f"bytes, its offsets [{begin}, {end}] do not fit a file of {size} bytes"
            )
        spans.append((begin, end, name))
        out[name] = np.frombuffer(data, dtype, math.prod(shape), 8 + n + begin).reshape(shape)
    spans.sort()
    for (_, end1, first), (begin2, _, second) in itertools.pairwise(spans):
        if begin2 < end1:
            raise CorruptCheckpointError(f"{path}: tensors {first!r} and {second!r} overlap")
    return out


def find_index(path: str) -> str:
    """The ``*.safetensors.index.json`` of a sharded checkpoint given as the index or its
    directory."""
    if not os.path.isdir(path):
        return path
    found = sorted(p for p in os.listdir(path) if p.endswith(INDEX_SUFFIX))
    if len(found) != 1:
        raise CorruptCheckpointError(
            f"{path}: a sharded safetensors directory holds exactly one *{INDEX_SUFFIX}, this one "
            f"holds {len(found)} ({', '.join(found) or 'none'}); name the index file instead"
        )
    return os.path.join(path, found[0])


def read_weight_map(path: str) -> dict[str, str]:
    """``{tensor name: shard file name}`` from an index file, every shard name checked to be a
    plain file name next to the index."""
    index = find_index(path)
    fd, size = open_regular(os.path.realpath(index), what="safetensors index")
    with os.fdopen(fd, "rb") as f:
        if size > MAX_INDEX:
            raise CorruptCheckpointError(
                f"{index}: {size} bytes is too large for a safetensors index"
            )
        raw = f.read(size)
    try:
        weight_map = json.loads(raw)["weight_map"]
        if not isinstance(weight_map, dict):
            raise TypeError("weight_map is not an object")
        bad = [
            f
            for f in weight_map.values()
            if not isinstance(f, str) or not f or f in (".", "..") or "/" in f or "\\" in f
        ]
        if bad:
            raise ValueError(f"shard names must be plain file names, got {bad[0]!r}")
    except (UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        raise CorruptCheckpointError(
            f"{index}: not a safetensors index ({{'weight_map': {{name: shard file}}}}): {exc}"
        ) from None
    return {str(k): v for k, v in weight_map.items()}


def read_index(path: str) -> dict[str, np.ndarray[Any, Any]]:
    """Map a sharded checkpoint from its ``*.safetensors.index.json`` (or its directory)."""
    return {name: t._load() for name, t in open_sharded(path).items()}


def open_safetensors(path: str, *, fmt: str = "safetensors") -> dict[str, ForeignTensor]:
    """``{name: ForeignTensor}`` of one ``.safetensors`` file (mapped, nothing read)."""
    arrays = read_safetensors(path)
    return {
        name: ForeignTensor(name, path, fmt, shape=a.shape, dtype=a.dtype, load=_constant(a))
        for name, a in arrays.items()
    }


def _constant(array: np.ndarray[Any, Any]) -> Loader:
    return lambda: array


def open_sharded(path: str) -> dict[str, ForeignTensor]:
    """``{name: ForeignTensor}`` of a sharded checkpoint (index file or its directory)."""
    index = find_index(path)
    weight_map = read_weight_map(index)
    root = os.path.dirname(index)
    shards = {}
    for file in sorted(set(weight_map.values())):
        shard = os.path.join(root, file)
        if not os.path.lexists(shard):
            raise CorruptCheckpointError(
                f"{index}: the index names the shard {file}, which is missing from {root or '.'}"
            )
        shards[file] = open_safetensors(shard, fmt="safetensors-sharded")
    out = {}
    for name, file in weight_map.items():
        if name not in shards[file]:
            raise CorruptCheckpointError(
                f"{index}: the index puts {name!r} in {file}, but that shard does not hold it"
            )
        out[name] = shards[file][name]
    return out
