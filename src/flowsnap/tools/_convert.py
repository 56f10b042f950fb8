"""``flowsnap convert``: between flowsnap/OneFlow directories, safetensors (one file or sharded),
PyTorch ``state_dict`` files and ``.npz``, with renames and dtype casts.

Every reader is lazy (files are mapped, or read one tensor at a time), every writer streams one
tensor at a time and publishes atomically, so memory stays bounded by the largest tensor (and by
nothing at all for plain copies to flowsnap). PyTorch files are read with
``torch.load(weights_only=True)`` only: no unrestricted unpickling, ever. Without casts, round
trips are bit-exact.
"""

from __future__ import annotations

import math
import os
import zipfile
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import ml_dtypes
import numpy as np

from flowsnap.checkpoint.rename import RenameRules
from flowsnap.errors import ConversionError, CorruptCheckpointError, UnsupportedDtypeError
from flowsnap.format import DeferredArray, StoredVariable, open_snapshot, write_snapshot
from flowsnap.tools import _safetensors as st

FORMATS = ("flowsnap", "safetensors", "safetensors-sharded", "torch", "npz")

CASTS: dict[str, np.dtype[Any]] = {
    "bf16": np.dtype(ml_dtypes.bfloat16),
    "bfloat16": np.dtype(ml_dtypes.bfloat16),
    "fp16": np.dtype(np.float16),
    "float16": np.dtype(np.float16),
    "fp32": np.dtype(np.float32),
    "float32": np.dtype(np.float32),
    "fp64": np.dtype(np.float64),
    "float64": np.dtype(np.float64),
}


@dataclass(frozen=True)
class Converted:
    """What :func:`convert` did: the formats, the tensor count and bytes written, renames."""

    source_format: str
    target_format: str
    tensors: int
    nbytes: int
    renamed: dict[str, str]
    cast: int


def detect(path: str, *, for_writing: bool = False) -> str:
    """Guess a checkpoint's format from its path (and, for reading, its content)."""
    lower = path.lower()
    if lower.endswith(st.INDEX_SUFFIX):
        return "safetensors-sharded"
    if lower.endswith(".safetensors"):
        return "safetensors"
    if lower.endswith((".pt", ".pth", ".bin")):
        return "torch"
    if lower.endswith(".npz"):
        return "npz"
    if not for_writing and os.path.isdir(path):
        entries = os.listdir(path)
        if any(e.endswith(st.INDEX_SUFFIX) for e in entries):
            return "safetensors-sharded"
        return "flowsnap"
    if for_writing:
        return "flowsnap"
    raise ConversionError(
        f"cannot tell the format of {path}; name it (.safetensors, .pt, .npz, a directory) or "
        f"pass --from/--to ({', '.join(FORMATS)})"
    )


def read_tensors(path: str, fmt: str | None = None) -> Mapping[str, Any]:
    """``{name: array-like}`` for a checkpoint of any supported format, lazily."""
    fmt = fmt or detect(path)
    if fmt in ("npz", "torch") and not os.path.isfile(path):  # never block on a FIFO
        raise CorruptCheckpointError(f"{path} is not a regular file")
    if fmt == "flowsnap":
        return open_snapshot(path)
    if fmt == "safetensors":
        return st.read_safetensors(path)
    if fmt == "safetensors-sharded":
        return st.read_index(path)
    if fmt == "npz":
        return _read_npz(path)
    if fmt == "torch":
        return _read_torch(path)
    raise ConversionError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")


def _read_npz(path: str) -> Mapping[str, Any]:
    try:
        npz = np.load(path, allow_pickle=False)
        if not isinstance(npz, np.lib.npyio.NpzFile):
            raise ValueError("a single .npy array, not an .npz archive")
        return {name: _LazyNpz(npz, name) for name in npz.files}
    except _NPZ_ERRORS as exc:
        raise CorruptCheckpointError(f"{path}: not a readable .npz file: {exc}") from None


