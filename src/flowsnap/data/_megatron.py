"""Megatron-LM's memory-mapped token datasets (``<prefix>.bin`` + ``<prefix>.idx``), read as
OneFlow's ``megatron_gpt_mmap_data_loader`` read them, and written.

**The files** (Megatron's ``MMapIndexedDataset``; OneFlow's ``MegatronGPTIndex`` reads the same):
``<prefix>.bin`` is the documents' tokens back to back; ``<prefix>.idx`` is, little-endian, the
9-byte magic ``MMIDIDX\\x00\\x00``, a ``uint64`` version (1), a ``uint8`` dtype code (1 uint8,
2 int8, 3 int16, 4 int32, 5 int64, 6 float32, 7 float64, 8 uint16), a ``uint64`` document count
``n``, a ``uint64`` count ``m`` (Megatron's ``doc_idx`` length, ``n + 1`` when each entry is its
own document), then ``n`` int32 token counts, ``n`` int64 byte offsets into ``.bin``, and ``m``
int64 ``doc_idx`` entries. Nothing follows.

**The samples** (OneFlow's ``MegatronGPTMMapDataset``): the documents of the split
(``split_sizes``/``split_index``: contiguous ranges of documents, each ``round(ratio * n)``
documents, ratios in float32 and rounding half to even as OneFlow computed them) are repeated for
as many epochs as ``num_samples`` sequences of ``seq_length`` tokens need (plus one token), the
last epoch kept apart when it would be used less than 80 %; with ``shuffle``, the document order
of the complete epochs, and separately of that last epoch, is shuffled. Sample ``i`` is the
``seq_length + 1`` tokens starting at token ``i * seq_length`` of that stream (consecutive samples
share one token: the last input token is the next sample's first); samples are then visited in
a shuffled order (the complete epochs' samples, then the rest, shuffled separately).

The shuffles are NumPy's (a ``RandomState`` seeded with ``seed``, which is MT19937 seeded as
OneFlow's ``std::mt19937(seed)``, but NumPy's shuffle algorithm is not libstdc++'s): the
construction is OneFlow's, the shuffled order is not bit-identical to OneFlow's.
"""

from __future__ import annotations

import math
import os
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from flowsnap.errors import ArgumentError, DatasetError, plural

MAGIC = b"MMIDIDX\x00\x00"
DTYPE_CODES: dict[int, np.dtype[Any]] = {
    1: np.dtype(np.uint8),
    2: np.dtype(np.int8),
    3: np.dtype(np.int16),
    4: np.dtype(np.int32),
    5: np.dtype(np.int64),
    6: np.dtype(np.float32),
    7: np.dtype(np.float64),
    8: np.dtype(np.uint16),
}
_HEADER = struct.Struct("<QBQQ")


