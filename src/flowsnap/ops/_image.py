"""OneFlow's image data ops (``flow.image.*``, ``flow.image_*``, ``flow.object_*`` and the
``flow.data`` image decoders) as host ops of the job: each runs on the host before the step, on
:mod:`flowsnap.data`'s image functions, parallel over the engine's thread pool.

A OneFlow TensorBuffer (a batch of variable-size images, boxes or polygons) is a
:class:`~flowsnap._engine.HostBlob` here, whose value for a batch is a list of NumPy arrays; ops
with a static output (``CropMirrorNormalize``, a fixed-size ``Resize``, ``batch_align``,
``tensor_buffer_to_tensor``...) are fed to the step as arrays every device op can use.

Randomness: an op given ``seed=`` draws batch ``k`` from ``numpy.random.default_rng([seed, k])``;
without one, from the engine's per-op generator (session seed, job, op position, batch). Either way
batch ``k`` is the same in a resumed run as in an uninterrupted one.

Where OneFlow's blobs were dynamic (``image_batch_align(dynamic_out=True)``,
``tensor_buffer_to_list_of_tensors(dynamic_out=True)``) flowsnap feeds the static shape, padded
with zeros: compiled steps have static shapes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from flowsnap import data as host
from flowsnap import dtypes
from flowsnap._engine import HostBlob, HostCall, host_op
from flowsnap.dtypes import as_dtype
from flowsnap.errors import ArgumentError
from flowsnap.ops._data import OFRecordRawDecoder, ofrecord_reader

Blob = Any


def check_crop_arguments(num_attempts: int, random_area: Any, random_aspect_ratio: Any) -> None:
    """Refuse bad arguments of OneFlow's random-crop rule when the op is defined (not at the
    first batch): :func:`flowsnap.data.random_crop_window` raises on them."""
    host.random_crop_window(
        1,
        1,
        np.random.default_rng(0),
        num_attempts=num_attempts,
        random_area=random_area,
        random_aspect_ratio=random_aspect_ratio,
    )


def call_rng(call: HostCall, seed: int | None) -> np.random.Generator:
    """This batch's generator: from the op's ``seed`` if given, else the engine's."""
    if seed is None:
        return call.rng
    return np.random.default_rng([int(seed) % 2**64, call.batch])


def _shape_of(blob: Any) -> tuple[int, ...] | None:
    shape = getattr(blob, "shape", None)
    return None if shape is None else tuple(int(d) for d in shape)


