"""Where XLA's CPU convolutions stand against PyTorch's (oneDNN): LeNet's and ResNet-50's layers.

For each layer, the three parts of a training step's convolution work, timed alone: the forward
pass, the gradient with respect to the input and the gradient with respect to the weights. XLA:
each part is its own ``jax.jit`` function (``jax.vjp`` for the gradients), of
``lax.conv_general_dilated`` (``xla``) and of ``flow.nn.conv2d`` as flowsnap lowers it on the CPU
(``flowsnap``: 1x1 convolutions as matrix products, others as ``xla``). PyTorch: ``F.conv2d``
and ``torch.ops.aten.convolution_backward`` with one output selected. The fastest of ``reps`` calls
after a warm-up, in milliseconds: on a shared machine the minimum is the steadiest estimate of
what the kernel itself costs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

# name, batch, in channels, height (= width), out channels, kernel, stride
LAYERS = (
    ("LeNet conv2 (batch 100)", 100, 32, 14, 64, 5, 1),
    ("ResNet-50 conv1 7x7/2", 4, 3, 112, 64, 7, 2),
    ("ResNet-50 res2 3x3", 4, 64, 28, 64, 3, 1),
    ("ResNet-50 res2 1x1 64->256", 4, 64, 28, 256, 1, 1),
    ("ResNet-50 res3 1x1/2 256->512", 4, 256, 28, 512, 1, 2),
    ("ResNet-50 res5 1x1 2048->512", 4, 2048, 4, 512, 1, 1),
    ("ResNet-50 res3 3x3", 4, 128, 14, 128, 3, 1),
    ("ResNet-50 res4 3x3", 4, 256, 7, 256, 3, 1),
    ("ResNet-50 res5 3x3", 4, 512, 4, 512, 3, 1),
)


CLOCK = {"wall": time.perf_counter, "cpu": time.process_time}
clock = CLOCK["wall"]
"""What ``_best_ms`` measures: wall time, or the process's CPU time (all threads), which a loaded
machine disturbs far less than wall time (a call's CPU time does not count the time its threads
waited for a core)."""


def _best_ms(fn: Callable[[], Any], reps: int) -> float:
    fn()
    times = []
    for _ in range(reps):
        t = clock()
        fn()
        times.append(clock() - t)
    return 1000 * min(times)


def xla_parts(
    batch: int,
    cin: int,
    size: int,
    cout: int,
    k: int,
    stride: int,
    reps: int,
    flowsnap: bool = False,
) -> list[float]:
    """The three parts on XLA: ``lax.conv_general_dilated``, or (``flowsnap``) ``flow.nn.conv2d``
    with the same explicit padding, lowered as flowsnap lowers it for the CPU."""
    import jax

    rng = np.random.default_rng(0)
    x = jax.numpy.asarray(rng.standard_normal((batch, cin, size, size), dtype=np.float32))
    w = jax.numpy.asarray(rng.standard_normal((cout, cin, k, k), dtype=np.float32))
    pad = [(k // 2, k // 2)] * 2

    def conv(x: Any, w: Any) -> Any:
        if flowsnap:
            import flowsnap as flow

            return flow.nn.conv2d(x, w, stride, [list(p) for p in pad])
        return jax.lax.conv_general_dilated(
            x, w, (stride, stride), pad, dimension_numbers=("NCHW", "OIHW", "NCHW")
        )

    y = conv(x, w)
    forward = jax.jit(conv)
    d_input = jax.jit(lambda x, w, g: jax.vjp(lambda x: conv(x, w), x)[1](g)[0])
    d_weight = jax.jit(lambda x, w, g: jax.vjp(lambda w: conv(x, w), w)[1](g)[0])
    return [
        _best_ms(lambda: forward(x, w).block_until_ready(), reps),
        _best_ms(lambda: d_input(x, w, y).block_until_ready(), reps),
        _best_ms(lambda: d_weight(x, w, y).block_until_ready(), reps),
    ]


def torch_parts(
    batch: int, cin: int, size: int, cout: int, k: int, stride: int, reps: int
) -> list[float]:
    import torch

    torch.manual_seed(0)
    x = torch.randn(batch, cin, size, size)
    w = torch.randn(cout, cin, k, k)
    pad = k // 2
    y = torch.nn.functional.conv2d(x, w, None, stride, pad)

    def backward(mask: list[bool]) -> Callable[[], Any]:
        return lambda: torch.ops.aten.convolution_backward(
            y, x, w, None, [stride] * 2, [pad] * 2, [1, 1], False, [0, 0], 1, mask
        )

    with torch.no_grad():
        return [
            _best_ms(lambda: torch.nn.functional.conv2d(x, w, None, stride, pad), reps),
            _best_ms(backward([True, False, False]), reps),
            _best_ms(backward([False, True, False]), reps),
        ]


def resnet50_convs(batch: int = 4, image: int = 112) -> dict[tuple[int, ...], int]:
    """Every convolution of ResNet-50 at this size: (batch, cin, size, cout, k, stride) -> count."""
    from models import resnet50

    cfg = resnet50.Config(batch=batch, image=image)
    layers: dict[tuple[int, ...], int] = {}

    def add(*shape: int) -> None:
        layers[shape] = layers.get(shape, 0) + 1

    size = -(-image // 2)
    add(batch, 3, image, 64, 7, 2)
    size, cin = -(-size // 2), 64  # after the max pool
    for _name, filters, inner, stride, project in resnet50.blocks(cfg):
        if project:
            add(batch, cin, size, filters, 1, stride)
        add(batch, cin, size, inner, 1, 1)
        add(batch, inner, size, inner, 3, stride)
        size = -(-size // stride)
        add(batch, inner, size, filters, 1, 1)
        cin = filters
    return layers


def system_parts(system: str, shape: tuple[int, ...], reps: int) -> list[float]:
    """The three parts of one convolution on ``system`` (xla, flowsnap or torch)."""
    if system == "torch":
        return torch_parts(*shape, reps=reps)
    if system == "flowsnap" and shape[4] != 1:  # flowsnap lowers only 1x1 convolutions itself
        system = "xla"
    return xla_parts(*shape, reps=reps, flowsnap=system == "flowsnap")


def run_resnet50(
    reps: int = 5, systems: tuple[str, ...] = ("xla", "flowsnap", "torch")
) -> dict[str, list[float]]:
    """The three parts summed over all 53 convolutions of ResNet-50 (112x112, batch 4)."""
    totals = {system: [0.0, 0.0, 0.0] for system in systems}
    worst: list[tuple[float, str]] = []
    for shape, count in resnet50_convs().items():
        got = {system: system_parts(system, shape, reps) for system in systems}
        for system, parts in got.items():
            for i in range(3):
                totals[system][i] += count * parts[i]
        _batch, cin, size, cout, k, stride = shape
        label = f"{count}x {k}x{k}/{stride} {cin}->{cout} at {size}x{size}"
        if "xla" in got and "torch" in got:
            worst.append((count * (sum(got["xla"]) - sum(got["torch"])), label))
    n = sum(resnet50_convs().values())
    print(f"\nAll {n} convolutions of ResNet-50 (112x112, batch 4), ms per training step:")
    print(f"{'':>9}{'forward':>9}{'d input':>9}{'d weight':>10}{'total':>9}")
    for system, parts in totals.items():
        print(f"{system:>9}" + "".join(f"{v:>9.1f}" for v in parts) + f"{sum(parts):>10.1f}")
    if worst:
        print("largest XLA (lax.conv) deficits against PyTorch (ms per step):")
        for deficit, label in sorted(worst, reverse=True)[:5]:
            print(f"  {deficit:8.1f}  {label}")
    return totals


def run(
    reps: int = 10, systems: tuple[str, ...] = ("xla", "flowsnap", "torch")
) -> list[dict[str, Any]]:
    """Time every layer on each system (``xla``: lax.conv; ``flowsnap``: flow.nn.conv2d as
    lowered on the CPU, for 1x1 layers; ``torch``); print and return the rows, then the sum over
    ResNet-50."""
    rows = []
    print(
        f"{'layer':<32}{'':>9}{'forward':>9}{'d input':>9}{'d weight':>10}{'total':>8}"
        "   (ms, best of reps)"
    )
    for name, *shape in LAYERS:
        got: dict[str, list[float]] = {}
        for system in systems:
            if system == "flowsnap" and shape[4] != 1:
                continue  # the same lax.conv as xla
            got[system] = system_parts(system, tuple(shape), reps)
        for i, (system, parts) in enumerate(got.items()):
            print(
                f"{name if i == 0 else '':<32}{system:>9}"
                f"{parts[0]:>9.2f}{parts[1]:>9.2f}{parts[2]:>10.2f}{sum(parts):>8.2f}"
            )
        base = got.get("torch") or got.get("xla")
        for system, parts in got.items():
            if base is None or parts is base:
                continue
            versus = "torch" if "torch" in got else "xla"
            print(
                f"{'':<32}{system[:4] + '/' + versus[:5]:>9}"
                + "".join(
                    f"{a / b:>{w}.2f}x" for a, b, w in zip(parts, base, (8, 8, 9), strict=True)
                )
                + f"{sum(parts) / sum(base):>7.2f}x"
            )
        rows.append({"layer": name, **{f"{k}_ms": v for k, v in got.items()}})
    run_resnet50(systems=systems)
    return rows
