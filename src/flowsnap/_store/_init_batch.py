"""Initializing many variables with a few compiled kernels (internal).

Compiling one program that calls every variable's initializer costs one threefry kernel per
randomly initialized variable (XLA's CPU backend spends ~0.2-0.6 s of LLVM time on each). With
JAX's partitionable threefry (``jax_threefry_partitionable``, the default), a draw is a prefix of
any longer draw from the same key, so the variables whose initializer offers a
:class:`~flowsnap.initializers.FlatDraw` share kernels instead:

1. the variables' keys: one vectorized ``fold_in`` kernel (the keys
   :func:`~flowsnap._store.variable_key` gives), 256 names a call;
2. per (flat draw, bucket ``n``): one kernel ``(key, params) -> n values``, called once per
   variable; a variable of ``size`` elements keeps the first ``size``. Buckets are powers of two
   from 256 to 4096 elements, then four an octave (less than 25% padding: drawing the padding
   costs time); a bucket whose variables fit the next larger one at the cost of at most 4M more
   values joins it. The kernel
   takes one key, not a ``vmap`` over many: XLA compiles a ``vmap``-ed threefry kernel about
   twice as slowly, and a call costs microseconds;
3. a program that slices, reshapes and casts the draws, calls the initializers of the other
   variables (anything without a flat draw) as before, and places every value in its sharding.
   Constants (``Initializer.fills_constant``) need no program: one element computed by the
   initializer, the array filled on the host (or, above 64K elements, broadcast on the device).
   Draws are taken in waves of about 512 MiB, each wave sliced by its own program, so the
   transient memory stays about one wave beyond the values themselves.

Kernels of steps 1 and 2 depend only on (draw, bucket, parameter count, device), so every model
and session of the process reuses them; the programs of step 3 are cached too (the same model
built in a new session compiles nothing). Whatever is not compiled yet compiles on a few threads
at once (XLA releases the GIL). Every value is bit for bit what the variable's initializer gives
in a compiled program (``tests/_store/test_batched_init.py``). Variables split over a mesh,
meshes spanning other processes, and anything the prefix property does not cover (another PRNG
implementation, partitionable threefry off) take the per-variable path in step 3.
"""

from __future__ import annotations

import functools
import itertools
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from flowsnap._store._init_parts import fill_constants, key_data
from flowsnap._store._spec import VariableSpec, variable_key
from flowsnap.initializers import FlatDraw

MIN_BUCKET = 1 << 8
FINE_BUCKETS = 1 << 12
WAVE_BYTES = 1 << 29
MERGE_ELEMENTS = 1 << 22
_PROGRAMS = 16

Draw = Callable[[jax.Array, int, jax.Array], jax.Array]


