"""Per-call overhead of a job call against a hand-written ``jax.jit`` step (issue #14).

For small models the Python around the compiled step *is* the step: checking the inputs,
gathering the variables, storing the new values, converting the result. This benchmark calls a
flowsnap job and a hand-written ``jax.jit`` step of the same math (donated buffers, the result
fetched as NumPy, as a job returning ``tp.Numpy`` gives it) in one process, alternating in short
rounds (on a shared machine, short paired rounds keep load swings out of the differences), and
prints microseconds per call (wall, and CPU time of the calling thread), the ratio and the
differences. A third system, *own step*, calls the job's own compiled step by hand (variables
gathered from the session and stored back, the result copied to NumPy: no input check, no
result handling), so *flowsnap - own step* is a job call's Python alone, apart from any
difference between the two programs.

Cases:
  * ``mlp-train``: the seed chapter's MLP train job (784-512-10, SGD 0.1, per-example loss as
    ``tp.Numpy``) at batch 8;
  * ``mlp-predict``: the chapter's MLP as a predict job (logits) at batch 8;
  * ``deep-train``: 70 dense layers of width 16 (140 variables), SGD with momentum 0.9 (140
    slots more, ~280 arrays per call), batch 8;
  * ``one-train``: a train job with one variable (``loss = sum((x * w)^2)``), batch 8.

Usage: ``.venv/bin/python benchmarks/bench_overhead.py [--calls 20] [--rounds 150]
[--cases mlp-train,...] [--profile CASE]`` (``--profile`` runs cProfile over flowsnap's calls of
that case and prints the top functions by own time).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import platform
import pstats
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from examples.seed_models import mlp  # noqa: E402

import flowsnap as flow  # noqa: E402
import flowsnap.typing as tp  # noqa: E402

BATCH = 8
DEEP_LAYERS = 70
DEEP_WIDTH = 16

Call = Callable[[], Any]


def _tn(key: Any, shape: tuple[int, ...]) -> Any:
    return jax.random.truncated_normal(key, -2, 2, shape) * 0.1


def _xent(logits: Any, labels: Any) -> Any:
    logp = jax.nn.log_softmax(logits)
    return -jnp.take_along_axis(logp, labels[:, None], axis=1)[:, 0]


def _train_hand(params: dict[str, Any], loss_fn: Callable[..., Any], update: Any) -> Any:
    """A hand-written train step: value_and_grad of the mean loss, ``update``, a step counter;
    parameters (and slots) donated; the per-example loss fetched as NumPy."""

    def step(p: Any, slots: Any, t: Any, *batch: Any) -> Any:
        def mean_loss(p: Any) -> Any:
            per_example = loss_fn(p, *batch)
            return jnp.mean(per_example), per_example

        (_, per_example), grads = jax.value_and_grad(mean_loss, has_aux=True)(p)
        new_p, new_slots = update(p, slots, grads)
        return per_example, new_p, new_slots, t + 1

    compiled = jax.jit(step, donate_argnums=(0, 1, 2))
    state: dict[str, Any] = {
        "p": params,
        "s": jax.tree_util.tree_map(jnp.zeros_like, params),
        "t": jnp.zeros((1,), jnp.int32),
    }

    def run(*batch: Any) -> Any:
        loss, state["p"], state["s"], state["t"] = compiled(
            state["p"], state["s"], state["t"], *batch
        )
        return np.asarray(loss)

    return run


def _sgd(p: Any, slots: Any, grads: Any) -> Any:
    return jax.tree_util.tree_map(lambda w, g: w - 0.1 * g, p, grads), slots


def _momentum(p: Any, slots: Any, grads: Any) -> Any:
    new_slots = jax.tree_util.tree_map(lambda m, g: 0.9 * m - 0.1 * g, slots, grads)
    return jax.tree_util.tree_map(lambda w, m: w + m, p, new_slots), new_slots


def _mlp_params() -> dict[str, Any]:
    k1, k2 = jax.random.split(jax.random.key(0))
    return {
        "w1": _tn(k1, (512, 784)),
        "b1": jnp.zeros(512),
        "w2": _tn(k2, (10, 512)),
        "b2": jnp.zeros(10),
    }


def _mlp_forward(p: Any, images: Any) -> Any:
    x = images.reshape(images.shape[0], -1)
    x = jax.nn.relu(x @ p["w1"].T + p["b1"])
    return x @ p["w2"].T + p["b2"]


def _deep_forward(p: Any, x: Any) -> Any:
    for i in range(DEEP_LAYERS):
        x = x @ p[f"w{i}"].T + p[f"b{i}"]
        if i < DEEP_LAYERS - 1:
            x = jax.nn.relu(x)
    return x


def case(name: str) -> tuple[Call, Call, Any, tuple[np.ndarray, ...]]:  # type: ignore[type-arg]
    """The flowsnap and hand-written calls of one case (inputs bound), the job, its inputs."""
    flow.clear_default_session()
    rng = np.random.default_rng(0)
    images = rng.random((BATCH, 1, 28, 28), dtype=np.float32)
    labels = rng.integers(0, 10, BATCH).astype(np.int32)
    sgd = flow.optimizer.PiecewiseConstantScheduler([], [0.1])
    if name == "mlp-train":

        @flow.global_function(type="train")
        def mlp_train(
            images: tp.Numpy.Placeholder((BATCH, 1, 28, 28), dtype=flow.float),
            labels: tp.Numpy.Placeholder((BATCH,), dtype=flow.int32),
        ) -> tp.Numpy:
            loss = flow.nn.sparse_softmax_cross_entropy_with_logits(labels, mlp(images))
            flow.optimizer.SGD(sgd, momentum=0).minimize(loss)
            return loss

        hand = _train_hand(_mlp_params(), lambda p, x, y: _xent(_mlp_forward(p, x), y), _sgd)
        return (
            (lambda: mlp_train(images, labels)),
            (lambda: hand(images, labels)),
            mlp_train,
            (images, labels),
        )
    if name == "mlp-predict":

        @flow.global_function(type="predict")
        def mlp_predict(
            images: tp.Numpy.Placeholder((BATCH, 1, 28, 28), dtype=flow.float),
        ) -> tp.Numpy:
            return mlp(images)

        forward = jax.jit(_mlp_forward)
        params = _mlp_params()
        return (
            (lambda: mlp_predict(images)),
            (lambda: np.asarray(forward(params, images))),
            mlp_predict,
            (images,),
        )
    if name == "deep-train":
        x = rng.random((BATCH, DEEP_WIDTH), dtype=np.float32)
        y = rng.integers(0, DEEP_WIDTH, BATCH).astype(np.int32)

        @flow.global_function(type="train")
        def deep_train(
            x: tp.Numpy.Placeholder((BATCH, DEEP_WIDTH), dtype=flow.float),
            y: tp.Numpy.Placeholder((BATCH,), dtype=flow.int32),
        ) -> tp.Numpy:
            h = x
            for i in range(DEEP_LAYERS):
                h = flow.layers.dense(
                    h,
                    DEEP_WIDTH,
                    activation=flow.nn.relu if i < DEEP_LAYERS - 1 else None,
                    kernel_initializer=flow.truncated_normal(0.1),
                    name=f"d{i}",
                )
            loss = flow.nn.sparse_softmax_cross_entropy_with_logits(y, h)
            flow.optimizer.SGD(sgd, momentum=0.9).minimize(loss)
            return loss

        keys = jax.random.split(jax.random.key(0), DEEP_LAYERS)
        params = {}
        for i in range(DEEP_LAYERS):
            params[f"w{i}"] = _tn(keys[i], (DEEP_WIDTH, DEEP_WIDTH))
            params[f"b{i}"] = jnp.zeros(DEEP_WIDTH)
        hand = _train_hand(params, lambda p, x, y: _xent(_deep_forward(p, x), y), _momentum)
        return (lambda: deep_train(x, y)), (lambda: hand(x, y)), deep_train, (x, y)
    if name == "one-train":
        x = rng.random((BATCH, 4), dtype=np.float32)

        @flow.global_function(type="train")
        def one_train(x: tp.Numpy.Placeholder((BATCH, 4), dtype=flow.float)) -> tp.Numpy:
            w = flow.get_variable("w", shape=(4,), initializer=flow.constant_initializer(0.5))
            loss = flow.math.reduce_sum(flow.math.square(x * w), axis=[1])
            flow.optimizer.SGD(sgd, momentum=0).minimize(loss)
            return loss

        hand = _train_hand(
            {"w": jnp.full((4,), 0.5)}, lambda p, x: jnp.sum(jnp.square(x * p["w"]), axis=1), _sgd
        )
        return (lambda: one_train(x)), (lambda: hand(x)), one_train, (x,)
    raise SystemExit(f"unknown case {name!r}; known: {', '.join(CASES)}")


CASES = ("mlp-train", "mlp-predict", "deep-train", "one-train")


def direct(job: Any, inputs: tuple[Any, ...]) -> Call:
    """The job's own compiled step called by hand: the variables gathered from the session and
    stored back, the result copied to NumPy; no input check, no result wrapping. The job's
    program with the least Python around it (the step's interface of the code measured: over
    tuples since the per-call plan, over dicts before)."""
    job(*inputs)  # built and compiled
    values = job.session.values
    plan = getattr(job, "_call_plan", None)
    if plan is not None:
        call = plan()
        step, groups, gathers = call.step, call.groups, call.gathers
        if job.is_train:

            def run_train() -> Any:
                out, *new, _ = step(*(g(values) for g in gathers), inputs)
                for names, arrays in zip(groups, new, strict=True):
                    values.update(zip(names, arrays, strict=True))
                return np.array(out)

            return run_train

        def run_predict() -> Any:
            return np.array(step(gathers[0](values), inputs)[0])

        return run_predict
    step = job._compile()
    if job.is_train:

        def run_train_dicts() -> Any:
            trainable = {n: values[n] for n in job.trainable}
            state = {n: values[n] for n in job.state}
            out, new_trainable, new_state = step(trainable, state, inputs)
            values.update(new_trainable)
            values.update(new_state)
            return np.array(out)

        return run_train_dicts

    def run_predict_dicts() -> Any:
        return np.array(step({n: values[n] for n in job.var_names}, inputs)[0])

    return run_predict_dicts


def timed(call: Call, calls: int) -> tuple[float, float]:
    """Wall and calling-thread CPU seconds per call over ``calls`` calls (each returns NumPy:
    the step has finished). The CPU time counts only this thread's work (Python, dispatch,
    the copy), not the wait for the step, so other load on the machine moves it much less."""
    wall, cpu = time.perf_counter(), time.thread_time()
    for _ in range(calls):
        call()
    return (time.perf_counter() - wall) / calls, (time.thread_time() - cpu) / calls


def profile(name: str, calls: int) -> None:
    """cProfile of ``calls`` flowsnap calls of one case: the top functions by own time."""
    fs, _, _, _ = case(name)
    for _ in range(20):
        fs()
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(calls):
        fs()
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(25)
    print(out.getvalue())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=20, help="calls per system per round")
    parser.add_argument("--rounds", type=int, default=150)
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--profile", default="", help="profile flowsnap's calls of this case")
    args = parser.parse_args()
    if args.profile:
        profile(args.profile, args.calls)
        return
    print(
        f"# {platform.node()} {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs, JAX {jax.__version__} on {jax.devices()[0].platform}, "
        f"load average {os.getloadavg()[0]:.2f}; batch {BATCH}; {args.rounds} rounds of "
        f"{args.calls} calls per system, the systems alternating; medians over the rounds; "
        "differences: median of the rounds' paired differences"
    )
    print(
        "| case | flowsnap us/call | hand us/call | own step us/call | flowsnap / hand | "
        "flowsnap - hand us | flowsnap - own step us | CPU: flowsnap us | CPU: hand us | "
        "CPU: flowsnap - hand us | CPU: flowsnap - own step us |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name in args.cases.split(","):
        fs, hand, job, inputs = case(name)
        step = direct(job, inputs)
        for _ in range(20):  # compile and warm up all three
            fs()
            hand()
            step()
        walls: dict[str, list[float]] = {"flowsnap": [], "hand": [], "step": []}
        cpus: dict[str, list[float]] = {"flowsnap": [], "hand": [], "step": []}
        systems = (("flowsnap", fs), ("hand", hand), ("step", step))
        for r in range(args.rounds):  # each round starts with the next system
            for system, call in systems[r % 3 :] + systems[: r % 3]:
                wall, cpu = timed(call, args.calls)
                walls[system].append(wall * 1e6)
                cpus[system].append(cpu * 1e6)

        def med(times: dict[str, list[float]], a: str, b: str = "") -> float:
            if not b:
                return statistics.median(times[a])
            return statistics.median(x - y for x, y in zip(times[a], times[b], strict=True))

        print(
            f"| {name} | {med(walls, 'flowsnap'):.1f} | {med(walls, 'hand'):.1f} | "
            f"{med(walls, 'step'):.1f} | {med(walls, 'flowsnap') / med(walls, 'hand'):.2f}x | "
            f"{med(walls, 'flowsnap', 'hand'):.1f} | {med(walls, 'flowsnap', 'step'):.1f} | "
            f"{med(cpus, 'flowsnap'):.1f} | {med(cpus, 'hand'):.1f} | "
            f"{med(cpus, 'flowsnap', 'hand'):.1f} | {med(cpus, 'flowsnap', 'step'):.1f} |"
        )
    print(f"# load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
