"""Neural-network ops: ``flow.nn.conv2d``, pooling, ``bias_add``, ``dropout``, softmax and losses.

Padding follows OneFlow (reference 4.2): ``"SAME"`` is ``"SAME_LOWER"`` (the larger half of an odd
total padding goes *before*, the opposite of TensorFlow), ``"SAME_UPPER"`` is TensorFlow's rule,
``"VALID"`` pads nothing, and a list gives explicit pairs. Average pooling divides by the number of
elements inside the input (padding excluded). Dropout draws its mask from the train step's key, so
a resumed run draws the same masks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from flowsnap._engine import is_training, random_key
from flowsnap.errors import ArgumentError, UnsupportedFeatureError

Blob = jax.Array
IntOrPair = int | Sequence[int]


def _pair(value: IntOrPair | None, n: int, what: str, default: int = 1) -> tuple[int, ...]:
    if value is None:
        return (default,) * n
    if isinstance(value, int):
        return (value,) * n
    values = tuple(int(v) for v in value)
    if len(values) != n:
        raise ArgumentError(f"{what}: expected an int or {n} ints, got {value!r}")
    return values


def _spatial_axes(data_format: str, ndim: int, what: str) -> tuple[bool, list[int]]:
    """Whether channels come first, and the spatial axes."""
    if data_format.startswith("NC"):
        return True, list(range(2, ndim))
    if data_format.startswith("N") and data_format.endswith("C"):
        return False, list(range(1, ndim - 1))
    raise ArgumentError(f"{what}: data_format must be NCHW or NHWC, got {data_format!r}")


def padding_pairs(
    padding: Any,
    sizes: Sequence[int],
    kernel: Sequence[int],
    strides: Sequence[int],
    dilations: Sequence[int],
    what: str,
    channels_first: bool = True,
) -> list[tuple[int, int]]:
    """(before, after) padding of each spatial dimension, by OneFlow's rules."""
    if isinstance(padding, str):
        mode = padding.upper()
        if mode == "VALID":
            return [(0, 0)] * len(sizes)
        if mode not in ("SAME", "SAME_LOWER", "SAME_UPPER"):
            raise ArgumentError(
                f"{what}: padding must be 'SAME', 'SAME_LOWER', 'SAME_UPPER', 'VALID' or a list "
                f"of pairs, got {padding!r}"
            )
        same: list[tuple[int, int]] = []
        for size, k, s, d in zip(sizes, kernel, strides, dilations, strict=True):
            effective = (k - 1) * d + 1
            out = math.ceil(size / s)
            total = max(0, (out - 1) * s + effective - size)
            small, big = total // 2, total - total // 2
            same.append((small, big) if mode == "SAME_UPPER" else (big, small))
        return same
    pairs: list[tuple[int, ...]] = [tuple(int(v) for v in p) for p in padding]
    if len(pairs) == len(sizes) + 2:  # a pair for every axis: batch and channel must be (0, 0)
        spatial = pairs[2:] if channels_first else pairs[1:-1]
        others = pairs[:2] if channels_first else [pairs[0], pairs[-1]]
        if any(p != (0, 0) for p in others):
            raise ArgumentError(f"{what}: padding of the batch and channel axes must be (0, 0)")
        pairs = spatial
    if len(pairs) != len(sizes) or any(len(p) != 2 or min(p) < 0 for p in pairs):
        raise ArgumentError(
            f"{what}: explicit padding needs one (before, after) pair per spatial "
            f"dimension, got {padding!r}"
        )
    return [(p[0], p[1]) for p in pairs]


def conv2d(
    input: Blob,
    filters: Blob,
    strides: IntOrPair = 1,
    padding: Any = "VALID",
    bias: Blob | None = None,
    data_format: str = "NCHW",
    dilations: IntOrPair | None = None,
    groups: int = 1,
    name: str | None = None,
) -> Blob:
    """2-D convolution. ``filters`` is ``(out, in/groups, kh, kw)`` for NCHW and
    ``(out, kh, kw, in)`` for NHWC, OneFlow's layouts. OneFlow 0.5's order: ``bias`` (added per
    output channel) comes fifth, before ``data_format``."""
    del name
    what = "flow.nn.conv2d"
    if input.ndim != 4 or filters.ndim != 4:
        raise ArgumentError(
            f"{what}: input and filters must be 4-D, got {input.shape}, {filters.shape}"
        )
    channels_first, axes = _spatial_axes(data_format, 4, what)
    stride, dilation = _pair(strides, 2, what), _pair(dilations, 2, what)
    kernel = filters.shape[2:] if channels_first else filters.shape[1:3]
    sizes = [input.shape[a] for a in axes]
    pads = padding_pairs(padding, sizes, kernel, stride, dilation, what, channels_first)
    c_in = input.shape[1 if channels_first else 3]
    w_in = filters.shape[1 if channels_first else 3]
    if c_in != w_in * groups:
        raise ArgumentError(
            f"{what}: input has {c_in} channels but filters expect {w_in} x groups={groups}"
        )
    dims = ("NCHW", "OIHW", "NCHW") if channels_first else ("NHWC", "OHWI", "NHWC")
    out = jax.lax.conv_general_dilated(
        input,
        filters,
        stride,
        pads,
        rhs_dilation=dilation,
        dimension_numbers=dims,
        feature_group_count=groups,
    )
    if bias is None:
        return out
    return out + bias.reshape((1, -1, 1, 1) if channels_first else (1, 1, 1, -1))


