"""Training-throughput benchmark: the seed chapter's models through ``@flow.global_function``,
against a hand-written ``jax.jit`` step of the same model and a PyTorch eager step.

Run: ``.venv/bin/python benchmarks/bench_training.py`` (``make bench`` installs PyTorch CPU).

Models (batch 100, 1x28x28 inputs, 10 classes, SGD lr 0.1 without momentum, as in the chapter):
  * ``mlp``: 784-512-10 with ReLU (the chapter's ``train_job``);
  * ``lenet``: the chapter's LeNet (conv 5x5 32, pool, conv 5x5 64, pool, dense 512, dropout 0.5,
    dense 10);
  * ``mlp-wide`` (with ``--large``): 784-4096-4096-10, a model where the step dominates overhead.

Systems:
  * ``flowsnap``: the chapter's code, ``import flowsnap as flow``; each step returns the
    per-example loss as NumPy (``-> tp.Numpy``), as the chapter's loop prints ``loss.mean()``;
  * ``jax``: the same math written by hand: a params dict, ``jax.value_and_grad`` of the mean loss,
    the SGD update, all in one ``jax.jit`` with donated parameters; the loss fetched each step;
  * ``torch``: ``torch.nn`` modules, eager, ``loss.mean().backward()``, ``optim.SGD``, the loss
    fetched with ``.numpy()`` each step.

Each (model, system) runs in a fresh child process: build, one timed first step (for flowsnap and
jax: tracing + compilation + initialization, "time to first result"; library imports happen
before the clock starts), warm-up steps, then timed
steps over pre-generated batches. Three rounds round-robin; the table shows medians.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
BATCH = 100
N_BATCHES = 8


def batches(seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:  # type: ignore[type-arg]
    """Pre-generated MNIST-shaped batches (float32 images in [0, 1], int32 labels)."""
    rng = np.random.default_rng(seed)
    return [
        (
            rng.random((BATCH, 1, 28, 28), dtype=np.float32),
            rng.integers(0, 10, BATCH).astype(np.int32),
        )
        for _ in range(N_BATCHES)
    ]


# -- flowsnap --------------------------------------------------------------------------------


def flowsnap_step(model: str) -> Any:
    sys.path.insert(0, str(HERE.parent))
    from examples.seed_models import lenet, mlp

    import flowsnap as flow
    import flowsnap.typing as tp

    def wide(images: Any) -> Any:
        init = flow.truncated_normal(0.1)
        x = flow.reshape(images, [images.shape[0], -1])
        x = flow.layers.dense(x, 4096, activation=flow.nn.relu, kernel_initializer=init, name="d1")
        x = flow.layers.dense(x, 4096, activation=flow.nn.relu, kernel_initializer=init, name="d2")
        return flow.layers.dense(x, 10, kernel_initializer=init, name="d3")

    body = {"mlp": mlp, "lenet": lambda x: lenet(x, train=True), "mlp-wide": wide}[model]

    @flow.global_function(type="train")
    def train_job(
        images: tp.Numpy.Placeholder((BATCH, 1, 28, 28), dtype=flow.float),
        labels: tp.Numpy.Placeholder((BATCH,), dtype=flow.int32),
    ) -> tp.Numpy:
        with flow.scope.placement(os.environ.get("BENCH_DEVICE", "cpu"), "0:0"):
            logits = body(images)
            loss = flow.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)
        flow.optimizer.SGD(
            flow.optimizer.PiecewiseConstantScheduler([], [0.1]), momentum=0
        ).minimize(loss)
        return loss

    return train_job


# -- hand-written JAX ------------------------------------------------------------------------


def jax_step(model: str) -> Any:
    import jax
    import jax.numpy as jnp

    device = jax.devices(os.environ.get("BENCH_DEVICE", "cpu"))[0]
    key = jax.random.key(0)

    def tn(k: Any, shape: tuple[int, ...]) -> Any:
        return jax.random.truncated_normal(k, -2, 2, shape) * 0.1

    keys = jax.random.split(key, 8)
    if model == "mlp":
        params = {
            "w1": tn(keys[0], (512, 784)),
            "b1": jnp.zeros(512),
            "w2": tn(keys[1], (10, 512)),
            "b2": jnp.zeros(10),
        }
    elif model == "mlp-wide":
        params = {
            "w1": tn(keys[0], (4096, 784)),
            "b1": jnp.zeros(4096),
            "w2": tn(keys[1], (4096, 4096)),
            "b2": jnp.zeros(4096),
            "w3": tn(keys[2], (10, 4096)),
            "b3": jnp.zeros(10),
        }
    else:
        params = {
            "c1": tn(keys[0], (32, 1, 5, 5)),
            "cb1": jnp.zeros(32),
            "c2": tn(keys[1], (64, 32, 5, 5)),
            "cb2": jnp.zeros(64),
            "w1": tn(keys[2], (512, 3136)),
            "b1": jnp.zeros(512),
            "w2": tn(keys[3], (10, 512)),
            "b2": jnp.zeros(10),
        }
    params = jax.device_put(params, device)

    def pool(x: Any) -> Any:
        return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")

    def forward(p: Any, x: Any, rng: Any) -> Any:
        if model == "lenet":
            dn = ("NCHW", "OIHW", "NCHW")
            x = jax.lax.conv_general_dilated(x, p["c1"], (1, 1), "SAME", dimension_numbers=dn)
            x = pool(jax.nn.relu(x + p["cb1"][None, :, None, None]))
            x = jax.lax.conv_general_dilated(x, p["c2"], (1, 1), "SAME", dimension_numbers=dn)
            x = pool(jax.nn.relu(x + p["cb2"][None, :, None, None]))
            x = jax.nn.relu(x.reshape(x.shape[0], -1) @ p["w1"].T + p["b1"])
            keep = jax.random.uniform(rng, x.shape) > 0.5
            x = jnp.where(keep, x * 2, 0)
            return x @ p["w2"].T + p["b2"]
        x = x.reshape(x.shape[0], -1)
        x = jax.nn.relu(x @ p["w1"].T + p["b1"])
        if model == "mlp-wide":
            x = jax.nn.relu(x @ p["w2"].T + p["b2"])
            return x @ p["w3"].T + p["b3"]
        return x @ p["w2"].T + p["b2"]

    def step(p: Any, t: Any, x: Any, y: Any) -> Any:
        rng = jax.random.fold_in(key, t)

        def loss_fn(p: Any) -> Any:
            logp = jax.nn.log_softmax(forward(p, x, rng))
            per_example = -jnp.take_along_axis(logp, y[:, None], axis=1)[:, 0]
            return per_example.mean(), per_example

        (_, per_example), grads = jax.value_and_grad(loss_fn, has_aux=True)(p)
        return per_example, jax.tree_util.tree_map(lambda w, g: w - 0.1 * g, p, grads), t + 1

    compiled = jax.jit(step, donate_argnums=(0,))
    state = {"p": params, "t": jnp.int32(0)}

    def run(x: np.ndarray, y: np.ndarray) -> np.ndarray:  # type: ignore[type-arg]
        loss, state["p"], state["t"] = compiled(state["p"], state["t"], x, y)
        return np.asarray(loss)

    return run


# -- PyTorch eager ---------------------------------------------------------------------------


def torch_step(model: str) -> Any:
    import torch
    from torch import nn

    torch.manual_seed(0)
    if model == "mlp":
        net: nn.Module = nn.Sequential(
            nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 10)
        )
    elif model == "mlp-wide":
        net = nn.Sequential(
            nn.Flatten(),
            nn.Linear(784, 4096),
            nn.ReLU(),
            nn.Linear(4096, 4096),
            nn.ReLU(),
            nn.Linear(4096, 10),
        )
    else:
        net = nn.Sequential(
            nn.Conv2d(1, 32, 5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(3136, 512),
            nn.ReLU(),
            nn.Dropout(0.5),
            nn.Linear(512, 10),
        )
    net.train()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    loss_fn = nn.CrossEntropyLoss(reduction="none")

    def run(x: np.ndarray, y: np.ndarray) -> np.ndarray:  # type: ignore[type-arg]
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(net(torch.from_numpy(x)), torch.from_numpy(y).long())
        loss.mean().backward()
        opt.step()
        return loss.detach().numpy()

    return run


def seed_step(system: str, model: str, size: str) -> Any:
    """The seed chapter's models (their sizes are fixed: ``size`` is ignored)."""
    del size
    if system == "torch-compile":
        raise NotImplementedError("torch.compile is measured on the zoo models only")
    return {"flowsnap": flowsnap_step, "jax": jax_step, "torch": torch_step}[system](model)


