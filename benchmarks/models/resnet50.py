"""ResNet-50 for the training benchmark, three times: the legacy API, hand-written JAX, PyTorch.

The flowsnap version is written the way OneFlow's model zoo wrote ResNet-50 for the legacy API
(``Oneflow-Inc/OneFlow-Benchmark``, ``Classification/cnns/resnet_model.py``): NCHW, weights from
``flow.get_variable`` + ``flow.nn.conv2d`` under the ``Resnet`` namespace with the zoo's names
(``conv1``, ``res2_0_branch2a``, ``..._bn``, ``fc1001``), batch normalization on axis 1 (momentum
0.9, epsilon 1e-5, the last BN of each bottleneck starting at gamma 0), ReLU, a 3x3/2 max pool
after the stem, a global average pool, an l2 regularizer of 1/32768 on every weight, SGD with
momentum 0.875 and the zoo's polynomial decay (power 2) after a linear warmup, and sparse softmax
cross-entropy.

The hand-written JAX step computes the same math (same shapes, same initial distributions,
OneFlow's SAME padding, the same update rule) in one ``jax.jit`` with donated buffers. The PyTorch
model has the same layers and parameter shapes; its convolutions and pooling pad symmetrically
(``padding=k // 2``), the usual PyTorch way: same output shapes, a one-pixel shift on strided
layers, the same cost.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

BLOCK_FILTERS = (256, 512, 1024, 2048)
BLOCK_INNER = (64, 128, 256, 512)
MOMENTUM = 0.875
WEIGHT_DECAY = 1.0 / 32768
WARMUP_STEPS = 5
DECAY_STEPS = 10_000
END_LR = 0.0001

Step = Callable[..., np.ndarray]  # type: ignore[type-arg]


@dataclass(frozen=True)
class Config:
    """Batch and image size; ``blocks``: bottlenecks per stage (ResNet-50: 3, 4, 6, 3)."""

    batch: int = 4
    image: int = 112
    classes: int = 1000
    blocks: tuple[int, ...] = (3, 4, 6, 3)

    @property
    def base_lr(self) -> float:
        """The zoo's 0.256 for batch 256, scaled linearly to this batch."""
        return 0.256 * self.batch / 256

    def describe(self) -> str:
        depth = 2 + 3 * sum(self.blocks)
        return f"ResNet-{depth} {self.image}x{self.image} batch {self.batch}"


CONFIGS = {
    "quick": Config(batch=2, image=64, blocks=(1, 1, 1, 1)),
    "cpu": Config(batch=4, image=112),
    "gpu": Config(batch=64, image=224),
}


def batches(cfg: Config, n: int, seed: int = 0) -> list[tuple[np.ndarray, ...]]:  # type: ignore[type-arg]
    """``n`` batches of NCHW float32 images and int32 labels."""
    rng = np.random.default_rng(seed)
    return [
        (
            rng.standard_normal((cfg.batch, 3, cfg.image, cfg.image), dtype=np.float32),
            rng.integers(0, cfg.classes, cfg.batch).astype(np.int32),
        )
        for _ in range(n)
    ]


def blocks(cfg: Config) -> Iterator[tuple[str, int, int, int, bool]]:
    """(name, filters, inner filters, stride, has projection shortcut) of each bottleneck."""
    for stage, (count, filters, inner) in enumerate(
        zip(cfg.blocks, BLOCK_FILTERS, BLOCK_INNER, strict=True)
    ):
        for i in range(count):
            stride = (1 if stage == 0 else 2) if i == 0 else 1
            yield f"res{stage + 2}_{i}", filters, inner, stride, i == 0


# -- flowsnap: the legacy API, as the model zoo wrote it ------------------------------------


