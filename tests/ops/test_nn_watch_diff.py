"""Gradients of flow.nn ops and flow.layers seen the way OneFlow's own op tests see them: a train
job adds a zero variable to its input, watches that blob's diff with ``flow.watch_diff`` and
minimizes the op's output (OneFlow's diff of the sum of the loss); PyTorch's autograd is the
oracle."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import flowsnap as flow
import flowsnap.typing as tp

torch = pytest.importorskip("torch")
F = torch.nn.functional
RNG = np.random.default_rng(17)


def watched_grad(
    shape: tuple[int, ...], op: Callable[[Any], Any], x: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:  # type: ignore[type-arg]
    """The op's output and the diff ``flow.watch_diff`` reports for its input, in a train job."""
    seen: dict[str, np.ndarray] = {}  # type: ignore[type-arg]

    def keep(diff: tp.Numpy) -> None:
        seen["diff"] = diff

    @flow.global_function(type="train")
    def job(inp: tp.Numpy.Placeholder(shape)) -> tp.Numpy:
        v = flow.get_variable(
            "x", shape=shape, initializer=flow.constant_initializer(0), trainable=True
        )
        v = flow.cast_to_current_logical_view(v)
        blob = inp + v
        flow.watch_diff(blob, keep)
        y = op(blob)
        flow.optimizer.SGD(
            flow.optimizer.PiecewiseConstantScheduler([], [1e-4]), momentum=0
        ).minimize(y)
        return y

    out = job(x)
    return out, seen["diff"]


CASES = [
    (
        "conv2d SAME_UPPER",
        (2, 3, 6, 6),
        lambda b: flow.nn.conv2d(b, flow.constant(0.5, shape=(4, 3, 3, 3)), 2, "SAME_UPPER"),
        lambda t: F.conv2d(F.pad(t, (0, 1, 0, 1)), torch.full((4, 3, 3, 3), 0.5), stride=2),
    ),
    (
        "max_pool2d",
        (2, 3, 6, 6),
        lambda b: flow.nn.max_pool2d(b, 3, 2, [[0, 0], [0, 0], [1, 1], [1, 1]]),
        lambda t: F.max_pool2d(t, 3, 2, 1),
    ),
    (
        "avg_pool3d",
        (1, 2, 4, 4, 4),
        lambda b: flow.nn.avg_pool3d(b, 2, 2, "VALID"),
        lambda t: F.avg_pool3d(t, 2, 2),
    ),
    (
        "upsample_2d bilinear",
        (1, 2, 3, 4),
        lambda b: flow.layers.upsample_2d(b, 2, interpolation="bilinear"),
        lambda t: F.interpolate(t, scale_factor=2, mode="bilinear", align_corners=False),
    ),
    (
        "layer_norm",
        (3, 4, 5),
        lambda b: flow.layers.layer_norm(b, name="ln"),
        lambda t: F.layer_norm(t, (4, 5), eps=1e-5),
    ),
    (
        "GroupNorm",
        (2, 4, 3),
        lambda b: flow.nn.GroupNorm(b, 2, affine=False),
        lambda t: F.group_norm(t, 2, eps=1e-5),
    ),
    (
        "hardswish",
        (4, 6),
        flow.nn.hardswish,
        F.hardswish,
    ),
    (
        "TripletMarginLoss",
        (4, 6),
        lambda b: flow.nn.TripletMarginLoss(b, b * 0.5, b[::-1] * 1.0, reduction="none"),
        lambda t: F.triplet_margin_loss(t, t * 0.5, t.flip(0), reduction="none"),
    ),
]


@pytest.mark.parametrize(("what", "shape", "ours", "theirs"), CASES, ids=[c[0] for c in CASES])
def test_watch_diff_matches_torch_autograd(what, shape, ours, theirs) -> None:  # type: ignore[no-untyped-def]
    x = RNG.normal(size=shape).astype(np.float32)
    out, diff = watched_grad(shape, ours, x)
    tx = torch.tensor(x, requires_grad=True)
    want = theirs(tx)
    np.testing.assert_allclose(out, want.detach().numpy(), rtol=1e-4, atol=1e-5, err_msg=what)
    want.sum().backward()
    np.testing.assert_allclose(diff, tx.grad.numpy(), rtol=1e-4, atol=1e-4, err_msg=what)
