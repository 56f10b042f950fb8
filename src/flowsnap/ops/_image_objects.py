"""The detection helpers (``flow.object_bbox_*``, ``flow.object_segmentation_polygon_*``) and the
TensorBuffer conversions (``flow.tensor_buffer_to_tensor`` and friends) as host ops (see
``_image.py``). Boxes, polygons and masks are TensorBuffers: lists of NumPy arrays per batch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import jax.numpy as jnp
import numpy as np

from flowsnap import data as host
from flowsnap import dtypes
from flowsnap._engine import HostBlob, HostCall, current_trace, host_op
from flowsnap.dtypes import as_dtype
from flowsnap.errors import ArgumentError
from flowsnap.ops._image import Blob, _code_input, _op, _shape_of


def object_bbox_flip(bbox: Blob, image_size: Blob, flip_code: Any, name: str | None = None) -> Blob:
    """Flip each image's boxes ``(xmin, ymin, xmax, ymax)`` with its image: code 1 maps ``x`` to
    ``width - x - 1``, 2 ``y`` to ``height - y - 1``, 3 both; ``image_size`` is ``(N, 2)`` int32
    ``(width, height)``."""
    inputs, constant = _code_input(flip_code)

    def fn(call: HostCall, boxes: Sequence[Any], size: Any, *codes: Any) -> list[Any]:
        return host.bbox_flip(boxes, size, codes[0] if codes else constant)

    return _op(
        "object_bbox_flip",
        fn,
        [bbox, image_size, *inputs],
        {"flip_code": constant},
        fed=False,
        name=name,
        shape=_shape_of(bbox),
    )


def object_bbox_scale(bbox: Blob, scale: Blob, name: str | None = None) -> Blob:
    """Scale each image's boxes by its ``(w_scale, h_scale)`` row of ``scale`` (``(N, 2)``)."""

    def fn(call: HostCall, boxes: Sequence[Any], scales: Any) -> list[Any]:
        return host.bbox_scale(boxes, scales)

    return _op(
        "object_bbox_scale", fn, [bbox, scale], {}, fed=False, name=name, shape=_shape_of(bbox)
    )


def object_segmentation_polygon_flip(
    poly: Blob, image_size: Blob, flip_code: Any, name: str | None = None
) -> Blob:
    """Flip each image's polygon points ``(x, y)``: code 1 maps ``x`` to ``width - x``, 2 ``y``
    to ``height - y``, 3 both."""
    inputs, constant = _code_input(flip_code)

    def fn(call: HostCall, polys: Sequence[Any], size: Any, *codes: Any) -> list[Any]:
        return host.polygon_flip(polys, size, codes[0] if codes else constant)

    return _op(
        "object_segmentation_polygon_flip",
        fn,
        [poly, image_size, *inputs],
        {"flip_code": constant},
        fed=False,
        name=name,
        shape=_shape_of(poly),
    )


def object_segmentation_polygon_scale(poly: Blob, scale: Blob, name: str | None = None) -> Blob:
    """Scale each image's polygon points by its ``(w_scale, h_scale)`` row of ``scale``."""

    def fn(call: HostCall, polys: Sequence[Any], scales: Any) -> list[Any]:
        return host.polygon_scale(polys, scales)

    return _op(
        "object_segmentation_polygon_scale",
        fn,
        [poly, scale],
        {},
        fed=False,
        name=name,
        shape=_shape_of(poly),
    )


def object_segmentation_polygon_to_mask(
    poly: Blob, poly_index: Blob, image_size: Blob, name: str | None = None
) -> Blob:
    """Rasterize each image's polygons into one int8 ``(height, width)`` mask per segmentation
    (``poly_index``: per point, its point, polygon and segmentation index)."""

    def fn(call: HostCall, polys: Sequence[Any], index: Sequence[Any], size: Any) -> list[Any]:
        return host.polygon_to_mask(polys, index, size)

    return _op(
        "object_segmentation_polygon_to_mask",
        fn,
        [poly, poly_index, image_size],
        {},
        fed=False,
        name=name,
        shape=_shape_of(poly),
    )


# -- TensorBuffer conversions ----------------------------------------------------------------


def _instances(values: Any, what: str) -> list[Any]:
    if isinstance(values, np.ndarray):
        raise ArgumentError(f"{what}: the input is a tensor, not a TensorBuffer")
    return [np.asarray(v) for v in values]