def flowsnap_step(cfg: Config, device: str) -> Step:
    import flowsnap as flow
    import flowsnap.typing as tp

    regularizer = flow.regularizers.l2(WEIGHT_DECAY)
    conv_init = flow.variance_scaling_initializer(2, "fan_in", "random_normal", "NCHW")

    def conv(x: Any, name: str, filters: int, kernel: int, strides: int) -> Any:
        weight = flow.get_variable(
            name + "-weight",
            shape=(filters, x.shape[1], kernel, kernel),
            dtype=x.dtype,
            initializer=conv_init,
            regularizer=regularizer,
            model_name="weight",
        )
        padding = "SAME" if strides > 1 or kernel > 1 else "VALID"
        # the zoo passed data_format positionally (OneFlow 0.3/0.4 order); flowsnap's default
        # facade has OneFlow 0.5's order (bias fifth), so by keyword here
        return flow.nn.conv2d(x, weight, strides, padding, data_format="NCHW", name=name)

    def batch_norm(x: Any, name: str, last: bool = False) -> Any:
        init = flow.zeros_initializer() if last else flow.ones_initializer()
        return flow.layers.batch_normalization(
            x,
            axis=1,
            momentum=0.9,
            epsilon=1e-5,
            gamma_initializer=init,
            moving_variance_initializer=init,
            gamma_regularizer=regularizer,
            beta_regularizer=regularizer,
            name=name,
        )

    def conv_bn(x: Any, name: str, filters: int, kernel: int, strides: int, **kw: Any) -> Any:
        relu = kw.pop("relu", False)
        y = batch_norm(conv(x, name, filters, kernel, strides), name + "_bn", **kw)
        return flow.nn.relu(y) if relu else y

    def resnet(images: Any) -> Any:
        with flow.scope.namespace("Resnet"):
            x = flow.nn.relu(batch_norm(conv(images, "conv1", 64, 7, 2), "conv1_bn"))
            x = flow.nn.max_pool2d(x, ksize=3, strides=2, padding="SAME", data_format="NCHW")
            for name, filters, inner, stride, project in blocks(cfg):
                shortcut = conv_bn(x, name + "_branch1", filters, 1, stride) if project else x
                y = conv_bn(x, name + "_branch2a", inner, 1, 1, relu=True)
                y = conv_bn(y, name + "_branch2b", inner, 3, stride, relu=True)
                y = conv_bn(y, name + "_branch2c", filters, 1, 1, last=True)
                x = flow.nn.relu(y + shortcut)
            x = flow.nn.avg_pool2d(x, ksize=x.shape[2], strides=1, padding="VALID")
            return flow.layers.dense(
                flow.reshape(x, (x.shape[0], -1)),
                units=cfg.classes,
                kernel_initializer=flow.variance_scaling_initializer(2, "fan_in", "random_normal"),
                bias_initializer=flow.zeros_initializer(),
                kernel_regularizer=regularizer,
                bias_regularizer=regularizer,
                name="fc1001",
            )

    @flow.global_function(type="train")
    def train_job(
        images: tp.Numpy.Placeholder((cfg.batch, 3, cfg.image, cfg.image), dtype=flow.float),
        labels: tp.Numpy.Placeholder((cfg.batch,), dtype=flow.int32),
    ) -> tp.Numpy:
        with flow.scope.placement(device, "0:0"):
            logits = resnet(images)
            loss = flow.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)
        schedule = flow.optimizer.PolynomialSchduler(
            cfg.base_lr,
            DECAY_STEPS,
            END_LR,
            power=2.0,
            warmup=flow.optimizer.warmup.linear(WARMUP_STEPS, 0),
        )
        flow.optimizer.SGD(schedule, momentum=MOMENTUM).minimize(loss)
        return loss

    return train_job


# -- hand-written JAX ------------------------------------------------------------------------


