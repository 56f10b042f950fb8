"""``flowsnap convert``: between flowsnap/OneFlow directories, safetensors (one file or sharded),
PyTorch ``state_dict`` files and ``.npz``, with filters, renames and dtype casts.

Every reader is lazy (:mod:`flowsnap.foreign`), every writer streams one tensor at a time and
publishes atomically, so memory stays bounded by the largest tensor (and by nothing at all for
plain copies to flowsnap). PyTorch files are read with ``torch.load(weights_only=True)`` only.
Without casts, round trips are bit-exact. Messages name the command-line options
(``--to``, ``--max-shard-size``...), whose Python parameters here carry the same names.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import ml_dtypes
import numpy as np

from flowsnap.checkpoint.rename import RenameRules, compile_patterns
from flowsnap.errors import (
    ConversionError,
    InvalidNameError,
    MissingMetaError,
    TargetExistsError,
    UnsupportedDtypeError,
)
from flowsnap.foreign import (
    FORMATS,
    INDEX_SUFFIX,
    detect_format,
    format_of_name,
    open_checkpoint,
)
from flowsnap.format import DeferredArray, StoredVariable, validate_name, write_snapshot
from flowsnap.tools import _safetensors as st

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

DEFAULT_SHARD_BYTES = 5 * 10**9  # Hugging Face's default max_shard_size, "5GB"

Shapes = Mapping[str, tuple[Sequence[int], Any]]


@dataclass(frozen=True)
class Converted:
    """What :func:`convert` did: the formats, the tensor count and bytes written, renames, what
    was left out by the filters, and the files written."""

    source_format: str
    target_format: str
    tensors: int
    nbytes: int
    renamed: dict[str, str]
    cast: int
    excluded: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)


def detect(path: str, *, for_writing: bool = False) -> str:
    """Guess a checkpoint's format from its path (and, for reading, its content)."""
    if for_writing:
        return plan_target(path, dst_format=None, max_shard_bytes=None)[0]
    return detect_format(path)


def read_tensors(path: str, fmt: str | None = None) -> Mapping[str, Any]:
    """``{name: array-like}`` for a checkpoint of any supported format, lazily."""
    opened = open_checkpoint(path, fmt=fmt)
    if isinstance(opened, StoredVariable):
        return {opened.name: opened}
    return opened