def _pool(
    x: Blob,
    ksize: IntOrPair,
    strides: IntOrPair,
    padding: Any,
    data_format: str,
    what: str,
    average: bool,
) -> Blob:
    if x.ndim != 4:
        raise ArgumentError(f"{what}: input must be 4-D, got shape {x.shape}")
    first, axes = _spatial_axes(data_format, 4, what)
    k, s = _pair(ksize, 2, what), _pair(strides, 2, what)
    pads = padding_pairs(padding, [x.shape[a] for a in axes], k, s, (1, 1), what, first)
    window, step, full_pads = [1] * 4, [1] * 4, [(0, 0)] * 4
    for axis, kk, ss, pp in zip(axes, k, s, pads, strict=True):
        window[axis], step[axis], full_pads[axis] = kk, ss, pp
    # init values must be constants, not traced arrays, for reduce_window to differentiate
    if not average:
        if jnp.issubdtype(x.dtype, jnp.floating):
            init = np.array(-np.inf, x.dtype)
        else:
            init = np.array(np.iinfo(x.dtype).min, x.dtype)
        peak: Blob = jax.lax.reduce_window(x, init, jax.lax.max, window, step, full_pads)
        return peak
    zero = np.array(0, x.dtype)
    total = jax.lax.reduce_window(x, zero, jax.lax.add, window, step, full_pads)
    ones = jnp.ones([x.shape[a] if a in axes else 1 for a in range(4)], x.dtype)
    count = jax.lax.reduce_window(ones, zero, jax.lax.add, window, step, full_pads)
    mean: Blob = total / count
    return mean


def max_pool2d(
    input: Blob,
    ksize: IntOrPair,
    strides: IntOrPair,
    padding: Any,
    data_format: str = "NCHW",
    ceil_mode: bool = False,
    name: str | None = None,
) -> Blob:
    """2-D max pooling (NCHW or NHWC)."""
    del name
    _no_ceil(ceil_mode, "flow.nn.max_pool2d")
    return _pool(input, ksize, strides, padding, data_format, "flow.nn.max_pool2d", False)


def avg_pool2d(
    input: Blob,
    ksize: IntOrPair,
    strides: IntOrPair,
    padding: Any,
    data_format: str = "NCHW",
    ceil_mode: bool = False,
    name: str | None = None,
) -> Blob:
    """2-D average pooling; padded positions are not counted."""
    del name
    _no_ceil(ceil_mode, "flow.nn.avg_pool2d")
    return _pool(input, ksize, strides, padding, data_format, "flow.nn.avg_pool2d", True)


def _no_ceil(ceil_mode: bool, what: str) -> None:
    if ceil_mode:
        raise UnsupportedFeatureError(
            f"{what}: ceil_mode=True is not supported; pad explicitly instead"
        )


def bias_add(
    value: Blob, bias: Blob, data_format: str | None = None, name: str | None = None
) -> Blob:
    """Add ``bias`` along the channel axis: axis 1 for ``None``/``NC...``, the last for
    ``N...C``."""
    del name
    if bias.ndim != 1:
        raise ArgumentError(f"flow.nn.bias_add: bias must be 1-D, got shape {bias.shape}")
    last = data_format is not None and data_format.startswith("N") and data_format.endswith("C")
    axis = value.ndim - 1 if last or value.ndim == 1 else 1
    if value.shape[axis] != bias.shape[0]:
        raise ArgumentError(
            f"flow.nn.bias_add: value has {value.shape[axis]} channels on axis {axis}, bias has "
            f"{bias.shape[0]}"
        )
    shape = [1] * value.ndim
    shape[axis] = bias.shape[0]
    return value + bias.reshape(shape)


