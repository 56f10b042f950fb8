"""``flow.layers``: layers that declare their variables with ``get_variable`` under OneFlow's names
(``<name>-weight``, ``<name>-bias``, ``<name>-gamma``...) and layouts. Every layer passes
``reuse=False``: two layers with the same ``name`` in one job are an error."""

from flowsnap.errors import missing_name
from flowsnap.layers._conv import conv1d as conv1d
from flowsnap.layers._conv import conv2d as conv2d
from flowsnap.layers._conv import conv3d as conv3d
from flowsnap.layers._dense import dense as dense
from flowsnap.layers._encoder import categorical_ordinal_encoder as categorical_ordinal_encoder
from flowsnap.layers._norm import batch_normalization as batch_normalization
from flowsnap.layers._norm import batch_normalization_add_relu as batch_normalization_add_relu
from flowsnap.layers._norm import batch_normalization_relu as batch_normalization_relu
from flowsnap.layers._norm import layer_norm as layer_norm
from flowsnap.layers._norm import layer_norm_grad as layer_norm_grad
from flowsnap.layers._norm import layer_norm_param_grad as layer_norm_param_grad
from flowsnap.layers._norm import prelu as prelu
from flowsnap.layers._upsample import upsample_2d as upsample_2d

__all__ = [
    "batch_normalization",
    "batch_normalization_add_relu",
    "batch_normalization_relu",
    "categorical_ordinal_encoder",
    "conv1d",
    "conv2d",
    "conv3d",
    "dense",
    "layer_norm",
    "layer_norm_grad",
    "layer_norm_param_grad",
    "prelu",
    "upsample_2d",
]


def __getattr__(name: str) -> object:
    raise missing_name("flow.layers", name)
