"""The parts of the batched initialization that draw nothing (internal): the variables' keys,
folded by one shared kernel, and constants, filled without a program
(:mod:`flowsnap._store._init_batch` uses both)."""

from __future__ import annotations

import ctypes
import functools
import threading
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from flowsnap._store._spec import VariableSpec, name_hash

DEVICE_FILL = 1 << 16
_KEY_BATCH = 256


@functools.cache
def _fold_kernel() -> Callable[..., jax.Array]:
    def fold(base: jax.Array, data: jax.Array) -> jax.Array:
        return jax.random.key_data(jax.random.fold_in(jax.random.wrap_key_data(base), data))

    return jax.jit(jax.vmap(fold, in_axes=(None, 0)))


def key_data(seed: int, specs: Sequence[VariableSpec]) -> np.ndarray[Any, Any]:
    """The raw data ``(len(specs), 2)`` uint32 of :func:`variable_key` for each spec, folded by
    one vectorized kernel (256 names a call, so one compiled kernel serves every model)."""
    out = np.zeros((len(specs), 2), np.uint32)
    folded = [i for i, s in enumerate(specs) if s.random_seed is None]
    if folded:
        base = np.asarray(jax.random.key_data(jax.random.key(seed)))
        for start in range(0, len(folded), _KEY_BATCH):
            part = folded[start : start + _KEY_BATCH]
            hashes = np.zeros(_KEY_BATCH, np.uint32)
            hashes[: len(part)] = [name_hash(specs[i].name) for i in part]
            out[part] = np.asarray(_fold_kernel()(base, hashes))[: len(part)]
    for i, spec in enumerate(specs):
        if spec.random_seed is not None:
            out[i] = np.asarray(jax.random.key_data(jax.random.key(spec.random_seed)))
    return out


def fill_constants(
    specs: Sequence[VariableSpec], shardings: dict[str, jax.sharding.Sharding]
) -> dict[str, jax.Array]:
    """The variables whose initializer :meth:`~flowsnap.initializers.Initializer.fills_constant`
    (and whose sharding this process holds whole), filled with the one element the initializer
    computes: on the host and placed below 64K elements, else broadcast on the device by a
    trivial kernel per shape (Adam's slots of a large model would cost a host copy and a
    transfer). No program per model, whatever their number."""
    out: dict[str, jax.Array] = {}
    elements: dict[tuple[Any, np.dtype[Any]], np.ndarray[Any, Any]] = {}
    for spec in specs:
        sharding = shardings[spec.name]
        if not (sharding.is_fully_addressable and spec.initializer.fills_constant()):
            continue
        ident = (spec.initializer, spec.device_dtype)
        element = elements.get(ident)
        if element is None:  # the initializer's own element, as JAX converts its value
            element = elements[ident] = np.asarray(
                spec.initializer(_any_key(), (), spec.device_dtype)
            )
        if spec.initializer.size(spec.shape) < DEVICE_FILL:
            out[spec.name] = jax.device_put(np.full(spec.shape, element), sharding)
        else:  # large: broadcast on the device (a trivial kernel per shape, cached)
            out[spec.name] = _fill_kernel(spec.shape, sharding)(element)
    return out


@functools.cache
def _fill_kernel(
    shape: tuple[int, ...], sharding: jax.sharding.Sharding
) -> Callable[[np.ndarray[Any, Any]], jax.Array]:
    def fill(element: jax.Array) -> jax.Array:
        return jnp.broadcast_to(element, shape)

    return jax.jit(fill, out_shardings=sharding)


@functools.cache
def _any_key() -> jax.Array:
    return jax.random.key(0)


# Drawing in waves, slicing and filling leave the C heap with freed blocks that glibc keeps: for
# BERT-base on the CPU ~0.8 GB above the live values after initialization, which the first step's
# temporaries then could not reuse (peak RSS +16 %). ``malloc_trim`` hands them back.
TRIM_BYTES = 64 * 2**20


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None where the C library has none (macOS, musl)."""
    try:
        trim: Callable[[int], int] = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    return trim


def release_scratch(values: Sequence[jax.Array]) -> threading.Thread | None:
    """Once ``values`` are computed, return the heap memory their computation freed to the OS.

    Runs on a daemon thread (the caller goes on compiling its step while the values compute);
    only after initializations of at least ``TRIM_BYTES`` and where glibc's ``malloc_trim``
    exists. Returns the thread, or None when there is nothing to do.
    """
    trim = _malloc_trim()
    if trim is None or sum(v.nbytes for v in values) < TRIM_BYTES:
        return None

    def wait_and_trim() -> None:
        try:
            jax.block_until_ready(list(values))  # type: ignore[no-untyped-call]
        except Exception:  # the values' own error reaches whoever reads them first
            return
        trim(0)

    thread = threading.Thread(target=wait_and_trim, name="flowsnap-init-trim", daemon=True)
    thread.start()
    return thread
