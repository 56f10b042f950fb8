"""Top-level indexing ops against NumPy/PyTorch: forward, and the gradient OneFlow's
``watch_diff`` reports (the diff of the summed, weighted output) against ``torch.autograd``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

import flowsnap as flow
import flowsnap.typing as tp

RNG = np.random.default_rng(0)


def forward_and_diff(
    op: Callable[[Any], Any], x: np.ndarray, out_shape: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run ``op`` on ``x`` in a train job; return its output, the weights of the loss
    ``sum(op(x) * weights)`` and the diff of ``x`` that ``flow.watch_diff`` reported."""
    flow.clear_default_session()
    weights = RNG.normal(size=out_shape).astype(np.float32)
    diffs: list[np.ndarray] = []

    def keep(d: tp.Numpy) -> None:
        diffs.append(d)

    @flow.global_function(type="train")
    def job(a: tp.Numpy.Placeholder(x.shape), w: tp.Numpy.Placeholder(out_shape)) -> tp.Numpy:
        v = flow.get_variable("v", shape=x.shape, initializer=flow.zeros_initializer())
        inp = a + v
        out = op(inp)
        flow.watch_diff(inp, keep)
        flow.optimizer.SGD(flow.optimizer.PiecewiseConstantScheduler([], [0.0])).minimize(out * w)
        return out

    out = job(x, weights)
    flow.sync_default_session()
    return out, weights, diffs[0]


def close(got: Any, expected: Any) -> None:
    """Diffs come from the mean loss scaled back to the sum: equal up to float rounding."""
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def torch_diff(op: Callable[[torch.Tensor], torch.Tensor], x: np.ndarray, w: np.ndarray) -> Any:
    t = torch.tensor(x, requires_grad=True)
    out = op(t)
    (out * torch.tensor(w)).sum().backward()
    return out.detach().numpy(), t.grad.numpy()  # type: ignore[union-attr]


@pytest.mark.parametrize("direction", ["ASCENDING", "DESCENDING"])
@pytest.mark.parametrize("axis", [-1, 0])
def test_sort_and_argsort_match_torch(direction: str, axis: int) -> None:
    x = RNG.integers(0, 4, size=(5, 6)).astype(np.float32)  # ties: the order is stable
    descending = direction == "DESCENDING"
    values, indices = torch.sort(torch.tensor(x), dim=axis, descending=descending, stable=True)

    @flow.global_function()
    def job(a: tp.Numpy.Placeholder((5, 6))) -> tuple[tp.Numpy, tp.Numpy]:
        return flow.sort(a, axis, direction), flow.argsort(a, axis=axis, direction=direction)

    got_values, got_indices = job(x)
    np.testing.assert_array_equal(got_values, values.numpy())
    np.testing.assert_array_equal(got_indices, indices.numpy())
    assert got_indices.dtype == np.int32


def test_sort_gradient_matches_torch() -> None:
    x = RNG.normal(size=(3, 7)).astype(np.float32)
    out, w, diff = forward_and_diff(lambda a: flow.sort(a, direction="DESCENDING"), x, (3, 7))
    ref, ref_diff = torch_diff(lambda t: torch.sort(t, descending=True).values, x, w)
    np.testing.assert_allclose(out, ref)
    close(diff, ref_diff)


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_dim_gather_matches_torch_gather(dim: int) -> None:
    x = RNG.normal(size=(4, 5)).astype(np.float32)
    index_shape = (3, 4) if dim == 0 else (4, 3)
    index = RNG.integers(0, x.shape[dim], size=index_shape).astype(np.int32)
    out, w, diff = forward_and_diff(
        lambda a: flow.dim_gather(
            a, dim, flow.constant_like(a[: index_shape[0], : index_shape[1]], 0, flow.int32) + index
        ),
        x,
        index_shape,
    )
    ref, ref_diff = torch_diff(
        lambda t: torch.gather(t, dim, torch.tensor(index, dtype=torch.int64)), x, w
    )
    np.testing.assert_allclose(out, ref)
    close(diff, ref_diff)


def test_gather_nd_matches_numpy_and_scatters_its_gradient() -> None:
    x = RNG.normal(size=(4, 3, 2)).astype(np.float32)
    idx = np.array([[0, 1], [3, 2], [0, 1]], np.int32)  # a repeated index: gradients add up
    out, w, diff = forward_and_diff(lambda a: flow.gather_nd(a, idx), x, (3, 2))
    np.testing.assert_allclose(out, x[idx[:, 0], idx[:, 1]])
    expected = np.zeros_like(x)
    np.add.at(expected, (idx[:, 0], idx[:, 1]), w)
    close(diff, expected)


