"""Resampling by OpenCV's rules (OneFlow's image ops called ``cv::resize``), without OpenCV.

OneFlow's ``image_resize`` kernels call ``cv::resize`` with ``INTER_LINEAR``, ``INTER_NEAREST``,
``INTER_AREA`` or ``INTER_CUBIC``. Those sample the source differently from Pillow's filters of
the same names, and the differences are not rounding (measured on 640x426 and 640x483 photos
against ``cv2.resize`` of opencv-python-headless 5.0; tests/ops/test_image_ops_oneflow_cases.py):

* ``INTER_LINEAR`` does not anti-alias when shrinking: each output pixel interpolates the 2x2
  source pixels around ``(x + 0.5) * scale - 0.5``. Pillow's bilinear filter widens to the scale
  when shrinking: 640x426 -> 224x224 differed by up to 82 grey levels (mean 3.3). Here a
  shrinking axis is sampled with Pillow's affine transform (which interpolates at exactly those
  points, no widening) and a growing axis with Pillow's resize (identical to OpenCV's there):
  float results within 3.1e-5 of OpenCV's, uint8 within 1 level (OpenCV's 11-bit fixed point).
* ``INTER_NEAREST`` takes source pixel ``floor(x * src / dst)`` (the left/top edge of the output
  pixel, not its centre as Pillow's nearest filter does): computed here exactly.
* ``INTER_AREA`` averages the source area each output pixel covers, with fractional weights for
  partly covered pixels (Pillow's box filter takes whole pixels only: up to 59 levels apart on
  640 -> 224); when an axis grows it is OpenCV's area-interpolation between two neighbours.
* ``INTER_CUBIC`` uses the ``a = -0.75`` kernel without anti-aliasing (Pillow's bicubic filter
  uses ``a = -0.5`` and anti-aliases: up to 150 levels apart when shrinking).

Area and cubic are computed here in NumPy from OpenCV's coefficient rules, accumulated in float32:
area matched ``cv2.resize`` exactly on float images, cubic within 0.005; on uint8 images all
modes are within 1 level (OpenCV rounds its 11-bit fixed-point sums, this the float sums).

Every function takes an ``(H, W, C)`` uint8 or float32 image and returns ``(height, width, C)``
of the same dtype (uint8 rounded half to even and saturated, as OpenCV's ``saturate_cast``).
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
from PIL import Image

Array = np.ndarray[Any, Any]


def _planes(image: Array) -> list[Image.Image]:
    return [
        Image.fromarray(np.ascontiguousarray(image[:, :, c], dtype=np.float32), "F")
        for c in range(image.shape[2])
    ]


def _stack(planes: list[Image.Image]) -> Array:
    return np.stack([np.asarray(p, dtype=np.float32) for p in planes], axis=-1)


def _cast(values: Array, dtype: np.dtype[Any]) -> Array:
    if dtype == np.uint8:
        return np.clip(np.rint(values), 0, 255).astype(np.uint8)
    return values.astype(dtype, copy=False)


def _linear_axis(planes: list[Image.Image], width: int, height: int) -> list[Image.Image]:
    """One resampling step where each axis either grows (or stays) or shrinks."""
    src_w, src_h = planes[0].size
    if width >= src_w and height >= src_h:
        return [p.resize((width, height), Image.Resampling.BILINEAR) for p in planes]
    data = (src_w / width, 0.0, 0.0, 0.0, src_h / height, 0.0)
    return [
        p.transform((width, height), Image.Transform.AFFINE, data, Image.Resampling.BILINEAR)
        for p in planes
    ]


def resize_linear(image: Array, width: int, height: int) -> Array:
    """OpenCV's ``INTER_LINEAR`` (module notes)."""
    src_h, src_w = image.shape[:2]
    planes = _planes(image)
    grows_x, grows_y = width >= src_w, height >= src_h
    if grows_x == grows_y:
        planes = _linear_axis(planes, width, height)
    else:  # one axis grows, the other shrinks: one step each (bilinear is separable)
        planes = _linear_axis(_linear_axis(planes, width, src_h), width, height)
    return _cast(_stack(planes), image.dtype)


def resize_nearest(image: Array, width: int, height: int) -> Array:
    """OpenCV's ``INTER_NEAREST``: output pixel ``x`` takes source pixel
    ``min(floor(x * (1 / (dst / src))), src - 1)``, computed in doubles as OpenCV does."""
    src_h, src_w = image.shape[:2]
    xs = np.minimum(np.floor(np.arange(width) * (1.0 / (width / src_w))), src_w - 1)
    ys = np.minimum(np.floor(np.arange(height) * (1.0 / (height / src_h))), src_h - 1)
    rows: Array = np.take(image, ys.astype(np.intp), axis=0)
    out: Array = np.take(rows, xs.astype(np.intp), axis=1)
    return out


