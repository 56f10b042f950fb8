"""The top-level losses and finiteness counts against PyTorch/NumPy, forward and gradient."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F  # noqa: N812

import flowsnap as flow
import flowsnap.typing as tp
from tests.ops.test_array_indexing import close, forward_and_diff, torch_diff

RNG = np.random.default_rng(2)


@pytest.mark.parametrize("beta", [1.0, 0.3])
def test_smooth_l1_loss_matches_torch(beta: float) -> None:
    pred = RNG.normal(size=(4, 5)).astype(np.float32)
    label = RNG.normal(size=(4, 5)).astype(np.float32)
    out, w, diff = forward_and_diff(lambda a: flow.smooth_l1_loss(a, label, beta), pred, (4, 5))
    ref, ref_diff = torch_diff(
        lambda t: F.smooth_l1_loss(t, torch.tensor(label), reduction="none", beta=beta), pred, w
    )
    np.testing.assert_allclose(out, ref, rtol=1e-6)
    close(diff, ref_diff)


@pytest.mark.parametrize(("m1", "m2", "m3"), [(1, 0, 0.35), (1, 0.5, 0), (2, 0.1, 0.2)])
def test_combined_margin_loss_matches_its_formula(m1: float, m2: float, m3: float) -> None:
    x = RNG.uniform(-0.9, 0.9, size=(4, 6)).astype(np.float32)
    label = np.array([0, 5, 2, 2], np.int32)
    out, w, diff = forward_and_diff(
        lambda a: flow.combined_margin_loss(a, label, m1, m2, m3), x, (4, 6)
    )

    def margin(t: torch.Tensor) -> torch.Tensor:
        hot = F.one_hot(torch.tensor(label, dtype=torch.int64), 6).bool()
        target = torch.cos(m1 * torch.acos(t) + m2) - m3
        return torch.where(hot, target, t)

    ref, ref_diff = torch_diff(margin, x, w)
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(diff, ref_diff, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_ctc_loss_matches_torch(reduction: str) -> None:
    t_max, n, c, s = 12, 3, 5, 4
    # OneFlow's gradient for log_probs is PyTorch's (exp(log_probs) - posteriors): compared
    # directly, and through log_softmax (where it is the true gradient of the logits)
    logits = RNG.normal(size=(t_max, n, c)).astype(np.float32)
    log_probs = torch.log_softmax(torch.tensor(logits), dim=2).numpy()
    targets = RNG.integers(1, c, size=(n, s)).astype(np.int32)
    targets[1, 1] = targets[1, 2]  # a repeated label needs a blank between
    input_lengths = np.array([12, 9, 7], np.int32)
    target_lengths = np.array([4, 3, 0], np.int32)
    out_shape = (n,) if reduction == "none" else ()

    def op(a: torch.Tensor, through_log_softmax: bool = True) -> torch.Tensor:
        return F.ctc_loss(
            torch.log_softmax(a, dim=2) if through_log_softmax else a,
            torch.tensor(targets, dtype=torch.int64),
            torch.tensor(input_lengths, dtype=torch.int64),
            torch.tensor(target_lengths, dtype=torch.int64),
            blank=0,
            reduction=reduction,
        )

    out, w, diff = forward_and_diff(
        lambda a: flow.ctc_loss(
            flow.nn.log_softmax(a, axis=2), targets, input_lengths, target_lengths, 0, reduction
        ),
        logits,
        out_shape,
    )
    ref, ref_diff = torch_diff(op, logits, w)
    np.testing.assert_allclose(out, ref, rtol=1e-5)
    np.testing.assert_allclose(diff, ref_diff, rtol=1e-4, atol=1e-5)

    out, w, diff = forward_and_diff(
        lambda a: flow.ctc_loss(a, targets, input_lengths, target_lengths, 0, reduction),
        log_probs,
        out_shape,
    )
    ref, ref_diff = torch_diff(lambda t: op(t, through_log_softmax=False), log_probs, w)
    np.testing.assert_allclose(out, ref, rtol=1e-5)
    np.testing.assert_allclose(diff, ref_diff, rtol=1e-4, atol=1e-5)


def test_ctc_loss_of_an_impossible_alignment_is_inf_or_zero() -> None:
    log_probs = np.log(np.full((2, 1, 3), 1 / 3, np.float32))
    targets = np.array([[1, 1]], np.int32)  # needs 3 frames (1, blank, 1), has 2

    @flow.global_function()
    def job(a: tp.Numpy.Placeholder((2, 1, 3))) -> tuple[tp.Numpy, tp.Numpy]:
        lengths, target_lengths = np.array([2], np.int32), np.array([2], np.int32)
        return (
            flow.ctc_loss(a, targets, lengths, target_lengths, reduction="none"),
            flow.ctc_loss(a, targets, lengths, target_lengths, zero_infinity=True),
        )

    inf, zero = job(log_probs)
    assert np.isinf(inf).all()
    assert zero == 0


def test_count_not_finite() -> None:
    @flow.global_function()
    def job(
        a: tp.Numpy.Placeholder((4,)), b: tp.Numpy.Placeholder((2, 2))
    ) -> tuple[tp.Numpy, tp.Numpy]:
        return flow.count_not_finite(a), flow.multi_count_not_finite([a, b])

    one, many = job(
        np.array([1, np.inf, np.nan, -np.inf], np.float32),
        np.array([[np.nan, 0], [0, 0]], np.float32),
    )
    assert one.tolist() == [3]
    assert many.tolist() == [4]


def test_partial_fc_sample_keeps_the_labels_classes_first_and_gathers_their_weights() -> None:
    weight = RNG.normal(size=(20, 3)).astype(np.float32)
    label = np.array([7, 2, 7, 15], np.int32)
    got: dict[str, np.ndarray] = {}

    def keep(name: str) -> Any:
        def handler(v: tp.Numpy) -> None:
            got[name] = v

        return handler

    @flow.global_function(type="train")
    def job(lbl: tp.Numpy.Placeholder((4,), dtype=flow.int32)) -> tuple[tp.Numpy, tp.Numpy]:
        w = flow.get_variable("fc-weight", shape=(20, 3), initializer=flow.zeros_initializer())
        mapped, sampled, sampled_w = flow.distributed_partial_fc_sample(w, lbl, 8)
        flow.watch_diff(w, keep("w_diff"))
        flow.watch(sampled_w, keep("sampled_w"))
        flow.optimizer.SGD(flow.optimizer.PiecewiseConstantScheduler([], [0.0])).minimize(sampled_w)
        return mapped, sampled

    flow.load_variables({"fc-weight": weight})
    mapped, sampled = job(label)
    flow.sync_default_session()
    assert sampled[:3].tolist() == [2, 7, 15]
    assert len(set(sampled.tolist())) == 8
    assert mapped.tolist() == [1, 0, 1, 2]
    np.testing.assert_array_equal(sampled[mapped], label)
    np.testing.assert_allclose(got["sampled_w"], weight[sampled])
    expected = np.zeros((20, 3), np.float32)
    expected[sampled] = 1  # each sampled row is used once
    np.testing.assert_allclose(got["w_diff"], expected)
    _, again = job(label)
    assert again[:3].tolist() == [2, 7, 15]
    assert again.tolist() != sampled.tolist()  # the negatives are drawn again each step


def test_ctc_loss_counts_a_label_equal_to_blank_as_a_label() -> None:
    """Labels equal to ``blank`` (invalid input for OneFlow and PyTorch) follow their kernels'
    forward rule: such a label may follow a different label without a blank between."""
    t_max, n, c = 10, 2, 4
    log_probs = torch.log_softmax(torch.tensor(RNG.normal(size=(t_max, n, c))), 2).float()
    targets = np.array([[1, 3, 3, 2], [3, 1, 3, 1]], np.int32)
    lengths, target_lengths = np.array([10, 9], np.int32), np.array([4, 3], np.int32)
    ref = F.ctc_loss(
        log_probs,
        torch.tensor(targets, dtype=torch.int64),
        torch.tensor(lengths, dtype=torch.int64),
        torch.tensor(target_lengths, dtype=torch.int64),
        blank=3,
        reduction="none",
    )

    @flow.global_function()
    def job(a: tp.Numpy.Placeholder((t_max, n, c))) -> tp.Numpy:
        return flow.ctc_loss(a, targets, lengths, target_lengths, blank=3, reduction="none")

    np.testing.assert_allclose(job(log_probs.numpy()), ref.numpy(), rtol=1e-5)
