"""OneFlow's deprecated ``flow.data.decode_ofrecord`` and the configuration classes it takes
(``BlobConf``, ``RawCodec``, ``BytesListCodec``, ``ImageCodec``, ``ImagePreprocessor``,
``ImageResizePreprocessor``, ``NormByChannelPreprocessor``).

``decode_ofrecord`` is what OneFlow 0.4/0.5 made of it: one :func:`ofrecord_reader` and, per
``BlobConf``, a decoder: ``RawCodec`` is ``ofrecord_raw_decoder`` (``truncate`` or 0.3's
``auto_zero_padding``), ``BytesListCodec`` (0.3) is ``ofrecord_bytes_decoder``, and ``ImageCodec``
is ``ofrecord_image_decoder`` + ``image.resize`` (to the resize preprocessor's size, else the
blob's first two dimensions) + ``crop_mirror_normalize`` per ``NormByChannelPreprocessor``
(mirrored by a ``random.coin_flip`` when the codec has a ``"mirror"`` preprocessor). The image
steps are flow.image's ops; without them an ``ImageCodec`` raises :class:`MissingOpError`.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Sequence
from typing import Any

from flowsnap._engine import HostBlob
from flowsnap.errors import ArgumentError, MissingOpError
from flowsnap.ops._data import OFRecordBytesDecoder, OFRecordRawDecoder, ofrecord_reader

_log = logging.getLogger("flowsnap")


class ImagePreprocessor:
    """``"bgr2rgb"`` (decode as RGB) or ``"mirror"`` (random horizontal flips) for an
    :class:`ImageCodec`."""

    def __init__(self, preprocessor: str) -> None:
        if not isinstance(preprocessor, str) or preprocessor.lower() not in ("bgr2rgb", "mirror"):
            raise ArgumentError(
                f'ImagePreprocessor: preprocessor must be "bgr2rgb" or "mirror", got '
                f"{preprocessor!r}"
            )
        self.preprocessor = preprocessor

    def is_rgb(self) -> bool:
        """Whether this preprocessor asks for RGB."""
        return self.preprocessor.lower() == "bgr2rgb"

    def is_mirror(self) -> bool:
        """Whether this preprocessor asks for random mirroring."""
        return self.preprocessor.lower() == "mirror"


class ImageResizePreprocessor:
    """Resize decoded images to ``width`` x ``height`` (an :class:`ImageCodec` step)."""

    def __init__(self, width: int, height: int) -> None:
        if not isinstance(width, int) or not isinstance(height, int):
            raise ArgumentError(
                f"ImageResizePreprocessor: width and height must be ints, got {width!r}, {height!r}"
            )
        self.width = width
        self.height = height


class ImageCodec:
    """Decode a feature as an encoded image, with its preprocessors."""

    def __init__(self, image_preprocessors: Sequence[Any] | None = None) -> None:
        self.image_preprocessors = (
            list(image_preprocessors) if isinstance(image_preprocessors, list | tuple) else []
        )

    def color_space(self) -> str:
        """``"RGB"`` if a ``bgr2rgb`` preprocessor is present, else OneFlow's ``"BGR"``."""
        rgb = any(isinstance(p, ImagePreprocessor) and p.is_rgb() for p in self.image_preprocessors)
        return "RGB" if rgb else "BGR"

    def do_mirror(self) -> bool:
        """Whether a ``mirror`` preprocessor is present."""
        return any(
            isinstance(p, ImagePreprocessor) and p.is_mirror() for p in self.image_preprocessors
        )

    def do_resize(self) -> tuple[bool, int, int]:
        """``(True, width, height)`` of the first resize preprocessor, else ``(False, -1, -1)``."""
        for p in self.image_preprocessors:
            if isinstance(p, ImageResizePreprocessor):
                return True, p.width, p.height
        return False, -1, -1


class RawCodec:
    """Decode a feature with ``ofrecord_raw_decoder`` (``auto_zero_padding`` is 0.3/0.4's name
    of ``truncate``)."""

    def __init__(self, truncate: bool = False, auto_zero_padding: bool = False) -> None:
        if auto_zero_padding:
            _log.warning("auto_zero_padding has been deprecated, please use truncate instead")
        self.truncate = bool(truncate or auto_zero_padding)
        self.auto_zero_padding = bool(auto_zero_padding)


class BytesListCodec:
    """Decode a feature's byte string (OneFlow 0.3's codec; a TensorBuffer blob here)."""


class NormByChannelPreprocessor:
    """Normalize decoded images per channel: ``(x - mean) / std``, in ``data_format``'s layout
    (``"channels_last"`` is NHWC, anything else NCHW)."""

    def __init__(
        self,
        mean_values: Sequence[float],
        std_values: Sequence[float] = (1.0, 1.0, 1.0),
        data_format: str = "channels_last",
    ) -> None:
        if not isinstance(mean_values, list | tuple) or not isinstance(std_values, list | tuple):
            raise ArgumentError(
                "NormByChannelPreprocessor: mean_values and std_values must be lists or tuples"
            )
        self.mean_values = mean_values
        self.std_values = std_values
        self.data_format = data_format

    def output_layout(self) -> str:
        """``"NHWC"`` for ``channels_last``, else ``"NCHW"``."""
        return "NHWC" if self.data_format == "channels_last" else "NCHW"