def _same_pads(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """OneFlow's "SAME" (SAME_LOWER): the larger half of an odd total goes before."""
    out = -(-size // stride)
    total = max(0, (out - 1) * stride + kernel - size)
    return total - total // 2, total // 2


def jax_init(cfg: Config, seed: int = 0) -> tuple[dict[str, Any], dict[str, Any]]:
    """Parameters and moving statistics under the flowsnap names, zoo distributions."""
    rng = np.random.default_rng(seed)
    params: dict[str, Any] = {}
    stats: dict[str, Any] = {}

    def conv_bn(name: str, cin: int, cout: int, k: int, last: bool = False) -> None:
        std = math.sqrt(2.0 / (cin * k * k))
        params[f"Resnet-{name}-weight"] = rng.standard_normal((cout, cin, k, k), np.float32) * std
        fill = np.zeros if last else np.ones
        bn = f"Resnet-{name}_bn"
        params[f"{bn}-beta"] = np.zeros(cout, np.float32)
        params[f"{bn}-gamma"] = fill(cout, np.float32)
        stats[f"{bn}-moving_mean"] = np.zeros(cout, np.float32)
        stats[f"{bn}-moving_variance"] = fill(cout, np.float32)

    conv_bn("conv1", 3, 64, 7)
    cin = 64
    for name, filters, inner, _stride, project in blocks(cfg):
        if project:
            conv_bn(name + "_branch1", cin, filters, 1)
        conv_bn(name + "_branch2a", cin, inner, 1)
        conv_bn(name + "_branch2b", inner, inner, 3)
        conv_bn(name + "_branch2c", inner, filters, 1, last=True)
        cin = filters
    std = math.sqrt(2.0 / cin)
    params["Resnet-fc1001-weight"] = rng.standard_normal((cfg.classes, cin), np.float32) * std
    params["Resnet-fc1001-bias"] = np.zeros(cfg.classes, np.float32)
    return params, stats


def jax_step(
    cfg: Config, device: str, init: tuple[dict[str, Any], dict[str, Any]] | None = None
) -> Step:
    import jax
    import jax.numpy as jnp

    dev = jax.devices(device)[0]
    params, stats = init if init is not None else jax_init(cfg)

    def conv(p: Any, x: Any, name: str, stride: int) -> Any:
        w = p[f"Resnet-{name}-weight"]
        k = w.shape[2]
        pads = [_same_pads(x.shape[a], k, stride) for a in (2, 3)]
        return jax.lax.conv_general_dilated(
            x, w, (stride, stride), pads, dimension_numbers=("NCHW", "OIHW", "NCHW")
        )

    def bn(p: Any, s: Any, new: dict[str, Any], x: Any, name: str) -> Any:
        key = f"Resnet-{name}_bn"
        mean = jnp.mean(x, axis=(0, 2, 3))
        var = jnp.mean(jnp.square(x - mean[None, :, None, None]), axis=(0, 2, 3))
        new[f"{key}-moving_mean"] = 0.9 * s[f"{key}-moving_mean"] + 0.1 * mean
        new[f"{key}-moving_variance"] = 0.9 * s[f"{key}-moving_variance"] + 0.1 * var
        inv = jax.lax.rsqrt(var + 1e-5) * p[f"{key}-gamma"]
        return (x - mean[None, :, None, None]) * inv[None, :, None, None] + p[f"{key}-beta"][
            None, :, None, None
        ]

    def forward(p: Any, s: Any, x: Any) -> tuple[Any, dict[str, Any]]:
        new: dict[str, Any] = {}

        def conv_bn(x: Any, name: str, stride: int, relu: bool = False) -> Any:
            y = bn(p, s, new, conv(p, x, name, stride), name)
            return jax.nn.relu(y) if relu else y

        x = conv_bn(x, "conv1", 2, relu=True)
        pads = [(0, 0), (0, 0), _same_pads(x.shape[2], 3, 2), _same_pads(x.shape[3], 3, 2)]
        x = jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 1, 3, 3), (1, 1, 2, 2), pads)
        for name, _filters, _inner, stride, project in blocks(cfg):
            shortcut = conv_bn(x, name + "_branch1", stride) if project else x
            y = conv_bn(x, name + "_branch2a", 1, relu=True)
            y = conv_bn(y, name + "_branch2b", stride, relu=True)
            y = conv_bn(y, name + "_branch2c", 1)
            x = jax.nn.relu(y + shortcut)
        x = jnp.mean(x, axis=(2, 3))
        return x @ p["Resnet-fc1001-weight"].T + p["Resnet-fc1001-bias"], new

    def learning_rate(t: Any) -> Any:
        tf = t.astype(jnp.float32)
        decay = (cfg.base_lr - END_LR) * (1 - jnp.minimum(tf, DECAY_STEPS) / DECAY_STEPS) ** 2
        warm = cfg.base_lr * tf / WARMUP_STEPS
        return jnp.where(t < WARMUP_STEPS, warm, decay + END_LR)

    def step(p: Any, s: Any, m: Any, t: Any, x: Any, y: Any) -> Any:
        def loss_fn(p: Any) -> Any:
            logits, new_stats = forward(p, s, x)
            logp = jax.nn.log_softmax(logits)
            per_example = -jnp.take_along_axis(logp, y[:, None], axis=1)[:, 0]
            return per_example.mean(), (per_example, new_stats)

        (_, (per_example, new_stats)), grads = jax.value_and_grad(loss_fn, has_aux=True)(p)
        new_stats = jax.lax.stop_gradient(new_stats)
        lr = learning_rate(t)
        new_m = {k: MOMENTUM * m[k] - lr * (grads[k] + WEIGHT_DECAY * p[k]) for k in p}
        new_p = {k: p[k] + new_m[k] for k in p}
        return per_example, new_p, new_stats, new_m, t + 1

    compiled = jax.jit(step, donate_argnums=(0, 1, 2))
    state = jax.device_put({"p": params, "s": stats, "t": np.int32(0)}, dev)
    del params, stats, init  # no host copies kept
    state["m"] = {k: jnp.zeros(v.shape, v.dtype, device=dev) for k, v in state["p"].items()}

    def run(x: np.ndarray, y: np.ndarray) -> np.ndarray:  # type: ignore[type-arg]
        loss, state["p"], state["s"], state["m"], state["t"] = compiled(
            state["p"], state["s"], state["m"], state["t"], x, y
        )
        return np.asarray(loss)

    run.compiled, run.state = compiled, state  # type: ignore[attr-defined]
    return run


