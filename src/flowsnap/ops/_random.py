"""``flow.random``: ``CoinFlip`` (a host op: its flags feed ``CropMirrorNormalize``'s mirror and
the step alike) and the device-side ``bernoulli``, ``shuffle``,
``generate_random_batch_permutation_indices`` and ``gen_seed``.

In a train job the device ops draw from the step's key as every random op in flowsnap does (see
``flow.nn.dropout``): the key is derived from the op's ``name`` (or its position among the
unnamed random ops) and folded with ``seed`` when one is given, so a run is reproducible from the
session seed, which OneFlow's ``random.randint``-seeded kernels were not. A predict job has no
step key, yet OneFlow's random ops drew there too: there the key's data is drawn on the host for
each call (a fed data op, like ``CoinFlip``; from ``numpy.random.default_rng([seed, call])`` when
a seed is given), so every call draws anew and a resumed run draws what the uninterrupted one did.
"""

from __future__ import annotations

import random
import sys
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from flowsnap import data as host
from flowsnap._engine import HostCall, current_trace, random_key
from flowsnap.dtypes import as_dtype
from flowsnap.errors import ArgumentError
from flowsnap.ops._image import _op, call_rng

Blob = Any


def CoinFlip(  # noqa: N802 - OneFlow's name
    batch_size: int = 1, seed: int | None = None, probability: float = 0.5, name: str = "CoinFlip"
) -> Blob:
    """``batch_size`` int8 flags, each 1 with ``probability``: a fed array, drawn on the host for
    every batch (the usual ``mirror_blob`` of ``flow.image.CropMirrorNormalize``)."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ArgumentError(
            f"flow.random.CoinFlip: batch_size must be an int >= 1, got {batch_size!r}"
        )
    if not 0.0 <= probability <= 1.0:
        raise ArgumentError(
            f"flow.random.CoinFlip: probability must be in [0, 1], got {probability}"
        )

    def fn(call: HostCall) -> Any:
        return host.coin_flip(batch_size, call_rng(call, seed), probability=probability)

    args = {"batch_size": batch_size, "seed": seed, "probability": probability}
    return _op("CoinFlip", fn, [], args, fed=True, name=name)


def _key(name: str | None, seed: int | None, what: str) -> jax.Array:
    if seed is not None and name is None:
        raise ArgumentError(f"{what}: a seed requires a name (as in OneFlow)")
    ctx = current_trace()
    if ctx is not None and ctx.rng is None and ctx.host is not None:  # a predict job
        return _host_key(what, name, seed)
    key = random_key(name)
    if seed is not None:
        key = jax.random.fold_in(key, int(seed) % 2**32)
    return key


def _host_key(what: str, name: str | None, seed: int | None) -> jax.Array:
    """A key for a random op of a predict job: its data drawn on the host for each call."""

    def fn(call: HostCall) -> Any:
        return call_rng(call, seed).integers(0, 2**32, size=2, dtype=np.uint32)

    data = _op(f"{what}.key", fn, [], {"name": name, "seed": seed}, fed=True, name=name)
    key: jax.Array = jax.random.wrap_key_data(jnp.asarray(data, jnp.uint32), impl="threefry2x32")
    return key


def bernoulli(x: Blob, seed: int | None = None, dtype: Any = None, name: str = "Bernoulli") -> Blob:
    """Draw 1 with probability ``x`` (elementwise, ``x`` in [0, 1]), else 0, as ``dtype``
    (default ``x``'s)."""
    out_dtype = as_dtype(dtype if dtype is not None else x.dtype, "flow.random.bernoulli")
    # OneFlow's default name is shared by every unnamed call: those draw by position instead,
    # so two unnamed bernoulli ops do not draw the same numbers
    unnamed = name == "Bernoulli" and seed is None
    key = _key(None if unnamed else name, seed, "flow.random.bernoulli")
    draws = jax.random.uniform(key, jnp.shape(x), dtype=jnp.float32)
    return (draws < jnp.asarray(x, jnp.float32)).astype(out_dtype)


def generate_random_batch_permutation_indices(
    value: Blob, seed: int | None = None, name: str | None = None
) -> Blob:
    """A random permutation of ``0 .. value.shape[0] - 1`` as int32 (for shuffling a batch)."""
    shape = jnp.shape(value)
    if not shape:
        raise ArgumentError(
            "flow.random.generate_random_batch_permutation_indices: value needs a batch axis, "
            "got a scalar"
        )
    key = _key(name, seed, "flow.random.generate_random_batch_permutation_indices")
    return jax.random.permutation(key, shape[0]).astype(jnp.int32)


def shuffle(value: Blob, seed: int | None = None, name: str | None = None) -> Blob:
    """``value`` with its first axis in a random order (a gather by a random permutation)."""
    order = generate_random_batch_permutation_indices(value, seed, name)
    return jnp.take(value, order, axis=0)


def gen_seed(seed: int | None = None) -> tuple[int, bool]:
    """OneFlow's ``(seed, has_seed)``: ``seed`` itself, or a random one when it is None (the
    consistent view's behaviour); ``has_seed`` is True either way."""
    if seed is None:
        seed = random.randint(-sys.maxsize, sys.maxsize)
    return int(seed), True
