"""What prompt ``tp.Callback`` delivery costs (issue #16 part 3).

A loop of ``eval_job(x)(acc)`` calls, three ways, in the same run:

* ``prompt``: flowsnap's delivery (the registration returns once the callback ran, so the
  numbers are complete right after the loop);
* ``deferred``: the earlier delivery (callbacks queued on the callback thread; the loop only
  dispatches; ``flow.sync_default_session()`` after the loop waits for them), which broke
  OneFlow's evaluation pattern;
* ``numpy``: the same job returning ``tp.Numpy`` (the caller waits for every result).

Usage: ``python benchmarks/bench_callbacks.py [--calls 200] [--rounds 5]``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import numpy as np

import flowsnap as flow
from flowsnap import typing as tp
from flowsnap._store._session import Session

SIZES = {
    "small (64x784 -> 256 -> 10)": (64, 784, 256),
    "large (256x2048 -> 2048 -> 10)": (256, 2048, 2048),
}


def _jobs(batch: int, features: int, hidden: int) -> tuple[Any, Any]:
    flow.clear_default_session()

    def body(x: Any) -> Any:
        w1 = flow.get_variable(
            "w1", shape=(features, hidden), initializer=flow.random_normal_initializer(stddev=0.01)
        )
        w2 = flow.get_variable(
            "w2", shape=(hidden, 10), initializer=flow.random_normal_initializer(stddev=0.01)
        )
        return flow.matmul(flow.math.relu(flow.matmul(x, w1)), w2)

    @flow.global_function()
    def with_callback(x: tp.Numpy.Placeholder((batch, features))) -> tp.Callback[tp.Numpy]:
        return body(x)

    @flow.global_function()
    def with_numpy(x: tp.Numpy.Placeholder((batch, features))) -> tp.Numpy:
        return body(x)

    return with_callback, with_numpy


def _run(mode: str, calls: int, jobs: tuple[Any, Any], x: np.ndarray) -> float:  # type: ignore[type-arg]
    with_callback, with_numpy = jobs
    total = [0]

    def acc(out: np.ndarray) -> None:  # type: ignore[type-arg]
        total[0] += int(out.argmax(axis=1).sum())

    start = time.perf_counter()
    for _ in range(calls):
        if mode == "numpy":
            acc(with_numpy(x))
        else:
            with_callback(x)(acc)
    flow.sync_default_session()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    prompt = Session.run_callback
    print(f"| job | mode | calls/s (median of {args.rounds}) | vs deferred |")
    print("|---|---|---|---|")
    for label, size in SIZES.items():
        jobs = _jobs(*size)
        x = np.random.default_rng(0).normal(size=size[:2]).astype(np.float32)
        for mode in ("prompt", "deferred", "numpy"):  # warm up (compile) every path
            _run(mode, 3, jobs, x)
        times: dict[str, list[float]] = {"prompt": [], "deferred": [], "numpy": []}
        for _ in range(args.rounds):
            for mode, spent in times.items():
                if mode == "deferred":
                    Session.run_callback = lambda self, fn, what: self.submit(fn)  # type: ignore[method-assign,assignment]
                try:
                    spent.append(_run(mode, args.calls, jobs, x))
                finally:
                    Session.run_callback = prompt  # type: ignore[method-assign]
        rates = {m: args.calls / statistics.median(t) for m, t in times.items()}
        for mode, rate in rates.items():
            print(f"| {label} | {mode} | {rate:.0f} | {rate / rates['deferred']:.2f}x |")


if __name__ == "__main__":
    main()