def dropout(
    x: Blob, rate: float, noise_shape: Any = None, seed: int | None = None, name: str | None = None
) -> Blob:
    """Zero each element with probability ``rate`` and scale the rest by ``1 / (1 - rate)``, in
    train jobs; ``x`` unchanged in predict jobs or when ``rate == 0``."""
    if not 0 <= rate < 1:
        raise ArgumentError(f"flow.nn.dropout: rate must be in [0, 1), got {rate}")
    if noise_shape is not None:
        raise UnsupportedFeatureError(
            "flow.nn.dropout: noise_shape is not supported (nor was it in OneFlow)"
        )
    if seed is not None and name is None:
        raise ArgumentError("flow.nn.dropout: a seed requires a name")
    if rate == 0 or not is_training():
        return x
    key = random_key(name)
    if seed is not None:
        key = jax.random.fold_in(key, seed)
    keep = jax.random.uniform(key, x.shape) > rate
    return jnp.where(keep, x * (1 / (1 - rate)), 0).astype(x.dtype)


def softmax(logits: Blob, axis: int | None = None, name: str | None = None) -> Blob:
    """Softmax over ``axis`` (the last by default)."""
    del name
    return jax.nn.softmax(logits, axis=-1 if axis is None else axis)


def log_softmax(logits: Blob, axis: int | None = None, name: str | None = None) -> Blob:
    """Log-softmax over ``axis`` (the last by default)."""
    del name
    return jax.nn.log_softmax(logits, axis=-1 if axis is None else axis)


def sparse_softmax_cross_entropy_with_logits(
    labels: Blob, logits: Blob, name: str | None = None
) -> Blob:
    """Per-example loss ``-log softmax(logits)[label]`` (labels first, as OneFlow).

    ``labels`` has shape ``logits.shape[:-1]`` (or that with a trailing 1); the result has shape
    ``logits.shape[:-1]``.
    """
    del name
    what = "flow.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)"
    if labels.shape == (*logits.shape[:-1], 1):
        labels = labels[..., 0]
    if labels.shape != logits.shape[:-1]:
        raise ArgumentError(
            f"{what}: labels of shape {labels.shape} do not match logits {logits.shape}; labels "
            "come first and have the logits' shape without the class axis"
        )
    if not jnp.issubdtype(labels.dtype, jnp.integer):
        raise ArgumentError(f"{what}: labels must be integers, got {labels.dtype}")
    logp = jax.nn.log_softmax(logits.astype(jnp.promote_types(logits.dtype, jnp.float32)))
    picked = jnp.take_along_axis(logp, labels[..., None].astype(jnp.int32), axis=-1)[..., 0]
    return (-picked).astype(logits.dtype)


def softmax_cross_entropy_with_logits(labels: Blob, logits: Blob, name: str | None = None) -> Blob:
    """Per-example loss ``-sum(labels * log softmax(logits))`` with dense labels."""
    del name
    if labels.shape != logits.shape:
        raise ArgumentError(
            f"flow.nn.softmax_cross_entropy_with_logits: labels {labels.shape} and logits "
            f"{logits.shape} must have the same shape"
        )
    return -jnp.sum(labels * jax.nn.log_softmax(logits), axis=-1)


def sigmoid_cross_entropy_with_logits(labels: Blob, logits: Blob, name: str | None = None) -> Blob:
    """Elementwise ``max(x, 0) - x * z + log(1 + exp(-|x|))``."""
    del name
    return jnp.maximum(logits, 0) - logits * labels + jnp.log1p(jnp.exp(-jnp.abs(logits)))


def moments(
    x: Blob, axes: Sequence[int], keepdims: bool = False, name: str | None = None
) -> tuple[Blob, Blob]:
    """Mean and biased variance over ``axes``."""
    del name
    mean = jnp.mean(x, axis=tuple(axes), keepdims=True)
    variance = jnp.mean(jnp.square(x - mean), axis=tuple(axes), keepdims=True)
    if not keepdims:
        mean, variance = jnp.squeeze(mean, tuple(axes)), jnp.squeeze(variance, tuple(axes))
    return mean, variance


def batch_normalization(
    x: Blob,
    mean: Blob,
    variance: Blob,
    offset: Blob | None = None,
    scale: Blob | None = None,
    variance_epsilon: float = 1e-5,
    axis: int = 1,
    name: str | None = None,
) -> Blob:
    """``(x - mean) / sqrt(variance + eps) * scale + offset``, parameters along ``axis`` (OneFlow's
    default 1: the channels of NCHW)."""
    del name
    shape = [1] * x.ndim
    shape[axis] = x.shape[axis]
    inv = jax.lax.rsqrt(variance.reshape(shape) + variance_epsilon)
    if scale is not None:
        inv = inv * scale.reshape(shape)
    out = (x - mean.reshape(shape)) * inv
    return out if offset is None else out + offset.reshape(shape)
