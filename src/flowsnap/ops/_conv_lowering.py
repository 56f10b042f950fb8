"""How a convolution becomes XLA: ``lax.conv_general_dilated``, or a matrix product where that is
the same arithmetic and the backend runs it faster.

A *pointwise* convolution -- every kernel size 1, one group -- is a matrix product over the channel
axis: ``y[n, o, *s] = sum_c w[o, c] * x[n, c, *s]``. A stride ``s`` only picks every ``s``-th
position first (a strided slice), dilation changes nothing for a kernel of size 1, and explicit
padding adds zero positions (padded first, so the result is exactly the convolution's). XLA's CPU
backend runs such convolutions 1.3-4x slower than the same product written as a ``dot_general``
(forward, input gradient and weight gradient; benchmarks/RESULTS.md, "1x1 convolutions as matrix
products on the CPU"), and 36 of ResNet-50's 53 convolutions are 1x1: the product cuts their sum
over a training step by 30% and a ResNet-50 step by about a quarter. On GPUs and TPUs cuDNN/XLA
already run 1x1 convolutions well, so they keep ``lax.conv_general_dilated``. (Measured and not
adopted: XLA's CPU flags for oneDNN, XNNPACK and YNNPACK convolutions, which changed nothing here,
and im2col + product for larger kernels, faster for a few shapes and 1.2-3.7x slower for others,
LeNet's second convolution among them.)

The choice is made while the job is traced, from the platform of the job's devices: the first
``flow.scope.placement`` the body entered (``"gpu"`` on a machine without GPUs runs on the CPU, as
the engine places it), else JAX's default backend; outside a job, the input array's device.
``FLOWSNAP_CONV_LOWERING`` overrides it: ``auto`` (the default), ``conv`` (always
``lax.conv_general_dilated``, e.g. to reproduce another program's bits) or ``matmul`` (pointwise
convolutions as products on every backend).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence

import jax
import numpy as np

from flowsnap._engine import current_trace
from flowsnap.errors import ArgumentError

Blob = jax.Array

ENV = "FLOWSNAP_CONV_LOWERING"
MODES = ("auto", "conv", "matmul")


def convolve(
    x: Blob,
    w: Blob,
    strides: Sequence[int],
    pads: Sequence[tuple[int, int]],
    dilations: Sequence[int],
    groups: int,
    channels_first: bool,
) -> Blob:
    """The convolution of ``x`` (``N, C, *spatial`` or ``N, *spatial, C``) with ``w``
    (``O, C/groups, *kernel`` or ``O, *kernel, C``): a matrix product when it is pointwise and
    the job runs on the CPU, else ``lax.conv_general_dilated``."""
    nd = x.ndim - 2
    kernel = w.shape[2:] if channels_first else w.shape[1:-1]
    if groups == 1 and all(k == 1 for k in kernel) and _pointwise_as_matmul(x):
        return pointwise_conv(x, w, strides, pads, channels_first)
    spatial = "DHW"[3 - nd :]
    lhs = f"NC{spatial}" if channels_first else f"N{spatial}C"
    rhs = f"OI{spatial}" if channels_first else f"O{spatial}I"
    return jax.lax.conv_general_dilated(
        x,
        w,
        tuple(strides),
        list(pads),
        rhs_dilation=tuple(dilations),
        dimension_numbers=(lhs, rhs, lhs),
        feature_group_count=groups,
    )


def pointwise_conv(
    x: Blob,
    w: Blob,
    strides: Sequence[int],
    pads: Sequence[tuple[int, int]],
    channels_first: bool,
) -> Blob:
    """A convolution with every kernel size 1 and one group, as a ``dot_general`` over the
    channels: zero padding first, then every ``stride``-th position, then the product."""
    spatial = range(2, x.ndim) if channels_first else range(1, x.ndim - 1)
    if any(p != (0, 0) for p in pads):
        config = [(0, 0, 0)] * x.ndim
        for axis, (before, after) in zip(spatial, pads, strict=True):
            config[axis] = (before, after, 0)
        x = jax.lax.pad(x, np.zeros((), x.dtype), config)
    if any(s != 1 for s in strides):
        steps = [1] * x.ndim
        for axis, s in zip(spatial, strides, strict=True):
            steps[axis] = s
        x = jax.lax.slice(x, (0,) * x.ndim, x.shape, steps)
    matrix = w.reshape(w.shape[0], w.shape[1] if channels_first else w.shape[-1])  # (O, C)
    if channels_first:
        # (O, C) . (N, C, *s) -> (O, N, *s): one product over the whole batch, then the batch
        # axis to the front (cheaper on XLA's CPU backend than N products of (O, C) . (C, *s))
        y = jax.lax.dot_general(matrix, x, (((1,), (1,)), ((), ())))
        return jax.numpy.moveaxis(y, 0, 1)
    # (N, *s, C) . (O, C) -> (N, *s, O): exactly a matrix product of (N*s, C) by (C, O)
    out: Blob = jax.lax.dot_general(x, matrix, (((x.ndim - 1,), (1,)), ((), ())))
    return out


def _pointwise_as_matmul(x: Blob) -> bool:
    mode = os.environ.get(ENV, "auto").strip().lower() or "auto"
    if mode not in MODES:
        raise ArgumentError(
            f"environment variable {ENV}={os.environ[ENV]!r}: expected one of "
            f"{', '.join(MODES)} (auto: 1x1 convolutions as matrix products on the CPU only); "
            f"unset it or set one of those"
        )
    if mode != "auto":
        return mode == "matmul"
    return job_platform(x) == "cpu"


def job_platform(x: Blob) -> str:
    """The platform (``"cpu"``, ``"gpu"``, ``"tpu"``...) the convolution of ``x`` runs on: that of
    the job being traced (its first placement, else JAX's default backend), or outside a job that
    of ``x``'s device."""
    ctx = current_trace()
    if ctx is not None:
        if ctx.device_tag is not None:
            return _tag_platform(ctx.device_tag[0])
        return jax.default_backend()
    try:
        devices = x.devices()  # a concrete array outside any trace
    except Exception:  # a tracer of the caller's own jax.jit: no devices yet
        return jax.default_backend()
    return str(next(iter(devices)).platform)


@functools.lru_cache(maxsize=4)
def _tag_platform(device_tag: str) -> str:
    """The platform a ``flow.scope.placement(device_tag, ...)`` job runs on: ``"gpu"`` means the
    GPUs, and the CPU where there are none (the engine's rule)."""
    if device_tag != "gpu":
        return "cpu"
    try:
        gpus = jax.devices("gpu")
    except RuntimeError:  # no GPU backend in this jaxlib
        gpus = []
    return str(gpus[0].platform) if gpus else "cpu"
