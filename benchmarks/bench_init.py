"""First-call time and where it goes: the discovery trace, the initialization of every variable
(compile + run), the step; then the same model in a second session (what tests and demos pay
again); and a tiny model with many variables.

Run: ``.venv/bin/python benchmarks/bench_init.py [--models resnet50,bert,many] [--size cpu]``.
Each model runs in a fresh child process. ``--src DIR`` imports flowsnap from ``DIR`` (another
checkout's ``src``, e.g. a ``git worktree`` of an older commit) for a before/after comparison;
``--alternate`` runs the models with each ``--src`` in turn, ``--rounds`` times.

Models: ``resnet50`` and ``bert`` are ``benchmarks/models/`` at ``--size`` (``bench_training.py``'s
zoo models: ResNet-50 NCHW with SGD-momentum, BERT-base with AdamW);
``many`` is a stack of 200 tiny dense layers (400 variables, glorot-uniform kernels, zero biases),
started with ``get_all_variables()`` (no step compiled).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def rss_mib(field: str) -> float:
    """``VmRSS`` or ``VmHWM`` (the peak) of this process, in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def instrument() -> dict[str, float]:
    """Time ``Session._build`` (discovery trace + initialization) and ``initialize_missing``
    (waiting for the values), accumulating into the returned dict."""
    import jax

    from flowsnap._store import _session

    times = {"build_s": 0.0, "init_s": 0.0, "init_peak_mib": 0.0}
    build, init = _session.Session._build, _session.Session.initialize_missing

    def timed_build(self: Any, job: Any) -> None:
        t = time.perf_counter()
        build(self, job)
        times["build_s"] += time.perf_counter() - t

    def timed_init(self: Any, where: Any = None) -> None:
        t = time.perf_counter()
        init(self, where)
        jax.block_until_ready(list(self.values.values()))
        times["init_s"] += time.perf_counter() - t
        times["init_peak_mib"] = rss_mib("VmHWM")

    _session.Session._build = timed_build  # type: ignore[method-assign]
    _session.Session.initialize_missing = timed_init  # type: ignore[method-assign]
    return times


def many_variables() -> Any:
    import flowsnap as flow
    import flowsnap.typing as tp

    @flow.global_function(type="predict")
    def many_job(x: tp.Numpy.Placeholder((4, 16), dtype=flow.float)) -> tp.Numpy:
        for i in range(200):
            x = flow.layers.dense(
                x, 16, kernel_initializer=flow.glorot_uniform_initializer(), name=f"d{i}"
            )
        return x

    return many_job


def child(model: str, size: str) -> dict[str, Any]:
    import importlib

    for module in ("jax", "flowsnap._engine", "flowsnap.layers", "flowsnap.optimizers"):
        importlib.import_module(module)
    import jax

    import flowsnap as flow

    times = instrument()
    base = rss_mib("VmRSS")
    out: dict[str, Any] = {"flowsnap": str(Path(flow.__file__).parent)}
    if model == "many":
        many_variables()
        t = time.perf_counter()
        variables = flow.get_all_variables()
        out["first_s"] = time.perf_counter() - t
        out["variables"] = len(variables)
    else:
        sys.path.insert(0, str(HERE))
        from models import bert, resnet50

        module = {"resnet50": resnet50, "bert": bert}[model]
        cfg = module.CONFIGS[size]
        data = module.batches(cfg, 1)
        run = module.flowsnap_step(cfg, "cpu")
        t = time.perf_counter()
        jax.block_until_ready(run(*data[0]))
        out["first_s"] = time.perf_counter() - t
        out["variables"] = len(flow.get_all_variables())
    out["trace_s"] = times["build_s"] - times["init_s"]
    out["init_s"] = times["init_s"]
    out["step_s"] = out["first_s"] - times["build_s"]
    out["base_mib"] = base
    out["init_peak_mib"] = times["init_peak_mib"]
    # the same model in a new session (tests and demos start many)
    flow.clear_default_session()
    times["build_s"] = times["init_s"] = 0.0
    if model == "many":
        many_variables()
        flow.get_all_variables()
    else:
        module.flowsnap_step(cfg, "cpu")
        flow.get_all_variables()
    out["second_init_s"] = times["init_s"]
    return out


def measure(model: str, size: str, src: str | None, timeout: float) -> dict[str, Any]:
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = os.pathsep.join([src, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    cmd = [sys.executable, __file__, "--child", model, size]
    proc = subprocess.run(
        cmd, capture_output=True, text=True, check=False, timeout=timeout, env=env
    )
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            result: dict[str, Any] = json.loads(line[len("RESULT ") :])
            return result
    return {"error": proc.stderr[-2000:]}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        print("RESULT " + json.dumps(child(sys.argv[2], sys.argv[3])), flush=True)
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="resnet50,bert,many")
    parser.add_argument("--size", default="cpu", choices=("quick", "cpu", "gpu"))
    parser.add_argument("--src", action="append", help="flowsnap source dir (repeatable)")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--json", help="also write the raw results here")
    args = parser.parse_args()
    sources = args.src or [None]
    rows = []
    for r in range(args.rounds):
        for model in args.models.split(","):
            order = sources if r % 2 == 0 else sources[::-1]
            for src in order:
                got = measure(model, args.size, src, args.timeout)
                got.update(model=model, src=src or "(installed)", round=r)
                rows.append(got)
                print(json.dumps(got), flush=True)
    print(
        f"\n{'model':<10}{'src':<28}{'vars':>6}{'first s':>9}{'trace':>7}{'init':>7}"
        f"{'step':>7}{'2nd init':>9}{'peak MiB':>9}"
    )
    for g in rows:
        if "error" in g:
            print(f"{g['model']:<10}{g['src']:<28} ERROR {g['error'][-300:]}")
            continue
        print(
            f"{g['model']:<10}{g['src'][-27:]:<28}{g['variables']:>6}{g['first_s']:>9.2f}"
            f"{g['trace_s']:>7.2f}{g['init_s']:>7.2f}{g['step_s']:>7.2f}"
            f"{g['second_init_s']:>9.2f}{g['init_peak_mib']:>9.0f}"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
