"""``flow.image.CropMirrorNormalize``, ``random_crop``, ``flip``, ``normalize`` and
``batch_align`` as host ops (see ``_image.py``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from flowsnap import data as host
from flowsnap._engine import HostCall
from flowsnap.dtypes import as_dtype
from flowsnap.errors import ArgumentError
from flowsnap.ops._image import Blob, _code_input, _op, _shape_of, call_rng, check_crop_arguments

# -- crop, mirror, normalize, flip, align ----------------------------------------------------


def CropMirrorNormalize(  # noqa: N802 - OneFlow's name
    input_blob: Blob,
    mirror_blob: Blob | None = None,
    color_space: str = "BGR",
    output_layout: str = "NCHW",
    crop_h: int = 0,
    crop_w: int = 0,
    crop_pos_y: float = 0.5,
    crop_pos_x: float = 0.5,
    mean: Sequence[float] = (0.0,),
    std: Sequence[float] = (1.0,),
    output_dtype: Any = np.float32,
    name: str | None = None,
) -> Blob:
    """Crop each uint8 image to ``crop_h`` x ``crop_w`` at ``(crop_pos_y, crop_pos_x)``, mirror
    it where ``mirror_blob`` (int8 per image, e.g. ``flow.random.CoinFlip``) is non-zero, and
    normalize ``(x - mean) / std`` per channel into a fed ``output_layout`` batch of
    ``output_dtype`` (float32; float16 too). Takes a TensorBuffer or a fed uint8 NHWC batch."""
    out_dtype = as_dtype(output_dtype, "flow.image.CropMirrorNormalize")
    dummy = np.zeros((1, 1, 1, 1 if color_space == "GRAY" else 3), np.uint8)
    host.crop_mirror_normalize(
        dummy,
        color_space=color_space,
        output_layout=output_layout,
        mean=mean,
        std=std,
        output_dtype=out_dtype,
    )  # validates

    def fn(call: HostCall, images: Any, *mirror: Any) -> Any:
        return host.crop_mirror_normalize(
            images,
            mirror=mirror[0] if mirror else None,
            color_space=color_space,
            output_layout=output_layout,
            crop_h=crop_h,
            crop_w=crop_w,
            crop_pos_y=crop_pos_y,
            crop_pos_x=crop_pos_x,
            mean=mean,
            std=std,
            output_dtype=out_dtype,
            pool=call.pool,
        )

    inputs = [input_blob] if mirror_blob is None else [input_blob, mirror_blob]
    args = {
        "color_space": color_space,
        "output_layout": output_layout,
        "crop": (crop_h, crop_w),
        "pos": (crop_pos_y, crop_pos_x),
        "mean": mean,
        "std": std,
        "dtype": out_dtype,
        "mirror": mirror_blob is not None,
    }
    return _op("CropMirrorNormalize", fn, inputs, args, fed=True, name=name)


def image_random_crop(
    input_blob: Blob,
    num_attempts: int = 10,
    seed: int | None = None,
    random_area: Sequence[float] | None = None,
    random_aspect_ratio: Sequence[float] | None = None,
    name: str = "ImageRandomCrop",
) -> Blob:
    """Crop each image of a TensorBuffer to a random window (OneFlow's crop rule; defaults
    ``random_area=[0.08, 1.0]``, ``random_aspect_ratio=[0.75, 1.333333]``)."""
    area = (0.08, 1.0) if random_area is None else random_area
    ratio = (0.75, 1.333333) if random_aspect_ratio is None else random_aspect_ratio
    check_crop_arguments(num_attempts, area, ratio)

    def fn(call: HostCall, images: Sequence[Any]) -> list[Any]:
        return host.random_crop_images(
            images,
            call_rng(call, seed),
            num_attempts=num_attempts,
            random_area=area,
            random_aspect_ratio=ratio,
            pool=call.pool,
        )

    args = {"num_attempts": num_attempts, "seed": seed, "area": area, "ratio": ratio}
    return _op(
        "image_random_crop",
        fn,
        [input_blob],
        args,
        fed=False,
        name=name,
        shape=_shape_of(input_blob),
    )


def image_flip(image: Blob, flip_code: Any, name: str | None = None) -> Blob:
    """Flip each image: code 1 left-right, 2 up-down, 3 both, 0 none (an int for the whole
    batch, or an int8 blob with one code per image)."""
    inputs, constant = _code_input(flip_code)

    def fn(call: HostCall, images: Sequence[Any], *codes: Any) -> list[Any]:
        return host.flip_images(images, codes[0] if codes else constant, pool=call.pool)

    return _op(
        "image_flip",
        fn,
        [image, *inputs],
        {"flip_code": constant},
        fed=False,
        name=name,
        shape=_shape_of(image),
    )


def image_normalize(
    image: Blob, std: Sequence[float], mean: Sequence[float], name: str | None = None
) -> Blob:
    """``(x - mean[c]) / std[c]`` on each float image of a TensorBuffer."""
    if not isinstance(std, list | tuple) or not isinstance(mean, list | tuple):
        raise ArgumentError(
            f"flow.image.normalize: std and mean must be lists, got {std!r} and {mean!r}"
        )

    def fn(call: HostCall, images: Sequence[Any]) -> list[Any]:
        return host.normalize_images(images, std, mean, pool=call.pool)

    return _op(
        "image_normalize",
        fn,
        [image],
        {"std": std, "mean": mean},
        fed=False,
        name=name,
        shape=_shape_of(image),
    )


def image_batch_align(
    images: Blob,
    shape: Sequence[int],
    dtype: Any,
    alignment: int,
    dynamic_out: bool = True,
    name: str | None = None,
) -> Blob:
    """Pad the images of a TensorBuffer into one fed ``(N, *shape)`` array of ``dtype`` (the
    batch's extent, rounded up to ``alignment``, at the top left; the rest zeros)."""
    out_dtype = as_dtype(dtype, "flow.image.batch_align")
    static = tuple(int(d) for d in shape)
    if len(static) != 3:
        raise ArgumentError(
            f"flow.image.batch_align: shape must be the (H, W, C) of one image, got {list(shape)}"
        )

    def fn(call: HostCall, values: Sequence[Any]) -> Any:
        return host.batch_align(values, alignment=alignment, shape=static, dtype=out_dtype)

    args = {"shape": static, "dtype": out_dtype, "alignment": alignment, "dynamic": dynamic_out}
    return _op("image_batch_align", fn, [images], args, fed=True, name=name)
