"""``flow.layers.categorical_ordinal_encoder``: number categorical ids 1, 2, 3... in order of first
appearance, across steps.

OneFlow's op keeps an open-addressing hash table in two variables, ``<name>-Table`` (``2 *
capacity`` slots: key, value pairs; key 0 marks an empty slot) and ``<name>-Size`` (the count so
far), both of the input's integer dtype, not trainable. Each id probes from
``size_t(id) % capacity`` (a negative id from ``(2**64 + id) % capacity``): a slot with its key
gives its number; an empty slot takes it with number ``Size + 1``. Ids are encoded one after
another in input order, and the tables persist (they are checkpointed like any
variable). As in OneFlow, an id of 0 is indistinguishable from an empty slot, and the ids are taken
as precomputed hashes (``hash_precomputed=True``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from flowsnap import initializers
from flowsnap._engine import assign_variable
from flowsnap.errors import ArgumentError, UnsupportedFeatureError
from flowsnap.layers._params import declare_param
from flowsnap.ops import encode_ordinals

Blob = jax.Array


def categorical_ordinal_encoder(
    input_tensor: Blob,
    capacity: int,
    hash_precomputed: bool = True,
    name: str = "CategoricalOrdinalEncoder",
) -> Blob:
    """The ordinal (1-based, in order of first appearance) of each id of ``input_tensor``, from
    a table of ``capacity`` ids kept across steps in ``<name>-Table`` and ``<name>-Size``. An id
    that finds the table full encodes as -1 (OneFlow aborted)."""
    what = f"flow.layers.categorical_ordinal_encoder(name={name!r})"
    if not hash_precomputed:
        raise UnsupportedFeatureError(
            f"{what}: only hash_precomputed=True is supported (as OneFlow)"
        )
    if not jnp.issubdtype(input_tensor.dtype, jnp.integer):
        raise ArgumentError(f"{what}: input_tensor must be integers, got {input_tensor.dtype}")
    if not isinstance(capacity, int) or capacity <= 0:
        raise ArgumentError(f"{what}: capacity must be a positive int, got {capacity!r}")
    dtype = input_tensor.dtype
    zeros = initializers.constant_initializer(0, dtype)
    table, table_name = declare_param(
        name, "Table", shape=(capacity * 2,), dtype=dtype, initializer=zeros, trainable=False
    )
    size, size_name = declare_param(
        name, "Size", shape=(1,), dtype=dtype, initializer=zeros, trainable=False
    )
    new_table, new_size, out = encode_ordinals(table, size, input_tensor, capacity)
    assign_variable(table_name, new_table)
    assign_variable(size_name, new_size)
    return out
