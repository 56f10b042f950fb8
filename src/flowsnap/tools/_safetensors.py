"""The safetensors format, read and written in flowsnap's own streaming code.

Layout (https://github.com/huggingface/safetensors): an 8-byte little-endian header length, a JSON
header ``{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}``
padded with spaces, then the tensors' bytes, C order, little-endian. Reading maps the file (no
copy); writing streams one tensor at a time into a temporary file that is renamed into place.
Sharded checkpoints (``model-00001-of-00003.safetensors`` + ``model.safetensors.index.json``)
are read and written too. The official ``safetensors`` package is the oracle in the tests.
"""

from __future__ import annotations

import itertools
import json
import math
import mmap
import os
import tempfile
from collections.abc import Iterable, Mapping
from typing import Any

import ml_dtypes
import numpy as np

from flowsnap.errors import CorruptCheckpointError, TargetExistsError, UnsupportedDtypeError
from flowsnap.format.internals import open_regular

MAX_HEADER = 100 * 2**20
INDEX_SUFFIX = ".safetensors.index.json"

_CODES: dict[str, np.dtype[Any]] = {
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
_NAMES = {dt: code for code, dt in _CODES.items()}


def code_for(dtype: np.dtype[Any], name: str) -> str:
    """The safetensors dtype code of ``dtype``."""
    code = _NAMES.get(np.dtype(dtype))
    if code is None:
        raise UnsupportedDtypeError(f"{name}: safetensors has no dtype for {dtype}")
    return code


def read_safetensors(path: str) -> dict[str, np.ndarray[Any, Any]]:
    """Map one ``.safetensors`` file: ``{name: read-only array view}`` (nothing copied).

    Raises:
        CorruptCheckpointError: the header is malformed, or offsets, sizes or dtypes are wrong.
    """
    fd, _ = open_regular(path, what="safetensors file")  # never a FIFO or a device
    with os.fdopen(fd, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        prefix = f.read(8)
        if len(prefix) < 8:
            raise CorruptCheckpointError(f"{path}: too short to be a safetensors file")
        n = int.from_bytes(prefix, "little")
        if n > MAX_HEADER or 8 + n > size:
            raise CorruptCheckpointError(
                f"{path}: header length {n} is impossible for a file of {size} bytes"
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
            dtype = _CODES[entry["dtype"]]
            shape = tuple(int(d) for d in entry["shape"])
            begin, end = (int(x) for x in entry["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise CorruptCheckpointError(
                f"{path}: tensor {name!r} has a bad header entry {entry!r}"
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
                f"bytes, its offsets [{begin}, {end}] do not fit"
            )
        spans.append((begin, end, name))
        out[name] = np.frombuffer(data, dtype, math.prod(shape), 8 + n + begin).reshape(shape)
    spans.sort()
    for (_, end1, first), (begin2, _, second) in itertools.pairwise(spans):
        if begin2 < end1:
            raise CorruptCheckpointError(f"{path}: tensors {first!r} and {second!r} overlap")
    return out


def read_index(path: str) -> dict[str, np.ndarray[Any, Any]]:
    """Map a sharded checkpoint from its ``*.safetensors.index.json`` (or the directory)."""
    if os.path.isdir(path):
        found = [p for p in os.listdir(path) if p.endswith(INDEX_SUFFIX)]
        if len(found) != 1:
            raise CorruptCheckpointError(f"{path}: expected one *{INDEX_SUFFIX}, found {found}")
        path = os.path.join(path, found[0])
    try:
        fd, _ = open_regular(path, what="safetensors index")
        with os.fdopen(fd) as f:
            weight_map = json.load(f)["weight_map"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CorruptCheckpointError(f"{path}: not a safetensors index: {exc}") from None
    root = os.path.dirname(path)
    shards = {file: read_safetensors(os.path.join(root, file)) for file in set(weight_map.values())}
    out = {}
    for name, file in weight_map.items():
        if name not in shards[file]:
            raise CorruptCheckpointError(f"{path}: {name!r} is not in shard {file}")
        out[name] = shards[file][name]
    return out


def write_safetensors(
    path: str, tensors: Iterable[tuple[str, Any]], metadata: Mapping[str, str] | None = None
) -> None:
    """Write one ``.safetensors`` file atomically, streaming one tensor at a time.

    ``tensors`` yields ``(name, value)``; a value needs ``shape``, ``dtype`` and ``__array__``
    (it is converted only when its turn comes).
    """
    items = list(tensors)
    header: dict[str, Any] = {}
    offset = 0
    for name, value in items:
        dtype = np.dtype(value.dtype)
        nbytes = math.prod(value.shape) * dtype.itemsize
        header[name] = {
            "dtype": code_for(dtype, name),
            "shape": list(value.shape),
            "data_offsets": [offset, offset + nbytes],
        }
        offset += nbytes
    if metadata:
        header["__metadata__"] = dict(metadata)
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    _atomic_write(path, lambda f: _stream(f, raw, items))


def _stream(f: Any, raw: bytes, items: list[tuple[str, Any]]) -> None:
    f.write(len(raw).to_bytes(8, "little"))
    f.write(raw)
    for _, value in items:
        array = np.ascontiguousarray(np.asarray(value))
        if array.dtype.byteorder == ">":
            array = array.astype(array.dtype.newbyteorder("<"))
        f.write(array.reshape(-1).view(np.uint8).data)


def write_sharded(
    directory: str, tensors: Iterable[tuple[str, Any]], max_shard_bytes: int
) -> list[str]:
    """Write ``model-0000i-of-0000n.safetensors`` files of at most ``max_shard_bytes`` each (a
    larger tensor gets a shard of its own) and ``model.safetensors.index.json`` into the new
    directory ``directory``; return the shard names."""
    items = list(tensors)
    groups: list[list[tuple[str, Any]]] = [[]]
    size = 0
    for name, value in items:
        nbytes = math.prod(value.shape) * np.dtype(value.dtype).itemsize
        if groups[-1] and size + nbytes > max_shard_bytes:
            groups.append([])
            size = 0
        groups[-1].append((name, value))
        size += nbytes
    if os.path.lexists(directory):
        raise TargetExistsError(f"cannot convert to {directory}: it already exists")
    parent = os.path.dirname(os.path.abspath(directory))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(directory)}.", dir=parent)
    try:
        names = [f"model-{i + 1:05d}-of-{len(groups):05d}.safetensors" for i in range(len(groups))]
        weight_map = {}
        for shard, group in zip(names, groups, strict=True):
            write_safetensors(os.path.join(tmp, shard), group)
            weight_map.update({name: shard for name, _ in group})
        total = sum(math.prod(v.shape) * np.dtype(v.dtype).itemsize for _, v in items)
        index = {"metadata": {"total_size": total}, "weight_map": weight_map}
        with open(os.path.join(tmp, "model" + INDEX_SUFFIX), "w") as f:
            json.dump(index, f, indent=2)
        os.rename(tmp, directory)
    except BaseException:
        _remove_tree(tmp)
        raise
    return names


def _atomic_write(path: str, write: Any) -> None:
    if os.path.lexists(path):
        raise TargetExistsError(f"cannot write {path}: it already exists")
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", dir=parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def _remove_tree(path: str) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)
