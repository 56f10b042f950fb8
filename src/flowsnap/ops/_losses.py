"""Losses of ``flow.nn``: the cross entropies (labels first, per example, as OneFlow) and the
PyTorch-style criteria of OneFlow 0.3-0.5 (``L1Loss``, ``MSELoss``, ``BCELoss``,
``BCEWithLogitsLoss``, ``KLDivLoss``, ``MarginRankingLoss``, ``TripletMarginLoss``), which are
functions taking ``reduction`` in ``"none"``, ``"mean"`` (over every element) or ``"sum"``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from flowsnap.errors import ArgumentError

Blob = jax.Array

_LOG_THRESHOLD = 1e-20  # OneFlow's SafeLog: log(max(x, 1e-20))


def _reduce(loss: Blob, reduction: str, what: str) -> Blob:
    if reduction == "none":
        return loss
    if reduction == "mean":
        return jnp.mean(loss)
    if reduction == "sum":
        return jnp.sum(loss)
    raise ArgumentError(f"{what}: reduction must be 'none', 'mean' or 'sum', got {reduction!r}")


def _same_shape(a: Blob, b: Blob, what: str, names: str = "input and target") -> None:
    if a.shape != b.shape:
        raise ArgumentError(f"{what}: {names} must have the same shape, got {a.shape}, {b.shape}")


def _sparse_labels(labels: Blob, logits: Blob, what: str) -> Blob:
    if labels.shape == (*logits.shape[:-1], 1):
        labels = labels[..., 0]
    if labels.shape != logits.shape[:-1]:
        raise ArgumentError(
            f"{what}: labels of shape {labels.shape} do not match {logits.shape}; labels come "
            "first and have the logits' shape without the class axis"
        )
    if not jnp.issubdtype(labels.dtype, jnp.integer):
        raise ArgumentError(f"{what}: labels must be integers, got {labels.dtype}")
    return labels.astype(jnp.int32)


def _pick(values: Blob, labels: Blob) -> Blob:
    return jnp.take_along_axis(values, labels[..., None], axis=-1)[..., 0]


def sparse_softmax_cross_entropy_with_logits(
    labels: Blob, logits: Blob, name: str | None = None
) -> Blob:
    """Per-example loss ``-log softmax(logits)[label]`` (labels first, as OneFlow).

    ``labels`` has shape ``logits.shape[:-1]`` (or that with a trailing 1); the result has shape
    ``logits.shape[:-1]``.
    """
    del name
    what = "flow.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)"
    labels = _sparse_labels(labels, logits, what)
    logp = jax.nn.log_softmax(logits.astype(jnp.promote_types(logits.dtype, jnp.float32)))
    return (-_pick(logp, labels)).astype(logits.dtype)


def distributed_sparse_softmax_cross_entropy_with_logits(
    labels: Blob, logits: Blob, name: str | None = None
) -> Blob:
    """:func:`sparse_softmax_cross_entropy_with_logits` for logits split over devices along the
    class axis (OneFlow's model-parallel kernel); the values are the same."""
    return sparse_softmax_cross_entropy_with_logits(labels, logits, name)


def sparse_cross_entropy(labels: Blob, prediction: Blob, name: str | None = None) -> Blob:
    """Per-example ``-log(prediction[label])`` of probabilities ``prediction`` (the log of values
    below 1e-20 is taken at 1e-20, as OneFlow's kernel)."""
    del name
    what = "flow.nn.sparse_cross_entropy(labels, prediction)"
    labels = _sparse_labels(labels, prediction, what)
    return -jnp.log(jnp.maximum(_pick(prediction, labels), _LOG_THRESHOLD))


def softmax_cross_entropy_with_logits(labels: Blob, logits: Blob, name: str | None = None) -> Blob:
    """Per-example loss ``-sum(labels * log softmax(logits))`` with dense labels."""
    del name
    _same_shape(labels, logits, "flow.nn.softmax_cross_entropy_with_logits", "labels and logits")
    return -jnp.sum(labels * jax.nn.log_softmax(logits), axis=-1)


def sigmoid_cross_entropy_with_logits(labels: Blob, logits: Blob, name: str | None = None) -> Blob:
    """Elementwise ``max(x, 0) - x * z + log(1 + exp(-|x|))`` (logits ``x``, labels ``z``)."""
    del name
    return jnp.maximum(logits, 0) - logits * labels + jnp.log1p(jnp.exp(-jnp.abs(logits)))


def L1Loss(  # noqa: N802 - OneFlow's name
    input: Blob, target: Blob, reduction: str = "mean", name: str | None = None
) -> Blob:
    """``|target - input|``, reduced."""
    del name
    _same_shape(input, target, "flow.nn.L1Loss")
    return _reduce(jnp.abs(target - input), reduction, "flow.nn.L1Loss")


def MSELoss(  # noqa: N802
    input: Blob, target: Blob, reduction: str = "mean", name: str | None = None
) -> Blob:
    """``(target - input) ** 2``, reduced."""
    del name
    _same_shape(input, target, "flow.nn.MSELoss")
    return _reduce(jnp.square(target - input), reduction, "flow.nn.MSELoss")


def BCELoss(  # noqa: N802
    input: Blob,
    target: Blob,
    weight: Blob | None = None,
    reduction: str = "mean",
    name: str | None = None,
) -> Blob:
    """``-weight * (target * log(input) + (1 - target) * log(1 - input))`` of probabilities
    ``input``, reduced (no clamping of the logs: OneFlow had none)."""
    del name
    _same_shape(input, target, "flow.nn.BCELoss")
    loss = -(target * jnp.log(input) + (1 - target) * jnp.log(1 - input))
    if weight is not None:
        loss = weight * loss
    return _reduce(loss, reduction, "flow.nn.BCELoss")


def BCEWithLogitsLoss(  # noqa: N802
    input: Blob,
    target: Blob,
    weight: Blob | None = None,
    pos_weight: Blob | None = None,
    reduction: str = "mean",
    name: str | None = None,
) -> Blob:
    """Binary cross entropy of logits ``input``:
    ``(1 - t) * x + (1 + (pos_weight - 1) * t) * log(1 + exp(-x))``, computed stably, times
    ``weight``, reduced. ``pos_weight`` has one entry per class (the last axis)."""
    del name
    what = "flow.nn.BCEWithLogitsLoss"
    _same_shape(input, target, what)
    softplus_neg = jnp.logaddexp(0, -input)  # log(1 + exp(-x))
    if pos_weight is not None:
        if pos_weight.shape[0] != input.shape[-1]:
            raise ArgumentError(
                f"{what}: pos_weight has {pos_weight.shape[0]} entries, input has "
                f"{input.shape[-1]} classes"
            )
        loss = (1 - target) * input + ((pos_weight - 1) * target + 1) * softplus_neg
    else:
        loss = (1 - target) * input + softplus_neg
    if weight is not None:
        loss = weight * loss
    return _reduce(loss, reduction, what)


def KLDivLoss(  # noqa: N802
    input: Blob,
    target: Blob,
    log_target: bool = False,
    reduction: str = "mean",
    name: str | None = None,
) -> Blob:
    """Kullback-Leibler divergence of log-probabilities ``input`` from ``target``:
    ``target * (log(target) - input)`` (0 where ``target`` is 0), or with ``log_target``
    ``exp(target) * (target - input)``; reduced (``"mean"`` over every element)."""
    del name
    if log_target:
        loss = jnp.exp(target) * (target - input)
    else:
        positive = target > 0
        safe = jnp.where(positive, target, 1)
        loss = jnp.where(positive, target * (jnp.log(safe) - input), 0)
    return _reduce(loss, reduction, "flow.nn.KLDivLoss")


def MarginRankingLoss(  # noqa: N802
    input1: Blob,
    input2: Blob,
    target: Blob,
    margin: float = 0.0,
    reduction: str = "mean",
    name: str | None = None,
) -> Blob:
    """``max(0, -target * (input1 - input2) + margin)``, reduced."""
    del name
    _same_shape(input1, input2, "flow.nn.MarginRankingLoss", "input1 and input2")
    loss = jnp.maximum(margin - target * (input1 - input2), 0)
    return _reduce(loss, reduction, "flow.nn.MarginRankingLoss")


def TripletMarginLoss(  # noqa: N802
    anchor: Blob,
    positive: Blob,
    negative: Blob,
    margin: float = 1.0,
    p: float = 2.0,
    eps: float = 1e-06,
    swap: bool = False,
    reduction: str = "mean",
    name: str | None = None,
) -> Blob:
    """``max(0, margin + d(anchor, positive) - d(anchor, negative))`` with
    ``d(a, b) = ||a - b + eps||_p`` over axis 1; ``swap`` uses
    ``min(d(anchor, negative), d(positive, negative))`` (OneFlow refused ``swap=True``)."""
    del name

    def distance(a: Blob, b: Blob) -> Blob:
        diff = jnp.abs(a - b + eps)
        if p == 2.0:
            return jnp.sqrt(jnp.sum(jnp.square(diff), axis=1))
        return jnp.sum(diff**p, axis=1) ** (1.0 / p)

    d_pos, d_neg = distance(anchor, positive), distance(anchor, negative)
    if swap:
        d_neg = jnp.minimum(d_neg, distance(positive, negative))
    loss = jnp.maximum(margin + d_pos - d_neg, 0)
    return _reduce(loss, reduction, "flow.nn.TripletMarginLoss")
