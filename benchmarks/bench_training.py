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


BUILDERS = {"flowsnap": flowsnap_step, "jax": jax_step, "torch": torch_step}


PRELOAD = {
    "flowsnap": ("jax", "flowsnap._engine", "flowsnap.layers", "flowsnap.optimizers"),
    "jax": ("jax",),
    "torch": ("torch",),
}


def child(model: str, system: str, steps: int, warmup: int) -> dict[str, float]:
    import importlib

    data = batches()
    for module in PRELOAD[system]:  # imports are not part of "time to first result"
        importlib.import_module(module)
    t0 = time.perf_counter()
    run = BUILDERS[system](model)
    x, y = data[0]
    run(x, y)
    first = time.perf_counter() - t0
    for i in range(warmup):
        run(*data[i % N_BATCHES])
    t0 = time.perf_counter()
    for i in range(steps):
        run(*data[i % N_BATCHES])
    elapsed = time.perf_counter() - t0
    return {"first_s": first, "steps_per_s": steps / elapsed}


def measure(model: str, system: str, steps: int, warmup: int) -> dict[str, float] | None:
    cmd = [sys.executable, __file__, "--child", model, system, str(steps), str(warmup)]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        print(f"  {model}/{system} failed:\n{result.stderr[-2000:]}", file=sys.stderr)
        return None
    out: dict[str, float] = json.loads(result.stdout.strip().splitlines()[-1])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="mlp,lenet")
    parser.add_argument("--systems", default="flowsnap,jax,torch")
    parser.add_argument("--large", action="store_true", help="also the 784-4096-4096-10 MLP")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        model, system, steps, warmup = args.child
        print(json.dumps(child(model, system, int(steps), int(warmup))))
        return
    models = args.models.split(",") + (["mlp-wide"] if args.large else [])
    systems = args.systems.split(",")
    plan = {"mlp": (300, 30), "lenet": (40, 5), "mlp-wide": (40, 5)}
    results: dict[tuple[str, str], list[dict[str, float]]] = {}
    for _ in range(args.rounds):
        for model in models:
            for system in systems:
                steps, warmup = plan[model]
                if os.environ.get("BENCH_DEVICE") == "gpu":
                    steps, warmup = steps * 5, warmup * 2
                got = measure(model, system, steps, warmup)
                if got is not None:
                    results.setdefault((model, system), []).append(got)
    device = os.environ.get("BENCH_DEVICE", "cpu")
    print(
        f"\n{platform.node()} · {platform.processor() or platform.machine()} · "
        f"{os.cpu_count()} CPUs · device {device} · median of {args.rounds}"
    )
    print(
        f"{'model':<10}{'system':<10}{'steps/s':>10}{'first call s':>14}"
        f"{'vs jax':>9}{'vs torch':>10}"
    )
    for model in models:
        med = {
            s: {
                k: statistics.median(r[k] for r in results[(model, s)])
                for k in ("first_s", "steps_per_s")
            }
            for s in systems
            if (model, s) in results
        }
        for system, m in med.items():
            vs_jax = m["steps_per_s"] / med["jax"]["steps_per_s"] if "jax" in med else float("nan")
            vs_torch = (
                m["steps_per_s"] / med["torch"]["steps_per_s"] if "torch" in med else float("nan")
            )
            print(
                f"{model:<10}{system:<10}{m['steps_per_s']:>10.1f}{m['first_s']:>14.2f}"
                f"{vs_jax:>8.2f}x{vs_torch:>9.2f}x"
            )


if __name__ == "__main__":
    main()
