"""Image augmentation on the host, as OneFlow's image ops: random crop (``random_area``,
``random_aspect_ratio``, ``num_attempts``), decode + random crop (+ resize), crop-mirror-normalize,
flip, normalize, batch align and coin flip.

Randomness is a pure function of a :class:`numpy.random.Generator`: a batch op first draws one
64-bit seed per image from it (in image order), then image ``i`` uses its own generator
``numpy.random.default_rng(seed_i)``, as OneFlow's crop generator seeded one engine per image.
The per-image work then runs on the pool in any order with the same result.

The crop window follows OneFlow's ``RandomCropGenerator`` step by step, in float32 as its C++ did:
``num_attempts`` draws of an area fraction (uniform in ``random_area``) and an aspect ratio
(log-uniform in ``random_aspect_ratio``), ``w = roundf(sqrt(area * ratio))``,
``h = roundf(sqrt(area / ratio))``; the first window that fits with its rounded ratio in range is
taken; when none does, the whole image clamped to the ratio range and shrunk to the largest
allowed area; images too narrow or too flat for the smallest area get the widest (tallest) window
the ratio allows. The anchor is uniform over the positions where the window fits.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from concurrent.futures import Executor
from typing import Any, NamedTuple

import numpy as np

from flowsnap.data._images import (
    Array,
    check_color_space,
    decode_image,
    pool_map,
    resize_image,
)
from flowsnap.errors import ArgumentError, DatasetError

_f32 = np.float32
DEFAULT_RANDOM_AREA = (0.08, 1.0)
DEFAULT_RANDOM_ASPECT_RATIO = (0.75, 1.333333)


class CropWindow(NamedTuple):
    """A crop: top-left corner ``(y, x)`` and size ``(height, width)`` in pixels."""

    y: int
    x: int
    height: int
    width: int


def _roundf(value: float) -> int:
    floor = math.floor(value)
    return int(floor) + (1 if value - floor >= 0.5 else 0)


def check_crop_args(
    num_attempts: int,
    random_area: Sequence[float],
    random_aspect_ratio: Sequence[float],
    *,
    op: str = "random_crop",
) -> tuple[tuple[float, float], tuple[float, float]]:
    """Validate OneFlow's random-crop arguments; returns ``(random_area, random_aspect_ratio)``."""
    if isinstance(num_attempts, bool) or not isinstance(num_attempts, int) or num_attempts < 1:
        raise ArgumentError(f"{op}: num_attempts must be an int >= 1, got {num_attempts!r}")
    pairs = []
    for label, pair in (("random_area", random_area), ("random_aspect_ratio", random_aspect_ratio)):
        values = tuple(float(v) for v in pair)
        if len(values) != 2 or not 0 < values[0] <= values[1]:
            raise ArgumentError(
                f"{op}: {label} must be two numbers [min, max] with 0 < min <= max, got "
                f"{list(pair)!r}"
            )
        pairs.append((values[0], values[1]))
    return pairs[0], pairs[1]


def random_crop_window(
    height: int,
    width: int,
    rng: np.random.Generator,
    *,
    random_area: Sequence[float] = DEFAULT_RANDOM_AREA,
    random_aspect_ratio: Sequence[float] = DEFAULT_RANDOM_ASPECT_RATIO,
    num_attempts: int = 10,
) -> CropWindow:
    """One crop window for a ``height`` x ``width`` image by OneFlow's rule (module notes)."""
    (area_lo, area_hi), (ratio_lo, ratio_hi) = check_crop_args(
        num_attempts, random_area, random_aspect_ratio
    )
    H, W = int(height), int(width)  # noqa: N806 - OneFlow's names
    if H <= 0 or W <= 0:
        raise ArgumentError(f"random_crop: image size must be positive, got {H}x{W}")
    min_wh, max_wh = _f32(ratio_lo), _f32(ratio_hi)
    max_hw = _f32(1) / min_wh
    min_area = _f32(W * H) * _f32(area_lo)
    max_w = max(1, int(_f32(H) * max_wh))
    max_h = max(1, int(_f32(W) * max_hw))
    log_lo, log_hi = float(np.log(_f32(ratio_lo))), float(np.log(_f32(ratio_hi)))
    if _f32(H * max_w) < min_area:
        h, w = H, max_w
    elif _f32(W * max_h) < min_area:
        h, w = max_h, W
    else:
        for _ in range(num_attempts):
            target_area = _f32(rng.uniform(area_lo, area_hi)) * _f32(H * W)
            ratio = _f32(np.exp(_f32(rng.uniform(log_lo, log_hi))))
            w = max(_roundf(float(np.sqrt(_f32(target_area * ratio)))), 1)
            h = max(_roundf(float(np.sqrt(_f32(target_area / ratio)))), 1)
            got = _f32(w) / _f32(h)
            if w <= W and h <= H and min_wh <= got <= max_wh:
                break
        else:
            max_area = _f32(area_hi) * _f32(W) * _f32(H)
            ratio = _f32(W) / _f32(H)
            if ratio > max_wh:
                h, w = H, max_w
            elif ratio < min_wh:
                h, w = max_h, W
            else:
                h, w = H, W
            scale = min(_f32(1.0), _f32(max_area / _f32(h * w)))
            root = _f32(np.sqrt(scale))
            h, w = max(1, int(_f32(h) * root)), max(1, int(_f32(w) * root))
    y = int(rng.integers(0, H - h, endpoint=True))
    x = int(rng.integers(0, W - w, endpoint=True))
    return CropWindow(y, x, h, w)