# -- PyTorch ---------------------------------------------------------------------------------


def torch_step(cfg: Config, device: str, compiled: bool = False) -> Step:
    import torch
    from torch import nn

    torch.manual_seed(0)
    dev = torch.device("cuda" if device == "gpu" else "cpu")

    def conv_bn(cin: int, cout: int, k: int, stride: int, last: bool = False) -> nn.Sequential:
        conv = nn.Conv2d(cin, cout, k, stride, padding=k // 2, bias=False)
        nn.init.kaiming_normal_(conv.weight, mode="fan_in", nonlinearity="relu")
        norm = nn.BatchNorm2d(cout, eps=1e-5, momentum=0.1)
        if last:
            nn.init.zeros_(norm.weight)
        return nn.Sequential(conv, norm)

    class Bottleneck(nn.Module):
        def __init__(self, cin: int, filters: int, inner: int, stride: int, project: bool):
            super().__init__()
            self.branch1 = conv_bn(cin, filters, 1, stride) if project else None
            self.branch2a = conv_bn(cin, inner, 1, 1)
            self.branch2b = conv_bn(inner, inner, 3, stride)
            self.branch2c = conv_bn(inner, filters, 1, 1, last=True)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            shortcut = x if self.branch1 is None else self.branch1(x)
            y = torch.relu(self.branch2a(x))
            y = torch.relu(self.branch2b(y))
            return torch.relu(self.branch2c(y) + shortcut)

    layers: list[nn.Module] = [conv_bn(3, 64, 7, 2), nn.ReLU(), nn.MaxPool2d(3, 2, padding=1)]
    cin = 64
    for _name, filters, inner, stride, project in blocks(cfg):
        layers.append(Bottleneck(cin, filters, inner, stride, project))
        cin = filters
    fc = nn.Linear(cin, cfg.classes)
    nn.init.kaiming_normal_(fc.weight, mode="fan_in", nonlinearity="relu")
    nn.init.zeros_(fc.bias)
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), fc]
    net = nn.Sequential(*layers).to(dev).train()
    opt = torch.optim.SGD(
        net.parameters(), lr=cfg.base_lr, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY
    )

    def factor(t: int) -> float:
        if t < WARMUP_STEPS:
            return t / WARMUP_STEPS
        frac = 1 - min(t, DECAY_STEPS) / DECAY_STEPS
        return ((cfg.base_lr - END_LR) * frac**2 + END_LR) / cfg.base_lr

    schedule = torch.optim.lr_scheduler.LambdaLR(opt, factor)
    loss_fn = nn.CrossEntropyLoss(reduction="none")

    def train(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        loss = loss_fn(net(x), y)
        loss.mean().backward()
        return loss.detach()

    fn = torch.compile(train) if compiled else train

    def run(x: np.ndarray, y: np.ndarray) -> np.ndarray:  # type: ignore[type-arg]
        opt.zero_grad(set_to_none=True)
        loss = fn(torch.from_numpy(x).to(dev), torch.from_numpy(y).long().to(dev))
        opt.step()
        schedule.step()
        return loss.cpu().numpy()

    return run