def bucket_size(size: int) -> int:
    """The padded length a variable of ``size`` elements is drawn with: the next power of two
    (at least 256) up to 4096, above that the next multiple of an eighth of the power of two
    that holds ``size`` (four buckets an octave: less than 25% padding, 12% typically; BERT's
    768x768 weights 11%, its 23M-element embedding 7%). The draw is computed in full, padding
    included, so large buckets are fine-grained; :func:`merge_buckets` then joins the buckets
    that are cheaper to pad than to compile."""
    if size <= MIN_BUCKET:
        return MIN_BUCKET
    if size <= FINE_BUCKETS:
        return 1 << (size - 1).bit_length()
    step = 1 << ((size - 1).bit_length() - 3)
    return -(-size // step) * step


def batching_supported() -> bool:
    """Whether flat draws reproduce the per-variable values: threefry2x32 keys, partitionable."""
    config: Any = jax.config
    return bool(config.jax_threefry_partitionable) and (
        str(config.jax_default_prng_impl) == "threefry2x32"
    )


@functools.cache
def draw_kernel(draw: Draw, n: int, param_dtype: str) -> Callable[..., jax.Array]:
    """The shared draw: ``(uint32 [key data (2), params bit patterns (p)]) -> n values``
    (float32 or int32: the cast to a variable's dtype comes with the slicing). Key and
    parameters travel as one array: one transfer a variable."""

    def one(packed: jax.Array) -> jax.Array:
        params = jax.lax.bitcast_convert_type(packed[2:], np.dtype(param_dtype))
        return draw(jax.random.wrap_key_data(packed[:2]), n, params)

    return jax.jit(one)


@dataclass(frozen=True)
class _Drawn:
    """A variable drawn by a shared kernel: its spec index, flat draw and bucket."""

    index: int
    flat: FlatDraw
    n: int

    @property
    def kind(self) -> Hashable:
        """Its kernel's identity but for the bucket."""
        return (self.flat.draw, self.flat.param_dtype, len(self.flat.params))

    def ident(self, place: jax.sharding.Sharding) -> Hashable:
        """What its compiled kernel depends on."""
        return (self.flat.draw, self.n, self.flat.param_dtype, len(self.flat.params), place)

    def packed(self, key: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        """The kernel's input: key data, then the parameters' bit patterns."""
        params = np.asarray(self.flat.params, self.flat.param_dtype).reshape(-1)
        return np.concatenate([key.astype(np.uint32), params.view(np.uint32)])


@dataclass
class _Wave:
    """Variables drawn together and sliced by one program."""

    drawn: list[_Drawn] = field(default_factory=list)
    singles: list[int] = field(default_factory=list)  # variables computed by their initializer


# ident -> the compiled kernel (a future: another thread may be compiling it)
_kernels: dict[Hashable, Future[Any]] = {}
_programs: OrderedDict[Hashable, Any] = OrderedDict()
_lock = threading.Lock()


def initialize(
    specs: Sequence[VariableSpec],
    seed: int,
    shardings: dict[str, jax.sharding.Sharding],
    *,
    batch: bool = True,
) -> dict[str, jax.Array]:
    """Initial values of ``specs`` (session seed ``seed``), each in ``shardings[name]``.

    Bit for bit ``spec.initializer(variable_key(seed, spec), spec.shape, spec.device_dtype)`` as
    compiled by ``jax.jit``. With ``batch`` (and when :func:`batching_supported`), variables
    with a flat draw and a replicated, fully addressable sharding use the shared kernels;
    ``batch=False`` computes every value in one program, as flowsnap did before.
    """
    if not specs:
        return {}
    values: dict[str, jax.Array] = {}
    if batch:
        values = fill_constants(specs, shardings)
        specs = [s for s in specs if s.name not in values]
        if not specs:
            return values
    place = _replicated(shardings[specs[0].name])
    drawn: list[_Drawn] = []
    if batch and batching_supported():
        for i, spec in enumerate(specs):
            sharding = shardings[spec.name]
            if not (sharding.is_fully_addressable and sharding.is_fully_replicated):
                continue
            flat = spec.initializer.flat_draw(spec.shape, spec.device_dtype)
            if flat is not None:
                drawn.append(_Drawn(i, flat, bucket_size(_size(spec))))
    waves = _waves(specs, merge_buckets(drawn))
    keys = key_data(seed, [specs[d.index] for d in drawn])
    key_of = {d.index: keys[k] for k, d in enumerate(drawn)}
    programs = _compile(specs, seed, shardings, place, waves)
    for wave, program in zip(waves, programs, strict=True):
        draws = [
            _kernel(d.ident(place))(jax.device_put(d.packed(key_of[d.index]), place))
            for d in wave.drawn
        ]
        done = program(draws)
        del draws
        if len(waves) > 1:  # free this wave's draws before drawing the next
            jax.block_until_ready(done)  # type: ignore[no-untyped-call]
        values.update(done)
    return values


def merge_buckets(drawn: list[_Drawn]) -> list[_Drawn]:
    """Move the variables of a bucket into the next larger bucket of the same draw when that
    draws at most :data:`MERGE_ELEMENTS` (4M) more values in all: a kernel costs 0.2-0.6 s to
    compile, 4M values tens of milliseconds to draw. Smallest buckets first: ResNet-50's 14
    buckets become 3 (its draws 1.42x its size instead of 1.05x), BERT-base's 5 become 3
    (1.11x); a model of many tiny variables keeps its small bucket."""
    counts: dict[Hashable, dict[int, int]] = {}
    for d in drawn:
        sizes = counts.setdefault(d.kind, {})
        sizes[d.n] = sizes.get(d.n, 0) + 1
    moved: dict[tuple[Hashable, int], int] = {}
    for kind, sizes in counts.items():
        ns = sorted(sizes)
        for small, large in itertools.pairwise(ns):
            if sizes[small] * (large - small) <= MERGE_ELEMENTS:
                moved[kind, small] = large
                sizes[large] += sizes[small]
    out = []
    for d in drawn:
        n = d.n
        while (d.kind, n) in moved:
            n = moved[d.kind, n]
        out.append(d if n == d.n else replace(d, n=n))
    return out


def _size(spec: VariableSpec) -> int:
    return spec.initializer.size(spec.shape)


def _waves(specs: Sequence[VariableSpec], drawn: list[_Drawn]) -> list[_Wave]:
    """Cut the drawn variables into waves of about :data:`WAVE_BYTES` of draws; the variables
    computed by their initializers go with the last wave."""
    waves = [_Wave()]
    wave_bytes = 0
    for d in drawn:
        size = 4 * d.n
        if wave_bytes and wave_bytes + size > WAVE_BYTES:
            waves.append(_Wave())
            wave_bytes = 0
        waves[-1].drawn.append(d)
        wave_bytes += size
    taken = {d.index for d in drawn}
    waves[-1].singles = [i for i in range(len(specs)) if i not in taken]
    return waves


def _replicated(sharding: jax.sharding.Sharding) -> jax.sharding.Sharding:
    """Where the draws run: the device of ``sharding``, or its whole mesh, replicated."""
    if isinstance(sharding, jax.sharding.NamedSharding):
        spec = jax.sharding.PartitionSpec()  # type: ignore[no-untyped-call]
        return jax.sharding.NamedSharding(sharding.mesh, spec)
    return sharding


def _compile(
    specs: Sequence[VariableSpec],
    seed: int,
    shardings: dict[str, jax.sharding.Sharding],
    place: jax.sharding.Sharding,
    waves: list[_Wave],
) -> list[Any]:
    """The compiled program of each wave, compiling every kernel and program not cached yet on
    a few threads at once (lowered on this thread, which holds the JAX settings in force)."""
    jobs: list[Callable[[], None]] = []
    for wave in waves:
        for d in wave.drawn:
            ident = d.ident(place)
            with _lock:
                if ident in _kernels:
                    continue
                _kernels[ident] = Future()  # claimed: compiled below
            jobs.append(_compile_kernel(d, place))
    programs: list[Any] = [None] * len(waves)
    for w, wave in enumerate(waves):
        ident = _program_ident(specs, seed, shardings, wave)
        with _lock:
            found = _programs.get(ident) if ident is not None else None
            if found is not None:
                _programs.move_to_end(ident)
        if found is not None:
            programs[w] = found
            continue
        inputs = [_draw_struct(d, place) for d in wave.drawn]
        jobs.append(_compile_program(specs, seed, shardings, wave, inputs, ident, programs, w))
    _run_all(jobs)
    return programs


def _run_all(jobs: list[Callable[[], None]]) -> None:
    if len(jobs) <= 1:
        for job in jobs:
            job()
        return
    workers = min(len(jobs), max(1, len(os.sched_getaffinity(0))))
    with ThreadPoolExecutor(workers, thread_name_prefix="flowsnap-init-compile") as pool:
        for future in [pool.submit(job) for job in jobs]:
            future.result()


def _struct(
    shape: tuple[int, ...], dtype: np.dtype[Any], place: jax.sharding.Sharding
) -> jax.ShapeDtypeStruct:
    return jax.ShapeDtypeStruct(shape, dtype, sharding=place)  # type: ignore[no-untyped-call]


def _kernel_input(d: _Drawn, place: jax.sharding.Sharding) -> jax.ShapeDtypeStruct:
    return _struct((2 + len(d.flat.params),), np.dtype(np.uint32), place)


def _draw_struct(d: _Drawn, place: jax.sharding.Sharding) -> jax.ShapeDtypeStruct:
    """The shape, dtype and placement of ``d``'s draw (traced, not compiled)."""
    kernel = draw_kernel(d.flat.draw, d.n, d.flat.param_dtype)
    out = jax.eval_shape(kernel, _kernel_input(d, place))
    return _struct(out.shape, out.dtype, place)


def _compile_kernel(d: _Drawn, place: jax.sharding.Sharding) -> Callable[[], None]:
    """Lower ``d``'s kernel now (tracing reads this thread's JAX settings, such as x64); return
    the job that compiles it (on any thread)."""
    ident = d.ident(place)
    with _lock:
        future = _kernels[ident]
    try:
        kernel: Any = draw_kernel(d.flat.draw, d.n, d.flat.param_dtype)
        lowered = kernel.lower(_kernel_input(d, place))
    except BaseException as exc:
        _forget(ident, future, exc)
        raise

    def job() -> None:
        try:
            compiled = lowered.compile()
        except BaseException as exc:
            _forget(ident, future, exc)
            raise
        future.set_result(compiled)

    return job


def _forget(ident: Hashable, future: Future[Any], exc: BaseException) -> None:
    with _lock:
        _kernels.pop(ident, None)
    future.set_exception(exc)


def _kernel(ident: Hashable) -> Any:
    """The compiled kernel ``ident`` (waiting if another thread compiles it)."""
    with _lock:
        future = _kernels[ident]
    return future.result()


def _program_ident(
    specs: Sequence[VariableSpec],
    seed: int,
    shardings: dict[str, jax.sharding.Sharding],
    wave: _Wave,
) -> Hashable | None:
    entries: list[tuple[Hashable, ...]] = []
    for d in wave.drawn:
        s = specs[d.index]
        entries.append((s.name, s.shape, s.device_dtype, d.n, shardings[s.name]))
    for i in wave.singles:
        s = specs[i]
        how = (s.initializer, s.random_seed)
        entries.append((s.name, s.shape, s.device_dtype, how, shardings[s.name]))
    ident = (seed, tuple(entries))
    try:
        hash(ident)
    except TypeError:  # an initializer that does not hash: compile without caching
        return None
    return ident


def _compile_program(
    specs: Sequence[VariableSpec],
    seed: int,
    shardings: dict[str, jax.sharding.Sharding],
    wave: _Wave,
    inputs: list[jax.ShapeDtypeStruct],
    ident: Hashable | None,
    programs: list[Any],
    index: int,
) -> Callable[[], None]:
    """Lower the slicing program of ``wave`` now; return the job that compiles it."""
    drawn = [specs[d.index] for d in wave.drawn]
    singles = [specs[i] for i in wave.singles]

    def assemble(draws: list[jax.Array]) -> dict[str, jax.Array]:
        out = {}
        for spec, values in zip(drawn, draws, strict=True):
            flat = values[: _size(spec)]
            out[spec.name] = jnp.reshape(flat, spec.shape).astype(spec.device_dtype)
        for spec in singles:
            key = variable_key(seed, spec)
            out[spec.name] = spec.initializer(key, spec.shape, spec.device_dtype)
        return out

    names = [s.name for s in drawn] + [s.name for s in singles]
    program = jax.jit(assemble, out_shardings={n: shardings[n] for n in names})
    lowered = program.lower(inputs)

    def job() -> None:
        compiled = lowered.compile()
        programs[index] = compiled
        if ident is not None:
            with _lock:
                _programs[ident] = compiled
                while len(_programs) > _PROGRAMS:
                    _programs.popitem(last=False)

    return job