class BlobConf:
    """One blob ``decode_ofrecord`` produces: feature ``name`` decoded by ``codec`` to
    ``shape``/``dtype`` (per record), then ``preprocessors``."""

    def __init__(
        self,
        name: str,
        shape: Sequence[int],
        dtype: Any,
        codec: Any,
        preprocessors: Sequence[Any] | None = None,
    ) -> None:
        if not isinstance(name, str):
            raise ArgumentError(f"BlobConf: name must be a str, got {name!r}")
        if not isinstance(shape, list | tuple):
            raise ArgumentError(f"BlobConf({name!r}): shape must be a list or tuple")
        self.name = name
        self.shape = shape
        self.dtype = dtype
        self.codec = codec
        self.preprocessors = list(preprocessors) if isinstance(preprocessors, list | tuple) else []

    def decode_blob(self, input_blob: HostBlob, batch_size: int) -> Any:
        """This blob, decoded from the reader's output ``input_blob``."""
        if isinstance(self.codec, RawCodec):
            return OFRecordRawDecoder(
                input_blob, self.name, self.shape, self.dtype, truncate=self.codec.truncate
            )
        if isinstance(self.codec, BytesListCodec):
            return OFRecordBytesDecoder(input_blob, self.name)
        if isinstance(self.codec, ImageCodec):
            return self._decode_image(input_blob, batch_size)
        raise ArgumentError(
            f"BlobConf({self.name!r}): codec must be RawCodec, BytesListCodec or ImageCodec, got "
            f"{type(self.codec).__name__}"
        )

    def _decode_image(self, input_blob: HostBlob, batch_size: int) -> Any:
        try:
            image_ops = importlib.import_module("flowsnap.ops.image")
            random_ops = importlib.import_module("flowsnap.ops.random")
            data_ops = importlib.import_module("flowsnap.ops.data")
            decoder = data_ops.ofrecord_image_decoder
            resize, cmn = image_ops.resize, image_ops.crop_mirror_normalize
            coin_flip = random_ops.coin_flip
        except (ImportError, AttributeError):
            raise MissingOpError(
                f"decode_ofrecord: BlobConf({self.name!r}) with an ImageCodec needs flowsnap's "
                "image ops (flow.data.ofrecord_image_decoder, flow.image.resize, "
                "flow.image.crop_mirror_normalize), which are not available in this build"
            ) from None
        codec: ImageCodec = self.codec
        color_space = codec.color_space()
        image = decoder(input_blob=input_blob, blob_name=self.name, color_space=color_space)
        mirror = coin_flip(batch_size) if codec.do_mirror() else None
        do_resize, width, height = codec.do_resize()
        if not do_resize:
            if len(self.shape) < 2:
                raise ArgumentError(
                    f"BlobConf({self.name!r}): an ImageCodec without ImageResizePreprocessor "
                    f"resizes to the blob's first two dimensions, but its shape is {self.shape}"
                )
            width, height = self.shape[0], self.shape[1]
        image, _, _ = resize(image=image, target_size=(width, height))
        for pre in self.preprocessors:
            image = cmn(
                input_blob=image,
                mirror_blob=mirror,
                color_space=color_space,
                output_layout=pre.output_layout(),
                mean=pre.mean_values,
                std=pre.std_values,
                output_dtype=self.dtype,
            )
        return image


def decode_ofrecord(
    ofrecord_dir: str,
    blobs: Sequence[BlobConf],
    batch_size: int = 1,
    data_part_num: int = 1,
    part_name_prefix: str = "part-",
    part_name_suffix_length: int = -1,
    shuffle: bool = False,
    buffer_size: int = 1024,
    name: str | None = None,
) -> tuple[Any, ...]:
    """Deprecated: read OFRecords and decode each :class:`BlobConf` (module docstring); one
    output per blob, in order.

    Raises:
        ArgumentError: ``blobs`` holds something other than ``BlobConf``.
    """
    _log.warning(
        "flow.data.decode_ofrecord is deprecated; use flow.data.ofrecord_reader(...) with "
        "flow.data.ofrecord_raw_decoder(...) / ofrecord_image_decoder(...)"
    )
    bad = [b for b in blobs if not isinstance(b, BlobConf)]
    if bad:
        raise ArgumentError(
            f"decode_ofrecord: blobs must be flow.data.BlobConf objects, got "
            f"{type(bad[0]).__name__}"
        )
    records = ofrecord_reader(
        ofrecord_dir,
        batch_size=batch_size,
        data_part_num=data_part_num,
        part_name_prefix=part_name_prefix,
        part_name_suffix_length=part_name_suffix_length,
        random_shuffle=shuffle,
        shuffle_buffer_size=buffer_size,
        name=name,
    )
    return tuple(blob.decode_blob(records, batch_size) for blob in blobs)
