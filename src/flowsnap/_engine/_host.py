"""Data ops: the part of a job that runs on the host, before each compiled step.

OneFlow's training programs read their own data inside the job body: ``ofrecord_reader``, then
decoders, image ops, ``CoinFlip``. flowsnap cannot run those under ``jax.jit`` (they read files and
decode JPEGs), so a data op is a *host op*: a front-end calls :func:`host_op` in the body with a
pure function ``fn(call, *inputs)`` that computes the op's output for one batch on the host.

* When the job is first traced (discovery), each host op becomes a :class:`HostNode` of the job's
  :class:`HostPipeline`. A *fed* op (its output has the same shape and dtype every batch) is
  evaluated once for batch 0 to learn that shape; the body gets a placeholder of it.
* When the job compiles, the step takes one extra input, the tuple of the fed outputs of one
  batch; the body's k-th fed host op returns the k-th element, a traced array every device op can
  use. Other host ops return a :class:`HostBlob`, which only host ops take (OFRecord blobs,
  TensorBuffers of variable-size images).
* Each call of the job computes the next batch on the host (a producer thread computes the
  following ones while the device runs the step) and feeds it.

Every host function is a pure function of its arguments, the batch index and its seed
(:class:`HostCall`). That is what makes prefetching and exact resume simple: the job's position is
one number, the batches consumed, kept as the int64 variable ``System-DataPosition-<job>``
(:data:`POSITION_PREFIX`). The step increments it; checkpoints carry it; after ``load_variables``
the next call reads the batch the saved run would have read next.
"""

from __future__ import annotations

import concurrent.futures
import functools
import os
import threading
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from flowsnap import initializers
from flowsnap._engine._trace import TraceContext, current_trace
from flowsnap._store import VariableSpec, name_hash
from flowsnap.errors import TraceError

POSITION_PREFIX = "System-DataPosition-"
"""The variable ``<prefix><job>`` holds how many batches the job's data ops have produced."""

PREFETCH_DEPTH = 2
"""How many batches the producer thread computes ahead of the job calls."""

HostFn = Callable[..., Any]


@dataclass(frozen=True)
class HostCall:
    """What a host function knows about the batch it computes.

    Attributes:
        batch: the 0-based index of this batch in the job's stream (batch k of a resumed run is
            batch k of the uninterrupted run).
        seed: an int stable for this op in this job: from the session seed, the job's name and
            the op's position among the body's host ops.
        pool: a shared thread pool for per-sample parallel work (decoding, resizing).
    """

    batch: int
    seed: int
    pool: concurrent.futures.ThreadPoolExecutor

    @functools.cached_property
    def rng(self) -> np.random.Generator:
        """A generator seeded from ``(seed, batch)``: this batch's randomness for this op."""
        return np.random.default_rng([self.seed, self.batch])


@dataclass(frozen=True)
class HostNode:
    """One host op of a job: its function, the nodes it takes, and whether it is fed."""

    index: int
    kind: str
    fn: HostFn
    inputs: tuple[int, ...]
    fed: bool
    key: Hashable
    seed: int
    name: str | None = None


class HostBlob:
    """The output of a host op that stays on the host (an OFRecord blob, a TensorBuffer of
    variable-size images): only other data ops take it.

    Attributes:
        kind: the op that made it (``"ofrecord_reader"``...).
        shape: OneFlow's static shape of the blob (e.g. ``(batch_size,)``), if known.
        dtype: its element type, if it has one.
    """

    def __init__(
        self, node: int, kind: str, shape: tuple[int, ...] | None, dtype: Any, name: str | None
    ) -> None:
        self.node = node
        self.kind = kind
        self.shape = shape
        self.dtype = dtype
        self.op_name = name

    def __repr__(self) -> str:
        shape = "?" if self.shape is None else self.shape
        return f"HostBlob({self.kind}, shape={shape})"

    def __jax_array__(self) -> jax.Array:
        raise TraceError(
            f"{self!r} is data on the host (the output of {self.kind}); decode it first (e.g. "
            "flow.data.OFRecordRawDecoder, flow.image.CropMirrorNormalize) before device ops use it"
        )


def evaluate(nodes: Sequence[HostNode], node: int, batch: int, memo: dict[int, Any]) -> Any:
    """The output of ``nodes[node]`` for ``batch``; ``memo`` holds this batch's outputs so far."""
    if node in memo:
        return memo[node]
    spec = nodes[node]
    inputs = [evaluate(nodes, i, batch, memo) for i in spec.inputs]
    result = spec.fn(HostCall(batch=batch, seed=spec.seed, pool=_shared_pool()), *inputs)
    memo[node] = result
    return result


def device_ready(value: Any) -> np.ndarray:
    """A fed op's result as the array the step receives: NumPy, in the dtype JAX computes in
    (float64 becomes float32 and int64 int32 unless JAX runs with 64-bit types)."""
    array = np.asarray(value)
    return array.astype(jax.dtypes.canonicalize_dtype(array.dtype), copy=False)