class DeviceTensorBuffer:
    """A TensorBuffer of a device tensor (``flow.tensor_to_tensor_buffer`` of a placeholder or
    of any device op's output): every element has the same shape, so it stays the array, split
    after its first ``ndim - instance_dims`` axes. ``flow.tensor_buffer_to_tensor`` and
    ``flow.tensor_buffer_to_list_of_tensors`` take it back on the device; host ops (image ops,
    box ops) cannot, as device values cannot flow back to the host.

    Attributes:
        value: the array.
        shape: the TensorBuffer's shape (the batch axes).
        instance_shape: each element's shape.
        dtype: ``flow.tensor_buffer``.
    """

    dtype = dtypes.tensor_buffer

    def __init__(self, value: Any, instance_dims: int) -> None:
        self.value = value
        full = tuple(int(d) for d in np.shape(value))
        self.shape = full[: len(full) - instance_dims]
        self.instance_shape = full[len(full) - instance_dims :]

    def __repr__(self) -> str:
        return f"DeviceTensorBuffer(shape={self.shape}, instance_shape={self.instance_shape})"

    def __jax_array__(self) -> Any:
        raise ArgumentError(
            f"{self!r} is a TensorBuffer; take its elements back with "
            "flow.tensor_buffer_to_tensor before other ops use them"
        )


def _on_host(x: Any) -> bool:
    """Whether ``x`` is a data op's output (host ops take it) rather than a device value."""
    if isinstance(x, HostBlob):
        return True
    ctx = current_trace()
    host = None if ctx is None else ctx.host
    found = None if host is None else host.by_array.get(id(x))
    return found is not None and found[1] is x


def _device_instances(x: DeviceTensorBuffer, shape: tuple[int, ...], what: str) -> Any:
    if math.prod(shape) != math.prod(x.instance_shape):
        raise ArgumentError(
            f"{what}: the TensorBuffer's elements have shape {list(x.instance_shape)}, which "
            f"instance_shape {list(shape)} cannot hold; pass an instance_shape of "
            f"{math.prod(x.instance_shape)} elements"
        )
    return jnp.reshape(x.value, (*x.shape, *shape))


def tensor_buffer_to_tensor(
    x: Blob, dtype: Any, instance_shape: Sequence[int], name: str | None = None
) -> Blob:
    """A TensorBuffer whose every element has ``instance_shape`` as one fed array
    ``(N, *instance_shape)`` of ``dtype`` (a device array for a :class:`DeviceTensorBuffer`)."""
    out_dtype = as_dtype(dtype, "flow.tensor_buffer_to_tensor")
    shape = tuple(int(d) for d in instance_shape)
    if isinstance(x, DeviceTensorBuffer):
        return _device_instances(x, shape, "flow.tensor_buffer_to_tensor").astype(out_dtype)

    def fn(call: HostCall, values: Sequence[Any]) -> Any:
        items = _instances(values, "flow.tensor_buffer_to_tensor")
        for i, item in enumerate(items):
            if item.size != math.prod(shape):
                raise ArgumentError(
                    f"flow.tensor_buffer_to_tensor: element {i} has shape {list(item.shape)}, "
                    f"expected instance_shape {list(shape)}"
                )
        out = np.empty((len(items), *shape), dtype=out_dtype)
        for i, item in enumerate(items):
            out[i] = item.reshape(shape)
        return out

    return _op(
        "tensor_buffer_to_tensor",
        fn,
        [x],
        {"dtype": out_dtype, "shape": shape},
        fed=True,
        name=name,
    )


def tensor_to_tensor_buffer(x: Blob, instance_dims: int, name: str | None = None) -> Blob:
    """Split a tensor into a TensorBuffer: its last ``instance_dims`` axes form each element.
    The output of a data op gives a TensorBuffer host ops take; a device value (a placeholder,
    any device op's output) a :class:`DeviceTensorBuffer`."""
    if instance_dims < 1:
        raise ArgumentError(
            f"flow.tensor_to_tensor_buffer: instance_dims must be >= 1, got {instance_dims}"
        )
    full = _shape_of(x)
    if full is not None and len(full) <= instance_dims:
        raise ArgumentError(
            f"flow.tensor_to_tensor_buffer: instance_dims {instance_dims} leaves no batch axis of "
            f"the shape {list(full)}"
        )
    if not _on_host(x):
        return DeviceTensorBuffer(x, instance_dims)

    def fn(call: HostCall, value: Any) -> list[Any]:
        array = np.asarray(value)
        inner = array.shape[array.ndim - instance_dims :]
        return list(array.reshape(-1, *inner))

    shape = None if full is None else full[: len(full) - instance_dims]
    return _op(
        "tensor_to_tensor_buffer",
        fn,
        [x],
        {"instance_dims": instance_dims},
        fed=False,
        name=name,
        shape=shape,
    )


