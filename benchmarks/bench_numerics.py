"""Cost of gradient accumulation, mixed precision and dynamic loss scaling in a train job.

An MLP (``IN -> HIDDEN -> HIDDEN -> CLASSES``, ReLU, sparse softmax cross entropy, momentum SGD)
trained by a flowsnap job on a fixed mini-batch, in variants: float32; gradient accumulation over
``n`` micro-batches; ``enable_auto_mixed_precision`` (float16 and bfloat16); a dynamic loss scale.
Each variant reports its first call (trace + compile + one step) and the median of the following
calls. For accumulation, a hand-written JAX step (``lax.scan`` over the micro-batches) is timed in
the same run as the reference.

    .venv/bin/python benchmarks/bench_numerics.py [--rounds 20] [--batch 256]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import flowsnap as flow
import flowsnap.typing as tp

IN, HIDDEN, CLASSES = 512, 1024, 10


def flowsnap_job(
    batch: int, n: int = 1, amp: str | None = None, dynamic: bool = False
) -> Callable[..., Any]:
    """One train job of the MLP, named for its variant (all jobs share one session and its
    variables, as jobs of one program do)."""
    if amp is not None:
        os.environ["FLOWSNAP_AMP_DTYPE"] = amp
    cfg = flow.FunctionConfig()
    if n > 1:
        cfg.train.num_gradient_accumulation_steps(n)
    if amp is not None:
        cfg.enable_auto_mixed_precision(True)
    policy = flow.optimizer.loss_scale.dynamic_loss_scale(2.0**15) if dynamic else None

    def mlp(
        x: tp.Numpy.Placeholder((batch, IN)), y: tp.Numpy.Placeholder((batch,), dtype=flow.int32)
    ) -> tp.Numpy:
        h = flow.layers.dense(x, HIDDEN, activation=flow.nn.relu, name="d1")
        h = flow.layers.dense(h, HIDDEN, activation=flow.nn.relu, name="d2")
        logits = flow.layers.dense(h, CLASSES, name="d3")
        loss = flow.nn.sparse_softmax_cross_entropy_with_logits(y, logits)
        flow.optimizer.SGD(
            flow.optimizer.PiecewiseConstantScheduler([], [0.01]),
            momentum=0.9,
            loss_scale_policy=policy,
        ).minimize(loss)
        return loss

    mlp.__name__ = f"mlp_n{n}_{amp or 'float32'}{'_dynamic' if dynamic else ''}"
    job = flow.global_function(type="train", function_config=cfg)(mlp)
    os.environ.pop("FLOWSNAP_AMP_DTYPE", None)
    return job


def jax_step(batch: int, n: int) -> Callable[..., Any]:
    """The same training step written in JAX: scan over ``n`` micro-batches, mean gradient."""
    rng = np.random.default_rng(0)
    shapes = [(IN, HIDDEN), (HIDDEN, HIDDEN), (HIDDEN, CLASSES)]
    params = [jnp.asarray(rng.normal(size=s) * 0.02, jnp.float32) for s in shapes]
    params += [jnp.zeros((s[1],), jnp.float32) for s in shapes]
    moments = [jnp.zeros_like(p) for p in params]

    def loss_fn(p: list[jax.Array], x: jax.Array, y: jax.Array) -> jax.Array:
        h = jax.nn.relu(x @ p[0] + p[3])
        h = jax.nn.relu(h @ p[1] + p[4])
        logp = jax.nn.log_softmax(h @ p[2] + p[5])
        return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))

    @jax.jit
    def step(p: list[jax.Array], m: list[jax.Array], x: jax.Array, y: jax.Array) -> Any:
        xs = x.reshape(n, batch // n, IN)
        ys = y.reshape(n, batch // n)

        def body(acc: list[jax.Array], xy: tuple[jax.Array, jax.Array]) -> Any:
            g = jax.grad(loss_fn)(p, *xy)
            return [a + b for a, b in zip(acc, g, strict=True)], None

        grads, _ = jax.lax.scan(body, [jnp.zeros_like(q) for q in p], (xs, ys))
        m = [0.9 * mi - 0.01 * g / n for mi, g in zip(m, grads, strict=True)]
        return [q + mi for q, mi in zip(p, m, strict=True)], m

    state = [params, moments]

    def call(x: np.ndarray, y: np.ndarray) -> None:
        state[:] = step(state[0], state[1], x, y)
        jax.block_until_ready(state[0])

    return call


def first_call(call: Callable[..., Any], x: np.ndarray, y: np.ndarray) -> float:
    start = time.perf_counter()
    jax.block_until_ready(call(x, y))
    return time.perf_counter() - start


def interleaved(
    calls: list[Callable[..., Any]], x: np.ndarray, y: np.ndarray, rounds: int
) -> list[float]:
    """The median step time of each call, timed round-robin (one step of each per round) so
    that a machine whose load drifts slows every variant alike."""
    times: list[list[float]] = [[] for _ in calls]
    for _ in range(rounds):
        for call, out in zip(calls, times, strict=True):
            start = time.perf_counter()
            jax.block_until_ready(call(x, y))
            out.append(time.perf_counter() - start)
    return [statistics.median(t) for t in times]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--batch", type=int, default=256)
    args = parser.parse_args()
    rng = np.random.default_rng(1)
    x = rng.normal(size=(args.batch, IN)).astype(np.float32)
    y = rng.integers(0, CLASSES, size=args.batch).astype(np.int32)
    print(f"# {platform.node()} {jax.default_backend()} jax {jax.__version__}, batch {args.batch}")
    print(f"{'variant':34s} {'first call s':>12s} {'step ms':>9s} {'vs float32':>10s}")
    rows: list[tuple[str, Callable[..., Any]]] = [
        ("float32", lambda: flowsnap_job(args.batch)),
        ("accumulation n=4", lambda: flowsnap_job(args.batch, n=4)),
        ("accumulation n=16", lambda: flowsnap_job(args.batch, n=16)),
        ("JAX by hand, n=4", lambda: jax_step(args.batch, 4)),
        ("JAX by hand, n=16", lambda: jax_step(args.batch, 16)),
        ("AMP float16", lambda: flowsnap_job(args.batch, amp="float16")),
        ("AMP bfloat16", lambda: flowsnap_job(args.batch, amp="bfloat16")),
        ("float32 + dynamic loss scale", lambda: flowsnap_job(args.batch, dynamic=True)),
        (
            "AMP float16 + dynamic loss scale",
            lambda: flowsnap_job(args.batch, amp="float16", dynamic=True),
        ),
    ]
    calls, firsts = [], []
    for _, make in rows:
        # each flowsnap job gets its own session: keep the job object, not the session
        calls.append(make())
        firsts.append(first_call(calls[-1], x, y))
    steps = interleaved(calls, x, y, args.rounds)
    for (name, _), first, step in zip(rows, firsts, steps, strict=True):
        print(f"{name:34s} {first:12.2f} {step * 1e3:9.2f} {step / steps[0]:10.2f}")


if __name__ == "__main__":
    main()
