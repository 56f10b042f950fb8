"""OneFlow's per-batch image ops on the host: crop-mirror-normalize, flip, normalize, batch align,
coin flip, and the detection helpers (box and polygon flip/scale, polygons to masks).

Each follows its OneFlow kernel's arithmetic: crop-mirror-normalize picks rows and columns as
``int((in - out) * crop_pos + i)`` in float32 and computes ``(x - mean) * (1 / std)`` in float32;
``normalize`` computes ``(x - mean) / std``; box flips use ``W - x - 1`` (pixel boxes), polygon
flips ``W - x``.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Executor
from typing import Any

import numpy as np

from flowsnap.data._images import Array, check_color_space, pool_map
from flowsnap.data._img_resize import fill_polygons
from flowsnap.errors import ArgumentError

_f32 = np.float32
OUTPUT_LAYOUTS = ("NCHW", "NHWC")


def _per_channel(values: Sequence[float] | float, channels: int, label: str) -> Array:
    vec = np.atleast_1d(np.asarray(values, dtype=np.float32))
    if vec.ndim != 1 or vec.size not in (1, channels):
        raise ArgumentError(
            f"crop_mirror_normalize: {label} must hold 1 or {channels} values (one per channel), "
            f"got {list(np.atleast_1d(values))!r}"
        )
    return np.broadcast_to(vec, (channels,)).copy()


def _mirror_flags(mirror: Any, count: int) -> Array:
    if mirror is None:
        return np.zeros(count, dtype=np.int8)
    flags = np.asarray(mirror).reshape(-1)
    if flags.size != count:
        raise ArgumentError(
            f"crop_mirror_normalize: mirror must hold one flag per image ({count}), got "
            f"{flags.size}"
        )
    return flags.astype(np.int8)


def _crop_indices(in_size: int, out_size: int, pos: float, reverse: bool) -> Array | slice:
    start = _f32(in_size - out_size) * _f32(pos)
    steps = np.arange(out_size, dtype=np.float32)
    if reverse:
        steps = steps[::-1]
    index = (start + steps).astype(np.int64)
    first, last = int(index[0]), int(index[-1])
    if reverse and first - last == out_size - 1:
        return slice(first, last - 1 if last > 0 else None, -1)
    if not reverse and last - first == out_size - 1:
        return slice(first, last + 1)
    return index


def crop_mirror_normalize(
    images: Sequence[Array] | Array,
    *,
    mirror: Any = None,
    color_space: str = "BGR",
    output_layout: str = "NCHW",
    crop_h: int = 0,
    crop_w: int = 0,
    crop_pos_y: float = 0.5,
    crop_pos_x: float = 0.5,
    mean: Sequence[float] | float = (0.0,),
    std: Sequence[float] | float = (1.0,),
    output_dtype: Any = np.float32,
    pool: Executor | None = None,
) -> Array:
    """OneFlow's ``CropMirrorNormalize``: crop each uint8 ``(H, W, C)`` image to
    ``(crop_h, crop_w)`` at relative position ``(crop_pos_y, crop_pos_x)``, mirror it left-right
    where ``mirror[i]`` is non-zero, normalize ``(x - mean) / std`` per channel and stack to
    ``(N, C, crop_h, crop_w)`` (``"NCHW"``) or ``(N, crop_h, crop_w, C)`` (``"NHWC"``).

    ``crop_h``/``crop_w`` of 0 keep the images' size (they must then all be one size).
    ``output_dtype`` is float32 (OneFlow's only one) or float16 (computed in float32, then cast).
    """
    channels = check_color_space(color_space, op="crop_mirror_normalize")
    if output_layout not in OUTPUT_LAYOUTS:
        raise ArgumentError(
            f"crop_mirror_normalize: output_layout must be 'NCHW' or 'NHWC', got {output_layout!r}"
        )
    out_dtype = np.dtype(output_dtype)
    if out_dtype not in (np.dtype(np.float32), np.dtype(np.float16)):
        raise ArgumentError(
            f"crop_mirror_normalize: output_dtype must be float32 or float16, got {out_dtype}"
        )
    count = len(images)
    means = _per_channel(mean, channels, "mean")
    inv_stds = _f32(1.0) / _per_channel(std, channels, "std")
    flags = _mirror_flags(mirror, count)
    if crop_h == 0 or crop_w == 0:
        sizes = {(int(im.shape[0]), int(im.shape[1])) for im in images}
        if len(sizes) != 1:
            raise ArgumentError(
                "crop_mirror_normalize: crop_h and crop_w are 0 (keep the image size) but the "
                f"images have {len(sizes)} different sizes; give crop_h and crop_w"
            )
        crop_h, crop_w = sizes.pop()
    if output_layout == "NCHW":
        out = np.empty((count, channels, crop_h, crop_w), dtype=out_dtype)
    else:
        out = np.empty((count, crop_h, crop_w, channels), dtype=out_dtype)

    def one(index: int) -> None:
        image = np.asarray(images[index])
        if image.ndim != 3 or image.shape[2] != channels or image.dtype != np.uint8:
            raise ArgumentError(
                f"crop_mirror_normalize: image {index} is {image.dtype} {tuple(image.shape)}, "
                f"expected uint8 (H, W, {channels}) for color_space {color_space!r}"
            )
        in_h, in_w = int(image.shape[0]), int(image.shape[1])
        if crop_h > in_h or crop_w > in_w:
            raise ArgumentError(
                f"crop_mirror_normalize: image {index} is {in_h}x{in_w}, smaller than the crop "
                f"{crop_h}x{crop_w}; resize first or lower crop_h/crop_w"
            )
        rows = _crop_indices(in_h, crop_h, crop_pos_y, False)
        cols = _crop_indices(in_w, crop_w, crop_pos_x, bool(flags[index]))
        crop = image[rows][:, cols]
        chw = crop.transpose(2, 0, 1) if output_layout == "NCHW" else crop
        shape = (channels, 1, 1) if output_layout == "NCHW" else (channels,)
        target = out[index] if out_dtype == np.float32 else np.empty(chw.shape, np.float32)
        np.subtract(chw, means.reshape(shape), out=target, dtype=np.float32)
        np.multiply(target, inv_stds.reshape(shape), out=target)
        if target is not out[index]:
            out[index] = target

    pool_map(pool, one, range(count))
    return out


def _flip_codes(flip_code: Any, count: int, op: str) -> Array:
    codes = np.asarray(flip_code).reshape(-1)
    if codes.size == 1:
        codes = np.full(count, codes[0])
    if codes.size != count or not np.isin(codes, (0, 1, 2, 3)).all():
        raise ArgumentError(
            f"{op}: flip_code must be an int or one int per image ({count}), each 0 (none), "
            f"1 (left-right), 2 (up-down) or 3 (both), got {np.asarray(flip_code).tolist()!r}"
        )
    return codes.astype(np.int8)


def flip_images(
    images: Sequence[Array], flip_code: Any, *, pool: Executor | None = None
) -> list[Array]:
    """OneFlow's ``image_flip``: flip code 1 mirrors left-right, 2 up-down, 3 both, 0 copies."""
    codes = _flip_codes(flip_code, len(images), "image_flip")

    def one(index: int) -> Array:
        image, code = images[index], int(codes[index])
        if code & 1:
            image = image[:, ::-1]
        if code & 2:
            image = image[::-1]
        return np.ascontiguousarray(image)

    return pool_map(pool, one, range(len(images)))


def normalize_images(
    images: Sequence[Array],
    std: Sequence[float],
    mean: Sequence[float],
    *,
    pool: Executor | None = None,
) -> list[Array]:
    """OneFlow's ``image_normalize``: ``(x - mean[c]) / std[c]`` on float images (decode with
    ``dtype=float32`` first; OneFlow's kernel took floating images only)."""

    def one(index: int) -> Array:
        image = images[index]
        if image.ndim != 3 or not np.issubdtype(image.dtype, np.floating):
            raise ArgumentError(
                f"image_normalize: image {index} is {image.dtype} {tuple(image.shape)}, expected "
                "a float (H, W, C) image; decode with dtype=flow.float"
            )
        channels = image.shape[2]
        if len(std) < channels or len(mean) < channels:
            raise ArgumentError(
                f"image_normalize: std and mean need {channels} values (one per channel), got "
                f"{len(std)} and {len(mean)}"
            )
        m = np.asarray(mean[:channels], dtype=image.dtype)
        s = np.asarray(std[:channels], dtype=image.dtype)
        out: Array = ((image - m) / s).astype(image.dtype, copy=False)
        return out

    return pool_map(pool, one, range(len(images)))


def batch_align(
    images: Sequence[Array],
    *,
    alignment: int,
    shape: Sequence[int] | None = None,
    dtype: Any = None,
) -> Array:
    """OneFlow's ``image_batch_align``: zero-pad every ``(h, w, C)`` image at the bottom and right
    into one ``(N, H, W, C)`` array. ``H``/``W`` are the batch's largest height/width rounded up
    to ``alignment`` (a power of 2; 0 or 1: no rounding), or ``shape[:2]`` when ``shape`` (the
    static ``(H, W, C)``) is given: the dynamic extent then sits at the top left."""
    if alignment < 0 or (alignment > 1 and alignment & (alignment - 1)):
        raise ArgumentError(
            f"image_batch_align: alignment must be 0 or a power of 2, got {alignment}"
        )
    if not images:
        raise ArgumentError("image_batch_align: the batch has no images")
    channels = {int(im.shape[2]) for im in images}
    if len(channels) != 1:
        raise ArgumentError(f"image_batch_align: images have different channel counts {channels}")
    step = max(alignment, 1)
    max_h = -(-max(int(im.shape[0]) for im in images) // step) * step
    max_w = -(-max(int(im.shape[1]) for im in images) // step) * step
    c = channels.pop()
    if shape is not None:
        if len(shape) != 3 or int(shape[2]) != c:
            raise ArgumentError(
                f"image_batch_align: shape must be the static (H, W, C) with C = {c}, got "
                f"{list(shape)}"
            )
        if max_h > shape[0] or max_w > shape[1]:
            raise ArgumentError(
                f"image_batch_align: the batch needs {max_h}x{max_w} (aligned to {alignment}) "
                f"but shape is {shape[0]}x{shape[1]}; raise shape"
            )
        max_h, max_w = int(shape[0]), int(shape[1])
    out_dtype = np.dtype(dtype) if dtype is not None else images[0].dtype
    out = np.zeros((len(images), max_h, max_w, c), dtype=out_dtype)
    for index, image in enumerate(images):
        out[index, : image.shape[0], : image.shape[1]] = image
    return out


def coin_flip(batch_size: int, rng: np.random.Generator, *, probability: float = 0.5) -> Array:
    """OneFlow's ``CoinFlip``: ``batch_size`` int8 flags, each 1 with ``probability``."""
    if not 0.0 <= probability <= 1.0:
        raise ArgumentError(f"CoinFlip: probability must be in [0, 1], got {probability}")
    return (rng.random(batch_size) < probability).astype(np.int8)


def _size_pairs(image_size: Any, count: int, op: str) -> Array:
    sizes = np.asarray(image_size).reshape(-1, 2)
    if sizes.shape[0] != count:
        raise ArgumentError(
            f"{op}: image_size must hold one (width, height) per image ({count}), got "
            f"{sizes.shape[0]}"
        )
    return sizes.astype(np.int64)


def bbox_flip(bboxes: Sequence[Array], image_size: Any, flip_code: Any) -> list[Array]:
    """OneFlow's ``object_bbox_flip``: boxes ``(n, 4)`` as ``(xmin, ymin, xmax, ymax)`` pixel
    coordinates; a left-right flip maps ``x`` to ``W - x - 1`` (and swaps min/max)."""
    sizes = _size_pairs(image_size, len(bboxes), "object_bbox_flip")
    codes = _flip_codes(flip_code, len(bboxes), "object_bbox_flip")
    out = []
    for boxes, (w, h), code in zip(bboxes, sizes, codes, strict=True):
        b = np.array(boxes, copy=True)
        one = b.dtype.type(1)
        if code & 1:
            b[:, 0], b[:, 2] = w - boxes[:, 2] - one, w - boxes[:, 0] - one
        if code & 2:
            b[:, 1], b[:, 3] = h - boxes[:, 3] - one, h - boxes[:, 1] - one
        out.append(b)
    return out


def bbox_scale(bboxes: Sequence[Array], scale: Any) -> list[Array]:
    """OneFlow's ``object_bbox_scale``: ``x`` times ``scale[i][0]``, ``y`` times ``scale[i][1]``."""
    scales = np.asarray(scale, dtype=np.float32).reshape(-1, 2)
    if scales.shape[0] != len(bboxes):
        raise ArgumentError(
            f"object_bbox_scale: scale must hold one (sx, sy) per image ({len(bboxes)})"
        )
    return [
        (np.asarray(b) * np.array([sx, sy, sx, sy], dtype=np.asarray(b).dtype)).astype(
            np.asarray(b).dtype
        )
        for b, (sx, sy) in zip(bboxes, scales, strict=True)
    ]


def polygon_flip(polys: Sequence[Array], image_size: Any, flip_code: Any) -> list[Array]:
    """OneFlow's ``object_segmentation_polygon_flip``: points ``(n, 2)`` as ``(x, y)``; a
    left-right flip maps ``x`` to ``W - x``, up-down ``y`` to ``H - y``."""
    sizes = _size_pairs(image_size, len(polys), "object_segmentation_polygon_flip")
    codes = _flip_codes(flip_code, len(polys), "object_segmentation_polygon_flip")
    out = []
    for pts, (w, h), code in zip(polys, sizes, codes, strict=True):
        p = np.array(pts, copy=True)
        if code & 1:
            p[:, 0] = w - p[:, 0]
        if code & 2:
            p[:, 1] = h - p[:, 1]
        out.append(p)
    return out


def polygon_scale(polys: Sequence[Array], scale: Any) -> list[Array]:
    """OneFlow's ``object_segmentation_polygon_scale``: ``x`` and ``y`` times the image's scale."""
    scales = np.asarray(scale, dtype=np.float32).reshape(-1, 2)
    if scales.shape[0] != len(polys):
        raise ArgumentError(
            f"object_segmentation_polygon_scale: scale must hold one (sx, sy) per image "
            f"({len(polys)})"
        )
    return [
        (np.asarray(p) * np.array([sx, sy], dtype=np.asarray(p).dtype)).astype(np.asarray(p).dtype)
        for p, (sx, sy) in zip(polys, scales, strict=True)
    ]


def polygon_to_mask(
    polys: Sequence[Array], poly_index: Sequence[Array], image_size: Any
) -> list[Array]:
    """OneFlow's ``object_segmentation_polygon_to_mask``: for each image, one int8 ``(H, W)``
    mask per segmentation, 1 inside its polygons. ``poly_index[i]`` is ``(n, 3)``: for each point
    its index in its polygon, the polygon's index in its segmentation and the segmentation's
    index. Points round half to even; each segmentation's polygons are filled together by
    ``cv2.fillPoly`` (``LINE_8``), as OneFlow's kernel did (even-odd, edges drawn)."""
    sizes = _size_pairs(image_size, len(polys), "object_segmentation_polygon_to_mask")
    out = []
    for pts, index, (w, h) in zip(polys, poly_index, sizes, strict=True):
        pts = np.asarray(pts)
        index = np.asarray(index).reshape(-1, 3)
        if index.shape[0] != pts.shape[0]:
            raise ArgumentError(
                "object_segmentation_polygon_to_mask: poly_index needs one (point, polygon, "
                f"segmentation) row per point: {pts.shape[0]} points, {index.shape[0]} rows"
            )
        segments: dict[int, dict[int, list[tuple[int, int]]]] = {}
        for (x, y), (_, poly_id, segm_id) in zip(np.rint(pts).astype(np.int64), index, strict=True):
            segments.setdefault(int(segm_id), {}).setdefault(int(poly_id), []).append(
                (int(x), int(y))
            )
        count = max(segments) + 1 if segments else 0
        masks = np.zeros((count, int(h), int(w)), dtype=np.int8)
        for segm_id, polygons in segments.items():
            shapes = [np.array(points, dtype=np.int64) for points in polygons.values()]
            masks[segm_id] = fill_polygons(int(h), int(w), shapes)
        out.append(masks)
    return out