def test_scatter_nd_and_tensor_scatter_nd_match_numpy() -> None:
    params = RNG.normal(size=(5, 3)).astype(np.float32)
    updates = RNG.normal(size=(2, 3)).astype(np.float32)
    idx = np.array([[4], [1]], np.int32)

    @flow.global_function()
    def job(
        p: tp.Numpy.Placeholder((5, 3)), u: tp.Numpy.Placeholder((2, 3))
    ) -> tuple[tp.Numpy, tp.Numpy, tp.Numpy]:
        return (
            flow.scatter_nd(idx, u, (5, 3)),
            flow.tensor_scatter_nd_update(p, idx, u),
            flow.tensor_scatter_nd_add(p, idx, u),
        )

    scattered, updated, added = job(params, updates)
    ref = np.zeros((5, 3), np.float32)
    ref[[4, 1]] = updates
    np.testing.assert_allclose(scattered, ref)
    ref_update = params.copy()
    ref_update[[4, 1]] = updates
    np.testing.assert_allclose(updated, ref_update)
    ref_add = params.copy()
    ref_add[[4, 1]] += updates
    np.testing.assert_allclose(added, ref_add)


def test_tensor_scatter_nd_update_gradient_skips_the_overwritten_slices() -> None:
    x = RNG.normal(size=(4, 2)).astype(np.float32)
    idx = np.array([[2]], np.int32)
    upd = np.ones((1, 2), np.float32)
    out, w, diff = forward_and_diff(lambda a: flow.tensor_scatter_nd_update(a, idx, upd), x, (4, 2))
    expected = w.copy()
    expected[2] = 0
    close(diff, expected)
    assert out[2].tolist() == [1.0, 1.0]


def test_masked_fill_matches_torch() -> None:
    x = RNG.normal(size=(3, 4)).astype(np.float32)
    mask = RNG.integers(0, 2, size=(1, 4)).astype(np.int8)  # broadcasts over rows
    out, w, diff = forward_and_diff(lambda a: flow.masked_fill(a, mask, -2.5), x, (3, 4))
    ref, ref_diff = torch_diff(lambda t: t.masked_fill(torch.tensor(mask != 0), -2.5), x, w)
    np.testing.assert_allclose(out, ref)
    close(diff, ref_diff)


@pytest.mark.parametrize(
    "tups",
    [
        [(None, None, None), (1, 4, 2)],
        [(-3, None, 1)],
        [(None, None, -1), (None, None, -2)],
        [(3, 0, -1), (4, -6, -2)],
    ],
)
def test_slice_v2_and_slice_update_match_python_slices(tups: list[Any]) -> None:
    x = RNG.normal(size=(4, 5)).astype(np.float32)
    index = tuple(slice(*t) for t in tups)
    ref = x[index]
    out, w, diff = forward_and_diff(lambda a: flow.slice_v2(a, tups), x, ref.shape)
    np.testing.assert_allclose(out, ref)
    expected = np.zeros_like(x)
    expected[index] = w
    close(diff, expected)

    upd = np.full(ref.shape, 7.0, np.float32)
    out, w, diff = forward_and_diff(lambda a: flow.slice_update(a, upd, tups), x, x.shape)
    ref_update = x.copy()
    ref_update[index] = upd
    np.testing.assert_allclose(out, ref_update)
    expected = w.copy()
    expected[index] = 0
    close(diff, expected)


def test_slice_v2_checks_its_bounds() -> None:
    @flow.global_function()
    def job(a: tp.Numpy.Placeholder((4,))) -> tp.Numpy:
        return flow.slice_v2(a, [(4, None, 1)])

    with pytest.raises(flow.errors.ArgumentError, match="start 4"):
        job(np.zeros(4, np.float32))


@pytest.mark.parametrize("axis", [0, [1], (0, -1)])
def test_reverse_matches_torch_flip(axis: Any) -> None:
    x = RNG.normal(size=(3, 4)).astype(np.float32)
    dims = [axis] if isinstance(axis, int) else list(axis)
    out, w, diff = forward_and_diff(lambda a: flow.reverse(a, axis), x, (3, 4))
    ref, ref_diff = torch_diff(lambda t: torch.flip(t, dims), x, w)
    np.testing.assert_allclose(out, ref)
    close(diff, ref_diff)