def _padded(item: Any, shape: tuple[int, ...], dtype: Any, exact: bool, what: str) -> Any:
    if item.shape == shape:
        return item.astype(dtype)
    if (
        exact
        or item.ndim != len(shape)
        or any(a > b for a, b in zip(item.shape, shape, strict=True))
    ):
        raise ArgumentError(
            f"{what}: an element of shape {list(item.shape)} does not fit the static shape "
            f"{list(shape)}"
        )
    out = np.zeros(shape, dtype=dtype)
    out[tuple(slice(0, d) for d in item.shape)] = item
    return out


def tensor_buffer_to_list_of_tensors(
    x: Blob,
    out_shape: Sequence[int],
    out_dtype: Any,
    dynamic_out: bool = False,
    name: str | None = None,
) -> list[Blob]:
    """One fed array per TensorBuffer element (the blob's static shape says how many), each of
    ``out_shape`` (with ``dynamic_out``, smaller elements are zero-padded to it)."""
    dtype = as_dtype(out_dtype, "flow.tensor_buffer_to_list_of_tensors")
    shape = tuple(int(d) for d in out_shape)
    if isinstance(x, DeviceTensorBuffer):
        every = _device_instances(x, shape, "flow.tensor_buffer_to_list_of_tensors")
        flat = jnp.reshape(every, (-1, *shape)).astype(dtype)
        return [flat[i] for i in range(flat.shape[0])]
    blob_shape = _shape_of(x)
    if blob_shape is None:
        raise ArgumentError(
            "flow.tensor_buffer_to_list_of_tensors: the TensorBuffer's static shape is unknown, "
            "so the number of outputs is too; use flow.tensor_buffer_to_tensor"
        )
    what = "flow.tensor_buffer_to_list_of_tensors"

    def fn(call: HostCall, values: Sequence[Any]) -> list[Any]:
        return [_padded(v, shape, dtype, not dynamic_out, what) for v in _instances(values, what)]

    args = {"shape": shape, "dtype": dtype, "dynamic": dynamic_out}
    every = _op(what, fn, [x], args, fed=False, name=name)
    return [
        host_op(
            f"{what}.out", lambda call, v, i=i: v[i], (every,), fed=True, name=name, key=(what, i)
        )
        for i in range(math.prod(blob_shape))
    ]


def tensor_buffer_to_tensor_list(
    input: Blob, shape: Sequence[int], dtype: Any, name: str | None = None
) -> Blob:
    """OneFlow 0.3's TensorList of a TensorBuffer, as one fed ``(N, *shape)`` array: each element
    zero-padded at the end of every axis to ``shape`` (its static maximum)."""
    out_dtype = as_dtype(dtype, "flow.tensor_buffer_to_tensor_list")
    static = tuple(int(d) for d in shape)
    what = "flow.tensor_buffer_to_tensor_list"

    def fn(call: HostCall, values: Sequence[Any]) -> Any:
        items = _instances(values, what)
        return np.stack([_padded(v, static, out_dtype, False, what) for v in items])

    return _op(what, fn, [input], {"shape": static, "dtype": out_dtype}, fed=True, name=name)


def gen_tensor_buffer(
    shape: Sequence[int],
    shape_list: Sequence[Sequence[int]],
    value_list: Sequence[float],
    data_type: Any = np.float32,
    dynamic_out: bool = False,
    name: str | None = None,
) -> Blob:
    """A TensorBuffer of ``shape`` whose element ``i`` is an array of ``shape_list[i]`` filled
    with ``value_list[i]`` (OneFlow's test source)."""
    dtype = as_dtype(data_type, "flow.gen_tensor_buffer")
    dims = tuple(int(d) for d in shape)
    shapes = [tuple(int(d) for d in s) for s in shape_list]
    if not len(shapes) == len(value_list) == math.prod(dims):
        raise ArgumentError(
            f"flow.gen_tensor_buffer: shape {list(dims)} holds {math.prod(dims)} elements; "
            f"shape_list and value_list must have as many, got {len(shapes)} and {len(value_list)}"
        )
    values = [float(v) for v in value_list]

    def fn(call: HostCall) -> list[Any]:
        return [np.full(s, v, dtype=dtype) for s, v in zip(shapes, values, strict=True)]

    args = {"shape": dims, "shapes": tuple(shapes), "values": tuple(values), "dtype": dtype}
    return _op("gen_tensor_buffer", fn, [], args, fed=False, name=name, shape=dims)
