"""``flow.image.Resize`` and ``flow.image.target_resize`` as host ops (see ``_image.py``)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from flowsnap import data as host
from flowsnap._engine import HostCall
from flowsnap.dtypes import as_dtype
from flowsnap.errors import ArgumentError
from flowsnap.ops._image import Blob, _op, _pick, _shape_of

_log = logging.getLogger("flowsnap")

# -- resizing --------------------------------------------------------------------------------

_INTERP_TYPES = {"Linear": "bilinear", "NN": "nearest_neighbor", "Cubic": "bicubic"}


def _deprecated(param: str, use: str) -> None:
    _log.warning("flow.image.Resize: %s is deprecated; use %s instead", param, use)


def image_resize(
    image: Blob,
    target_size: int | Sequence[int] | None = None,
    min_size: int | None = None,
    max_size: int | None = None,
    keep_aspect_ratio: bool = False,
    resize_side: str = "shorter",
    channels: int = 3,
    dtype: Any = None,
    interpolation_type: str = "auto",
    name: str | None = None,
    color_space: str | None = None,
    interp_type: str | None = None,
    resize_shorter: int = 0,
    resize_x: int = 0,
    resize_y: int = 0,
) -> Any:
    """Resize each image of a TensorBuffer, as OneFlow's ``flow.image.Resize``.

    ``keep_aspect_ratio=False``: ``target_size`` is ``(width, height)``; returns
    ``(images, scale, None)`` with ``images`` a fed ``(N, height, width, channels)`` array of
    ``dtype`` (default uint8) and ``scale`` ``(N, 2)`` float32 ``(w_scale, h_scale)``.
    ``keep_aspect_ratio=True``: ``target_size`` is an int for the ``resize_side`` ("shorter" or
    "longer") side, bounded by ``max_size``/``min_size``; returns ``(images, scale, new_size)``
    with ``images`` a TensorBuffer and ``new_size`` ``(N, 2)`` int32 ``(width, height)``.
    The deprecated ``color_space``, ``interp_type``, ``resize_shorter``, ``resize_x``/``resize_y``
    still work (with a warning) and make it return the images alone, as OneFlow did.
    """
    deprecated = False
    if color_space is not None:
        _deprecated("color_space", "channels")
        deprecated = True
        if color_space.upper() not in ("RGB", "BGR", "GRAY"):
            raise ArgumentError(
                f"flow.image.Resize: color_space must be 'RGB', 'BGR' or 'GRAY' (better: use "
                f"channels), got {color_space!r}"
            )
        channels = 1 if color_space.upper() == "GRAY" else 3
    if interp_type is not None:
        _deprecated("interp_type", "interpolation_type")
        deprecated = True
        if interp_type not in _INTERP_TYPES:
            raise ArgumentError(
                f"flow.image.Resize: interp_type must be 'Linear', 'NN' or 'Cubic', got "
                f"{interp_type!r}"
            )
        interpolation_type = _INTERP_TYPES[interp_type]
    if resize_x > 0 and resize_y > 0:
        _deprecated("resize_x and resize_y", "target_size")
        deprecated = True
        target_size, keep_aspect_ratio = (resize_x, resize_y), False
    if resize_shorter > 0:
        _deprecated("resize_shorter", "target_size")
        deprecated = True
        target_size, keep_aspect_ratio, resize_side = resize_shorter, True, "shorter"
    host.resize_keep_aspect_ratio([], 1, interpolation_type=interpolation_type)  # validates
    if keep_aspect_ratio:
        out = _resize_keep(
            image, target_size, min_size, max_size, resize_side, interpolation_type, name
        )
    else:
        out = _resize_fixed(image, target_size, channels, dtype, interpolation_type, name)
    return out[0] if deprecated else out


def _resize_keep(
    image: Blob,
    target_size: Any,
    min_size: int | None,
    max_size: int | None,
    resize_side: str,
    interpolation_type: str,
    name: str | None,
) -> tuple[Blob, Any, Any]:
    if not isinstance(target_size, int | np.integer) or isinstance(target_size, bool):
        raise ArgumentError(
            "flow.image.Resize: target_size must be an int when keep_aspect_ratio is True, got "
            f"{target_size!r}"
        )
    if resize_side not in ("shorter", "longer"):
        raise ArgumentError(
            f"flow.image.Resize: resize_side must be 'shorter' or 'longer', got {resize_side!r}"
        )
    lo, hi, longer = min_size or 0, max_size or 0, resize_side == "longer"
    host.keep_aspect_ratio_size(
        1, 1, int(target_size), min_size=lo, max_size=hi, resize_longer=longer
    )

    def fn(call: HostCall, images: Sequence[Any]) -> tuple[Any, Any, Any]:
        return host.resize_keep_aspect_ratio(
            images,
            int(target_size),
            min_size=lo,
            max_size=hi,
            resize_longer=longer,
            interpolation_type=interpolation_type,
            pool=call.pool,
        )

    args = {
        "target_size": int(target_size),
        "min_size": lo,
        "max_size": hi,
        "longer": longer,
        "interpolation_type": interpolation_type,
    }
    both = _op("image_resize_keep_aspect_ratio", fn, [image], args, fed=False, name=name)
    images = _op(
        "image_resize_keep_aspect_ratio.out",
        lambda call, v: v[0],
        [both],
        args,
        fed=False,
        name=name,
        shape=_shape_of(image),
    )
    new_size = _pick("image_resize_keep_aspect_ratio.size", both, 1, name)
    scale = _pick("image_resize_keep_aspect_ratio.scale", both, 2, name)
    return images, scale, new_size


def _resize_fixed(
    image: Blob,
    target_size: Any,
    channels: int,
    dtype: Any,
    interpolation_type: str,
    name: str | None,
) -> tuple[Any, Any, None]:
    if (
        not isinstance(target_size, list | tuple)
        or len(target_size) != 2
        or not all(isinstance(s, int | np.integer) for s in target_size)
    ):
        raise ArgumentError(
            "flow.image.Resize: target_size must be (width, height) when keep_aspect_ratio is "
            f"False, got {target_size!r}"
        )
    width, height = int(target_size[0]), int(target_size[1])
    out_dtype = as_dtype(np.uint8 if dtype is None else dtype, "flow.image.Resize")

    def fn(call: HostCall, images: Sequence[Any]) -> tuple[Any, Any]:
        return host.resize_to_fixed(
            images,
            width,
            height,
            channels=channels,
            dtype=out_dtype,
            interpolation_type=interpolation_type,
            pool=call.pool,
        )

    args = {
        "size": (width, height),
        "channels": channels,
        "dtype": out_dtype,
        "interpolation_type": interpolation_type,
    }
    both = _op("image_resize_to_fixed", fn, [image], args, fed=False, name=name)
    return (
        _pick("image_resize_to_fixed.out", both, 0, name),
        _pick("image_resize_to_fixed.scale", both, 1, name),
        None,
    )


def image_target_resize(
    images: Blob,
    target_size: int,
    min_size: int | None = None,
    max_size: int | None = None,
    resize_side: str = "shorter",
    interpolation_type: str = "auto",
    name: str | None = None,
) -> tuple[Blob, Any, Any]:
    """Resize keeping the aspect ratio: returns ``(images, new_size, scale)`` (note the order:
    OneFlow's ``image_target_resize`` swapped the last two of ``Resize``'s)."""
    res, scale, new_size = image_resize(
        images,
        target_size=target_size,
        min_size=min_size,
        max_size=max_size,
        keep_aspect_ratio=True,
        resize_side=resize_side,
        interpolation_type=interpolation_type,
        name=name,
    )
    return res, new_size, scale