@functools.cache
def _shared_pool() -> concurrent.futures.ThreadPoolExecutor:
    return concurrent.futures.ThreadPoolExecutor(
        max_workers=max(2, os.cpu_count() or 2), thread_name_prefix="flowsnap-data"
    )


class HostPipeline:
    """A job's host ops and the batches they produce, computed ahead on a producer thread."""

    def __init__(self, job: str, nodes: Sequence[HostNode]) -> None:
        self.job = job
        self.nodes = tuple(nodes)
        self.fed = tuple(n.index for n in self.nodes if n.fed)
        self.position_name = POSITION_PREFIX + job
        self._producer = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix=f"flowsnap-data-{job}"
        )
        self._ahead: dict[int, concurrent.futures.Future[tuple[np.ndarray, ...]]] = {}
        self._lock = threading.Lock()
        self.avals: tuple[tuple[tuple[int, ...], np.dtype[Any]], ...] | None = None
        self._last_position: Any = None
        self._next = 0

    # -- computing -------------------------------------------------------------------------

    def compute(self, batch: int) -> tuple[np.ndarray, ...]:
        """The fed outputs of ``batch``, in the order the body's fed ops were called.

        Raises:
            TraceError: a fed op gave another shape or dtype than for batch 0.
        """
        memo: dict[int, Any] = {}
        out = tuple(device_ready(evaluate(self.nodes, i, batch, memo)) for i in self.fed)
        if self.avals is None:
            self.avals = tuple((a.shape, a.dtype) for a in out)
        for index, array, (shape, dtype) in zip(self.fed, out, self.avals, strict=True):
            if (array.shape, array.dtype) != (shape, dtype):
                node = self.nodes[index]
                raise TraceError(
                    f"job {self.job!r}: data op {node.kind} (#{index}) gave {array.dtype}"
                    f"{list(array.shape)} for batch {batch}, but {dtype}{list(shape)} for the "
                    "first batch; a data op whose result feeds the device must give the same "
                    "shape every batch (resize or pad its images to a fixed size)"
                )
        return out

    # -- feeding the job -------------------------------------------------------------------

    def batch_for_call(
        self, values: dict[str, jax.Array], count: int = 1
    ) -> tuple[np.ndarray, ...]:
        """The next batch for a job call, by the position variable's current value.

        If the position variable is the value this pipeline left after its last call, the
        next batch follows; if something else set it (``load_variables``, a new session), the
        pipeline moves to the batch it names and drops what it had computed ahead. With
        ``count`` > 1 (gradient accumulation: one call is ``count`` micro-batches, each one
        batch of the data ops, as OneFlow ran its readers once per micro-batch), the next
        ``count`` batches are concatenated along axis 0.
        """
        position = values.get(self.position_name)
        if position is not None and position is not self._last_position:
            self._next = int(np.asarray(position).reshape(-1)[0])
        first = self._next
        wanted = range(first, first + count)
        with self._lock:
            futures = {b: self._ahead.pop(b, None) for b in wanted}
            ahead = range(first + count, first + count * (1 + PREFETCH_DEPTH))
            for stale in [b for b in self._ahead if b not in ahead]:
                self._ahead.pop(stale).cancel()
        batches = [f.result() if f is not None else self.compute(b) for b, f in futures.items()]
        self._next = first + count
        with self._lock:
            for b in ahead:
                if b not in self._ahead:
                    self._ahead[b] = self._producer.submit(self.compute, b)
        if count == 1:
            return batches[0]
        return tuple(np.concatenate(parts, axis=0) for parts in zip(*batches, strict=True))

    def called(self, values: dict[str, jax.Array]) -> None:
        """Note the position variable the step left, so the next call knows nothing moved it."""
        self._last_position = values.get(self.position_name)

    def close(self) -> None:
        """Drop what was computed ahead and stop the producer thread."""
        with self._lock:
            for future in self._ahead.values():
                future.cancel()
            self._ahead.clear()
        self._producer.shutdown(wait=False, cancel_futures=True)


@dataclass
class HostTrace:
    """The host ops of one trace of a job body.

    In discovery, ``nodes`` grows as the body calls :func:`host_op` and fed ops are evaluated
    for batch 0; in a compiled trace, ``expected`` is the discovered pipeline and ``fed`` the
    traced inputs of one batch.
    """

    job: str
    seed: int
    discovering: bool
    expected: tuple[HostNode, ...] | None = None
    fed: tuple[jax.Array, ...] = ()
    nodes: list[HostNode] = field(default_factory=list)
    fed_count: int = 0
    by_array: dict[int, tuple[int, jax.Array]] = field(default_factory=dict)
    memo: dict[int, Any] = field(default_factory=dict)

    def pipeline(self) -> HostPipeline | None:
        """The discovered pipeline, or None if the body has no host ops."""
        return HostPipeline(self.job, self.nodes) if self.nodes else None


