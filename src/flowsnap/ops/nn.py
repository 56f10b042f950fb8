"""``flow.nn``: convolutions, pooling, normalizations, dropout, activations, softmax and losses
(every ``oneflow.nn`` name of OneFlow 0.3.4, 0.4.0 and 0.5.0 that a lazy-mode program uses)."""

from flowsnap.errors import missing_name
from flowsnap.ops._conv import compat_conv2d, conv1d, conv2d, conv3d
from flowsnap.ops._conv_transpose import conv2d_transpose, torch_conv2d_transpose
from flowsnap.ops._losses import (
    BCELoss,
    BCEWithLogitsLoss,
    KLDivLoss,
    L1Loss,
    MarginRankingLoss,
    MSELoss,
    TripletMarginLoss,
    distributed_sparse_softmax_cross_entropy_with_logits,
    sigmoid_cross_entropy_with_logits,
    softmax_cross_entropy_with_logits,
    sparse_cross_entropy,
    sparse_softmax_cross_entropy_with_logits,
)
from flowsnap.ops._math_activation import gelu, leaky_relu, relu, relu6, sigmoid
from flowsnap.ops._math_tril import fused_scale_tril, fused_scale_tril_softmax_dropout, tril
from flowsnap.ops._nn import (
    Module,
    PixelShuffle,
    PixelShufflev2,
    bias_add,
    ctc_greedy_decoder,
    dropout,
    fused_bias_add_dropout,
    fused_bias_add_gelu,
    fused_self_attention_query_mul_key_and_value,
    log_softmax,
    logsoftmax,
    random_mask_like,
    softmax,
    softmax_grad,
)
from flowsnap.ops._nn_activation import elu, hardsigmoid, hardswish, hardtanh, mish, swish
from flowsnap.ops._norm_ops import (
    GroupNorm,
    InstanceNorm1d,
    InstanceNorm2d,
    InstanceNorm3d,
    batch_normalization,
    layer_norm,
    moments,
)
from flowsnap.ops._pool import (
    avg_pool1d,
    avg_pool2d,
    avg_pool3d,
    max_pool1d,
    max_pool2d,
    max_pool3d,
)

__all__ = [
    "BCELoss",
    "BCEWithLogitsLoss",
    "GroupNorm",
    "InstanceNorm1d",
    "InstanceNorm2d",
    "InstanceNorm3d",
    "KLDivLoss",
    "L1Loss",
    "MSELoss",
    "MarginRankingLoss",
    "Module",
    "PixelShuffle",
    "PixelShufflev2",
    "TripletMarginLoss",
    "avg_pool1d",
    "avg_pool2d",
    "avg_pool3d",
    "batch_normalization",
    "bias_add",
    "compat_conv2d",
    "conv1d",
    "conv2d",
    "conv2d_transpose",
    "conv3d",
    "ctc_greedy_decoder",
    "distributed_sparse_softmax_cross_entropy_with_logits",
    "dropout",
    "elu",
    "fused_bias_add_dropout",
    "fused_bias_add_gelu",
    "fused_scale_tril",
    "fused_scale_tril_softmax_dropout",
    "fused_self_attention_query_mul_key_and_value",
    "gelu",
    "hardsigmoid",
    "hardswish",
    "hardtanh",
    "layer_norm",
    "leaky_relu",
    "log_softmax",
    "logsoftmax",
    "max_pool1d",
    "max_pool2d",
    "max_pool3d",
    "mish",
    "moments",
    "random_mask_like",
    "relu",
    "relu6",
    "sigmoid",
    "sigmoid_cross_entropy_with_logits",
    "softmax",
    "softmax_cross_entropy_with_logits",
    "softmax_grad",
    "sparse_cross_entropy",
    "sparse_softmax_cross_entropy_with_logits",
    "swish",
    "torch_conv2d_transpose",
    "tril",
]


def __getattr__(name: str) -> object:
    raise missing_name("flow.nn", name)
