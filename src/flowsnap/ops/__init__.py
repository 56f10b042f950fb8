"""Ops on blobs (JAX arrays inside job bodies): the ``flow.*`` array ops, ``flow.matmul``,
``flow.watch``, and the ``flow.nn`` and ``flow.math`` namespaces."""

from flowsnap.ops import math as math
from flowsnap.ops import nn as nn
from flowsnap.ops._array import cast as cast
from flowsnap.ops._array import concat as concat
from flowsnap.ops._array import constant as constant
from flowsnap.ops._array import expand_dims as expand_dims
from flowsnap.ops._array import flatten as flatten
from flowsnap.ops._array import gather as gather
from flowsnap.ops._array import identity as identity
from flowsnap.ops._array import one_hot as one_hot
from flowsnap.ops._array import ones_like as ones_like
from flowsnap.ops._array import reshape as reshape
from flowsnap.ops._array import slice as slice
from flowsnap.ops._array import squeeze as squeeze
from flowsnap.ops._array import stack as stack
from flowsnap.ops._array import transpose as transpose
from flowsnap.ops._array import where as where
from flowsnap.ops._array import zeros_like as zeros_like
from flowsnap.ops._math import batch_matmul as batch_matmul
from flowsnap.ops._math import broadcast_to_compatible_with as broadcast_to_compatible_with
from flowsnap.ops._math import matmul as matmul
from flowsnap.ops._math_compare import clip_by_value as clamp
from flowsnap.ops._math_compare import clip_by_value as clip
from flowsnap.ops._math_compare import clip_by_value as clip_by_scalar
from flowsnap.ops._math_compare import clip_by_value as clip_by_value
from flowsnap.ops._math_segment import unsorted_batch_segment_sum as unsorted_batch_segment_sum
from flowsnap.ops._math_segment import unsorted_segment_sum as unsorted_segment_sum
from flowsnap.ops._math_segment import unsorted_segment_sum_like as unsorted_segment_sum_like
from flowsnap.ops._math_select import in_top_k as in_top_k
from flowsnap.ops._watch import watch as watch

__all__ = [
    "batch_matmul",
    "broadcast_to_compatible_with",
    "cast",
    "clamp",
    "clip",
    "clip_by_scalar",
    "clip_by_value",
    "concat",
    "constant",
    "expand_dims",
    "flatten",
    "gather",
    "identity",
    "in_top_k",
    "math",
    "matmul",
    "nn",
    "one_hot",
    "ones_like",
    "reshape",
    "slice",
    "squeeze",
    "stack",
    "transpose",
    "unsorted_batch_segment_sum",
    "unsorted_segment_sum",
    "unsorted_segment_sum_like",
    "watch",
    "where",
    "zeros_like",
]
