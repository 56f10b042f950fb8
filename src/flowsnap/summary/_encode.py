"""What a summary value becomes in an event: OneFlow's histogram and PNG images.

The histogram follows OneFlow's summary kernel: bucket limits ``0``, ``±l_k`` with
``l_0 = 6.144212353328214e-06`` and ``l_{k+1} = l_k * 1.1`` (336 limits each side, by repeated
multiplication) and ``±DBL_MAX``; a value falls in the first bucket whose limit is greater than it
(``upper_bound``); empty buckets in a row are written as one, with the last limit of the row. The
PNG encoder writes 8-bit gray, gray+alpha, RGB or RGBA images (unfiltered rows, zlib's default
level), from the PNG specification.
"""

from __future__ import annotations

import functools
import struct
import sys
import zlib
from typing import Any

import numpy as np

from flowsnap.errors import ArgumentError

_FIRST_LIMIT = 6.144212353328214e-06
_LIMITS_PER_SIDE = 336


@functools.cache
def bucket_limits() -> np.ndarray:
    """OneFlow's histogram bucket limits, ascending (675 of them)."""
    positive = [_FIRST_LIMIT]
    for _ in range(_LIMITS_PER_SIDE - 1):
        positive.append(positive[-1] * 1.1)
    top = sys.float_info.max
    limits = [-top, *(-v for v in reversed(positive)), 0.0, *positive, top]
    return np.asarray(limits, dtype=np.float64)


def fill_histogram(histo: Any, values: np.ndarray) -> None:
    """Fill the ``HistogramProto`` ``histo`` with the statistics and buckets of ``values``."""
    flat = np.asarray(values, dtype=np.float64).ravel()
    limits = bucket_limits()
    histo.num = float(flat.size)
    histo.sum = float(flat.sum())
    histo.sum_squares = float(np.dot(flat, flat))
    histo.min = float(flat.min()) if flat.size else sys.float_info.max
    histo.max = float(flat.max()) if flat.size else -sys.float_info.max
    index = np.minimum(np.searchsorted(limits, flat, side="right"), limits.size - 1)
    counts = np.bincount(index, minlength=limits.size).astype(np.float64)
    i = 0
    while i < counts.size:
        count, last = counts[i], limits[i]
        i += 1
        if count <= 0:
            while i < counts.size and counts[i] <= 0:
                last = limits[i]
                i += 1
        histo.bucket_limit.append(float(last))
        histo.bucket.append(float(count))


_COLOR_TYPES = {1: 0, 2: 4, 3: 2, 4: 6}  # channels -> PNG colour type


def encode_png(image: np.ndarray) -> bytes:
    """PNG bytes of an 8-bit ``(height, width, channels)`` image, channels 1 to 4."""
    if image.ndim != 3 or image.shape[2] not in _COLOR_TYPES or image.dtype != np.uint8:
        raise ArgumentError(
            f"an image must be uint8 of shape (height, width, 1|2|3|4), got {image.dtype} "
            f"{image.shape}"
        )
    height, width, channels = image.shape

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, _COLOR_TYPES[channels], 0, 0, 0)
    rows = np.ascontiguousarray(image).reshape(height, width * channels)
    raw = np.concatenate([np.zeros((height, 1), np.uint8), rows], axis=1).tobytes()
    return b"".join(
        (
            b"\x89PNG\r\n\x1a\n",
            chunk(b"IHDR", header),
            chunk(b"IDAT", zlib.compress(raw, zlib.Z_DEFAULT_COMPRESSION)),
            chunk(b"IEND", b""),
        )
    )
