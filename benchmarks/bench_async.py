"""Async-save benchmark: how long a background save blocks the training loop, and its total time.

Run: ``.venv/bin/python benchmarks/bench_async.py`` (about 2 minutes).

Model: GPT-2-medium shapes (292 float32 tensors, 1.42 GB) as JAX arrays on the CPU, passed to
``flow.checkpoint.save`` as live values would be. Measured, each in a fresh child process after
the same warm-up and prefault (see ``bench_format.py``):

* ``memcpy``: copying every array into a freshly allocated NumPy array (the floor for taking a
  snapshot that later steps cannot change);
* ``sync``: ``flow.checkpoint.save(path, values, durable=False)``: blocking time = total time;
* ``async``: ``flow.checkpoint.save(path, values, durable=False, blocking=False)``: the time until
  it returns (blocking), then until ``handle.wait()`` returns (total).

Targets (issue: production checkpointing): async blocking <= 1.2x memcpy; async total not worse
than the synchronous save.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_format import make_model, prefault  # noqa: E402


def child(system: str, path: Path) -> dict[str, float]:
    import jax

    import flowsnap.checkpoint

    model = make_model("large")
    nbytes = sum(a.nbytes for a in model.values())
    values = {k: jax.device_put(v) for k, v in model.items()}
    del model
    jax.block_until_ready(values)
    prefault(3 * nbytes)  # the values, a staged copy and the page cache of the files
    t0 = time.perf_counter()
    if system == "memcpy":
        copies = {k: np.array(v, copy=True) for k, v in values.items()}
        blocking = total = time.perf_counter() - t0
        del copies
    elif system == "sync":
        flowsnap.checkpoint.save(path, values, durable=False)
        blocking = total = time.perf_counter() - t0
    else:
        handle = flowsnap.checkpoint.save(path, values, durable=False, blocking=False)
        blocking = time.perf_counter() - t0
        handle.wait()
        total = time.perf_counter() - t0
    return {"blocking_s": blocking, "total_s": total, "gb": nbytes / 1e9}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="one round (~30 seconds)")
    parser.add_argument("--work", default=str(HERE / "_work"))
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], Path(args.child[1]))))
        return
    if args.quick:
        args.rounds = 1
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    results: dict[str, list[dict[str, Any]]] = {}
    for _ in range(args.rounds):
        for system in ("memcpy", "sync", "async"):
            target = work / f"async-{system}"
            shutil.rmtree(target, ignore_errors=True)
            cmd = [sys.executable, __file__, "--child", system, str(target)]
            done = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                print(done.stderr[-2000:], file=sys.stderr)
                continue
            results.setdefault(system, []).append(json.loads(done.stdout.splitlines()[-1]))
            shutil.rmtree(target, ignore_errors=True)
    med = {
        s: {k: statistics.median(r[k] for r in runs) for k in ("blocking_s", "total_s")}
        for s, runs in results.items()
    }
    print(f"\nlarge model, {results['memcpy'][0]['gb']:.2f} GB, median of {args.rounds}")
    print(f"{'system':<8}{'blocking s':>12}{'total s':>10}")
    for system, m in med.items():
        print(f"{system:<8}{m['blocking_s']:>12.3f}{m['total_s']:>10.3f}")
    if {"memcpy", "sync", "async"} <= set(med):
        print(
            f"async blocking / memcpy: {med['async']['blocking_s'] / med['memcpy']['total_s']:.2f}x"
            " (target <= 1.2)"
        )
        print(
            f"async total / sync: {med['async']['total_s'] / med['sync']['total_s']:.2f}x "
            "(target <= 1.0, not worse)"
        )


if __name__ == "__main__":
    main()