def zoo_step(system: str, model: str, size: str) -> Any:
    """ResNet-50 and BERT (``benchmarks/models/``) at the configuration ``size``."""
    module, cfg = zoo_config(model, size)
    device = os.environ.get("BENCH_DEVICE", "cpu")
    if system == "flowsnap":
        return module.flowsnap_step(cfg, device)
    if system == "jax":
        return module.jax_step(cfg, device)
    return module.torch_step(cfg, device, compiled=system == "torch-compile")


def zoo_config(model: str, size: str) -> tuple[Any, Any]:
    sys.path.insert(0, str(HERE))
    from models import bert, resnet50

    if model == "resnet50":
        return resnet50, resnet50.CONFIGS[size]
    cfg = bert.CONFIGS[size]
    if model == "bert-lamb":
        cfg = dataclasses.replace(cfg, optimizer="lamb")
    return bert, cfg


ZOO = ("resnet50", "bert", "bert-lamb")
PRELOAD = {
    "flowsnap": ("jax", "flowsnap._engine", "flowsnap.layers", "flowsnap.optimizers"),
    "jax": ("jax",),
    "torch": ("torch",),
    "torch-compile": ("torch", "torch._dynamo", "torch._inductor"),
}
# (timed steps, warm-up steps) per model and size
PLAN = {
    "quick": {"mlp": (100, 10), "lenet": (5, 1), "resnet50": (3, 1), "bert": (3, 1)},
    "cpu": {"mlp": (300, 30), "lenet": (40, 5), "mlp-wide": (40, 5), "resnet50": (10, 2)},
    "gpu": {"mlp": (1500, 60), "lenet": (200, 10), "mlp-wide": (200, 10), "resnet50": (100, 10)},
}
PLAN["cpu"]["bert"] = (6, 2)
PLAN["gpu"]["bert"] = (100, 10)


