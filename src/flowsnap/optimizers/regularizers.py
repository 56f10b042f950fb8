"""``flow.regularizers``: l1, l2 and l1_l2."""

from flowsnap.optimizers._regularizers import Regularizer, l1, l1_l2, l2

__all__ = ["Regularizer", "l1", "l1_l2", "l2"]