def _tuple(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return tuple(_tuple(v) for v in value)
    if isinstance(value, np.dtype):
        return str(value)
    return value


def _op(
    kind: str,
    fn: Any,
    inputs: Sequence[Any],
    args: dict[str, Any],
    *,
    fed: bool,
    name: str | None,
    shape: tuple[int, ...] | None = None,
    dtype: Any = None,
) -> Any:
    key = (kind, tuple(sorted((k, _tuple(v)) for k, v in args.items())))
    if not fed and dtype is None:  # a TensorBuffer, as OneFlow typed these blobs
        dtype = dtypes.tensor_buffer
    return host_op(kind, fn, inputs, fed=fed, name=name, key=key, shape=shape, dtype=dtype)


def _pick(kind: str, source: HostBlob, index: int, name: str | None) -> Any:
    """A fed op giving element ``index`` of a host op's tuple result."""
    return host_op(
        kind, lambda call, value: value[index], (source,), fed=True, name=name, key=(kind, index)
    )


def _code_input(code: Any) -> tuple[list[Any], Any]:
    """(inputs, constant) for an int-or-blob argument such as ``flip_code``."""
    if isinstance(code, int | np.integer):
        return [], int(code)
    return [code], None


# -- decoding --------------------------------------------------------------------------------


def image_decode(
    images_bytes_buffer: Blob,
    dtype: Any = np.uint8,
    color_space: str = "BGR",
    name: str | None = None,
) -> Blob:
    """Decode a TensorBuffer of encoded images (JPEG, PNG...) to ``(H, W, C)`` images of
    ``dtype`` (uint8 or float) in ``color_space`` ("BGR", "RGB" or "GRAY")."""
    out_dtype = as_dtype(dtype, "flow.image.decode")
    host.decode_images([], color_space=color_space, dtype=out_dtype)  # validates the arguments

    def fn(call: HostCall, encoded: Sequence[Any]) -> list[Any]:
        return host.decode_images(encoded, color_space=color_space, dtype=out_dtype, pool=call.pool)

    return _op(
        "image_decode",
        fn,
        [images_bytes_buffer],
        {"dtype": out_dtype, "color_space": color_space},
        fed=False,
        name=name,
        shape=_shape_of(images_bytes_buffer),
    )


def OFRecordImageDecoder(  # noqa: N802 - OneFlow's name
    input_blob: Blob, blob_name: str, color_space: str = "BGR", name: str | None = None
) -> Blob:
    """Decode the encoded image in feature ``blob_name`` of each OFRecord (a TensorBuffer of
    ``(H, W, C)`` uint8 images)."""
    host.decode_images([], color_space=color_space)

    def fn(call: HostCall, records: Sequence[Any]) -> list[Any]:
        encoded = host.decode_bytes(records, blob_name)
        return host.decode_random_crop(encoded, None, color_space=color_space, pool=call.pool)

    return _op(
        "OFRecordImageDecoder",
        fn,
        [input_blob],
        {"blob_name": blob_name, "color_space": color_space},
        fed=False,
        name=name,
        shape=_shape_of(input_blob),
    )


def OFRecordImageDecoderRandomCrop(  # noqa: N802 - OneFlow's name
    input_blob: Blob,
    blob_name: str,
    color_space: str = "BGR",
    num_attempts: int = 10,
    seed: int | None = None,
    random_area: Sequence[float] = (0.08, 1.0),
    random_aspect_ratio: Sequence[float] = (0.75, 1.333333),
    name: str = "OFRecordImageDecoderRandomCrop",
) -> Blob:
    """Decode feature ``blob_name`` of each OFRecord and crop it to a random window (OneFlow's
    ``random_area``/``random_aspect_ratio``/``num_attempts`` rule, see
    :func:`flowsnap.data.random_crop_window`)."""
    host.decode_images([], color_space=color_space)
    check_crop_arguments(num_attempts, random_area, random_aspect_ratio)

    def fn(call: HostCall, records: Sequence[Any]) -> list[Any]:
        encoded = host.decode_bytes(records, blob_name)
        return host.decode_random_crop(
            encoded,
            call_rng(call, seed),
            color_space=color_space,
            num_attempts=num_attempts,
            random_area=random_area,
            random_aspect_ratio=random_aspect_ratio,
            pool=call.pool,
        )

    args = {
        "blob_name": blob_name,
        "color_space": color_space,
        "num_attempts": num_attempts,
        "seed": seed,
        "random_area": random_area,
        "random_aspect_ratio": random_aspect_ratio,
    }
    return _op(
        "OFRecordImageDecoderRandomCrop",
        fn,
        [input_blob],
        args,
        fed=False,
        name=name,
        shape=_shape_of(input_blob),
    )


def ImageDecoderRandomCropResize(  # noqa: N802 - OneFlow's name
    input_blob: Blob,
    target_width: int,
    target_height: int,
    num_attempts: int | None = None,
    seed: int | None = None,
    random_area: Sequence[float] | None = None,
    random_aspect_ratio: Sequence[float] | None = None,
    num_workers: int | None = None,
    warmup_size: int | None = None,
    max_num_pixels: int | None = None,
    name: str | None = None,
) -> Blob:
    """Decode a TensorBuffer of encoded images, crop each to a random window and resize it
    (bilinear) to ``target_height`` x ``target_width``: a fed ``(N, H, W, 3)`` uint8 RGB batch.
    ``num_workers``, ``warmup_size`` and ``max_num_pixels`` tuned OneFlow's decoder threads and
    buffers; the engine's pool does that work here, so they are accepted and unused."""
    attempts = 10 if num_attempts is None else num_attempts
    area = (0.08, 1.0) if random_area is None else random_area
    ratio = (0.75, 1.333333) if random_aspect_ratio is None else random_aspect_ratio
    check_crop_arguments(attempts, area, ratio)
    if target_width <= 0 or target_height <= 0:
        raise ArgumentError(
            "flow.data.ImageDecoderRandomCropResize: target_width and target_height must be "
            f"positive, got {target_width}x{target_height}"
        )

    def fn(call: HostCall, encoded: Sequence[Any]) -> Any:
        return host.decode_random_crop_resize(
            encoded,
            call_rng(call, seed),
            target_width=target_width,
            target_height=target_height,
            num_attempts=attempts,
            random_area=area,
            random_aspect_ratio=ratio,
            pool=call.pool,
        )

    args = {
        "target_width": target_width,
        "target_height": target_height,
        "seed": seed,
        "num_attempts": attempts,
        "random_area": area,
        "random_aspect_ratio": ratio,
    }
    return _op("ImageDecoderRandomCropResize", fn, [input_blob], args, fed=True, name=name)


ofrecord_image_decoder = OFRecordImageDecoder
ofrecord_image_decoder_random_crop = OFRecordImageDecoderRandomCrop
image_decoder_random_crop_resize = ImageDecoderRandomCropResize


def ofrecord_image_classification_reader(
    ofrecord_dir: str,
    image_feature_name: str,
    label_feature_name: str,
    batch_size: int = 1,
    data_part_num: int = 1,
    part_name_prefix: str = "part-",
    part_name_suffix_length: int = -1,
    random_shuffle: bool = False,
    shuffle_buffer_size: int = 1024,
    shuffle_after_epoch: bool = False,
    color_space: str = "BGR",
    decode_buffer_size_per_thread: int = 32,
    num_decode_threads_per_machine: int | None = None,
    name: str | None = None,
) -> tuple[Blob, Blob]:
    """Read OFRecords and decode them for classification: returns ``(images, labels)``, a
    TensorBuffer of decoded ``(H, W, C)`` images (feature ``image_feature_name``) and a fed
    ``(batch_size,)`` int32 array (feature ``label_feature_name``). Records come in the order of
    ``flow.data.ofrecord_reader`` with the same arguments; the decode-buffer and thread counts
    tuned OneFlow's decoder threads, the engine's pool does that work here."""
    records = ofrecord_reader(
        ofrecord_dir,
        batch_size=batch_size,
        data_part_num=data_part_num,
        part_name_prefix=part_name_prefix,
        part_name_suffix_length=part_name_suffix_length,
        random_shuffle=random_shuffle,
        shuffle_buffer_size=shuffle_buffer_size,
        shuffle_after_epoch=shuffle_after_epoch,
        name=name,
    )
    images = OFRecordImageDecoder(records, image_feature_name, color_space=color_space, name=name)
    labels = OFRecordRawDecoder(records, label_feature_name, shape=(1,), dtype=np.int32, name=name)
    return images, labels.reshape(labels.shape[0])
