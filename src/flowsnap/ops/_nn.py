"""``flow.nn`` ops that are neither convolutions, pooling, normalizations nor losses:
``bias_add`` and its fused forms, dropout and ``random_mask_like``, softmax and its gradient,
``PixelShuffle``, the fused self-attention op, ``ctc_greedy_decoder`` and OneFlow 0.3's
``nn.Module`` base class.

Random ops draw from the train step's key, so a resumed run draws the same masks; they are
identities (dropout) in predict jobs, as in OneFlow.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from flowsnap._engine import amp_apply, is_training, random_key
from flowsnap.errors import ArgumentError, UnsupportedFeatureError

Blob = jax.Array


def _bias_axis(value: Blob, data_format: str | None, what: str) -> int:
    if data_format is None or data_format.startswith("NC"):
        return 1 if value.ndim > 1 else 0
    if data_format.startswith("N") and data_format.endswith("C"):
        return value.ndim - 1
    raise ArgumentError(
        f"{what}: data_format must be of the form N...C or NC..., got {data_format!r}"
    )


def bias_add(
    value: Blob, bias: Blob, data_format: str | None = None, name: str | None = None
) -> Blob:
    """Add ``bias`` along the channel axis: axis 1 for ``None``/``NC...``, the last for
    ``N...C``."""
    del name
    what = "flow.nn.bias_add"
    if bias.ndim != 1:
        raise ArgumentError(f"{what}: bias must be 1-D, got shape {bias.shape}")
    axis = _bias_axis(value, data_format, what)
    if value.shape[axis] != bias.shape[0]:
        raise ArgumentError(
            f"{what}: value has {value.shape[axis]} channels on axis {axis}, bias has "
            f"{bias.shape[0]}"
        )
    shape = [1] * value.ndim
    shape[axis] = bias.shape[0]
    return value + bias.reshape(shape)


def fused_bias_add_gelu(
    value: Blob, bias: Blob, data_format: str | None = None, name: str | None = None
) -> Blob:
    """``gelu(bias_add(value, bias, data_format))`` (exact, erf-based GELU)."""
    return jax.nn.gelu(bias_add(value, bias, data_format, name), approximate=False)


def _check_rate(rate: float, what: str) -> None:
    if rate is None or not 0 <= rate < 1:
        raise ArgumentError(f"{what}: rate must be in [0, 1), got {rate}")


def random_mask_like(
    like: Blob,
    rate: float,
    seed: int | None = None,
    noise_shape: Any = None,
    name: str | None = None,
) -> Blob:
    """An int8 mask of ``like``'s shape: 1 with probability ``1 - rate``, else 0. Drawn from the
    train step's key (folded with ``seed`` if given, which needs a ``name``, as in OneFlow);
    only in train jobs."""
    what = "flow.nn.random_mask_like"
    _check_rate(rate, what)
    if noise_shape is not None:
        raise UnsupportedFeatureError(
            f"{what}: noise_shape is not supported (nor was it in OneFlow)"
        )
    if seed is not None and name is None:
        raise ArgumentError(f"{what}: a seed requires a name")
    key = random_key(name)
    if seed is not None:
        key = jax.random.fold_in(key, seed)
    return (jax.random.uniform(key, like.shape) > rate).astype(jnp.int8)


def _masked(x: Blob, rate: float, noise_shape: Any, seed: int | None, name: str | None) -> Blob:
    mask_name = None if name is None else f"{name}-dropout_random_mask_like"
    mask = random_mask_like(x, rate, seed, noise_shape, mask_name)
    return jnp.where(mask != 0, x * (1 / (1 - rate)), 0).astype(x.dtype)


def dropout(
    x: Blob, rate: float, noise_shape: Any = None, seed: int | None = None, name: str | None = None
) -> Blob:
    """Zero each element with probability ``rate`` and scale the rest by ``1 / (1 - rate)``, in
    train jobs; ``x`` unchanged in predict jobs or when ``rate == 0``."""
    _check_rate(rate, "flow.nn.dropout")
    if seed is not None and name is None:
        raise ArgumentError("flow.nn.dropout: a seed requires a name")
    if noise_shape is not None:
        raise UnsupportedFeatureError(
            "flow.nn.dropout: noise_shape is not supported (nor was it in OneFlow)"
        )
    if rate == 0 or not is_training():
        return x
    return _masked(x, rate, noise_shape, seed, name)


def fused_bias_add_dropout(
    value: Blob,
    bias: Blob,
    data_format: str | None = None,
    rate: float = 0.0,
    noise_shape: Any = None,
    seed: int | None = None,
    name: str | None = None,
) -> Blob:
    """``dropout(bias_add(value, bias, data_format), rate)``; just the bias add in predict jobs
    or when ``rate == 0``."""
    _check_rate(rate, "flow.nn.fused_bias_add_dropout")
    out = bias_add(value, bias, data_format)
    if rate == 0 or not is_training():
        return out
    return _masked(out, rate, noise_shape, seed, name)


def softmax(logits: Blob, axis: int | None = None, name: str | None = None) -> Blob:
    """Softmax over ``axis`` (the last by default)."""
    del name
    return jax.nn.softmax(logits, axis=-1 if axis is None else axis)


def logsoftmax(logits: Blob, axis: int | None = None, name: str | None = None) -> Blob:
    """Log-softmax over ``axis`` (the last by default), computed stably."""
    del name
    return jax.nn.log_softmax(logits, axis=-1 if axis is None else axis)


log_softmax = logsoftmax  # flowsnap's earlier spelling


def softmax_grad(y: Blob, dy: Blob, axis: int | None = None, name: str | None = None) -> Blob:
    """The gradient of :func:`softmax` given its output ``y``: ``y * (dy - sum(dy * y))`` along
    ``axis``."""
    del name
    axis = -1 if axis is None else axis
    return y * (dy - jnp.sum(dy * y, axis=axis, keepdims=True))


def PixelShufflev2(  # noqa: N802 - OneFlow's name
    input: Blob, h_upscale_factor: int, w_upscale_factor: int, name: str | None = None
) -> Blob:
    """Rearrange ``(N, C * h * w, H, W)`` into ``(N, C, H * h, W * w)`` (PyTorch's
    ``pixel_shuffle`` with separate height and width factors)."""
    del name
    what = "flow.nn.PixelShufflev2"
    if h_upscale_factor <= 0 or w_upscale_factor <= 0:
        raise ArgumentError(f"{what}: the upscale factors must be positive")
    if input.ndim != 4:
        raise ArgumentError(f"{what}: input must be 4-D, got shape {input.shape}")
    n, c, h, w = input.shape
    if c % (h_upscale_factor * w_upscale_factor):
        raise ArgumentError(
            f"{what}: {c} channels are not divisible by {h_upscale_factor} x {w_upscale_factor}"
        )
    c_out = c // (h_upscale_factor * w_upscale_factor)
    out = input.reshape(n, c_out, h_upscale_factor, w_upscale_factor, h, w)
    out = out.transpose(0, 1, 4, 2, 5, 3)
    return out.reshape(n, c_out, h * h_upscale_factor, w * w_upscale_factor)


def PixelShuffle(  # noqa: N802
    input: Blob, upscale_factor: int, name: str | None = None
) -> Blob:
    """:func:`PixelShufflev2` with the same factor for height and width."""
    return PixelShufflev2(input, upscale_factor, upscale_factor, name)


def fused_self_attention_query_mul_key_and_value(
    x: Blob, head_size: int, alpha: float = 1.0, name: str | None = None
) -> tuple[Blob, Blob]:
    """Self-attention scores and values from packed hidden states ``x`` of shape
    ``(seq, batch, heads * 3 * head_size)`` (each head's query, key and value side by side):
    returns ``alpha * q @ k^T`` ``(batch, heads, seq, seq)`` and ``v`` ``(batch, heads, seq,
    head_size)``."""
    del name
    what = "flow.nn.fused_self_attention_query_mul_key_and_value"
    if x.ndim != 3 or x.shape[2] % (3 * head_size):
        raise ArgumentError(
            f"{what}: x must be (seq, batch, heads * 3 * head_size) with head_size={head_size}, "
            f"got shape {x.shape}"
        )
    seq, batch, _ = x.shape
    packed = x.reshape(seq, batch, -1, 3 * head_size).transpose(1, 2, 0, 3)
    q, k, v = (packed[..., i * head_size : (i + 1) * head_size] for i in range(3))
    scores = amp_apply(
        "fused_self_attention_query_mul_key_and_value", jnp.matmul, q, jnp.swapaxes(k, -1, -2)
    )
    return alpha * scores, v


def ctc_greedy_decoder(
    log_probs: Blob, input_lengths: Blob, merge_repeated: bool = True, name: str | None = None
) -> tuple[Blob, Blob]:
    """Greedy (best path) CTC decoding of ``log_probs`` ``(T, N, C)`` with the blank the last
    class, as OneFlow's kernel: returns the decoded labels ``(N, T)`` (left-aligned, zero-filled;
    repeats merged when ``merge_repeated``; int32, flowsnap's index width, where OneFlow's were
    int64) and ``-sum(max log_probs)`` over each
    sequence's first ``input_lengths[n]`` steps, ``(N, 1)``."""
    del name
    if log_probs.ndim != 3 or input_lengths.shape != (log_probs.shape[1],):
        raise ArgumentError(
            f"flow.nn.ctc_greedy_decoder: log_probs must be (T, N, C) and input_lengths (N,), "
            f"got {log_probs.shape}, {input_lengths.shape}"
        )
    steps, _, classes = log_probs.shape
    best = jnp.argmax(log_probs, axis=-1).T  # (N, T)
    valid = jnp.arange(steps)[None, :] < input_lengths[:, None]
    neg_sum = -jnp.sum(jnp.where(valid, jnp.max(log_probs, axis=-1).T, 0), axis=1, keepdims=True)
    previous = jnp.concatenate([jnp.full_like(best[:, :1], -1), best[:, :-1]], axis=1)
    keep = valid & (best != classes - 1)
    if merge_repeated:
        keep = keep & (best != previous)
    slot = jnp.cumsum(keep, axis=1) - 1  # where each kept label goes
    rows = jnp.arange(best.shape[0])[:, None]
    target = jnp.where(keep, slot, steps)  # dropped labels go past the end
    decoded = jnp.zeros((best.shape[0], steps + 1), best.dtype).at[rows, target].set(best)
    return decoded[:, :steps].astype(jnp.int32), neg_sum.astype(log_probs.dtype)


class Module:
    """OneFlow 0.3's ``flow.nn.Module``: a named callable whose ``forward`` subclasses define;
    ``call_seq_no`` counts the calls so far."""

    _count = 0

    def __init__(self, name: str | None = None) -> None:
        if name is None:
            name = f"Module_{Module._count}"
            Module._count += 1
        self._name = name
        self._calls = 0

    @property
    def module_name(self) -> str:
        """The module's name (``Module_<n>`` when none was given)."""
        return self._name

    @property
    def call_seq_no(self) -> int:
        """How many times the module has been called."""
        return self._calls

    def forward(self, *args: Any) -> Any:
        """The computation; subclasses define it (call the module, not ``forward``)."""
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args: Any) -> Any:
        result = self.forward(*args)
        self._calls += 1
        return result
