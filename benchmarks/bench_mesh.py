"""Cost of running a train job over a mesh of devices, against a hand-written ``jax.jit`` step on
the same mesh.

An MLP (``IN -> HIDDEN -> HIDDEN -> CLASSES``, ReLU, sparse softmax cross entropy, momentum SGD)
trained on a fixed mini-batch fed from host memory each step, in variants: a flowsnap job on one
device; on a 1-d mesh of ``--devices`` devices in the consistent view (global batch split over the
devices), in the mirrored view (one array per device), and with the hidden layers' weights split
(model parallel); and the same consistent-view step written by hand with ``jax.jit``, explicit
shardings and donation. Steps are timed round-robin (one step of each variant per round; median),
so load drift hits all alike. Each variant also reports its first call (trace, compile, one step).

The devices are CPU devices (``XLA_FLAGS=--xla_force_host_platform_device_count``, set by this
script): they share the machine's cores, so this measures flowsnap's overhead over JAX on a mesh,
not a speed-up.

    .venv/bin/python benchmarks/bench_mesh.py [--rounds 20] [--batch 256] [--devices 4]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

if "jax" not in sys.modules:  # before JAX starts: the CPU devices of the mesh
    _count = next((a.split("=")[1] for a in sys.argv if a.startswith("--devices=")), "4")
    if "--devices" in sys.argv:
        _count = sys.argv[sys.argv.index("--devices") + 1]
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "") + f" --xla_force_host_platform_device_count={_count}"
    )

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

import flowsnap as flow
import flowsnap.typing as tp

IN, HIDDEN, CLASSES = 512, 1024, 10
LR, MOMENTUM = 0.01, 0.9


def flowsnap_job(name: str, batch: int, devices: int, *, mirrored: bool, split: bool) -> Any:
    """One train job of the MLP on ``devices`` devices (its own variables, by namespace)."""
    cfg = flow.FunctionConfig()
    if mirrored:
        cfg.default_logical_view(flow.scope.mirrored_view())
    per = batch // devices if mirrored else batch
    holder = tp.ListNumpy.Placeholder if mirrored else tp.Numpy.Placeholder
    ids = "0:0" if devices == 1 else f"0:0-{devices - 1}"
    dist = flow.distribute.split(0) if split else None

    def body(x: Any, y: Any) -> Any:
        with flow.scope.placement("cpu", ids), flow.scope.namespace(name):
            h = x
            for i in range(2):
                h = flow.layers.dense(
                    h, HIDDEN, activation=flow.math.relu, name=f"fc{i}", model_distribute=dist
                )
            logits = flow.layers.dense(h, CLASSES, name="out")
            loss = flow.nn.sparse_softmax_cross_entropy_with_logits(y, logits)
            lr = flow.optimizer.PiecewiseConstantScheduler([], [LR])
            flow.optimizer.SGD(lr, momentum=MOMENTUM).minimize(loss)
            return loss

    body.__name__ = name
    body.__annotations__ = {
        "x": holder((per, IN)),
        "y": holder((per,), dtype=flow.int32),
        "return": tp.ListNumpy if mirrored else tp.Numpy,
    }
    return flow.global_function(type="train", function_config=cfg)(body)


def hand_written(batch: int, devices: int) -> Callable[[np.ndarray, np.ndarray], Any]:
    """The consistent-view step by hand: ``jax.jit`` over the mesh, explicit shardings, donated
    parameters and momenta, the batch placed from the host each call."""
    mesh = Mesh(np.array(jax.devices()[:devices]), ("p0",))
    replicated = NamedSharding(mesh, PartitionSpec())
    split = NamedSharding(mesh, PartitionSpec("p0"))
    key = jax.random.key(0)
    sizes = [(HIDDEN, IN), (HIDDEN, HIDDEN), (CLASSES, HIDDEN)]  # (out, in), as flow.layers.dense
    params = [
        (jax.random.normal(jax.random.fold_in(key, i), s) * 0.01, jnp.zeros(s[0]))
        for i, s in enumerate(sizes)
    ]
    params = jax.device_put(params, replicated)
    moments = jax.device_put(jax.tree_util.tree_map(jnp.zeros_like, params), replicated)

    def loss_fn(params: Any, x: jax.Array, y: jax.Array) -> jax.Array:
        h = x
        for i, (w, b) in enumerate(params):
            h = h @ w.T + b
            if i < len(params) - 1:
                h = jax.nn.relu(h)
        logp = jax.nn.log_softmax(h)
        return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))

    def step(params: Any, moments: Any, x: jax.Array, y: jax.Array) -> Any:
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
        moments = jax.tree_util.tree_map(lambda v, g: MOMENTUM * v - LR * g, moments, grads)
        params = jax.tree_util.tree_map(lambda p, v: p + v, params, moments)
        return loss, params, moments

    jitted = jax.jit(
        step,
        in_shardings=(replicated, replicated, split, split),
        out_shardings=(replicated, replicated, replicated),
        donate_argnums=(0, 1),
    )
    state = [params, moments]

    def run(x: np.ndarray, y: np.ndarray) -> Any:
        loss, state[0], state[1] = jitted(
            state[0], state[1], jax.device_put(x, split), jax.device_put(y, split)
        )
        return np.asarray(loss)

    return run


def call_breakdown(job: Any, args: tuple[Any, ...], rounds: int) -> dict[str, float]:
    """Median milliseconds of each part of a call of a train ``job`` over a mesh: checking the
    inputs, placing them on the mesh, the variables' layout check, the compiled step (waited
    for), and fetching the result to the host (the job's internals, timed one by one)."""
    from flowsnap._engine._signature import bind_inputs

    layout = job._layout
    parts: dict[str, list[float]] = {}
    values = job.session.values
    for _ in range(rounds):
        marks = [time.perf_counter()]
        inputs = bind_inputs(job.name, job.params, args, {}, 4)
        marks.append(time.perf_counter())
        placed = jax.block_until_ready(layout.inputs(job.name, job.params, inputs))
        marks.append(time.perf_counter())
        trainable = layout.variables({n: values[n] for n in job.trainable})
        state = layout.variables({n: values[n] for n in job.state})
        marks.append(time.perf_counter())
        out, new_trainable, new_state = jax.block_until_ready(
            job._compiled(trainable, state, placed.arrays)
        )
        marks.append(time.perf_counter())
        np.asarray(out)
        marks.append(time.perf_counter())
        values.update(new_trainable)
        values.update(new_state)
        names = ["check inputs", "place inputs", "variables' layout", "compiled step"]
        for name, start, stop in zip([*names, "result to host"], marks, marks[1:], strict=False):
            parts.setdefault(name, []).append(stop - start)
    return {name: statistics.median(t) * 1e3 for name, t in parts.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--devices", type=int, default=4)
    args = parser.parse_args()
    n = args.devices
    if jax.device_count() < n:
        raise SystemExit(f"JAX sees {jax.device_count()} devices; run without importing JAX first")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(args.batch, IN)).astype(np.float32)
    y = rng.integers(0, CLASSES, size=(args.batch,)).astype(np.int32)
    xs, ys = list(np.split(x, n)), list(np.split(y, n))
    variants: dict[str, Callable[[], Any]] = {}
    jobs = {
        "flowsnap, 1 device": (flowsnap_job("one", args.batch, 1, mirrored=False, split=False), 0),
        f"flowsnap, {n} devices, consistent": (
            flowsnap_job("dp", args.batch, n, mirrored=False, split=False),
            0,
        ),
        f"flowsnap, {n} devices, mirrored": (
            flowsnap_job("mirror", args.batch, n, mirrored=True, split=False),
            1,
        ),
        f"flowsnap, {n} devices, hidden weights split(0)": (
            flowsnap_job("mp", args.batch, n, mirrored=False, split=True),
            0,
        ),
    }
    for label, (job, per_device) in jobs.items():
        variants[label] = (
            (lambda job=job: job(xs, ys)) if per_device else (lambda job=job: job(x, y))
        )
    hand = hand_written(args.batch, n)
    variants[f"hand-written jax.jit, {n} devices, consistent"] = lambda: hand(x, y)
    first: dict[str, float] = {}
    for label, run in variants.items():
        start = time.perf_counter()
        run()
        first[label] = time.perf_counter() - start
    times: dict[str, list[float]] = {label: [] for label in variants}
    for _ in range(args.rounds):
        for label, run in variants.items():
            start = time.perf_counter()
            run()
            times[label].append(time.perf_counter() - start)
    hand_label = f"hand-written jax.jit, {n} devices, consistent"
    ref = statistics.median(times[hand_label])
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"MLP {IN}-{HIDDEN}-{HIDDEN}-{CLASSES}, batch {args.batch}, momentum SGD, {n} CPU devices, "
        f"{args.rounds} rounds; {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs, load {load:.1f}, JAX {jax.__version__}"
    )
    print("| variant | first call (s) | step (ms) | vs hand-written |")
    print("|---|---:|---:|---:|")
    for label in variants:
        median = statistics.median(times[label])
        print(f"| {label} | {first[label]:.2f} | {median * 1e3:.1f} | {median / ref:.2f} |")
    job = jobs[f"flowsnap, {n} devices, consistent"][0]
    breakdown = call_breakdown(job, (x, y), args.rounds)
    print(f"\nOne call of the {n}-device consistent job, by part (median ms):\n")
    print("| part | ms |")
    print("|---|---:|")
    for name, ms in breakdown.items():
        print(f"| {name} | {ms:.2f} |")


if __name__ == "__main__":
    main()