def plan_target(
    dst: str, *, dst_format: str | None, max_shard_bytes: int | None
) -> tuple[str, str]:
    """``(format, layout)`` of a conversion target, by one rule; contradictions are refused.

    Layouts: ``"file"`` (one file), ``"directory"`` (flowsnap, or Hugging Face's
    ``save_pretrained`` shards ``model-0000i-of-0000n.safetensors`` +
    ``model.safetensors.index.json`` in a new directory) or ``"files"`` (shards
    ``<stem>-0000i-of-0000n.safetensors`` next to ``<stem>.safetensors.index.json``).
    """
    if dst_format is not None and dst_format not in FORMATS:
        raise ConversionError(f"--to {dst_format!r}: use one of {', '.join(FORMATS)}")
    trimmed = dst.rstrip("/" + os.sep)
    named = format_of_name(trimmed)
    if named is not None and trimmed != dst:
        raise ConversionError(
            f"{dst} names a directory, but {os.path.basename(trimmed)} is named like a {named} "
            "file; drop the trailing slash, or choose a directory name without that suffix"
        )
    base = os.path.basename(trimmed)
    dir_like = trimmed != dst or not os.path.splitext(base)[1]
    sharded = max_shard_bytes is not None or dst_format == "safetensors-sharded"
    if sharded or named == "safetensors-sharded":
        if dst_format not in (None, "safetensors", "safetensors-sharded"):
            raise ConversionError(
                f"--max-shard-size writes sharded safetensors, which contradicts --to {dst_format}"
            )
        if named in ("safetensors", "safetensors-sharded"):
            return "safetensors-sharded", "files"
        if named is None and dir_like:
            return "safetensors-sharded", "directory"
        raise ConversionError(
            f"cannot write sharded safetensors to {dst}: name the target model.safetensors (or "
            f"any *.safetensors: shards <stem>-00001-of-0000n.safetensors go next to "
            f"<stem>{INDEX_SUFFIX}), or a new directory (model-0000i-of-0000n.safetensors and "
            f"model{INDEX_SUFFIX} inside it)"
        )
    if dst_format is not None:
        if named is not None and named != dst_format:
            raise ConversionError(
                f"{dst} is named like a {named} file, which contradicts --to {dst_format}; "
                "rename the target or drop --to"
            )
        return dst_format, "directory" if dst_format == "flowsnap" else "file"
    if named is not None:
        return named, "file"
    if dir_like:
        return "flowsnap", "directory"
    raise ConversionError(
        f"cannot tell the format to write from the name {dst}: end it in .safetensors, "
        f"{INDEX_SUFFIX}, .pt/.pth/.bin or .npz, give a directory name without a suffix (a "
        f"flowsnap checkpoint), or pass --to ({', '.join(FORMATS)})"
    )


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
    include: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
    shapes: Shapes | None = None,
    allow_incomplete: bool = False,
    verify: bool = True,
) -> Converted:
    """Convert the checkpoint ``src`` into the new file or directory ``dst``.

    Args:
        src, dst: paths; formats are guessed from them unless given (:func:`plan_target` says
            how ``dst`` is laid out).
        rename: rules applied to every name (after the filters).
        dtype: cast floating-point tensors to ``bf16``, ``fp16``, ``fp32`` or ``fp64``.
        max_shard_bytes: write sharded safetensors with shards of at most this size.
        durable: fsync flowsnap output (other writers always fsync).
        include: keep only names matching one of these regexes (searched, as in
            ``load_variables``); names as in ``src``.
        exclude: leave out names matching one of these regexes.
        shapes: ``{name: (shape, dtype)}`` for legacy variables without ``meta``.
        allow_incomplete: read a flowsnap directory without ``snapshot_done``.
        verify: check a flowsnap source's manifest and checksums while copying.

    Raises:
        ConversionError: an unknown format or cast, contradicting options, or two names
            renamed to one.
        InvalidNameError: a name the target cannot hold (empty, or not a directory name).
        MissingMetaError: a legacy variable whose shape is not in ``shapes``.
        TargetExistsError: ``dst`` exists.
    """
    target_format, layout = plan_target(dst, dst_format=dst_format, max_shard_bytes=max_shard_bytes)
    if os.path.lexists(dst):
        raise TargetExistsError(
            f"cannot convert to {dst}: it already exists (convert never overwrites); remove it "
            "or choose a new name"
        )
    src_format = src_format or detect_format(src)
    cast_to = None
    if dtype is not None:
        cast_to = CASTS.get(dtype.lower())
        if cast_to is None:
            raise ConversionError(f"--dtype {dtype!r}: use one of {', '.join(sorted(CASTS))}")
    keep_in = compile_patterns(list(include or ()), "--include")
    keep_out = compile_patterns(list(exclude or ()), "--exclude")
    opened = open_checkpoint(
        src, fmt=src_format, verify=verify, allow_incomplete=allow_incomplete, shapes=shapes
    )
    tensors = {opened.name: opened} if isinstance(opened, StoredVariable) else dict(opened)
    rules = rename or RenameRules()
    renamed: dict[str, str] = {}
    excluded: list[str] = []
    out: dict[str, Any] = {}
    cast = 0
    for name, value in tensors.items():
        if _filtered(name, keep_in, keep_out):
            excluded.append(name)
            continue
        new = rules(name)
        _check_name(name, new, target_format)
        if new != name:
            renamed[name] = new
        if new in out:
            raise ConversionError(
                f"two tensors would be named {new!r} ({name!r} among them); fix the --rename rules"
            )
        out[new] = value
    if excluded and not out:
        raise ConversionError(
            f"--include/--exclude leave none of the {len(excluded)} tensors of {src} to convert; "
            "names are searched as they are in the source (flowsnap ls lists them)"
        )
    require_shapes(out)
    for new, value in out.items():
        value_dtype = np.dtype(value.dtype)
        if cast_to is not None and _is_float(value_dtype) and value_dtype != cast_to:
            out[new] = _Cast(value, cast_to)
            cast += 1
    files = _write(dst, target_format, layout, out, max_shard_bytes, durable)
    nbytes = sum(st.nbytes_of(v) for v in out.values())
    return Converted(src_format, target_format, len(out), nbytes, renamed, cast, excluded, files)


