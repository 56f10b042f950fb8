"""The top-level losses and checks: ``flow.smooth_l1_loss``, ``flow.combined_margin_loss``
(with ``distributed_partial_fc_sample``, its class sampling),
``flow.ctc_loss``, ``flow.count_not_finite`` and ``flow.multi_count_not_finite``."""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp

from flowsnap._engine import random_key
from flowsnap.errors import ArgumentError

Blob = jax.Array

_NEG = -1e30  # log(0) that keeps gradients finite; results past _INF are impossible alignments
_INF = 1e29


def smooth_l1_loss(
    prediction: Blob, label: Blob, beta: float = 1.0, name: str | None = None
) -> Blob:
    """Elementwise ``0.5 * d**2 / beta`` where ``|d| < beta``, else ``|d| - 0.5 * beta``
    (``d = prediction - label``)."""
    del name
    d = jnp.abs(prediction - label)
    if beta == 0:
        return d
    return jnp.where(d < beta, 0.5 * d * d / beta, d - 0.5 * beta)


def combined_margin_loss(
    x: Blob, label: Blob, m1: float = 1, m2: float = 0, m3: float = 0, name: str | None = None
) -> Blob:
    """ArcFace-style margins on the cosine logits ``x`` (N, C): the entry of each row's label
    becomes ``cos(m1 * acos(x) + m2) - m3`` (``x - m3`` when ``m1 == 1`` and ``m2 == 0``); the
    other entries are unchanged."""
    del name
    hot = jax.nn.one_hot(label, x.shape[1], dtype=jnp.bool_)
    if m1 == 1 and m2 == 0:
        target = x - m3
    else:
        target = jnp.cos(m1 * jnp.arccos(jnp.clip(x, -1.0, 1.0)) + m2) - m3
    return jnp.where(hot, target.astype(x.dtype), x)


def ctc_loss(
    log_probs: Blob,
    targets: Blob,
    input_lengths: Blob,
    target_lengths: Blob,
    blank: int = 0,
    reduction: str = "mean",
    zero_infinity: bool = False,
    name: str | None = None,
) -> Blob:
    """The connectionist temporal classification loss of ``torch.nn.functional.ctc_loss``:
    ``log_probs`` (T, N, C) log-softmaxed, ``targets`` (N, S) padded, lengths (N,).
    ``reduction``: ``"none"`` (per example), ``"sum"``, or ``"mean"`` (each loss divided by its
    target length, then the batch mean). An impossible alignment costs inf (0 with
    ``zero_infinity``). The gradient for ``log_probs`` is OneFlow's and PyTorch's:
    ``exp(log_probs) - posteriors``, which is right for the logits that ``log_softmax`` turned
    into ``log_probs``. Two differences, both on input OneFlow's kernel did not handle: an
    impossible alignment (inf loss) has gradient 0 here, NaN there; and a label equal to
    ``blank`` gets its exact gradient, where the kernel dropped one term at the last frame."""
    del name
    if reduction not in ("none", "mean", "sum"):
        raise ArgumentError(
            f"flow.ctc_loss: reduction must be none, mean or sum, got {reduction!r}"
        )
    if log_probs.ndim != 3 or targets.ndim != 2:
        raise ArgumentError(
            "flow.ctc_loss: log_probs must be (T, N, C) and targets (N, S), got "
            f"{tuple(log_probs.shape)} and {tuple(targets.shape)}"
        )
    t_max, n, _ = log_probs.shape
    s = targets.shape[1]
    targets = targets.astype(jnp.int32)
    ext = jnp.full((n, 2 * s + 1), blank, jnp.int32).at[:, 1::2].set(targets)
    # s-2 -> s allowed where ext[s] differs from ext[s-2] (never between blanks; a label equal
    # to blank counts as a label, as in OneFlow's kernel)
    skip = jnp.concatenate([jnp.zeros((n, 2), bool), ext[:, 2:] != ext[:, :-2]], axis=1)
    lp = log_probs.astype(jnp.float32)
    emit = jnp.take_along_axis(lp, jnp.broadcast_to(ext[None], (t_max, n, 2 * s + 1)), axis=2)
    first = jnp.full((n, 2 * s + 1), _NEG).at[:, :2].set(emit[0, :, :2])
    first = first.at[:, 1].set(jnp.where(target_lengths > 0, first[:, 1], _NEG))

    def step(alpha: Blob, inputs: tuple[Blob, Blob]) -> tuple[Blob, None]:
        e, t = inputs
        one = jnp.concatenate([jnp.full((n, 1), _NEG), alpha[:, :-1]], axis=1)
        two = jnp.concatenate([jnp.full((n, 2), _NEG), alpha[:, :-2]], axis=1)
        two = jnp.where(skip, two, _NEG)
        new = jnp.logaddexp(jnp.logaddexp(alpha, one), two) + e
        return jnp.where((t < input_lengths)[:, None], new, alpha), None

    alpha, _ = jax.lax.scan(step, first, (emit[1:], jnp.arange(1, t_max)))
    end = 2 * target_lengths.astype(jnp.int32)
    last = jnp.take_along_axis(alpha, end[:, None], axis=1)[:, 0]
    before = jnp.take_along_axis(alpha, jnp.maximum(end - 1, 0)[:, None], axis=1)[:, 0]
    before = jnp.where(end > 0, before, _NEG)
    loss = -jnp.logaddexp(last, before)
    # OneFlow's (and PyTorch's) gradient for log_probs is exp(log_probs) - posteriors on each
    # example's frames (the gradient of the logits under the log_softmax that made log_probs):
    # this term adds exp(log_probs) to the gradient and nothing to the value
    valid = (jnp.arange(t_max)[:, None] < input_lengths[None, :])[..., None]
    frozen = jax.lax.stop_gradient(lp)
    loss = loss + jnp.sum(jnp.where(valid, jnp.exp(frozen) * (lp - frozen), 0.0), axis=(0, 2))
    impossible = loss > _INF
    loss = jnp.where(impossible, 0.0 if zero_infinity else jnp.inf, loss).astype(log_probs.dtype)
    if reduction == "none":
        return loss
    if reduction == "sum":
        return jnp.sum(loss)
    return jnp.mean(loss / jnp.maximum(target_lengths, 1).astype(loss.dtype))


