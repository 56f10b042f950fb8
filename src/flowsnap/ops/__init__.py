"""Ops on blobs (JAX arrays inside job bodies): the ``flow.*`` array ops, ``flow.matmul``,
``flow.watch``, and the ``flow.nn`` and ``flow.math`` namespaces; the data ops that run on the host
(``flow.image``, ``flow.random.CoinFlip``, ``flow.image_*``, ``flow.object_*``, TensorBuffer
conversions) and ``flow.random``'s device ops."""

from flowsnap.ops import image as image
from flowsnap.ops import math as math
from flowsnap.ops import nn as nn
from flowsnap.ops import random as random
from flowsnap.ops._arguments import describe as describe  # for layers; not a flow name
from flowsnap.ops._arguments import require_tensor as require_tensor  # for layers; not a flow name
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
from flowsnap.ops._conv import DATA_FORMATS as DATA_FORMATS  # for layers; not a flow name
from flowsnap.ops._creation import constant_like as constant_like
from flowsnap.ops._creation import constant_scalar as constant_scalar
from flowsnap.ops._creation import diag as diag
from flowsnap.ops._creation import ones as ones
from flowsnap.ops._creation import range as range
from flowsnap.ops._creation import zeros as zeros
from flowsnap.ops._encode import categorical_ordinal_encode as categorical_ordinal_encode
from flowsnap.ops._encode import encode_ordinals as encode_ordinals  # for layers; not a flow name
from flowsnap.ops._image import image_decode as image_decode
from flowsnap.ops._image_augment import image_batch_align as image_batch_align
from flowsnap.ops._image_augment import image_flip as image_flip
from flowsnap.ops._image_augment import image_normalize as image_normalize
from flowsnap.ops._image_augment import image_random_crop as image_random_crop
from flowsnap.ops._image_objects import gen_tensor_buffer as gen_tensor_buffer
from flowsnap.ops._image_objects import object_bbox_flip as object_bbox_flip
from flowsnap.ops._image_objects import object_bbox_scale as object_bbox_scale
from flowsnap.ops._image_objects import (
    object_segmentation_polygon_flip as object_segmentation_polygon_flip,
)
from flowsnap.ops._image_objects import (
    object_segmentation_polygon_scale as object_segmentation_polygon_scale,
)
from flowsnap.ops._image_objects import (
    object_segmentation_polygon_to_mask as object_segmentation_polygon_to_mask,
)
from flowsnap.ops._image_objects import (
    tensor_buffer_to_list_of_tensors as tensor_buffer_to_list_of_tensors,
)
from flowsnap.ops._image_objects import tensor_buffer_to_tensor as tensor_buffer_to_tensor
from flowsnap.ops._image_objects import tensor_buffer_to_tensor_list as tensor_buffer_to_tensor_list
from flowsnap.ops._image_objects import tensor_to_tensor_buffer as tensor_to_tensor_buffer
from flowsnap.ops._image_resize import image_resize as image_resize
from flowsnap.ops._image_resize import image_target_resize as image_target_resize
from flowsnap.ops._indexing import argsort as argsort
from flowsnap.ops._indexing import dim_gather as dim_gather
from flowsnap.ops._indexing import gather_nd as gather_nd
from flowsnap.ops._indexing import masked_fill as masked_fill
from flowsnap.ops._indexing import reverse as reverse
from flowsnap.ops._indexing import scatter_nd as scatter_nd
from flowsnap.ops._indexing import slice_update as slice_update
from flowsnap.ops._indexing import slice_v2 as slice_v2
from flowsnap.ops._indexing import sort as sort
from flowsnap.ops._indexing import tensor_scatter_nd_add as tensor_scatter_nd_add
from flowsnap.ops._indexing import tensor_scatter_nd_update as tensor_scatter_nd_update
from flowsnap.ops._legacy import INVALID_BATCH_AXIS as INVALID_BATCH_AXIS
from flowsnap.ops._legacy import INVALID_SPLIT_AXIS as INVALID_SPLIT_AXIS
from flowsnap.ops._legacy import FixedTensorDef as FixedTensorDef
from flowsnap.ops._legacy import MirroredTensorDef as MirroredTensorDef
from flowsnap.ops._legacy import MirroredTensorListDef as MirroredTensorListDef
from flowsnap.ops._legacy import assign as assign
from flowsnap.ops._legacy import (
    convert_oneflow_dtype_to_numpy_dtype as convert_oneflow_dtype_to_numpy_dtype,
)
from flowsnap.ops._legacy import device_prior_placement as device_prior_placement
from flowsnap.ops._legacy import eager_execution_enabled as eager_execution_enabled
from flowsnap.ops._legacy import enable_eager_execution as enable_eager_execution
from flowsnap.ops._legacy import fixed_placement as fixed_placement
from flowsnap.ops._legacy import inter_job_reuse_mem_strategy as inter_job_reuse_mem_strategy
from flowsnap.ops._legacy import is_deprecated as is_deprecated
from flowsnap.ops._loss_ops import combined_margin_loss as combined_margin_loss
from flowsnap.ops._loss_ops import count_not_finite as count_not_finite
from flowsnap.ops._loss_ops import ctc_loss as ctc_loss
from flowsnap.ops._loss_ops import distributed_partial_fc_sample as distributed_partial_fc_sample
from flowsnap.ops._loss_ops import multi_count_not_finite as multi_count_not_finite
from flowsnap.ops._loss_ops import smooth_l1_loss as smooth_l1_loss
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
from flowsnap.ops._padding import constant_pad2d as constant_pad2d
from flowsnap.ops._padding import pad as pad
from flowsnap.ops._padding import pad_grad as pad_grad
from flowsnap.ops._padding import reflection_pad2d as reflection_pad2d
from flowsnap.ops._padding import replication_pad2d as replication_pad2d
from flowsnap.ops._padding import same_padding as same_padding
from flowsnap.ops._padding import zero_pad2d as zero_pad2d
from flowsnap.ops._shape_ops import amp_white_identity as amp_white_identity
from flowsnap.ops._shape_ops import broadcast_like as broadcast_like
from flowsnap.ops._shape_ops import cast_to_static_shape as cast_to_static_shape
from flowsnap.ops._shape_ops import dynamic_reshape as dynamic_reshape
from flowsnap.ops._shape_ops import elem_cnt as elem_cnt
from flowsnap.ops._shape_ops import expand as expand
from flowsnap.ops._shape_ops import hierarchical_parallel_cast as hierarchical_parallel_cast
from flowsnap.ops._shape_ops import identity_n as identity_n
from flowsnap.ops._shape_ops import parallel_cast as parallel_cast
from flowsnap.ops._shape_ops import reshape_like as reshape_like
from flowsnap.ops._watch import cast_to_current_logical_view as cast_to_current_logical_view
from flowsnap.ops._watch import current_machine_id as current_machine_id
from flowsnap.ops._watch import current_resource as current_resource
from flowsnap.ops._watch import current_scope as current_scope
from flowsnap.ops._watch import watch as watch
from flowsnap.ops._watch import watch_diff as watch_diff