def _filtered(name: str, keep_in: list[re.Pattern[str]], keep_out: list[re.Pattern[str]]) -> bool:
    return bool(keep_in and not any(p.search(name) for p in keep_in)) or any(
        p.search(name) for p in keep_out
    )


def _check_name(old: str, new: str, target_format: str) -> None:
    if not new:
        raise InvalidNameError(
            f"--rename turns {old!r} into an empty name, which no format can hold; to leave "
            "tensors out, use --exclude REGEX"
        )
    if target_format == "flowsnap":
        try:
            validate_name(new)
        except InvalidNameError as exc:
            what = repr(old) if old == new else f"{old!r} (renamed {new!r})"
            raise InvalidNameError(
                f"{what} cannot name a variable directory of a flowsnap/OneFlow checkpoint: "
                f"{exc} With flowsnap convert, --rename REGEX=REPL gives it such a name (the "
                "first rule that matches rewrites the name once, e.g. "
                "'^(\\w+)/(\\w+)/(\\w+)$=\\1-\\2-\\3')."
            ) from None


def require_shapes(tensors: Mapping[str, Any]) -> None:
    """Raise :class:`MissingMetaError` naming every variable whose shape is still unknown."""
    unknown = [n for n, v in tensors.items() if v.shape is None or v.dtype is None]
    if unknown:
        shown = ", ".join(map(repr, unknown[:5])) + (" ..." if len(unknown) > 5 else "")
        raise MissingMetaError(
            f"{len(unknown)} variable{'s' if len(unknown) != 1 else ''} ({shown}) "
            f"{'have' if len(unknown) != 1 else 'has'} no meta file (a legacy OneFlow "
            "checkpoint), so shape and dtype are unknown: take them from a checkpoint of the "
            "same model with --like CKPT, or give them with --shapes "
            '\'{"name": {"shape": [10, 784], "dtype": "float32"}}\''
        )


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
    dst: str,
    fmt: str,
    layout: str,
    tensors: dict[str, Any],
    max_shard_bytes: int | None,
    durable: bool,
) -> list[str]:
    limit = max_shard_bytes or DEFAULT_SHARD_BYTES
    if fmt == "safetensors-sharded" and layout == "files":
        index = dst if dst.lower().endswith(INDEX_SUFFIX) else dst[: -len(".safetensors")]
        index = index if index.lower().endswith(INDEX_SUFFIX) else index + INDEX_SUFFIX
        shards = st.write_sharded_files(index, tensors.items(), limit)
        parent = os.path.dirname(index)
        return [os.path.join(parent, s) for s in shards] + [index]
    writers: dict[str, Callable[[], object]] = {
        "flowsnap": lambda: _write_flowsnap(dst, tensors, durable),
        "safetensors": lambda: st.write_safetensors(dst, tensors.items()),
        "safetensors-sharded": lambda: st.write_sharded(dst, tensors.items(), limit),
        "npz": lambda: _write_npz(dst, tensors),
        "torch": lambda: _write_torch(dst, tensors),
    }
    writers[fmt]()
    return [dst]


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
    st.atomic_write(dst, lambda f: np.savez(f, **lazy))


def _write_torch(dst: str, tensors: dict[str, Any]) -> None:
    try:
        import torch
    except ImportError:
        raise ConversionError(
            "writing PyTorch files needs torch: pip install 'flowsnap[torch]'"
        ) from None
    state = {name: _to_torch(np.asarray(value)) for name, value in tensors.items()}
    st.atomic_write(dst, lambda f: torch.save(state, f))


def _to_torch(array: np.ndarray[Any, Any]) -> Any:
    import torch

    if not array.flags.c_contiguous:
        array = array.copy(order="C")  # (np.ascontiguousarray would turn scalars into (1,))
    if not array.flags.writeable:  # mapped files: torch wants writable memory (torch.save copies)
        array = array.copy()
    if array.dtype == np.dtype(ml_dtypes.bfloat16):
        return torch.from_numpy(array.view(np.int16)).view(torch.bfloat16)
    return torch.from_numpy(array)