def image_generators(rng: np.random.Generator, count: int) -> list[np.random.Generator]:
    """One generator per image, seeded by ``count`` 64-bit draws from ``rng`` (module notes)."""
    seeds = rng.integers(0, np.iinfo(np.int64).max, size=count, dtype=np.int64)
    return [np.random.default_rng(int(seed)) for seed in seeds]


def _crop(image: Array, window: CropWindow) -> Array:
    return np.ascontiguousarray(
        image[window.y : window.y + window.height, window.x : window.x + window.width]
    )


def random_crop_images(
    images: Sequence[Array],
    rng: np.random.Generator,
    *,
    num_attempts: int = 10,
    random_area: Sequence[float] = DEFAULT_RANDOM_AREA,
    random_aspect_ratio: Sequence[float] = DEFAULT_RANDOM_ASPECT_RATIO,
    pool: Executor | None = None,
) -> list[Array]:
    """OneFlow's ``image_random_crop``: each ``(H, W, C)`` image cropped to a random window."""
    check_crop_args(num_attempts, random_area, random_aspect_ratio)
    gens = image_generators(rng, len(images))

    def one(index: int) -> Array:
        image = images[index]
        window = random_crop_window(
            image.shape[0],
            image.shape[1],
            gens[index],
            random_area=random_area,
            random_aspect_ratio=random_aspect_ratio,
            num_attempts=num_attempts,
        )
        return _crop(image, window)

    return pool_map(pool, one, range(len(images)))


def _decode_at(encoded: Sequence[Any], index: int, color_space: str) -> Array:
    try:
        return decode_image(encoded[index], color_space=color_space)
    except DatasetError as exc:
        raise DatasetError(f"image {index} of the batch: {exc}") from exc


def decode_random_crop(
    encoded: Sequence[Any],
    rng: np.random.Generator | None,
    *,
    color_space: str = "BGR",
    num_attempts: int = 10,
    random_area: Sequence[float] = DEFAULT_RANDOM_AREA,
    random_aspect_ratio: Sequence[float] = DEFAULT_RANDOM_ASPECT_RATIO,
    pool: Executor | None = None,
) -> list[Array]:
    """OneFlow's ``OFRecordImageDecoderRandomCrop`` kernel: decode each image and crop it to a
    random window; ``rng=None`` decodes without cropping (``OFRecordImageDecoder``)."""
    check_color_space(color_space, op="OFRecordImageDecoder")
    check_crop_args(num_attempts, random_area, random_aspect_ratio)
    gens = image_generators(rng, len(encoded)) if rng is not None else None

    def one(index: int) -> Array:
        image = _decode_at(encoded, index, color_space)
        if gens is None:
            return image
        window = random_crop_window(
            image.shape[0],
            image.shape[1],
            gens[index],
            random_area=random_area,
            random_aspect_ratio=random_aspect_ratio,
            num_attempts=num_attempts,
        )
        return _crop(image, window)

    return pool_map(pool, one, range(len(encoded)))


def decode_random_crop_resize(
    encoded: Sequence[Any],
    rng: np.random.Generator,
    *,
    target_width: int,
    target_height: int,
    num_attempts: int = 10,
    random_area: Sequence[float] = DEFAULT_RANDOM_AREA,
    random_aspect_ratio: Sequence[float] = DEFAULT_RANDOM_ASPECT_RATIO,
    pool: Executor | None = None,
) -> Array:
    """OneFlow's ``image_decoder_random_crop_resize``: decode, random crop, bilinear resize to
    ``(target_height, target_width)``; returns ``(N, target_height, target_width, 3)`` uint8 RGB
    (its CPU kernel's output)."""
    if target_width <= 0 or target_height <= 0:
        raise ArgumentError(
            f"image_decoder_random_crop_resize: target_width and target_height must be positive, "
            f"got {target_width}x{target_height}"
        )
    out = np.empty((len(encoded), target_height, target_width, 3), dtype=np.uint8)
    gens = image_generators(rng, len(encoded))

    def one(index: int) -> None:
        image = _decode_at(encoded, index, "RGB")
        window = random_crop_window(
            image.shape[0],
            image.shape[1],
            gens[index],
            random_area=random_area,
            random_aspect_ratio=random_aspect_ratio,
            num_attempts=num_attempts,
        )
        out[index] = resize_image(
            _crop(image, window), target_width, target_height, interpolation_type="bilinear"
        )

    pool_map(pool, one, range(len(encoded)))
    return out