def count_not_finite(x: Blob, name: str | None = None) -> Blob:
    """The number of inf and NaN elements of ``x``, as an int64 blob of shape ``(1,)``."""
    del name
    return jnp.sum(~jnp.isfinite(x)).reshape(1).astype(jax.dtypes.canonicalize_dtype(jnp.int64))


def multi_count_not_finite(x: Sequence[Blob] | None = None, name: str | None = None) -> Blob:
    """The number of inf and NaN elements of all the blobs of ``x``, shape ``(1,)``."""
    del name
    if not x:
        raise ArgumentError("flow.multi_count_not_finite: x must be a non-empty list of blobs")
    return sum((count_not_finite(b) for b in x[1:]), count_not_finite(x[0]))


def distributed_partial_fc_sample(
    weight: Blob, label: Blob, num_sample: int, name: str | None = None
) -> tuple[Blob, Blob, Blob]:
    """Partial FC's class sampling (train jobs): ``num_sample`` of the ``weight.shape[0]``
    classes, the classes of ``label`` first (ascending) then random others; returns
    ``(mapped_label, sampled_label, sampled_weight)``: each label's position among the sampled
    classes, the sampled classes, and their rows of ``weight``."""
    num_classes = weight.shape[0]
    if not 0 < num_sample <= num_classes:
        raise ArgumentError(
            f"flow.distributed_partial_fc_sample: num_sample must be in 1..{num_classes}, got "
            f"{num_sample}"
        )
    label = label.astype(jnp.int32)
    classes = jnp.arange(num_classes, dtype=jnp.int32)
    positive = jnp.zeros(num_classes, bool).at[label].set(True)
    noise = jax.random.randint(random_key(name), (num_classes,), 0, 2**30, jnp.int32)
    order = jnp.argsort(jnp.where(positive, classes - num_classes, noise), stable=True)
    sampled_label = order[:num_sample].astype(jnp.int32)
    rank = jnp.cumsum(positive) - 1  # a positive class's position among the positives
    mapped_label = rank[label].astype(label.dtype)
    return mapped_label, sampled_label, jnp.take(weight, sampled_label, axis=0)