def read_megatron_index(path: str | os.PathLike[str]) -> tuple[np.dtype[Any], Any, Any]:
    """``(token dtype, sizes, byte offsets)`` of a Megatron ``.idx`` file.

    Raises:
        DatasetError: the file is missing, has another magic, an unknown dtype code, or a length
            that disagrees with its counts (the message says which and where).
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DatasetError(f"cannot read Megatron index {path}: {exc.strerror or exc}") from None
    if raw[: len(MAGIC)] != MAGIC:
        raise DatasetError(
            f"{path} is not a Megatron MMIDIDX index: its first 9 bytes are {raw[:9]!r}, "
            f"expected {MAGIC!r}"
        )
    head = len(MAGIC) + _HEADER.size
    if len(raw) < head:
        raise DatasetError(f"Megatron index {path} is truncated inside its header")
    _version, code, n, m = _HEADER.unpack_from(raw, len(MAGIC))
    if code not in DTYPE_CODES:
        raise DatasetError(
            f"Megatron index {path}: dtype code {code} at byte {len(MAGIC) + 8} is not one of "
            f"{sorted(DTYPE_CODES)}"
        )
    expected = head + 4 * n + 8 * n + 8 * m
    if len(raw) != expected:
        raise DatasetError(
            f"Megatron index {path}: {n} documents and {m} doc_idx entries need {expected} bytes, "
            f"the file has {len(raw)}"
        )
    sizes = np.frombuffer(raw, "<i4", n, head).astype(np.int64)
    addresses = np.frombuffer(raw, "<i8", n, head + 4 * n).astype(np.int64)
    return DTYPE_CODES[code], sizes, addresses


def write_megatron_dataset(
    prefix: str | os.PathLike[str], documents: Sequence[Any], dtype: Any = np.uint16
) -> tuple[Path, Path]:
    """Write ``documents`` (sequences of token ids) as ``<prefix>.bin`` and ``<prefix>.idx``.

    Raises:
        ArgumentError: no documents, an empty one, or a dtype without a Megatron code.
    """
    dt = np.dtype(dtype)
    codes = {v: k for k, v in DTYPE_CODES.items()}
    if dt not in codes:
        raise ArgumentError(f"Megatron datasets store {sorted(map(str, codes))}, not {dt}")
    arrays = [np.asarray(d).astype(dt) for d in documents]
    if not arrays or any(a.size == 0 for a in arrays):
        raise ArgumentError("write_megatron_dataset needs at least one document, none empty")
    sizes = np.array([a.size for a in arrays], np.int64)
    addresses = np.concatenate([[0], np.cumsum(sizes)[:-1]]) * dt.itemsize
    bin_path, idx_path = Path(f"{prefix}.bin"), Path(f"{prefix}.idx")
    with open(bin_path, "wb") as f:
        for a in arrays:
            f.write(a.astype(dt.newbyteorder("<")).tobytes())
    n = len(arrays)
    with open(idx_path, "wb") as f:
        f.write(MAGIC + _HEADER.pack(1, codes[dt], n, n + 1))
        f.write(sizes.astype("<i4").tobytes() + addresses.astype("<i8").tobytes())
        f.write(np.arange(n + 1, dtype="<i8").tobytes())
    return bin_path, idx_path


def _split_documents(split_sizes: Sequence[int], split_index: int, n: int) -> np.ndarray[Any, Any]:
    if not 0 <= split_index < len(split_sizes):
        raise ArgumentError(
            f"split_index {split_index} is out of range for split_sizes {list(split_sizes)}"
        )
    total = sum(int(s) for s in split_sizes)

    def count(i: int) -> int:
        ratio = np.float32(split_sizes[i]) / np.float32(total)
        return int(np.rint(np.float32(ratio * np.float32(n))))

    start = sum(count(i) for i in range(split_index))
    return np.arange(start, start + count(split_index))


class MegatronGPTDataset:
    """The samples of a Megatron token dataset, as OneFlow's GPT loader built them (module
    docstring); :meth:`samples` gives any of them as ``(len, seq_length + 1)`` arrays.

    Raises:
        DatasetError: the files are missing or damaged, or the split holds no token.
        ArgumentError: a non-positive ``seq_length``/``num_samples``, a bad split.
    """

    def __init__(
        self,
        prefix: str | os.PathLike[str],
        seq_length: int,
        num_samples: int,
        *,
        split_sizes: Sequence[int] = (1,),
        split_index: int = 0,
        shuffle: bool = True,
        seed: int = 0,
    ) -> None:
        if seq_length <= 0 or num_samples <= 0:
            raise ArgumentError(
                f"seq_length and num_samples must be positive, got {seq_length}, {num_samples}"
            )
        self.prefix = str(prefix)
        self.seq_length = int(seq_length)
        self.num_samples = int(num_samples)
        dtype, sizes, addresses = read_megatron_index(f"{prefix}.idx")
        bin_path = Path(f"{prefix}.bin")
        try:
            self._tokens = np.memmap(bin_path, dtype=dtype.newbyteorder("<"), mode="r")
        except (OSError, ValueError) as exc:
            raise DatasetError(f"cannot map Megatron data {bin_path}: {exc}") from None
        ends = addresses // dtype.itemsize + sizes
        if len(sizes) and (np.any(addresses % dtype.itemsize) or ends.max() > len(self._tokens)):
            raise DatasetError(
                f"Megatron data {bin_path} ({plural(len(self._tokens), 'token')}) is shorter "
                f"than its index {prefix}.idx says, or the offsets are not {dtype} aligned"
            )
        docs = _split_documents(split_sizes, split_index, len(sizes))
        tokens_per_epoch = int(sizes[docs].sum())
        if tokens_per_epoch == 0:
            raise DatasetError(f"split {split_index} of {prefix} holds no token")
        epochs, complete = _epochs(self.num_samples, self.seq_length, tokens_per_epoch)
        rng = np.random.RandomState(seed % (1 << 32))
        order = np.tile(docs, complete)
        if shuffle:
            rng.shuffle(order)
        if epochs != complete:
            last = docs.copy()
            if shuffle:
                rng.shuffle(last)
            order = np.concatenate([order, last])
        self._doc_sizes = sizes[order]
        self._doc_starts = (addresses // dtype.itemsize)[order]
        self._stream_ends = np.cumsum(self._doc_sizes)
        total = (epochs * tokens_per_epoch - 1) // self.seq_length
        self.total_samples = int(total)
        shuffled = np.arange(total, dtype=np.int64)
        if shuffle:
            first = (complete * tokens_per_epoch - 1) // self.seq_length
            head = shuffled[:first]
            rng.shuffle(head)
            if epochs != complete:
                rest = shuffled[first:]
                rng.shuffle(rest)
        self._order = shuffled

    def samples(self, indices: Sequence[int] | np.ndarray[Any, Any], dtype: Any = np.int64) -> Any:
        """Samples ``indices`` (in the visiting order) as a ``(len, seq_length + 1)`` array.

        Raises:
            DatasetError: an index is past the samples built for ``num_samples`` (OneFlow's
                loader stopped there too; build it with a larger ``num_samples``).
        """
        idx = np.asarray(indices, np.int64).reshape(-1)
        if len(idx) and (idx.min() < 0 or idx.max() >= self.total_samples):
            raise DatasetError(
                f"Megatron GPT sample {int(idx.max())} of {self.prefix} is past the "
                f"{self.total_samples} samples built for num_samples={self.num_samples}; pass a "
                "larger num_samples (OneFlow's loader stopped at the same point)"
            )
        start = self._order[idx] * self.seq_length
        pos = start[:, None] + np.arange(self.seq_length + 1)
        doc = np.searchsorted(self._stream_ends, pos, side="right")
        offset = pos - (self._stream_ends[doc] - self._doc_sizes[doc])
        return np.asarray(self._tokens[self._doc_starts[doc] + offset]).astype(dtype)


def _epochs(num_samples: int, seq_length: int, tokens_per_epoch: int) -> tuple[int, int]:
    """OneFlow's ``GetNumEpochs`` and ``GetNumCompleteEpochs``."""
    epochs = math.ceil((num_samples * seq_length + 1) / tokens_per_epoch)
    if epochs == 1:
        return 1, 1
    per_epoch = (tokens_per_epoch - 1) // seq_length
    before_last = ((epochs - 1) * tokens_per_epoch - 1) // seq_length
    last = num_samples - before_last
    separate = last < int(np.float32(0.8) * np.float32(per_epoch))
    return epochs, (epochs - 1 if separate else epochs)
