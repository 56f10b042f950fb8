"""OneRec files read by record index (:class:`OneRecDataset`) and OneFlow's ``onerec_decoder``
as a host function (:func:`decode_onerec`)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from flowsnap.data._onerec import Array, index_onerec, parse_example, read_onerec_payloads
from flowsnap.errors import ArgumentError, DatasetError

# The list type OneFlow's decoder reads for each output dtype (uint8 and char had kernels that
# reached UNIMPLEMENTED: refused here with a message instead).
_LIST_FOR = {
    np.dtype(np.int8): 1,
    np.dtype(np.int32): 3,
    np.dtype(np.int64): 4,
    np.dtype(np.float32): 5,
    np.dtype(np.float64): 6,
}


class OneRecDataset:
    """The records of OneRec ``files`` (in the order given), by global index.

    Raises:
        DatasetError: a file is missing or its framing is damaged.
    """

    def __init__(self, files: Sequence[str | os.PathLike[str]]) -> None:
        if isinstance(files, str | os.PathLike) or not len(files):
            raise ArgumentError(f"OneRec files must be a non-empty list of paths, got {files!r}")
        self.paths = tuple(str(p) for p in files)
        self._index = [index_onerec(p) for p in self.paths]
        self.part_lengths: tuple[int, ...] = tuple(len(o) for o, _ in self._index)
        self._starts = np.concatenate([[0], np.cumsum(self.part_lengths)]).astype(np.int64)

    def __len__(self) -> int:
        return int(self._starts[-1])

    def read(self, indices: Sequence[int] | Array, *, verify: bool = True) -> list[bytes]:
        """The payloads (serialized ``Example``) of records ``indices``; with ``verify``, each
        is also checked to be a well-formed ``Example``.

        Raises:
            ArgumentError: an index is out of range.
            DatasetError: a payload's digest or structure is wrong (file and offset named).
        """
        idx = np.asarray(indices, np.int64).reshape(-1)
        if len(idx) and (idx.min() < 0 or idx.max() >= len(self)):
            raise ArgumentError(f"OneRec record index out of range: {len(self)} records")
        part = np.searchsorted(self._starts, idx, side="right") - 1
        out: list[bytes] = [b""] * len(idx)
        for p in np.unique(part):
            where = np.nonzero(part == p)[0]
            offsets, sizes = self._index[int(p)]
            local = (idx[where] - self._starts[p]).tolist()
            for w, payload in zip(
                where, read_onerec_payloads(self.paths[p], offsets, sizes, local), strict=True
            ):
                out[int(w)] = payload
        if verify:
            for i, payload in zip(idx, out, strict=True):
                parse_example(payload, where=f"OneRec record {int(i)}")
        return out


def _dims(shape: tuple[int, ...], new: tuple[int, ...] | None, key: str, i: int) -> list[int]:
    if new is None:
        return list(shape)
    count = int(np.prod(shape, dtype=np.int64))
    fixed = int(np.prod([d for d in new if d > 0], dtype=np.int64))
    free = [d for d, n in enumerate(new) if n == -1]
    if len(free) > 1 or any(n == 0 or n < -1 for n in new):
        raise ArgumentError(f"OneRecDecoder({key!r}): reshape {new} may have one -1, no zeros")
    if (count % fixed) if free else (count != fixed):
        raise DatasetError(
            f"OneRec record {i} of the batch: feature {key!r} of shape {shape} cannot be "
            f"reshaped to {new}"
        )
    return [count // fixed if d in free else n for d, n in enumerate(new)]


def decode_onerec(
    payloads: Sequence[bytes],
    key: str,
    dtype: Any,
    shape: Sequence[int],
    *,
    is_dynamic: bool = False,
    reshape: Sequence[int] | None = None,
    batch_padding: Sequence[int] | None = None,
) -> Array:
    """Feature ``key`` of every record as one ``(len(payloads), *shape)`` array: OneFlow's
    ``onerec_decoder`` kernel.

    Every record's tensor (after ``reshape``, one dimension of which may be -1) must have the
    same shape, equal to ``shape``; ``batch_padding`` (one entry per dimension, all but the first
    0) lets dimension 0 vary: 0 requires it equal, -1 pads every record to the longest, ``n > 0``
    to ``n``; the padding is zeros at the end. With ``is_dynamic`` the records' shape may be
    smaller than ``shape`` (OneFlow made a blob of varying shape): here each record is placed
    at the start of its ``shape``-sized slot, zero elsewhere, so the output keeps ``shape``.
    The stored list type must be the one of ``dtype`` (int8, int32, int64, float32, float64).

    Raises:
        ArgumentError: a dtype OneFlow's decoder did not support, a bad ``reshape`` or
            ``batch_padding``.
        DatasetError: a record lacks ``key``, stores another type, or has a shape that does not
            fit.
    """
    out_dtype = np.dtype(dtype)
    if out_dtype not in _LIST_FOR:
        raise ArgumentError(
            f"OneRecDecoder({key!r}): dtype {out_dtype} is not supported; OneFlow's decoder reads "
            "int8, int32, int64, float32 or float64 lists"
        )
    static = tuple(int(d) for d in shape)
    new = None if reshape is None else tuple(int(d) for d in reshape)
    if new is not None and len(new) != len(static):
        raise ArgumentError(f"OneRecDecoder({key!r}): reshape {new} needs {len(static)} dims")
    pad = None if batch_padding is None else tuple(int(d) for d in batch_padding)
    if pad is not None and (len(pad) != len(static) or any(pad[1:]) or pad[0] < -1):
        raise ArgumentError(
            f"OneRecDecoder({key!r}): batch_padding {pad} needs {len(static)} entries: the first "
            "0, -1 or a size, the others 0"
        )
    if not payloads:
        return np.zeros((0, *static), out_dtype)
    values, dims = [], []
    for i, payload in enumerate(payloads):
        features = parse_example(payload, where=f"OneRec record {i} of the batch")
        if key not in features:
            raise DatasetError(
                f"OneRec record {i} of the batch has no feature {key!r} (it has: "
                f"{', '.join(sorted(features)) or 'none'})"
            )
        stored_shape, kind, vals = features[key]
        if kind != _LIST_FOR[out_dtype] or vals is None:
            raise DatasetError(
                f"OneRec record {i} of the batch: feature {key!r} stores list type {kind}, "
                f"dtype {out_dtype} reads type {_LIST_FOR[out_dtype]}"
            )
        d = _dims(stored_shape, new, key, i)
        if len(d) != len(static):
            raise DatasetError(
                f"OneRec record {i} of the batch: feature {key!r} has shape {tuple(d)}, "
                f"expected {len(static)} dimensions like {static}"
            )
        values.append(vals)
        dims.append(d)
    instance = _instance_shape(dims, pad, key)
    if not is_dynamic and tuple(instance) != static:
        raise DatasetError(
            f"OneRecDecoder({key!r}): the records' shape is {tuple(instance)}, the decoder's "
            f"shape is {static} (pass is_dynamic=True for smaller records)"
        )
    if is_dynamic and any(a > b for a, b in zip(instance, static, strict=True)):
        raise DatasetError(
            f"OneRecDecoder({key!r}): the records' shape {tuple(instance)} exceeds {static}"
        )
    count = int(np.prod(instance, dtype=np.int64))
    out = np.zeros((len(values), *static), out_dtype)
    for i, vals in enumerate(values):
        if len(vals) > count or (pad is None and len(vals) != count):
            raise DatasetError(
                f"OneRec record {i} of the batch: feature {key!r} holds {len(vals)} values for "
                f"shape {tuple(dims[i])}"
            )
        sample = np.zeros(count, out_dtype)
        sample[: len(vals)] = vals
        region: tuple[Any, ...] = (i, *(slice(0, n) for n in instance))
        out[region] = sample.reshape(instance)
    return out


def _instance_shape(dims: list[list[int]], pad: tuple[int, ...] | None, key: str) -> list[int]:
    if not dims:
        return []
    firsts = [d[0] for d in dims] if dims[0] else []
    instance = list(dims[0])
    if instance:
        if pad is None or pad[0] == 0:
            if len(set(firsts)) > 1:
                raise DatasetError(
                    f"OneRecDecoder({key!r}): the records' first dimensions differ ({firsts}); "
                    "pass batch_padding=[-1, 0, ...] to pad them"
                )
        elif pad[0] == -1:
            instance[0] = max(firsts)
        else:
            if max(firsts) > pad[0]:
                raise DatasetError(
                    f"OneRecDecoder({key!r}): a record's first dimension {max(firsts)} exceeds "
                    f"batch_padding {pad[0]}"
                )
            instance[0] = pad[0]
    for axis in range(1, len(instance)):
        sizes = {d[axis] for d in dims}
        if len(sizes) > 1:
            raise DatasetError(
                f"OneRecDecoder({key!r}): the records differ in dimension {axis} ({sorted(sizes)})"
            )
    return instance
