"""``flow.data``: the MNIST and Fashion-MNIST loaders of OneFlow's tutorials (NumPy only)."""

from flowsnap.data._mnist import cache_dir as cache_dir
from flowsnap.data._mnist import load_fashion_mnist as load_fashion_mnist
from flowsnap.data._mnist import load_mnist as load_mnist
from flowsnap.data._mnist import read_idx as read_idx

__all__ = ["cache_dir", "load_fashion_mnist", "load_mnist", "read_idx"]