def rss_mib(field: str) -> float:
    """``VmRSS`` or ``VmHWM`` (the peak) of this process, in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def child(model: str, system: str, steps: int, warmup: int, size: str) -> dict[str, float]:
    import importlib

    zoo = model in ZOO
    data = zoo_config(model, size)[0].batches(zoo_config(model, size)[1], 4) if zoo else batches()
    for module in PRELOAD[system]:  # imports are not part of "time to first result"
        importlib.import_module(module)
    base = rss_mib("VmRSS")
    t0 = time.perf_counter()
    run = (zoo_step if zoo else seed_step)(system, model, size)
    run(*data[0])
    first = time.perf_counter() - t0
    for i in range(warmup):
        run(*data[i % len(data)])
    times = []
    cpu0 = time.process_time()
    for i in range(steps):
        t = time.perf_counter()
        run(*data[i % len(data)])
        times.append(time.perf_counter() - t)
    return {
        "first_s": first,
        "steps_per_s": steps / sum(times),
        "cpu_s_per_step": (time.process_time() - cpu0) / steps,
        "median_step_s": statistics.median(times),
        "base_mib": base,
        "peak_mib": rss_mib("VmHWM"),
    }


def measure(
    model: str, system: str, steps: int, warmup: int, size: str, timeout: float
) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", model, system, str(steps), str(warmup), size]
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    if result.returncode != 0:
        lines = [ln for ln in result.stderr.strip().splitlines() if ln.strip()]
        reason = lines[-1] if lines else f"exit status {result.returncode}"
        print(f"  {model}/{system} failed:\n{result.stderr[-2000:]}", file=sys.stderr)
        return {"error": reason[:300]}
    out: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return out


# Largest relative difference of a per-example loss allowed between flowsnap and the hand-written
# JAX step. 0: bit-identical. ResNet-50: flowsnap runs its 1x1 convolutions as matrix products on
# the CPU (ops/_conv_lowering.py), the hand-written step as lax.conv: same math, other rounding.
CHECK_TOLERANCE = {"resnet50": 1e-4, "bert": 0.0, "bert-lamb": 0.0}


def check_same_math(model: str, size: str, steps: int = 3) -> bool:
    """Train the zoo model with flowsnap and with the hand-written JAX step from flowsnap's
    initial values (dropout off), in one process; print the losses of each step and whether they
    agree within ``CHECK_TOLERANCE`` (returned)."""
    import flowsnap as flow

    flow.clear_default_session()
    module, cfg = zoo_config(model, size)
    if "dropout" in {f.name for f in dataclasses.fields(cfg)}:
        cfg = dataclasses.replace(cfg, dropout=0.0)
    data = module.batches(cfg, steps)
    job = module.flowsnap_step(cfg, "cpu")
    values = {k: v.numpy() for k, v in flow.get_all_variables().items()}
    init = module.jax_init(cfg)
    if isinstance(init, tuple):
        init = tuple({k: values[k] for k in part} for part in init)
    else:
        init = {k: values[k] for k in init}
    step = module.jax_step(cfg, "cpu", init=init)
    worst = relative = 0.0
    for i in range(steps):
        a, b = job(*data[i]), step(*data[i])
        worst = max(worst, float(np.abs(a - b).max()))
        relative = max(relative, float((np.abs(a - b) / np.maximum(np.abs(b), 1e-30)).max()))
        print(f"{model} step {i}: flowsnap loss {a.mean():.6f}, jax {b.mean():.6f}")
    tolerance = CHECK_TOLERANCE[model]
    same = relative <= tolerance
    verdict = (
        ("bit-identical" if worst == 0 else "NOT bit-identical")
        if tolerance == 0
        else f"{'within' if same else 'OUTSIDE'} the relative tolerance {tolerance:.0e}"
    )
    print(
        f"{model}: largest difference of a per-example loss over {steps} steps: {worst:.2e} "
        f"(relative {relative:.2e}): {verdict}"
    )
    return same


def alternate(model: str, size: str, pairs: int, warmup: int = 2) -> dict[str, Any]:
    """flowsnap's step and the hand-written JAX step of a zoo model in one process, called in
    turn (``pairs`` times each after ``warmup``): both see the same machine at the same moments,
    so a shared machine's changing load cancels out of their ratio, which separate processes
    measured minutes apart do not give. Returns the per-step wall and CPU times of each."""
    import flowsnap as flow

    flow.clear_default_session()
    module, cfg = zoo_config(model, size)
    data = module.batches(cfg, 4)
    runs = {"flowsnap": module.flowsnap_step(cfg, "cpu"), "jax": module.jax_step(cfg, "cpu")}
    for i in range(warmup):
        for run in runs.values():
            run(*data[i % len(data)])
    wall: dict[str, list[float]] = {name: [] for name in runs}
    cpu: dict[str, list[float]] = {name: [] for name in runs}
    for i in range(pairs):
        order = list(runs) if i % 2 == 0 else list(runs)[::-1]  # neither always goes first
        for name in order:
            c, t = time.process_time(), time.perf_counter()
            runs[name](*data[i % len(data)])
            wall[name].append(time.perf_counter() - t)
            cpu[name].append(time.process_time() - c)
    return {"wall": wall, "cpu": cpu}


def report_alternate(model: str, size: str, got: dict[str, Any]) -> None:
    wall, cpu = got["wall"], got["cpu"]
    pairs = len(wall["jax"])
    print(f"{model} ({describe(model, size)}), {pairs} steps each, alternating in one process:")
    for name in ("flowsnap", "jax"):
        print(
            f"  {name:<9} wall s/step median {statistics.median(wall[name]):.3f} "
            f"(min {min(wall[name]):.3f}, max {max(wall[name]):.3f}), "
            f"CPU s/step median {statistics.median(cpu[name]):.3f}"
        )
    ratios = sorted(j / f for f, j in zip(wall["flowsnap"], wall["jax"], strict=True))
    med = statistics.median
    print(
        f"  flowsnap speed / jax speed: median of steps "
        f"{med(wall['jax']) / med(wall['flowsnap']):.3f}x, "
        f"fastest steps {min(wall['jax']) / min(wall['flowsnap']):.3f}x, "
        f"by CPU time {med(cpu['jax']) / med(cpu['flowsnap']):.3f}x; "
        f"pairwise (step i of each) median {statistics.median(ratios):.3f}x, "
        f"range {ratios[0]:.2f}-{ratios[-1]:.2f}"
    )


def describe(model: str, size: str) -> str:
    if model in ZOO:
        return str(zoo_config(model, size)[1].describe())
    return {"mlp": "MLP 784-512-10", "lenet": "LeNet", "mlp-wide": "MLP 784-4096-4096-10"}[
        model
    ] + f" batch {BATCH}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", help="default: mlp,lenet,resnet50,bert (--quick: no lenet)")
    parser.add_argument("--systems", default="flowsnap,jax,torch")
    parser.add_argument("--large", action="store_true", help="also the 784-4096-4096-10 MLP")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--size", choices=("quick", "cpu", "gpu"), help="zoo model sizes (default: the device's)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="one round, small zoo models, no LeNet"
    )
    parser.add_argument("--timeout", type=float, default=900, help="seconds per child")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument(
        "--check",
        action="store_true",
        help="check that flowsnap and the hand-written JAX step compute the same losses",
    )
    parser.add_argument(
        "--convs", action="store_true", help="time XLA's and PyTorch's CPU convolutions alone"
    )
    parser.add_argument(
        "--threads", type=int, help="--convs: threads per backend (default: all cores)"
    )
    parser.add_argument(
        "--conv-systems",
        default="xla,flowsnap,torch",
        help="--convs: xla (lax.conv), flowsnap (flow.nn.conv2d as lowered on the CPU), torch",
    )
    parser.add_argument(
        "--conv-clock",
        choices=("wall", "cpu"),
        default="wall",
        help="--convs: time each call by the wall clock or by the process's CPU time (steadier "
        "on a loaded machine)",
    )
    parser.add_argument(
        "--alternate",
        type=int,
        metavar="STEPS",
        help="zoo models only: flowsnap and the hand-written JAX step in one process, called in "
        "turn STEPS times each (a same-moment comparison on a shared machine)",
    )
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        model, system, steps, warmup, size = args.child
        print(json.dumps(child(model, system, int(steps), int(warmup), size)))
        return
    if args.check:
        results = [check_same_math(model, args.size or "quick") for model in ZOO]
        if not all(results):
            sys.exit(1)
        return
    if args.alternate:
        size = args.size or "cpu"
        print(
            f"{platform.node()} · {os.cpu_count()} CPUs · sizes {size} · load at the start "
            f"{os.getloadavg()[0]:.1f}",
            flush=True,
        )
        for model in (args.models or ",".join(ZOO)).split(","):
            report_alternate(model, size, alternate(model, size, args.alternate))
            print(f"  (load average now {os.getloadavg()[0]:.1f})", flush=True)
        return
    if args.convs:
        if args.threads:  # before JAX and PyTorch start their thread pools
            os.environ["XLA_FLAGS"] = (
                os.environ.get("XLA_FLAGS", "")
                + f" --xla_cpu_multi_thread_eigen={'true' if args.threads > 1 else 'false'}"
                + f" intra_op_parallelism_threads={args.threads}"
            )
            import torch

            torch.set_num_threads(args.threads)
        sys.path.insert(0, str(HERE))
        from models import convs

        convs.clock = convs.CLOCK[args.conv_clock]
        print(f"--convs: {args.conv_clock} time, fastest of 10 calls (ResNet-50 sum: of 5)")
        convs.run(systems=tuple(args.conv_systems.split(",")))
        return
    device = os.environ.get("BENCH_DEVICE", "cpu")
    size = args.size or ("quick" if args.quick else "gpu" if device == "gpu" else "cpu")
    rounds = 1 if args.quick and args.rounds == 3 else args.rounds
    default = "mlp,resnet50,bert" if args.quick else "mlp,lenet,resnet50,bert"
    models = (args.models or default).split(",") + (["mlp-wide"] if args.large else [])
    systems = args.systems.split(",")
    results: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for _ in range(rounds):
        for model in models:
            for system in systems:
                if system == "torch-compile" and model not in ZOO:
                    continue
                steps, warmup = PLAN[size][model.removesuffix("-lamb")]
                got = measure(model, system, steps, warmup, size, args.timeout)
                results.setdefault((model, system), []).append(got)
                progress = (
                    f"failed: {got['error']}"
                    if "error" in got
                    else f"{got['steps_per_s']:.3f} steps/s, first call {got['first_s']:.1f} s, "
                    f"peak {got['peak_mib']:.0f} MiB"
                )
                print(f"  {model}/{system}: {progress}", file=sys.stderr, flush=True)
    print(
        f"\n{platform.node()} · {platform.processor() or platform.machine()} · "
        f"{os.cpu_count()} CPUs · device {device} · sizes {size} · median of {rounds} · "
        f"load {os.getloadavg()[0]:.1f}"
    )
    print(
        f"{'model':<10}{'system':<15}{'steps/s':>9}{'(min-max)':>16}{'first s':>9}"
        f"{'peak MiB':>10}{'+MiB':>7}{'vs jax':>8}{'vs torch':>9}"
    )
    table: list[dict[str, Any]] = []
    for model in models:
        med: dict[str, dict[str, float]] = {}
        for system in systems:
            runs = results.get((model, system), [])
            good = [r for r in runs if "error" not in r]
            if not good:
                if runs:
                    print(f"{model:<10}{system:<15}  failed: {runs[0]['error']}")
                    table.append({"model": model, "system": system, "error": runs[0]["error"]})
                continue
            m = {k: statistics.median(r[k] for r in good) for k in good[0]}
            m["min"] = min(r["steps_per_s"] for r in good)
            m["max"] = max(r["steps_per_s"] for r in good)
            med[system] = m
        for system, m in med.items():
            vs_jax = m["steps_per_s"] / med["jax"]["steps_per_s"] if "jax" in med else float("nan")
            vs_torch = (
                m["steps_per_s"] / med["torch"]["steps_per_s"] if "torch" in med else float("nan")
            )
            spread = f"{m['min']:.2f}-{m['max']:.2f}"
            print(
                f"{model:<10}{system:<15}{m['steps_per_s']:>9.2f}{spread:>16}{m['first_s']:>9.2f}"
                f"{m['peak_mib']:>10.0f}{m['peak_mib'] - m['base_mib']:>7.0f}"
                f"{vs_jax:>7.2f}x{vs_torch:>8.2f}x"
            )
            table.append(
                {"model": model, "system": system, "vs_jax": vs_jax, "vs_torch": vs_torch, **m}
            )
    for model in models:
        print(f"  {model}: {describe(model, size)}")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "size": size,
                    "device": device,
                    "rounds": rounds,
                    "rows": table,
                    "raw": {f"{k[0]}/{k[1]}": v for k, v in results.items()},
                },
                indent=1,
            )
        )


if __name__ == "__main__":
    main()