def host_op(
    kind: str,
    fn: HostFn,
    inputs: Sequence[Any] = (),
    *,
    fed: bool,
    name: str | None = None,
    key: Hashable = None,
    shape: Sequence[int] | None = None,
    dtype: Any = None,
) -> Any:
    """Add a data op to the job being traced; return its output in the body.

    Args:
        kind: the op's OneFlow name, for messages (``"ofrecord_reader"``).
        fn: ``fn(call: HostCall, *input_values) -> value``: this op's output for one batch,
            computed on the host from the outputs of ``inputs`` for the same batch. It must
            depend only on its arguments, ``call.batch`` and ``call.seed``.
        inputs: the outputs of earlier data ops this op takes (HostBlobs, or arrays returned
            by fed data ops).
        fed: True if ``fn`` returns a NumPy array of the same shape and dtype every batch; the
            body then gets a traced array (an input of the compiled step). False: the body
            gets a :class:`HostBlob`.
        name: the op's ``name=`` argument, if any.
        key: a hashable summary of the op's arguments; a job body must call the same data ops
            with the same arguments each time it is traced.
        shape, dtype: for a HostBlob, OneFlow's static shape and dtype of the blob.

    Raises:
        TraceError: called outside a job body, an input that is not the output of a data op,
            or a body that calls other data ops when compiled than when first traced.
    """
    ctx = current_trace()
    if ctx is None or ctx.host is None:
        raise TraceError(
            f"flow data op {kind} runs inside the body of a job (a @flow.global_function; the job "
            "reads its data on the host before each step); move the call into the job function"
        )
    trace: HostTrace = ctx.host
    index = len(trace.nodes)
    input_nodes = tuple(_input_node(trace, kind, value) for value in inputs)
    seed = int(
        np.random.SeedSequence([trace.seed, name_hash(trace.job), index]).generate_state(1)[0]
    )
    node = HostNode(index, kind, fn, input_nodes, fed, key, seed, name)
    if trace.expected is not None:
        _check_same(trace, node)
    trace.nodes.append(node)
    if index == 0:
        _declare_position(ctx, trace)
    if not fed:
        dims = None if shape is None else tuple(int(d) for d in shape)
        return HostBlob(index, kind, dims, dtype, name)
    if trace.discovering:
        sample = device_ready(evaluate(trace.nodes, index, 0, trace.memo))
        out: jax.Array = jnp.zeros(sample.shape, sample.dtype)
    else:
        out = trace.fed[trace.fed_count]
    trace.fed_count += 1
    trace.by_array[id(out)] = (index, out)
    return out


def _input_node(trace: HostTrace, kind: str, value: Any) -> int:
    if isinstance(value, HostBlob):
        return value.node
    found = trace.by_array.get(id(value))
    if found is not None and found[1] is value:
        return found[0]
    raise TraceError(
        f"data op {kind} takes the output of another data op (a reader, decoder or image op), "
        f"got {type(value).__name__}; values computed on the device cannot flow back to the host"
    )


def _check_same(trace: HostTrace, node: HostNode) -> None:
    expected = trace.expected or ()
    if node.index >= len(expected):
        raise TraceError(
            f"job {trace.job!r} called more data ops when compiled than when first traced; a job "
            "body must call the same data ops every time it is traced"
        )
    first = expected[node.index]
    if (first.kind, first.key, first.fed) != (node.kind, node.key, node.fed):
        raise TraceError(
            f"job {trace.job!r}: data op #{node.index} was {first.kind} when first traced and is "
            f"{node.kind} (or has other arguments) now; a job body must call the same data ops "
            "with the same arguments every time it is traced"
        )


def _declare_position(ctx: TraceContext, trace: HostTrace) -> None:
    """Declare the job's data-position variable and, in a run trace, advance it by one."""
    name = POSITION_PREFIX + trace.job
    spec = VariableSpec(
        name=name,
        shape=(1,),
        dtype=np.dtype(np.int64),
        initializer=initializers.constant_initializer(0, np.int64),
        trainable=False,
        job=trace.job,
    )
    ctx.specs[name] = spec
    if ctx.discovering:
        value = jnp.zeros((1,), spec.device_dtype)
    else:
        value = ctx.params[name]
        ctx.updates[name] = value + 1
    ctx.values[name] = value


def start_host_trace(
    ctx: TraceContext,
    seed: int,
    expected: tuple[HostNode, ...] | None = None,
    fed: Sequence[jax.Array] = (),
) -> None:
    """Make ``ctx`` record the body's data ops (discovery), or, given the ``expected`` nodes
    of the discovery trace, replay them with ``fed`` as their outputs (a compiled trace)."""
    ctx.host = HostTrace(
        job=ctx.job,
        seed=seed,
        discovering=ctx.discovering,
        expected=expected,
        fed=tuple(fed),
    )
