"""``flow.layers``: layers that declare their variables with ``get_variable`` under OneFlow's names
(``<name>-weight``, ``<name>-bias``, ``<name>-gamma``...) and layouts. Every layer passes
``reuse=False``: two layers with the same ``name`` in one job are an error."""

from flowsnap.errors import missing_name
from flowsnap.layers._conv import conv2d as conv2d
from flowsnap.layers._dense import dense as dense
from flowsnap.layers._norm import batch_normalization as batch_normalization
from flowsnap.layers._norm import layer_norm as layer_norm
from flowsnap.layers._norm import prelu as prelu

__all__ = ["batch_normalization", "conv2d", "dense", "layer_norm", "prelu"]


def __getattr__(name: str) -> object:
    raise missing_name("flow.layers", name)