def _taps(rows: list[list[tuple[int, float]]]) -> tuple[Array, Array]:
    """Per-output-pixel ``(source index, weight)`` lists as ``(dst, k)`` index and weight arrays
    (zero weight where a pixel has fewer taps)."""
    k = max(len(row) for row in rows)
    index = np.zeros((len(rows), k), dtype=np.intp)
    weight = np.zeros((len(rows), k), dtype=np.float32)
    for d, row in enumerate(rows):
        for j, (s, w) in enumerate(row):
            index[d, j], weight[d, j] = s, w
    index.flags.writeable = weight.flags.writeable = False  # cached: shared by every call
    return index, weight


@functools.lru_cache(maxsize=256)
def _area_coverage_taps(src: int, dst: int) -> tuple[Array, Array]:
    """OpenCV's ``INTER_AREA`` when both axes shrink: the fraction of each source pixel the output
    pixel covers (slivers under 1e-3 of a pixel dropped, as OpenCV's table does)."""
    scale = 1.0 / (dst / src)  # OpenCV's scale_x = 1 / inv_scale_x
    rows: list[list[tuple[int, float]]] = []
    for d in range(dst):
        fsx1 = d * scale
        fsx2 = fsx1 + scale
        cell = min(scale, src - fsx1)
        sx1, sx2 = math.ceil(fsx1), math.floor(fsx2)
        sx2 = min(sx2, src - 1)
        sx1 = min(sx1, sx2)
        row: list[tuple[int, float]] = []
        if sx1 - fsx1 > 1e-3:
            row.append((sx1 - 1, (sx1 - fsx1) / cell))
        row.extend((s, 1.0 / cell) for s in range(sx1, sx2))
        if fsx2 - sx2 > 1e-3:
            row.append((sx2, min(fsx2 - sx2, 1.0, cell) / cell))
        rows.append(row)
    return _taps(rows)


@functools.lru_cache(maxsize=256)
def _area_interp_taps(src: int, dst: int) -> tuple[Array, Array]:
    """OpenCV's ``INTER_AREA`` when an axis grows: two neighbours, the second weighted by the part
    of the output pixel past the source pixel's edge."""
    scale, inv = 1.0 / (dst / src), dst / src
    rows: list[list[tuple[int, float]]] = []
    for d in range(dst):
        s = math.floor(d * scale)
        f = float(np.float32((d + 1) - (s + 1) * inv))
        f = 0.0 if f <= 0 else f - math.floor(f)
        if s >= src - 1:
            s, f = src - 1, 0.0
        rows.append([(s, 1.0 - f), (min(s + 1, src - 1), f)])
    return _taps(rows)


@functools.lru_cache(maxsize=256)
def _cubic_taps(src: int, dst: int) -> tuple[Array, Array]:
    """OpenCV's ``INTER_CUBIC``: four neighbours of ``(x + 0.5) * scale - 0.5`` weighted by the
    ``a = -0.75`` cubic kernel, indices clamped at the edges (border replicate)."""
    scale = 1.0 / (dst / src)
    a = -0.75
    rows: list[list[tuple[int, float]]] = []
    for d in range(dst):
        fx = float(np.float32((d + 0.5) * scale - 0.5))
        s = math.floor(fx)
        x = float(np.float32(fx - s))
        c0 = ((a * (x + 1) - 5 * a) * (x + 1) + 8 * a) * (x + 1) - 4 * a
        c1 = ((a + 2) * x - (a + 3)) * x * x + 1
        c2 = ((a + 2) * (1 - x) - (a + 3)) * (1 - x) * (1 - x) + 1
        c3 = 1 - c0 - c1 - c2
        rows.append([(min(max(s - 1 + k, 0), src - 1), c) for k, c in enumerate((c0, c1, c2, c3))])
    return _taps(rows)


def _separable(image: Array, across: tuple[Array, Array], down: tuple[Array, Array]) -> Array:
    """Apply per-axis taps (horizontal, then vertical), accumulated in float32."""
    values = image.astype(np.float32, copy=False)
    index, weight = across
    rows = np.zeros((image.shape[0], index.shape[0], image.shape[2]), dtype=np.float32)
    for j in range(index.shape[1]):
        rows += values[:, index[:, j]] * weight[None, :, j, None]
    index, weight = down
    out = np.zeros((index.shape[0], rows.shape[1], image.shape[2]), dtype=np.float32)
    for j in range(index.shape[1]):
        out += rows[index[:, j]] * weight[:, j, None, None]
    return _cast(out, image.dtype)


def resize_area(image: Array, width: int, height: int) -> Array:
    """OpenCV's ``INTER_AREA`` (module notes): area coverage when both axes shrink, its
    area-interpolation otherwise."""
    src_h, src_w = image.shape[:2]
    taps = _area_coverage_taps if width <= src_w and height <= src_h else _area_interp_taps
    return _separable(image, taps(src_w, width), taps(src_h, height))


def resize_cubic(image: Array, width: int, height: int) -> Array:
    """OpenCV's ``INTER_CUBIC`` (module notes)."""
    src_h, src_w = image.shape[:2]
    return _separable(image, _cubic_taps(src_w, width), _cubic_taps(src_h, height))
