"""OneFlow's initializers as pure functions ``(key, shape, dtype) -> jax.Array``.

Each factory (``flow.truncated_normal(0.1)``, ``flow.glorot_uniform_initializer("NCHW")``...) keeps
OneFlow's name, signature, defaults and math, and returns an :class:`Initializer`: a frozen record
of its parameters that, called with a PRNG key, a shape and a dtype, draws the values. Which key a
variable gets (session seed plus the variable's ``random_seed``) is the variable store's business.
The random initializers also describe their values as one flat draw (:class:`FlatDraw`, from
``Initializer.flat_draw``), which lets the session draw many variables with one shared kernel.

Example:
    >>> import jax
    >>> from flowsnap import initializers as init
    >>> w = init.truncated_normal(0.1)(jax.random.key(0), (512, 784), "float32")
    >>> w.shape, bool(abs(w).max() < 0.2)
    ((512, 784), True)
"""

from flowsnap.initializers._base import FlatDraw as FlatDraw
from flowsnap.initializers._base import Initializer as Initializer
from flowsnap.initializers._distributions import Constant as Constant
from flowsnap.initializers._distributions import Empty as Empty
from flowsnap.initializers._distributions import RandomNormal as RandomNormal
from flowsnap.initializers._distributions import RandomUniform as RandomUniform
from flowsnap.initializers._distributions import RandomUniformInt as RandomUniformInt
from flowsnap.initializers._distributions import TruncatedNormal as TruncatedNormal
from flowsnap.initializers._distributions import constant_initializer as constant_initializer
from flowsnap.initializers._distributions import empty_initializer as empty_initializer
from flowsnap.initializers._distributions import ones_initializer as ones_initializer
from flowsnap.initializers._distributions import (
    random_normal_initializer as random_normal_initializer,
)
from flowsnap.initializers._distributions import (
    random_uniform_initializer as random_uniform_initializer,
)
from flowsnap.initializers._distributions import truncated_normal as truncated_normal
from flowsnap.initializers._distributions import (
    truncated_normal_initializer as truncated_normal_initializer,
)
from flowsnap.initializers._distributions import zeros_initializer as zeros_initializer
from flowsnap.initializers._variance_scaling import VarianceScaling as VarianceScaling
from flowsnap.initializers._variance_scaling import compute_fans as compute_fans
from flowsnap.initializers._variance_scaling import (
    glorot_normal_initializer as glorot_normal_initializer,
)
from flowsnap.initializers._variance_scaling import (
    glorot_uniform_initializer as glorot_uniform_initializer,
)
from flowsnap.initializers._variance_scaling import kaiming_initializer as kaiming_initializer
from flowsnap.initializers._variance_scaling import (
    variance_scaling_initializer as variance_scaling_initializer,
)
from flowsnap.initializers._variance_scaling import (
    xavier_normal_initializer as xavier_normal_initializer,
)
from flowsnap.initializers._variance_scaling import (
    xavier_uniform_initializer as xavier_uniform_initializer,
)

__all__ = [
    "Constant",
    "Empty",
    "FlatDraw",
    "Initializer",
    "RandomNormal",
    "RandomUniform",
    "RandomUniformInt",
    "TruncatedNormal",
    "VarianceScaling",
    "compute_fans",
    "constant_initializer",
    "empty_initializer",
    "glorot_normal_initializer",
    "glorot_uniform_initializer",
    "kaiming_initializer",
    "ones_initializer",
    "random_normal_initializer",
    "random_uniform_initializer",
    "truncated_normal",
    "truncated_normal_initializer",
    "variance_scaling_initializer",
    "xavier_normal_initializer",
    "xavier_uniform_initializer",
    "zeros_initializer",
]
