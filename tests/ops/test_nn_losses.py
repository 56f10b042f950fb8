"""flow.nn losses against PyTorch's criteria (same formulas, reduction "none"/"mean"/"sum"),
forward and gradients, and the cross entropies against NumPy."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import flowsnap as flow
from flowsnap.errors import ArgumentError

torch = pytest.importorskip("torch")
F = torch.nn.functional
RNG = np.random.default_rng(7)
REDUCTIONS = ["none", "mean", "sum"]


def check(ours, theirs, inputs, rtol=1e-5, atol=1e-6):  # type: ignore[no-untyped-def]
    """``ours(*jax arrays)`` equals ``theirs(*torch tensors)``, and so do the gradients of
    ``sum(out * cotangent)`` with respect to the first input."""
    tensors = [torch.tensor(a, requires_grad=i == 0) for i, a in enumerate(inputs)]
    want = theirs(*tensors)
    got = ours(*[jnp.asarray(a) for a in inputs])
    np.testing.assert_allclose(np.asarray(got), want.detach().numpy(), rtol=rtol, atol=atol)
    cot = RNG.normal(size=want.shape).astype(np.float32)
    (want * torch.tensor(cot)).sum().backward()
    grad = jax.grad(lambda a: jnp.sum(ours(a, *[jnp.asarray(b) for b in inputs[1:]]) * cot))(
        jnp.asarray(inputs[0])
    )
    np.testing.assert_allclose(np.asarray(grad), tensors[0].grad.numpy(), rtol=rtol, atol=atol)


def normal(*shape: int) -> np.ndarray:  # type: ignore[type-arg]
    return RNG.normal(size=shape).astype(np.float32)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_l1_and_mse(reduction: str) -> None:
    x, y = normal(4, 5), normal(4, 5)
    check(
        lambda a, b: flow.nn.L1Loss(a, b, reduction),
        lambda a, b: F.l1_loss(a, b, reduction=reduction),
        [x, y],
    )
    check(
        lambda a, b: flow.nn.MSELoss(a, b, reduction),
        lambda a, b: F.mse_loss(a, b, reduction=reduction),
        [x, y],
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_with_and_without_weight(reduction: str) -> None:
    p = RNG.uniform(0.05, 0.95, size=(4, 3)).astype(np.float32)
    t = RNG.integers(0, 2, size=(4, 3)).astype(np.float32)
    w = RNG.uniform(0.5, 2, size=(4, 3)).astype(np.float32)
    check(
        lambda a, b: flow.nn.BCELoss(a, b, reduction=reduction),
        lambda a, b: F.binary_cross_entropy(a, b, reduction=reduction),
        [p, t],
    )
    check(
        lambda a, b, c: flow.nn.BCELoss(a, b, c, reduction),
        lambda a, b, c: F.binary_cross_entropy(a, b, weight=c, reduction=reduction),
        [p, t, w],
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_with_logits_weight_and_pos_weight(reduction: str) -> None:
    x = normal(4, 3) * 4
    t = RNG.uniform(0, 1, size=(4, 3)).astype(np.float32)
    w = RNG.uniform(0.5, 2, size=(4, 3)).astype(np.float32)
    pw = np.array([0.5, 1.0, 3.0], np.float32)
    check(
        lambda a, b, c, d: flow.nn.BCEWithLogitsLoss(a, b, c, d, reduction),
        lambda a, b, c, d: F.binary_cross_entropy_with_logits(
            a, b, weight=c, pos_weight=d, reduction=reduction
        ),
        [x, t, w, pw],
    )
    check(
        lambda a, b: flow.nn.BCEWithLogitsLoss(a, b, reduction=reduction),
        lambda a, b: F.binary_cross_entropy_with_logits(a, b, reduction=reduction),
        [x, t],
    )
    with pytest.raises(ArgumentError, match="pos_weight"):
        flow.nn.BCEWithLogitsLoss(jnp.asarray(x), jnp.asarray(t), pos_weight=jnp.ones(2))


def torch_reduce(loss, reduction):  # type: ignore[no-untyped-def]
    """torch's kl_div warns about "mean" (every element, OneFlow's meaning): reduce here."""
    return {"none": loss, "mean": loss.mean(), "sum": loss.sum()}[reduction]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div(reduction: str, log_target: bool) -> None:
    logp = np.log(RNG.dirichlet(np.ones(5), size=4)).astype(np.float32)
    target = RNG.dirichlet(np.ones(5), size=4).astype(np.float32)
    target[0, 1] = 0.0  # a zero probability contributes 0, not nan
    if log_target:
        target = np.log(target + 0.1).astype(np.float32)
    check(
        lambda a, b: flow.nn.KLDivLoss(a, b, log_target, reduction),
        lambda a, b: torch_reduce(
            F.kl_div(a, b, reduction="none", log_target=log_target), reduction
        ),
        [logp, target],
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_margin_ranking(reduction: str) -> None:
    x1, x2 = normal(6), normal(6)
    t = RNG.choice([-1.0, 1.0], size=6).astype(np.float32)
    check(
        lambda a, b, c: flow.nn.MarginRankingLoss(a, b, c, 0.3, reduction),
        lambda a, b, c: F.margin_ranking_loss(a, b, c, margin=0.3, reduction=reduction),
        [x1, x2, t],
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(("p", "swap"), [(2.0, False), (1.0, False), (3.0, False), (2.0, True)])
def test_triplet_margin(reduction: str, p: float, swap: bool) -> None:
    a, pos, neg = normal(5, 4), normal(5, 4), normal(5, 4)
    check(
        lambda x, y, z: flow.nn.TripletMarginLoss(x, y, z, 0.7, p, 1e-6, swap, reduction),
        lambda x, y, z: F.triplet_margin_loss(
            x, y, z, margin=0.7, p=p, eps=1e-6, swap=swap, reduction=reduction
        ),
        [a, pos, neg],
        rtol=1e-4,
        atol=1e-5,
    )


def test_reduction_is_checked() -> None:
    with pytest.raises(ArgumentError, match="reduction"):
        flow.nn.L1Loss(jnp.zeros(2), jnp.zeros(2), "batchmean")
    with pytest.raises(ArgumentError, match="same shape"):
        flow.nn.MSELoss(jnp.zeros(2), jnp.zeros(3))


def test_sparse_softmax_cross_entropy_and_its_distributed_twin_match_torch() -> None:
    logits = normal(6, 10)
    labels = RNG.integers(0, 10, 6).astype(np.int32)

    def ours(x):  # type: ignore[no-untyped-def]
        return flow.nn.sparse_softmax_cross_entropy_with_logits(jnp.asarray(labels), x)

    check(
        ours, lambda x: F.cross_entropy(x, torch.tensor(labels).long(), reduction="none"), [logits]
    )
    got = flow.nn.distributed_sparse_softmax_cross_entropy_with_logits(
        jnp.asarray(labels[:, None]), jnp.asarray(logits)
    )
    np.testing.assert_allclose(np.asarray(got), np.asarray(ours(jnp.asarray(logits))), rtol=1e-6)


def test_sparse_cross_entropy_of_probabilities() -> None:
    prob = RNG.dirichlet(np.ones(4), size=5).astype(np.float32)
    prob[0] = [0.0, 1.0, 0.0, 0.0]
    labels = np.array([0, 1, 2, 3, 0], np.int32)
    got = np.asarray(flow.nn.sparse_cross_entropy(jnp.asarray(labels), jnp.asarray(prob)))
    want = -np.log(np.maximum(prob[np.arange(5), labels], 1e-20))
    np.testing.assert_allclose(got, want, rtol=1e-5)
    assert np.isclose(got[0], -np.log(np.float32(1e-20)), rtol=1e-5)  # SafeLog, not inf
    grad = jax.grad(lambda p: jnp.sum(flow.nn.sparse_cross_entropy(jnp.asarray(labels), p)))(
        jnp.asarray(prob)
    )
    want_grad = np.zeros_like(prob)
    want_grad[np.arange(1, 5), labels[1:]] = -1 / prob[np.arange(1, 5), labels[1:]]
    np.testing.assert_allclose(np.asarray(grad), want_grad, rtol=1e-4)


def test_sigmoid_cross_entropy_matches_torch() -> None:
    x = normal(4, 3) * 10
    z = RNG.uniform(0, 1, size=(4, 3)).astype(np.float32)

    def ours(a):  # type: ignore[no-untyped-def]
        return flow.nn.sigmoid_cross_entropy_with_logits(jnp.asarray(z), a)

    check(
        ours,
        lambda a: F.binary_cross_entropy_with_logits(a, torch.tensor(z), reduction="none"),
        [x],
    )


def test_softmax_cross_entropy_with_dense_labels_matches_torch() -> None:
    logits = normal(4, 6)
    labels = RNG.dirichlet(np.ones(6), size=4).astype(np.float32)

    def ours(a):  # type: ignore[no-untyped-def]
        return flow.nn.softmax_cross_entropy_with_logits(jnp.asarray(labels), a)

    check(ours, lambda a: F.cross_entropy(a, torch.tensor(labels), reduction="none"), [logits])