__all__ = [
    "INVALID_BATCH_AXIS",
    "INVALID_SPLIT_AXIS",
    "FixedTensorDef",
    "MirroredTensorDef",
    "MirroredTensorListDef",
    "amp_white_identity",
    "argsort",
    "assign",
    "batch_matmul",
    "broadcast_like",
    "broadcast_to_compatible_with",
    "cast",
    "cast_to_current_logical_view",
    "cast_to_static_shape",
    "categorical_ordinal_encode",
    "clamp",
    "clip",
    "clip_by_scalar",
    "clip_by_value",
    "combined_margin_loss",
    "concat",
    "constant",
    "constant_like",
    "constant_pad2d",
    "constant_scalar",
    "convert_oneflow_dtype_to_numpy_dtype",
    "count_not_finite",
    "ctc_loss",
    "current_machine_id",
    "current_resource",
    "current_scope",
    "device_prior_placement",
    "diag",
    "dim_gather",
    "distributed_partial_fc_sample",
    "dynamic_reshape",
    "eager_execution_enabled",
    "elem_cnt",
    "enable_eager_execution",
    "expand",
    "expand_dims",
    "fixed_placement",
    "flatten",
    "gather",
    "gather_nd",
    "gen_tensor_buffer",
    "hierarchical_parallel_cast",
    "identity",
    "identity_n",
    "image_batch_align",
    "image_decode",
    "image_flip",
    "image_normalize",
    "image_random_crop",
    "image_resize",
    "image_target_resize",
    "in_top_k",
    "inter_job_reuse_mem_strategy",
    "is_deprecated",
    "masked_fill",
    "math",
    "matmul",
    "multi_count_not_finite",
    "nn",
    "object_bbox_flip",
    "object_bbox_scale",
    "object_segmentation_polygon_flip",
    "object_segmentation_polygon_scale",
    "object_segmentation_polygon_to_mask",
    "one_hot",
    "ones",
    "ones_like",
    "pad",
    "pad_grad",
    "parallel_cast",
    "range",
    "reflection_pad2d",
    "replication_pad2d",
    "reshape",
    "reshape_like",
    "reverse",
    "same_padding",
    "scatter_nd",
    "slice",
    "slice_update",
    "slice_v2",
    "smooth_l1_loss",
    "sort",
    "squeeze",
    "stack",
    "tensor_buffer_to_list_of_tensors",
    "tensor_buffer_to_tensor",
    "tensor_buffer_to_tensor_list",
    "tensor_scatter_nd_add",
    "tensor_scatter_nd_update",
    "tensor_to_tensor_buffer",
    "transpose",
    "unsorted_batch_segment_sum",
    "unsorted_segment_sum",
    "unsorted_segment_sum_like",
    "watch",
    "watch_diff",
    "where",
    "zero_pad2d",
    "zeros",
    "zeros_like",
]
