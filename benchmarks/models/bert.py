"""A BERT encoder with a masked-LM loss for the training benchmark: legacy API, JAX, PyTorch.

The flowsnap version is written the way OneFlow's model zoo wrote BERT for the legacy API
(``Oneflow-Inc/OneFlow-Benchmark``, ``LanguageModeling/BERT/bert.py`` and ``pretrain.py``):
namespaces ``bert-embeddings`` / ``bert-encoder-layer_<i>-attention-self`` / ``-output`` /
``-intermediate`` / ``cls-predictions``; word, position and token-type tables from
``flow.get_variable`` (truncated normal 0.02) read with ``flow.gather``; fully connected layers as
``get_variable`` of shape ``(in, out)`` + ``flow.matmul`` + ``flow.nn.bias_add``;
``flow.layers.layer_norm``; exact GELU (``flow.math.gelu``); attention with ``flow.matmul`` on
4-D blobs, the additive ``(mask - 1) * 10000`` mask and dropout 0.1; the masked-LM head tied to the
word table; a loss weighted by ``masked_lm_weights``. The optimizer is the zoo's: AdamW (epsilon
1e-6, bias correction, weight decay 0.01 excluding ``bias``/``LayerNorm``/``layer_norm``, global
norm clipping at 1.0, linear warmup then polynomial decay), or LAMB with the same options.

Differences from the zoo, for the benchmark: no next-sentence head (the loss is the masked-LM
loss alone). The masked positions are gathered as the zoo did, ``flow.gather(params=seq,
indices=positions, axis=2, batch_dims=2)`` (OneFlow's batch gather).

The hand-written JAX step computes the same math under the same names; the PyTorch model has the
same layers and shapes, with ``torch.optim.AdamW`` (PyTorch has no LAMB: no PyTorch row then).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

INIT_STD = 0.02
TYPE_VOCAB = 2
MAX_POSITIONS = 512
LR = 1e-4
WARMUP_STEPS = 10
DECAY_STEPS = 10_000
WEIGHT_DECAY = 0.01
EPSILON = 1e-6
DROPOUT = 0.1
DECAY_EXCLUDES = ("bias", "LayerNorm", "layer_norm")

Step = Callable[..., np.ndarray]  # type: ignore[type-arg]


@dataclass(frozen=True)
class Config:
    """BERT-base: 12 layers, hidden 768, 12 heads, intermediate 3072, vocab 30522."""

    batch: int = 2
    seq: int = 128
    layers: int = 12
    hidden: int = 768
    heads: int = 12
    intermediate: int = 3072
    vocab: int = 30522
    optimizer: str = "adamw"
    dropout: float = DROPOUT

    @property
    def predictions(self) -> int:
        """Masked positions per sequence (the zoo: 20 for 128 tokens)."""
        return max(1, round(self.seq * 20 / 128))

    def describe(self) -> str:
        return (
            f"BERT {self.layers}x{self.hidden} (heads {self.heads}, vocab {self.vocab}) "
            f"seq {self.seq} batch {self.batch}, {self.optimizer}"
        )


CONFIGS = {
    "quick": Config(batch=2, seq=64, layers=2),
    "cpu": Config(batch=2, seq=128),
    "gpu": Config(batch=32, seq=128),
}


def batches(cfg: Config, n: int, seed: int = 0) -> list[tuple[np.ndarray, ...]]:  # type: ignore[type-arg]
    """Token ids, input mask, token types, masked positions, their ids and weights."""
    rng = np.random.default_rng(seed)
    out = []
    b, s, p = cfg.batch, cfg.seq, cfg.predictions
    for _ in range(n):
        lengths = rng.integers(s // 2, s + 1, b)
        mask = (np.arange(s)[None, :] < lengths[:, None]).astype(np.int32)
        types = (np.arange(s)[None, :] >= (lengths // 2)[:, None]).astype(np.int32) * mask
        positions = np.stack([np.sort(rng.choice(n_, p, replace=False)) for n_ in lengths])
        weights = np.ones((b, p), np.float32)
        weights[:, p - p // 4 :] = 0  # some sequences have fewer predictions than the maximum
        out.append(
            (
                rng.integers(0, cfg.vocab, (b, s)).astype(np.int32),
                mask,
                types,
                positions.astype(np.int32),
                rng.integers(0, cfg.vocab, (b, p)).astype(np.int32),
                weights,
            )
        )
    return out


def decayed(name: str) -> bool:
    """Whether weight decay applies to ``name`` (the zoo's exclude patterns, partial match)."""
    return not any(re.search(p, name) for p in DECAY_EXCLUDES)


# -- flowsnap: the legacy API, as the model zoo wrote it ------------------------------------


def flowsnap_step(cfg: Config, device: str) -> Step:
    import flowsnap as flow
    import flowsnap.typing as tp

    init = flow.truncated_normal(INIT_STD)
    h, heads, s = cfg.hidden, cfg.heads, cfg.seq
    size = h // heads

    def fully_connected(x: Any, units: int, name: str) -> Any:
        weight = flow.get_variable(name + "-weight", shape=(x.shape[-1], units), initializer=init)
        bias = flow.get_variable(
            name + "-bias", shape=(units,), initializer=flow.constant_initializer(0.0)
        )
        return flow.nn.bias_add(flow.matmul(x, weight), bias)

    def layer_norm(x: Any) -> Any:
        return flow.layers.layer_norm(x, name="LayerNorm", begin_norm_axis=-1, begin_params_axis=-1)

    def dropout(x: Any) -> Any:
        return flow.nn.dropout(x, rate=cfg.dropout) if cfg.dropout else x

    def heads_first(x: Any) -> Any:
        return flow.transpose(flow.reshape(x, [-1, s, heads, size]), perm=[0, 2, 1, 3])

    def attention(x: Any, addr: Any) -> Any:
        q = heads_first(fully_connected(x, h, "query"))
        k = heads_first(fully_connected(x, h, "key"))
        v = heads_first(fully_connected(x, h, "value"))
        scores = flow.matmul(q, k, transpose_b=True) * (1.0 / math.sqrt(size))
        probs = dropout(flow.nn.softmax(scores + addr))
        context = flow.transpose(flow.matmul(probs, v), perm=[0, 2, 1, 3])
        return flow.reshape(context, [-1, h])

    def encoder(ids: Any, mask: Any, types: Any) -> tuple[Any, Any]:
        with flow.scope.namespace("bert"):
            with flow.scope.namespace("embeddings"):
                table = flow.get_variable(
                    "word_embeddings", shape=(cfg.vocab, h), dtype=flow.float, initializer=init
                )
                x = flow.gather(table, ids, axis=0)
                type_table = flow.get_variable(
                    "token_type_embeddings", shape=(TYPE_VOCAB, h), initializer=init
                )
                x = x + flow.gather(type_table, types, axis=0)
                positions = flow.get_variable(
                    "position_embeddings", shape=(1, MAX_POSITIONS, h), initializer=init
                )
                x = x + flow.slice(positions, begin=[None, 0, 0], size=[None, s, -1])
                x = dropout(layer_norm(x))
            with flow.scope.namespace("encoder"):
                m = flow.reshape(flow.cast(mask, dtype=flow.float), [-1, 1, s])
                m = flow.constant(0.0, dtype=flow.float, shape=[s, s]) + m
                addr = (flow.reshape(m, [-1, 1, s, s]) - 1.0) * 10000.0
                x = flow.reshape(x, [-1, h])
                for i in range(cfg.layers):
                    with flow.scope.namespace(f"layer_{i}"):
                        with flow.scope.namespace("attention"):
                            with flow.scope.namespace("self"):
                                a = attention(x, addr)
                            with flow.scope.namespace("output"):
                                a = dropout(fully_connected(a, h, "dense"))
                                a = layer_norm(a + x)
                        with flow.scope.namespace("intermediate"):
                            y = flow.math.gelu(fully_connected(a, cfg.intermediate, "dense"))
                        with flow.scope.namespace("output"):
                            y = dropout(fully_connected(y, h, "dense"))
                            x = layer_norm(y + a)
        return flow.reshape(x, [-1, s, h]), table

    def masked_lm_loss(seq: Any, table: Any, positions: Any, ids: Any, weights: Any) -> Any:
        with flow.scope.namespace("cls-predictions"):
            x = flow.gather(params=seq, indices=positions, axis=2, batch_dims=2)
            x = flow.reshape(x, [-1, h])
            with flow.scope.namespace("transform"):
                x = layer_norm(flow.math.gelu(fully_connected(x, h, "dense")))
            bias = flow.get_variable(
                "output_bias", shape=(cfg.vocab,), initializer=flow.constant_initializer(1.0)
            )
            logits = flow.nn.bias_add(flow.matmul(x, table, transpose_b=True), bias)
            per_token = flow.nn.sparse_softmax_cross_entropy_with_logits(
                flow.reshape(ids, [-1]), logits
            )
            per_token = flow.reshape(per_token, [-1, cfg.predictions])
            mean_weight = flow.math.reduce_sum(weights) / cfg.batch
            return flow.math.reduce_sum(per_token * weights, axis=[-1]) / (mean_weight + 1e-5)

    b, p = cfg.batch, cfg.predictions

    @flow.global_function(type="train")
    def train_job(
        input_ids: tp.Numpy.Placeholder((b, s), dtype=flow.int32),
        input_mask: tp.Numpy.Placeholder((b, s), dtype=flow.int32),
        token_type_ids: tp.Numpy.Placeholder((b, s), dtype=flow.int32),
        masked_lm_positions: tp.Numpy.Placeholder((b, p), dtype=flow.int32),
        masked_lm_ids: tp.Numpy.Placeholder((b, p), dtype=flow.int32),
        masked_lm_weights: tp.Numpy.Placeholder((b, p), dtype=flow.float),
    ) -> tp.Numpy:
        with flow.scope.placement(device, "0:0"):
            seq, table = encoder(input_ids, input_mask, token_type_ids)
            loss = masked_lm_loss(seq, table, masked_lm_positions, masked_lm_ids, masked_lm_weights)
        schedule = flow.optimizer.PolynomialSchduler(
            LR, DECAY_STEPS, 0.0, warmup=flow.optimizer.warmup.linear(WARMUP_STEPS, 0)
        )
        options: dict[str, Any] = {
            "epsilon": EPSILON,
            "weight_decay": WEIGHT_DECAY,
            "weight_decay_excludes": list(DECAY_EXCLUDES),
            "grad_clipping": flow.optimizer.grad_clipping.by_global_norm(1.0),
        }
        if cfg.optimizer == "lamb":
            flow.optimizer.LAMB(schedule, **options).minimize(loss)
        else:
            flow.optimizer.AdamW(schedule, do_bias_correction=True, **options).minimize(loss)
        return loss

    return train_job


# -- hand-written JAX ------------------------------------------------------------------------


def jax_init(cfg: Config, seed: int = 0) -> dict[str, Any]:
    """Parameters under the flowsnap names (truncated normal 0.02, zero biases)."""
    rng = np.random.default_rng(seed)

    def normal(*shape: int) -> np.ndarray:  # type: ignore[type-arg]
        return np.clip(rng.standard_normal(shape, dtype=np.float32), -2, 2) * INIT_STD

    h = cfg.hidden
    p: dict[str, Any] = {
        "bert-embeddings-word_embeddings": normal(cfg.vocab, h),
        "bert-embeddings-token_type_embeddings": normal(TYPE_VOCAB, h),
        "bert-embeddings-position_embeddings": normal(1, MAX_POSITIONS, h),
    }

    def dense(name: str, n_in: int, n_out: int) -> None:
        p[name + "-weight"] = normal(n_in, n_out)
        p[name + "-bias"] = np.zeros(n_out, np.float32)

    def norm(name: str) -> None:
        p[name + "-LayerNorm-beta"] = np.zeros(h, np.float32)
        p[name + "-LayerNorm-gamma"] = np.ones(h, np.float32)

    norm("bert-embeddings")
    for i in range(cfg.layers):
        pre = f"bert-encoder-layer_{i}-"
        for part in ("query", "key", "value"):
            dense(pre + "attention-self-" + part, h, h)
        dense(pre + "attention-output-dense", h, h)
        norm(pre + "attention-output")
        dense(pre + "intermediate-dense", h, cfg.intermediate)
        dense(pre + "output-dense", cfg.intermediate, h)
        norm(pre + "output")
    dense("cls-predictions-transform-dense", h, h)
    norm("cls-predictions-transform")
    p["cls-predictions-output_bias"] = np.ones(cfg.vocab, np.float32)
    return p


def jax_step(cfg: Config, device: str, init: dict[str, Any] | None = None) -> Step:
    import jax
    import jax.numpy as jnp

    dev = jax.devices(device)[0]
    params = init if init is not None else jax_init(cfg)
    h, heads, s, b = cfg.hidden, cfg.heads, cfg.seq, cfg.batch
    size = h // heads
    base_key = jax.random.key(0)

    def forward(p: Any, key: Any, ids: Any, mask: Any, types: Any, positions: Any) -> Any:
        counter = iter(range(10_000))

        def dropout(x: Any) -> Any:
            if not cfg.dropout:
                return x
            k = jax.random.fold_in(key, next(counter))
            keep = jax.random.uniform(k, x.shape) > cfg.dropout
            return jnp.where(keep, x * (1 / (1 - cfg.dropout)), 0)

        def dense(x: Any, name: str) -> Any:
            return x @ p[name + "-weight"] + p[name + "-bias"]

        def norm(x: Any, name: str) -> Any:
            mean = jnp.mean(x, axis=-1, keepdims=True)
            var = jnp.mean(jnp.square(x - mean), axis=-1, keepdims=True)
            y = (x - mean) * jax.lax.rsqrt(var + 1e-5)
            return y * p[name + "-LayerNorm-gamma"] + p[name + "-LayerNorm-beta"]

        def heads_first(x: Any) -> Any:
            return x.reshape(-1, s, heads, size).transpose(0, 2, 1, 3)

        table = p["bert-embeddings-word_embeddings"]
        x = jnp.take(table, ids, axis=0)
        x = x + jnp.take(p["bert-embeddings-token_type_embeddings"], types, axis=0)
        x = x + p["bert-embeddings-position_embeddings"][:, :s]
        x = dropout(norm(x, "bert-embeddings")).reshape(-1, h)
        m = jnp.zeros((s, s), jnp.float32) + mask.astype(jnp.float32).reshape(-1, 1, s)
        addr = (m.reshape(-1, 1, s, s) - 1.0) * 10000.0
        for i in range(cfg.layers):
            pre = f"bert-encoder-layer_{i}-"
            q = heads_first(dense(x, pre + "attention-self-query"))
            k = heads_first(dense(x, pre + "attention-self-key"))
            v = heads_first(dense(x, pre + "attention-self-value"))
            scores = (q @ k.transpose(0, 1, 3, 2)) * (1.0 / math.sqrt(size))
            probs = dropout(jax.nn.softmax(scores + addr))
            a = (probs @ v).transpose(0, 2, 1, 3).reshape(-1, h)
            a = dropout(dense(a, pre + "attention-output-dense"))
            a = norm(a + x, pre + "attention-output")
            y = jax.nn.gelu(dense(a, pre + "intermediate-dense"), approximate=False)
            y = dropout(dense(y, pre + "output-dense"))
            x = norm(y + a, pre + "output")
        flat_positions = (positions + jnp.arange(b, dtype=jnp.int32)[:, None] * s).reshape(-1)
        x = jnp.take(x, flat_positions, axis=0)
        x = jax.nn.gelu(dense(x, "cls-predictions-transform-dense"), approximate=False)
        x = norm(x, "cls-predictions-transform")
        return x @ table.T + p["cls-predictions-output_bias"]

    names = sorted(params)
    decay = {n: WEIGHT_DECAY if decayed(n) else 0.0 for n in names}

    def learning_rate(t: Any) -> Any:
        tf = t.astype(jnp.float32)
        poly = LR * (1 - jnp.minimum(tf, DECAY_STEPS) / DECAY_STEPS)
        return jnp.where(t < WARMUP_STEPS, LR * tf / WARMUP_STEPS, poly)

    def step(p: Any, opt: Any, t: Any, *batch: Any) -> Any:
        ids, mask, types, positions, labels, weights = batch
        key = jax.random.fold_in(base_key, t)

        def loss_fn(p: Any) -> Any:
            logits = forward(p, key, ids, mask, types, positions)
            logp = jax.nn.log_softmax(logits)
            per_token = -jnp.take_along_axis(logp, labels.reshape(-1, 1), axis=1)[:, 0]
            per_token = per_token.reshape(b, -1)
            mean_weight = jnp.sum(weights) / b
            per_example = jnp.sum(per_token * weights, axis=-1) / (mean_weight + 1e-5)
            return per_example.mean(), per_example

        (_, per_example), g = jax.value_and_grad(loss_fn, has_aux=True)(p)
        norm = jnp.sqrt(sum(jnp.sum(jnp.square(x)) for x in g.values()))
        scale = 1.0 / jnp.maximum(norm, 1.0)
        lr = learning_rate(t)
        new_p, new_opt = {}, {}
        for n in names:
            gn = g[n] * scale
            m = 0.9 * opt[n + "-m"] + 0.1 * gn
            v = 0.999 * opt[n + "-v"] + 0.001 * gn * gn
            new_opt[n + "-m"], new_opt[n + "-v"] = m, v
            if cfg.optimizer == "lamb":
                b1, b2 = opt[n + "-beta1_t"], opt[n + "-beta2_t"]
                diff = (m / (1 - b1)) / jnp.sqrt(v / (1 - b2) + EPSILON)
                w_norm, d_norm = jnp.linalg.norm(p[n]), jnp.linalg.norm(diff)
                ratio = jnp.where((w_norm > 0) & (d_norm > 0), w_norm / d_norm, 1.0)
                new_p[n] = p[n] - lr * ratio * (diff + decay[n] * p[n])
                new_opt[n + "-beta1_t"], new_opt[n + "-beta2_t"] = b1 * 0.9, b2 * 0.999
            else:
                tf = t.astype(jnp.float32) + 1
                lr_t = lr * jnp.sqrt(1 - 0.999**tf) / (1 - 0.9**tf)
                new_p[n] = p[n] - lr_t * (m / (jnp.sqrt(v) + EPSILON) + decay[n] * p[n])
        return per_example, new_p, new_opt, t + 1

    compiled = jax.jit(step, donate_argnums=(0, 1))
    state = jax.device_put({"p": params, "t": np.int32(0)}, dev)
    del params, init  # no host copies kept
    opt: dict[str, Any] = {}
    for n, value in state["p"].items():
        opt[n + "-m"] = jnp.zeros(value.shape, value.dtype, device=dev)
        opt[n + "-v"] = jnp.zeros(value.shape, value.dtype, device=dev)
        if cfg.optimizer == "lamb":
            opt[n + "-beta1_t"] = jnp.full((1,), 0.9, jnp.float32, device=dev)
            opt[n + "-beta2_t"] = jnp.full((1,), 0.999, jnp.float32, device=dev)
    state["opt"] = opt

    def run(*batch: np.ndarray) -> np.ndarray:  # type: ignore[type-arg]
        loss, state["p"], state["opt"], state["t"] = compiled(
            state["p"], state["opt"], state["t"], *batch
        )
        return np.asarray(loss)

    run.compiled, run.state = compiled, state  # type: ignore[attr-defined]
    return run


# -- PyTorch ---------------------------------------------------------------------------------


def torch_step(cfg: Config, device: str, compiled: bool = False) -> Step:
    import torch
    from torch import nn

    if cfg.optimizer != "adamw":
        raise NotImplementedError("PyTorch has no LAMB optimizer")
    torch.manual_seed(0)
    dev = torch.device("cuda" if device == "gpu" else "cpu")
    h, heads, s, b = cfg.hidden, cfg.heads, cfg.seq, cfg.batch
    size = h // heads

    def linear(n_in: int, n_out: int) -> nn.Linear:
        layer = nn.Linear(n_in, n_out)
        nn.init.trunc_normal_(layer.weight, std=INIT_STD, a=-2 * INIT_STD, b=2 * INIT_STD)
        nn.init.zeros_(layer.bias)
        return layer

    class Layer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.query, self.key, self.value = linear(h, h), linear(h, h), linear(h, h)
            self.attention_output = linear(h, h)
            self.attention_LayerNorm = nn.LayerNorm(h, eps=1e-5)
            self.intermediate = linear(h, cfg.intermediate)
            self.output = linear(cfg.intermediate, h)
            self.output_LayerNorm = nn.LayerNorm(h, eps=1e-5)
            self.drop = nn.Dropout(cfg.dropout)

        def forward(self, x: torch.Tensor, addr: torch.Tensor) -> torch.Tensor:
            def heads_first(t: torch.Tensor) -> torch.Tensor:
                return t.view(-1, s, heads, size).transpose(1, 2)

            q, k, v = (heads_first(f(x)) for f in (self.query, self.key, self.value))
            scores = q @ k.transpose(-1, -2) * (1.0 / math.sqrt(size))
            probs = self.drop(torch.softmax(scores + addr, dim=-1))
            a = (probs @ v).transpose(1, 2).reshape(-1, h)
            a = self.attention_LayerNorm(self.drop(self.attention_output(a)) + x)
            y = nn.functional.gelu(self.intermediate(a))
            return self.output_LayerNorm(self.drop(self.output(y)) + a)

    class Bert(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.word_embeddings = nn.Parameter(torch.empty(cfg.vocab, h))
            self.token_type_embeddings = nn.Parameter(torch.empty(TYPE_VOCAB, h))
            self.position_embeddings = nn.Parameter(torch.empty(1, MAX_POSITIONS, h))
            for t in (self.word_embeddings, self.token_type_embeddings, self.position_embeddings):
                nn.init.trunc_normal_(t, std=INIT_STD, a=-2 * INIT_STD, b=2 * INIT_STD)
            self.embeddings_LayerNorm = nn.LayerNorm(h, eps=1e-5)
            self.layers = nn.ModuleList(Layer() for _ in range(cfg.layers))
            self.transform = linear(h, h)
            self.transform_LayerNorm = nn.LayerNorm(h, eps=1e-5)
            self.output_bias = nn.Parameter(torch.ones(cfg.vocab))
            self.drop = nn.Dropout(cfg.dropout)

        def forward(self, ids: Any, mask: Any, types: Any, positions: Any) -> torch.Tensor:
            x = self.word_embeddings[ids] + self.token_type_embeddings[types]
            x = x + self.position_embeddings[:, :s]
            x = self.drop(self.embeddings_LayerNorm(x)).reshape(-1, h)
            m = torch.zeros(s, s, device=ids.device) + mask.float().view(-1, 1, s)
            addr = (m.view(-1, 1, s, s) - 1.0) * 10000.0
            for layer in self.layers:
                x = layer(x, addr)
            offsets = torch.arange(b, device=ids.device)[:, None] * s
            x = x[(positions + offsets).reshape(-1)]
            x = self.transform_LayerNorm(nn.functional.gelu(self.transform(x)))
            return x @ self.word_embeddings.T + self.output_bias

    net = Bert().to(dev).train()
    named = list(net.named_parameters())
    groups = [
        {"params": [t for n, t in named if decayed(n)], "weight_decay": WEIGHT_DECAY},
        {"params": [t for n, t in named if not decayed(n)], "weight_decay": 0.0},
    ]
    opt = torch.optim.AdamW(groups, lr=LR, eps=EPSILON)

    def factor(t: int) -> float:
        if t < WARMUP_STEPS:
            return t / WARMUP_STEPS
        return 1 - min(t, DECAY_STEPS) / DECAY_STEPS

    schedule = torch.optim.lr_scheduler.LambdaLR(opt, factor)

    def train(*batch: torch.Tensor) -> torch.Tensor:
        ids, mask, types, positions, labels, weights = batch
        logits = net(ids, mask, types, positions)
        per_token = nn.functional.cross_entropy(logits, labels.reshape(-1), reduction="none")
        per_token = per_token.view(b, -1)
        mean_weight = weights.sum() / b
        per_example = (per_token * weights).sum(-1) / (mean_weight + 1e-5)
        per_example.mean().backward()
        return per_example.detach()

    fn = torch.compile(train) if compiled else train
    params = [t for _, t in named]

    def run(*batch: np.ndarray) -> np.ndarray:  # type: ignore[type-arg]
        opt.zero_grad(set_to_none=True)
        tensors = [torch.from_numpy(a).to(dev) for a in batch]
        for i in (0, 2, 3, 4):
            tensors[i] = tensors[i].long()
        loss = fn(*tensors)
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        schedule.step()
        return loss.cpu().numpy()

    return run
