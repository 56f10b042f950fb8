"""``flow.optimizer.grad_clipping``: global-norm gradient clipping."""

from flowsnap.optimizers._clipping import ClipByGlobalNorm, by_global_norm

__all__ = ["ClipByGlobalNorm", "by_global_norm"]
