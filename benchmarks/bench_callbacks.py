"""What prompt ``tp.Callback`` delivery costs (issue #16 part 3).

A loop of ``eval_job(x)(acc)`` calls, three ways, in the same run:

* ``prompt``: flowsnap's delivery (the registration returns once the callback ran, so the
  numbers are complete right after the loop);
* ``deferred``: the earlier delivery (callbacks queued on the callback thread; the loop only
  dispatches; ``flow.sync_default_session()`` after the loop waits for them), which broke
  OneFlow's evaluation pattern;
* ``numpy``: the same job returning ``tp.Numpy`` (the caller waits for every result).

``--phases`` instead times where a prompt call's time goes (the small job, 500 calls, medians):
the job call, the hand-off to the callback thread, the wait for the device and the conversion
there, and the hand-off back to the caller (the session's ``submit`` and the result conversion
wrapped with timers).

Usage: ``python benchmarks/bench_callbacks.py [--calls 200] [--rounds 5] [--jobs small,large]
[--phases]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import flowsnap as flow
from flowsnap import typing as tp
from flowsnap._engine._returns import ReturnSpec
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


def phases(calls: int = 500) -> None:
    """Median microseconds of each part of a prompt call of the small job."""
    jobs = _jobs(*SIZES["small (64x784 -> 256 -> 10)"])
    x = np.random.default_rng(0).normal(size=(64, 784)).astype(np.float32)
    marks: dict[str, float] = {}
    submit, convert = Session.submit, ReturnSpec.convert

    def timed_submit(self: Session, fn: Callable[[], None]) -> Any:
        marks["submit"] = time.perf_counter()

        def run() -> None:
            marks["start"] = time.perf_counter()
            fn()
            marks["end"] = time.perf_counter()

        return submit(self, run)

    def timed_convert(self: ReturnSpec, outputs: Any) -> Any:
        result = convert(self, outputs)
        marks["converted"] = time.perf_counter()
        return result

    Session.submit = timed_submit  # type: ignore[method-assign]
    ReturnSpec.convert = timed_convert  # type: ignore[method-assign]
    rows: list[tuple[float, ...]] = []
    try:
        for i in range(calls + 50):
            t0 = time.perf_counter()
            register = jobs[0](x)
            t1 = time.perf_counter()
            register(lambda out: None)
            t2 = time.perf_counter()
            if i >= 50:  # warmed up
                rows.append(
                    (
                        t1 - t0,
                        marks["submit"] - t1,
                        marks["start"] - marks["submit"],
                        marks["converted"] - marks["start"],
                        marks["end"] - marks["converted"],
                        t2 - marks["end"],
                        t2 - t0,
                    )
                )
        numpy_calls = []
        for _ in range(calls):
            t0 = time.perf_counter()
            jobs[1](x)
            numpy_calls.append(time.perf_counter() - t0)
    finally:
        Session.submit = submit  # type: ignore[method-assign]
        ReturnSpec.convert = convert  # type: ignore[method-assign]
    names = [
        "job call (checks, dispatch)",
        "registration to hand-off",
        "hand-off: submit to the callback thread running (overlaps the step)",
        "callback thread: wait for the step, convert the result",
        "the callback",
        "hand-off back: callback done to the caller running",
        "prompt call in all",
    ]
    print(f"# load average {os.getloadavg()[0]:.2f}; {calls} calls, medians")
    print("| part | us |")
    print("|---|---|")
    for i, name in enumerate(names):
        print(f"| {name} | {statistics.median(r[i] for r in rows) * 1e6:.1f} |")
    print(
        f"| numpy call in all (same job returning tp.Numpy) | "
        f"{statistics.median(numpy_calls) * 1e6:.1f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--phases", action="store_true", help="time the parts of a prompt call")
    parser.add_argument("--jobs", default="small,large", help="which jobs: small, large or both")
    args = parser.parse_args()
    if args.phases:
        phases()
        return
    prompt = Session.run_callback
    print(f"# load average {os.getloadavg()[0]:.2f}")
    print(
        f"| job | mode | calls/s (median of {args.rounds} rounds of {args.calls}) | us/call | "
        "vs deferred | minus numpy, us/call (median of paired rounds) |"
    )
    print("|---|---|---|---|---|---|")
    for label, size in SIZES.items():
        if label.split()[0] not in args.jobs.split(","):
            continue
        jobs = _jobs(*size)
        x = np.random.default_rng(0).normal(size=size[:2]).astype(np.float32)
        for mode in ("prompt", "deferred", "numpy"):  # warm up (compile) every path
            _run(mode, 3, jobs, x)
        times: dict[str, list[float]] = {"prompt": [], "deferred": [], "numpy": []}
        modes = list(times)
        for r in range(args.rounds):  # each round starts with the next mode
            for mode in modes[r % 3 :] + modes[: r % 3]:
                spent = times[mode]
                if mode == "deferred":
                    Session.run_callback = lambda self, fn, what: self.submit(fn)  # type: ignore[method-assign,assignment]
                try:
                    spent.append(_run(mode, args.calls, jobs, x))
                finally:
                    Session.run_callback = prompt  # type: ignore[method-assign]
        rates = {m: args.calls / statistics.median(t) for m, t in times.items()}
        for mode, rate in rates.items():
            minus = statistics.median(
                (a - b) / args.calls * 1e6 for a, b in zip(times[mode], times["numpy"], strict=True)
            )
            print(
                f"| {label} | {mode} | {rate:.0f} | {1e6 / rate:.0f} | "
                f"{rate / rates['deferred']:.2f}x | {minus:.1f} |"
            )
    print(f"# load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