# what a damaged or hostile .npz makes NumPy's reader raise
_NPZ_ERRORS = (
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


class _LazyNpz:
    """One member of an ``.npz``: shape and dtype from its header, data when converted."""

    def __init__(self, npz: Any, name: str) -> None:
        self._npz, self.name = npz, name
        with npz.zip.open(name + ".npy") as member:
            version = np.lib.format.read_magic(member)
            read_header = (
                np.lib.format.read_array_header_1_0
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0
            )
            shape, _, dtype = read_header(member)
        self.shape, self.dtype = tuple(shape), np.dtype(dtype)
        # NumPy allocates what the header claims before reading: check the claim first
        info = npz.zip.getinfo(name + ".npy")
        needed = math.prod(self.shape) * self.dtype.itemsize
        if needed > info.file_size or info.file_size > 1100 * max(info.compress_size, 1):
            raise ValueError(
                f"member {name!r} claims {needed} bytes of data but holds {info.file_size} "
                f"({info.compress_size} compressed)"
            )

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray[Any, Any]:
        del copy
        try:
            array: np.ndarray[Any, Any] = self._npz[self.name]
        except _NPZ_ERRORS as exc:  # damaged data; object arrays need pickle: refused
            raise CorruptCheckpointError(f"{self.name}: {exc}") from None
        return array if dtype is None else array.astype(dtype)


def _read_torch(path: str) -> Mapping[str, Any]:
    try:
        import torch
    except ImportError:
        raise ConversionError(
            "reading PyTorch files needs torch: pip install 'flowsnap[torch]'"
        ) from None
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as exc:  # torch raises many kinds; all mean "not a safe state_dict"
        raise CorruptCheckpointError(
            f"{path}: not a PyTorch state_dict loadable with weights_only=True: {exc}"
        ) from None
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ConversionError(
            f"{path}: expected a flat state_dict {{name: tensor}}, got {type(obj).__name__}"
        )
    return {name: _from_torch(t) for name, t in obj.items()}


def _from_torch(tensor: Any) -> np.ndarray[Any, Any]:
    import torch

    tensor = tensor.detach().contiguous()
    if tensor.dtype == torch.bfloat16:
        array: np.ndarray[Any, Any] = tensor.view(torch.int16).numpy().view(ml_dtypes.bfloat16)
        return array
    result: np.ndarray[Any, Any] = tensor.numpy()
    return result


def _to_torch(array: np.ndarray[Any, Any]) -> Any:
    import torch

    if not array.flags.c_contiguous:
        array = array.copy(order="C")  # (np.ascontiguousarray would turn scalars into (1,))
    if not array.flags.writeable:  # mapped files: torch wants writable memory (torch.save copies)
        array = array.copy()
    if array.dtype == np.dtype(ml_dtypes.bfloat16):
        return torch.from_numpy(array.view(np.int16)).view(torch.bfloat16)
    return torch.from_numpy(array)


def convert(
    src: str,
    dst: str,
    *,
    src_format: str | None = None,
    dst_format: str | None = None,
    rename: RenameRules | None = None,
    dtype: str | None = None,
    max_shard_bytes: int | None = None,
    durable: bool = True,
) -> Converted:
    """Convert the checkpoint ``src`` into the new file or directory ``dst``.

    Args:
        src, dst: paths; formats are guessed from them unless given.
        rename: rules applied to every name.
        dtype: cast floating-point tensors to ``bf16``, ``fp16``, ``fp32`` or ``fp64``.
        max_shard_bytes: with safetensors output, shard into files of at most this size.
        durable: fsync flowsnap output (other writers always fsync).

    Raises:
        ConversionError: an unknown format or cast, or two names renamed to one.
        TargetExistsError: ``dst`` exists.
    """
    src_format = src_format or detect(src)
    dst_format = dst_format or (
        "safetensors-sharded" if max_shard_bytes else detect(dst, for_writing=True)
    )
    tensors = read_tensors(src, src_format)
    rules = rename or RenameRules()
    target = None
    if dtype is not None:
        target = CASTS.get(dtype.lower())
        if target is None:
            raise ConversionError(f"--dtype {dtype!r}: use one of {sorted(CASTS)}")
    renamed: dict[str, str] = {}
    out: dict[str, Any] = {}
    cast = 0
    for name, value in tensors.items():
        new = rules(name)
        if new != name:
            renamed[name] = new
        if new in out:
            raise ConversionError(f"two tensors would be named {new!r}; fix the rename rules")
        value_dtype = np.dtype(value.dtype)
        if target is not None and _is_float(value_dtype) and value_dtype != target:
            out[new] = _Cast(value, target)
            cast += 1
        else:
            out[new] = value
    _write(dst, dst_format, out, max_shard_bytes, durable)
    nbytes = sum(int(np.prod(v.shape)) * np.dtype(v.dtype).itemsize for v in out.values())
    return Converted(src_format, dst_format, len(out), nbytes, renamed, cast)


def _is_float(dtype: np.dtype[Any]) -> bool:
    return dtype.kind == "f" or dtype == np.dtype(ml_dtypes.bfloat16)


class _Cast:
    """A tensor converted to another dtype when its turn to be written comes."""

    def __init__(self, value: Any, dtype: np.dtype[Any]) -> None:
        self.value, self.dtype, self.shape = value, dtype, tuple(value.shape)

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray[Any, Any]:
        del copy
        return np.asarray(self.value).astype(dtype or self.dtype)


def _write(
    dst: str, fmt: str, tensors: dict[str, Any], max_shard_bytes: int | None, durable: bool
) -> None:
    writers: dict[str, Callable[[], object]] = {
        "flowsnap": lambda: _write_flowsnap(dst, tensors, durable),
        "safetensors": lambda: st.write_safetensors(dst, tensors.items()),
        "safetensors-sharded": lambda: st.write_sharded(
            dst, tensors.items(), max_shard_bytes or 5 * 10**9
        ),
        "npz": lambda: _write_npz(dst, tensors),
        "torch": lambda: _write_torch(dst, tensors),
    }
    if fmt not in writers:
        raise ConversionError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    writers[fmt]()


def _write_flowsnap(dst: str, tensors: dict[str, Any], durable: bool) -> None:
    def values() -> Iterator[tuple[str, Any]]:
        for name, value in tensors.items():
            if isinstance(value, StoredVariable):
                yield name, value  # copied file to file, verified
            else:  # read (and cast) only when the writer reaches it
                yield name, DeferredArray(tuple(value.shape), value.dtype, _Lazy(value).__array__)

    write_snapshot(dst, list(values()), durable=durable)


class _Lazy:
    """Defers ``np.asarray`` until the writer asks, so one tensor is in memory at a time."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray[Any, Any]:
        del copy
        array = np.asarray(self.value)
        return array if dtype is None else array.astype(dtype)


def _write_npz(dst: str, tensors: dict[str, Any]) -> None:
    bad = [n for n, v in tensors.items() if np.dtype(v.dtype) == np.dtype(ml_dtypes.bfloat16)]
    if bad:
        raise UnsupportedDtypeError(
            f".npz cannot hold bfloat16 portably ({', '.join(bad[:3])}); cast with --dtype fp32"
        )
    lazy: dict[str, Any] = {n: _Lazy(v) for n, v in tensors.items()}
    st._atomic_write(dst, lambda f: np.savez(f, **lazy))


def _write_torch(dst: str, tensors: dict[str, Any]) -> None:
    try:
        import torch
    except ImportError:
        raise ConversionError(
            "writing PyTorch files needs torch: pip install 'flowsnap[torch]'"
        ) from None
    state = {name: _to_torch(np.asarray(value)) for name, value in tensors.items()}
    st._atomic_write(dst, lambda f: torch.save(state, f))
