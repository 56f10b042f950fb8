"""``flow.categorical_ordinal_encode``: number categorical ids 1, 2, 3... in order of first
appearance, in a hash table kept in two variables (the op behind
``flow.layers.categorical_ordinal_encoder``, which declares them).

OneFlow's op keeps an open-addressing table (``2 * capacity`` slots: key, value pairs; key 0 marks
an empty slot) and a count. Each id probes from ``size_t(id) % capacity`` (a negative id from
``(2**64 + id) % capacity``): a slot with its key gives its number; an empty slot takes it with
number ``size + 1``. Ids are encoded one after another in input order. As in OneFlow, an id of 0
is indistinguishable from an empty slot, and ids are taken as precomputed hashes.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from flowsnap._engine import assign_variable, current_trace
from flowsnap.errors import ArgumentError, TraceError, UnsupportedFeatureError

Blob = jax.Array
_WRAP = 2**64  # size_t's range: OneFlow's kernel casts the id to size_t before hashing


def encode_ordinals(table: Blob, size: Blob, ids: Blob, capacity: int) -> tuple[Blob, Blob, Blob]:
    def one(carry: tuple[Blob, Blob], h: Blob) -> tuple[tuple[Blob, Blob], Blob]:
        table, size = carry

        def probe(state: tuple[Blob, Blob, Blob, Blob]) -> tuple[Blob, Blob, Blob, Blob]:
            table, size, count, _ = state
            # OneFlow probes (size_t(h) + count) % capacity: a negative id wraps to 2**64 + h
            wrap = jnp.where(h < 0, _WRAP % capacity, 0)
            idx = ((h % capacity + count % capacity + wrap) % capacity).astype(jnp.int32)
            key = table[2 * idx]
            found = key == h
            empty = key == 0
            take = empty & ~found
            new_size = jnp.where(take, size + 1, size)
            # element updates, not a select of whole tables: XLA updates the table in place
            table = table.at[2 * idx].set(jnp.where(take, h, key))
            table = table.at[2 * idx + 1].set(jnp.where(take, new_size[0], table[2 * idx + 1]))
            value = jnp.where(found, table[2 * idx + 1], jnp.where(empty, new_size[0], -1))
            return table, new_size, count + 1, value

        def searching(state: tuple[Blob, Blob, Blob, Blob]) -> Blob:
            _, _, count, value = state
            return (value < 0) & (count < capacity)

        start = (table, size, jnp.zeros((), h.dtype), jnp.array(-1, h.dtype))
        table, size, _, value = jax.lax.while_loop(searching, probe, start)
        return (table, size), value

    (table, size), out = jax.lax.scan(one, (table, size), ids.reshape(-1))
    return table, size, out.reshape(ids.shape)


def categorical_ordinal_encode(
    table: Blob,
    size: Blob,
    input_tensor: Blob,
    hash_precomputed: bool = True,
    name: str | None = None,
) -> Blob:
    """The ordinal of each id of ``input_tensor`` from the hash table in the variables ``table``
    (``2 * capacity`` integers) and ``size`` (shape ``(1,)``), both blobs ``flow.get_variable``
    returned in this job; the updated table and count become their values after the step. An id
    that finds the table full encodes as -1 (OneFlow aborted).

    Raises:
        TraceError: outside a job body.
        ArgumentError: ``table``/``size`` are not variables of this job, or the shapes or dtypes
            do not fit.
    """
    del name
    what = "flow.categorical_ordinal_encode"
    if not hash_precomputed:
        raise UnsupportedFeatureError(
            f"{what}: only hash_precomputed=True is supported (as OneFlow)"
        )
    ctx = current_trace()
    if ctx is None:
        raise TraceError(f"{what} can only be called inside a job body")
    names = {}
    for role, blob in (("table", table), ("size", size)):
        found = [n for n, v in ctx.values.items() if v is blob]
        if not found:
            raise ArgumentError(
                f"job {ctx.job!r}: {what}'s {role} must be a blob returned by flow.get_variable "
                "in this job"
            )
        names[role] = found[0]
    if table.ndim != 1 or table.shape[0] % 2 or table.shape[0] == 0 or tuple(size.shape) != (1,):
        raise ArgumentError(
            f"{what}: table must have shape (2 * capacity,) and size shape (1,), got "
            f"{tuple(table.shape)} and {tuple(size.shape)}"
        )
    if not (table.dtype == size.dtype == input_tensor.dtype) or not jnp.issubdtype(
        input_tensor.dtype, jnp.integer
    ):
        raise ArgumentError(
            f"{what}: table, size and input_tensor must share one integer dtype, got "
            f"{table.dtype}, {size.dtype} and {input_tensor.dtype}"
        )
    new_table, new_size, out = encode_ordinals(table, size, input_tensor, table.shape[0] // 2)
    assign_variable(names["table"], new_table)
    assign_variable(names["size"], new_size)
    return out
