"""``flow.nn``: convolution, pooling, dropout, activations, softmax and losses."""

from flowsnap.errors import missing_name
from flowsnap.ops._math import gelu, leaky_relu, relu, relu6, sigmoid
from flowsnap.ops._nn import (
    avg_pool2d,
    batch_normalization,
    bias_add,
    conv2d,
    dropout,
    log_softmax,
    max_pool2d,
    moments,
    sigmoid_cross_entropy_with_logits,
    softmax,
    softmax_cross_entropy_with_logits,
    sparse_softmax_cross_entropy_with_logits,
)

__all__ = [
    "avg_pool2d",
    "batch_normalization",
    "bias_add",
    "conv2d",
    "dropout",
    "gelu",
    "leaky_relu",
    "log_softmax",
    "max_pool2d",
    "moments",
    "relu",
    "relu6",
    "sigmoid",
    "sigmoid_cross_entropy_with_logits",
    "softmax",
    "softmax_cross_entropy_with_logits",
    "sparse_softmax_cross_entropy_with_logits",
]


def __getattr__(name: str) -> object:
    raise missing_name("flow.nn", name)
