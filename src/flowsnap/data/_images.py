"""Image decoding and resizing on the host, as OneFlow's ``image_decode`` and ``image_resize`` ops.

Images follow OneFlow's TensorBuffer convention: a batch is a list of ``(H, W, C)`` arrays (uint8
as decoded, or float32), ``C`` is 3 for ``"BGR"``/``"RGB"`` and 1 for ``"GRAY"``. Every batch
function takes an optional ``pool`` (a :class:`concurrent.futures.Executor`) and runs one task
per image on it: the decoders, OpenCV and NumPy release the GIL, so threads scale.

Libraries (decided by measurement, see ``benchmarks/RESULTS.md``): resizing is OpenCV's own
``cv2.resize`` (``_img_resize``), as OneFlow's kernels called ``cv::resize``; JPEGs are decoded
with ``simplejpeg`` (libjpeg-turbo; 1.4-1.5x Pillow's JPEG decode on 500x375 photos; pixels
identical to ``cv2.imdecode``'s, which OneFlow called, and as fast, so it stays); everything else
(PNG, BMP, GIF, TIFF, WebP, JPEGs simplejpeg refuses such as CMYK) uses Pillow. All three are
**main dependencies** of flowsnap (``opencv-python-headless>=4.8,<5``, ``pillow>=10,<14``,
``simplejpeg>=1.7,<2``): ``flow.image`` and the OFRecord image decoders are part of OneFlow's
core API, not an optional extra. ``PyTurboJPEG`` was not chosen: it needs a system libturbojpeg
that pip does not install. When a batch runs on a thread pool, OpenCV's own pool is set to one
thread (``_img_resize.single_threaded_in_workers``).

Where OneFlow (OpenCV) and these libraries differ, flowsnap follows OneFlow:

* Sizes of a keep-aspect-ratio resize are computed exactly as OneFlow's kernel does (doubles,
  round-half-to-even), so output shapes match OneFlow's.
* Pixels are ``cv2.resize``'s with OneFlow's flags: ``"bilinear"`` is ``INTER_LINEAR`` (no
  anti-aliasing when shrinking, unlike Pillow's filter), ``"nearest_neighbor"``/``"nn"``,
  ``"area"`` and ``"bicubic"`` are ``INTER_NEAREST``/``INTER_AREA``/``INTER_CUBIC``; ``"auto"``
  is bilinear when the output has at least the input's pixels and area otherwise, as OneFlow's.
* JPEGs with an EXIF orientation tag are rotated upright, as OpenCV's ``imdecode`` did.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor
from typing import Any, TypeVar

import numpy as np
from PIL import Image

from flowsnap.data import _img_resize
from flowsnap.errors import ArgumentError, DatasetError

try:  # a main dependency; the fallback keeps a broken install usable (Pillow decodes JPEGs too)
    import simplejpeg as _simplejpeg
except ImportError:  # pragma: no cover - only on a platform without a simplejpeg wheel
    _simplejpeg = None

Array = np.ndarray[Any, Any]
_T = TypeVar("_T")
_R = TypeVar("_R")

COLOR_SPACES = ("BGR", "RGB", "GRAY")
INTERPOLATION_TYPES = ("auto", "bilinear", "nearest_neighbor", "nn", "bicubic", "area")
# EXIF orientation -> the Pillow transpose that makes the image upright (ImageOps.exif_transpose).
_ORIENTATION_FIX = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def pool_map(pool: Executor | None, fn: Callable[[_T], _R], items: Iterable[_T]) -> list[_R]:
    """``[fn(x) for x in items]``, one task per item on ``pool`` when one is given (order kept;
    OpenCV is then set to one thread per worker: ``_img_resize.single_threaded_in_workers``)."""
    if pool is None:
        return [fn(item) for item in items]
    _img_resize.single_threaded_in_workers()  # the pool's workers own the cores, not OpenCV's
    return list(pool.map(fn, items))


def check_color_space(color_space: str, *, op: str = "image_decode") -> int:
    """The channel count of ``color_space`` (3 for BGR/RGB, 1 for GRAY); anything else is an
    :class:`ArgumentError` naming ``op``."""
    if color_space not in COLOR_SPACES:
        raise ArgumentError(
            f"{op}: color_space must be one of 'BGR', 'RGB' or 'GRAY' (OneFlow's color spaces), "
            f"got {color_space!r}"
        )
    return 1 if color_space == "GRAY" else 3


def _as_bytes(data: bytes | bytearray | memoryview | Array) -> bytes:
    if isinstance(data, bytes):
        return data
    if isinstance(data, np.ndarray):
        return np.ascontiguousarray(data).view(np.uint8).tobytes()
    if isinstance(data, bytearray | memoryview):
        return bytes(data)
    raise ArgumentError(
        f"image_decode: an encoded image must be bytes or a uint8 array (OFRecordBytesDecoder's "
        f"output), got {type(data).__name__}; decode the image feature of OFRecords with "
        "flow.data.OFRecordImageDecoder, or take its bytes with flow.data.OFRecordBytesDecoder"
    )


def _exif_orientation(data: bytes) -> int:
    """The EXIF orientation of a JPEG (1 when it has none): read only when an Exif block exists."""
    if b"Exif\x00\x00" not in data[:65536]:
        return 1
    try:
        with Image.open(io.BytesIO(data)) as im:
            return int(im.getexif().get(0x0112, 1))
    except Exception:  # a damaged Exif block is ignored, as decoders do
        return 1


def _upright(image: Array, orientation: int) -> Array:
    fix = _ORIENTATION_FIX.get(orientation)
    if fix is None:
        return image
    channels = image.shape[2]
    pil = Image.fromarray(image[:, :, 0] if channels == 1 else image)
    out = np.asarray(pil.transpose(fix))
    return out[:, :, None] if channels == 1 else out


def _decode_pillow(data: bytes, color_space: str) -> Array:
    with Image.open(io.BytesIO(data)) as opened:
        opened.load()
        im: Image.Image = opened
        if opened.format == "JPEG":
            orientation = int(opened.getexif().get(0x0112, 1))
            if orientation in _ORIENTATION_FIX:
                im = opened.transpose(_ORIENTATION_FIX[orientation])
        if color_space == "GRAY":
            return np.asarray(im.convert("L"))[:, :, None]
        rgb = np.asarray(im.convert("RGB"))
    return np.ascontiguousarray(rgb[:, :, ::-1]) if color_space == "BGR" else rgb


def decode_image(
    data: bytes | bytearray | memoryview | Array, *, color_space: str = "BGR"
) -> Array:
    """Decode one encoded image (JPEG, PNG, BMP, GIF, TIFF, WebP) to an ``(H, W, C)`` uint8 array.

    ``color_space`` is OneFlow's: ``"BGR"`` (OneFlow's default, OpenCV's channel order),
    ``"RGB"`` or ``"GRAY"`` (``C == 1``). Bytes that are not an image raise
    :class:`~flowsnap.errors.DatasetError`.
    """
    check_color_space(color_space)
    raw = _as_bytes(data)
    if _simplejpeg is not None and raw[:2] == b"\xff\xd8":
        try:
            image: Array = _simplejpeg.decode_jpeg(raw, colorspace=color_space)
        except ValueError:  # CMYK, arithmetic coding, damage: Pillow decides (and explains)
            pass
        else:
            if image.ndim == 2:
                image = image[:, :, None]
            return _upright(image, _exif_orientation(raw))
    try:
        return _decode_pillow(raw, color_space)
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        head = raw[:8].hex(" ")
        raise DatasetError(
            f"image_decode: {len(raw)} bytes starting {head or '(empty)'} are not a decodable "
            f"image ({exc}); expected JPEG, PNG, BMP, GIF, TIFF or WebP bytes, as "
            f"OFRecordBytesDecoder returns them from an image feature"
        ) from exc


def decode_images(
    encoded: Sequence[bytes | bytearray | memoryview | Array],
    *,
    color_space: str = "BGR",
    dtype: Any = np.uint8,
    pool: Executor | None = None,
) -> list[Array]:
    """Decode a batch of encoded images (OneFlow's ``image_decode``): a list of ``(H, W, C)``
    arrays of ``dtype`` (uint8, OneFlow's default, or float32 holding the same 0-255 values).

    A damaged image raises :class:`~flowsnap.errors.DatasetError` naming its index in the batch.
    """
    check_color_space(color_space)
    out_dtype = np.dtype(dtype)
    if out_dtype not in (np.dtype(np.uint8), np.dtype(np.float32)):
        raise ArgumentError(
            f"image_decode: dtype must be uint8 or float32 (OneFlow's image data types), "
            f"got {out_dtype}"
        )

    def one(item: tuple[int, bytes | bytearray | memoryview | Array]) -> Array:
        index, data = item
        try:
            image = decode_image(data, color_space=color_space)
        except DatasetError as exc:
            raise DatasetError(f"image {index} of the batch: {exc}") from exc
        return image if out_dtype == np.uint8 else image.astype(np.float32)

    return pool_map(pool, one, enumerate(encoded))


def check_interpolation(interpolation_type: str, *, op: str = "image_resize") -> str:
    """``interpolation_type`` if it is one of OneFlow's, else an :class:`ArgumentError`."""
    if interpolation_type not in INTERPOLATION_TYPES:
        raise ArgumentError(
            f"{op}: interpolation_type must be one of 'auto', 'bilinear', 'nearest_neighbor' "
            f"('nn'), 'bicubic' or 'area', got {interpolation_type!r}"
        )
    return interpolation_type


def opencv_interpolation(
    interpolation_type: str, src_hw: tuple[int, int], dst_hw: tuple[int, int]
) -> str:
    """The OpenCV flag OneFlow's kernels used for ``interpolation_type``: ``"auto"`` is linear
    when the output has at least the input's pixels, area when fewer (OneFlow's rule)."""
    if interpolation_type == "auto":
        grows = dst_hw[0] * dst_hw[1] >= src_hw[0] * src_hw[1]
        return "bilinear" if grows else "area"
    return "nearest_neighbor" if interpolation_type == "nn" else interpolation_type


def _to_dtype(image: Array, dtype: np.dtype[Any]) -> Array:
    if image.dtype == dtype:
        return image
    if dtype == np.uint8:  # OpenCV's saturate_cast: round to nearest, clamp to 0..255
        return np.clip(np.rint(image), 0, 255).astype(np.uint8)
    return image.astype(dtype)


def resize_image(
    image: Array, width: int, height: int, *, interpolation_type: str = "auto"
) -> Array:
    """Resize one ``(H, W, C)`` image (uint8 or float32, C of 1 or 3) to ``(height, width, C)``
    by OpenCV's rule for ``interpolation_type`` (see the module notes)."""
    if image.ndim != 3 or image.shape[2] not in (1, 3):
        raise ArgumentError(
            f"image_resize: images must be (H, W, C) arrays with C of 1 or 3, got shape "
            f"{image.shape}"
        )
    if width <= 0 or height <= 0:
        raise ArgumentError(f"image_resize: target size must be positive, got {width}x{height}")
    check_interpolation(interpolation_type)
    src_hw = (int(image.shape[0]), int(image.shape[1]))
    if src_hw == (height, width):
        return image.copy()
    kind = opencv_interpolation(interpolation_type, src_hw, (height, width))
    if image.dtype not in (np.dtype(np.uint8), np.dtype(np.float32)):
        image = image.astype(np.float32)
    return _img_resize.resize(image, width, height, kind)


def resize_to_fixed(
    images: Sequence[Array],
    width: int,
    height: int,
    *,
    channels: int = 3,
    dtype: Any = np.uint8,
    interpolation_type: str = "auto",
    pool: Executor | None = None,
) -> tuple[Array, Array]:
    """OneFlow's ``image_resize_to_fixed``: every image to ``(height, width)``.

    Returns ``(batch, scale)``: ``batch`` is ``(N, height, width, channels)`` of ``dtype`` (uint8
    or float32), ``scale`` is ``(N, 2)`` float32 holding ``(new_w / old_w, new_h / old_h)``.
    """
    check_interpolation(interpolation_type)
    out_dtype = np.dtype(dtype)
    if out_dtype not in (np.dtype(np.uint8), np.dtype(np.float32)):
        raise ArgumentError(f"image_resize: dtype must be uint8 or float32, got {out_dtype}")
    batch = np.empty((len(images), height, width, channels), dtype=out_dtype)
    scale = np.empty((len(images), 2), dtype=np.float32)

    def one(index: int) -> None:
        image = images[index]
        if image.ndim != 3 or image.shape[2] != channels:
            raise ArgumentError(
                f"image_resize: image {index} has shape {tuple(image.shape)}, expected "
                f"{channels} channels (channels={channels}); pass channels=1 for GRAY images"
            )
        batch[index] = _to_dtype(
            resize_image(image, width, height, interpolation_type=interpolation_type), out_dtype
        )
        scale[index] = (
            np.float32(width) / np.float32(image.shape[1]),
            np.float32(height) / np.float32(image.shape[0]),
        )

    pool_map(pool, one, range(len(images)))
    return batch, scale


def keep_aspect_ratio_size(
    height: int,
    width: int,
    target_size: int,
    *,
    min_size: int = 0,
    max_size: int = 0,
    resize_longer: bool = False,
) -> tuple[int, int]:
    """The ``(new_width, new_height)`` OneFlow's keep-aspect-ratio resize gives an image.

    The shorter side (``resize_longer=False``) or the longer side becomes ``target_size``; the
    other keeps the aspect ratio, rounded half to even; ``max_size`` (shorter) or ``min_size``
    (longer) bound the other side when positive.
    """
    if target_size <= 0:
        raise ArgumentError(f"image_resize: target_size must be positive, got {target_size}")
    if min_size > 0 and target_size < min_size:
        raise ArgumentError(f"image_resize: target_size {target_size} < min_size {min_size}")
    if max_size > 0 and target_size > max_size:
        raise ArgumentError(f"image_resize: target_size {target_size} > max_size {max_size}")
    org_min, org_max = float(min(height, width)), float(max(height, width))
    aspect = org_min / org_max
    if resize_longer:
        res_max = float(target_size)
        res_min = float(round(res_max * aspect))  # Python's round is half-to-even, as FE_TONEAREST
        if min_size > 0 and res_min < min_size:
            res_min = float(min_size)
            res_max = float(round(res_min / aspect))
    else:
        res_min = float(target_size)
        res_max = float(round(res_min / aspect))
        if max_size > 0 and res_max > max_size:
            res_max = float(max_size)
            res_min = float(round(res_max * aspect))
    if width < height:
        return int(res_min), int(res_max)
    return int(res_max), int(res_min)


def resize_keep_aspect_ratio(
    images: Sequence[Array],
    target_size: int,
    *,
    min_size: int = 0,
    max_size: int = 0,
    resize_longer: bool = False,
    interpolation_type: str = "auto",
    pool: Executor | None = None,
) -> tuple[list[Array], Array, Array]:
    """OneFlow's ``image_resize_keep_aspect_ratio``: returns ``(images, size, scale)``, the resized
    images (a list, sizes vary), ``size`` ``(N, 2)`` int32 ``(new_w, new_h)`` and ``scale``
    ``(N, 2)`` float32 ``(new_w / old_w, new_h / old_h)``."""
    check_interpolation(interpolation_type)
    sizes = np.empty((len(images), 2), dtype=np.int32)
    scales = np.empty((len(images), 2), dtype=np.float32)

    def one(index: int) -> Array:
        image = images[index]
        h, w = int(image.shape[0]), int(image.shape[1])
        new_w, new_h = keep_aspect_ratio_size(
            h, w, target_size, min_size=min_size, max_size=max_size, resize_longer=resize_longer
        )
        sizes[index] = (new_w, new_h)
        scales[index] = (np.float32(new_w) / np.float32(w), np.float32(new_h) / np.float32(h))
        return resize_image(image, new_w, new_h, interpolation_type=interpolation_type)

    out = pool_map(pool, one, range(len(images)))
    return out, sizes, scales
