"""flow.nn pooling against PyTorch (symmetric padding, count_include_pad=False) and NumPy
(OneFlow's asymmetric SAME_LOWER), in 1, 2 and 3 dimensions, both layouts, forward and
gradients; ceil_mode with explicit padding."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import flowsnap as flow
from flowsnap.errors import ArgumentError
from flowsnap.ops._conv import padding_pairs

torch = pytest.importorskip("torch")
F = torch.nn.functional
RNG = np.random.default_rng(5)

OPS = {
    (1, False): flow.nn.max_pool1d,
    (1, True): flow.nn.avg_pool1d,
    (2, False): flow.nn.max_pool2d,
    (2, True): flow.nn.avg_pool2d,
    (3, False): flow.nn.max_pool3d,
    (3, True): flow.nn.avg_pool3d,
}
FIRST = {1: "NCW", 2: "NCHW", 3: "NCDHW"}
LAST = {1: "NWC", 2: "NHWC", 3: "NDHWC"}


def torch_pool(x, nd, average, k, s, pad, ceil_mode=False):  # type: ignore[no-untyped-def]
    if average:
        op = (F.avg_pool1d, F.avg_pool2d, F.avg_pool3d)[nd - 1]
        return op(x, k, s, pad, ceil_mode=ceil_mode, count_include_pad=False)
    op = (F.max_pool1d, F.max_pool2d, F.max_pool3d)[nd - 1]
    return op(x, k, s, pad, ceil_mode=ceil_mode)


def np_pool(x, k, s, pads, average):  # type: ignore[no-untyped-def]
    """Pooling over the trailing spatial dims of NC... ``x``; padding never counted."""
    nd = x.ndim - 2
    outs = [(x.shape[2 + i] + sum(pads[i]) - k) // s + 1 for i in range(nd)]
    out = np.zeros(x.shape[:2] + tuple(outs))
    for idx in itertools.product(*(range(o) for o in outs)):
        sl = tuple(
            slice(max(i * s - pads[d][0], 0), i * s - pads[d][0] + k) for d, i in enumerate(idx)
        )
        win = x[(slice(None), slice(None), *sl)]
        axes = tuple(range(2, 2 + nd))
        out[(slice(None), slice(None), *idx)] = win.mean(axes) if average else win.max(axes)
    return out


@pytest.mark.parametrize("nd", [1, 2, 3])
@pytest.mark.parametrize("average", [False, True])
@pytest.mark.parametrize(("k", "s", "pad"), [(2, 2, 0), (3, 2, 1), (3, 1, 1)])
def test_pooling_matches_torch_with_explicit_padding(nd, average, k, s, pad) -> None:  # type: ignore[no-untyped-def]
    x = RNG.normal(size=(2, 3, *(7, 6, 5)[:nd])).astype(np.float32)
    padding = [[pad, pad]] * nd
    op = OPS[nd, average]

    def run(a, fmt=FIRST[nd]):  # type: ignore[no-untyped-def]
        return op(a, k, s, padding, fmt)

    tx = torch.tensor(x, requires_grad=True)
    want = torch_pool(tx, nd, average, k, s, pad)
    got = run(jnp.asarray(x))
    np.testing.assert_allclose(np.asarray(got), want.detach().numpy(), rtol=1e-5, atol=1e-6)
    cot = RNG.normal(size=want.shape).astype(np.float32)
    (want * torch.tensor(cot)).sum().backward()
    grad = jax.grad(lambda a: jnp.sum(run(a) * cot))(jnp.asarray(x))
    np.testing.assert_allclose(np.asarray(grad), tx.grad.numpy(), rtol=1e-5, atol=1e-6)
    last = run(jnp.asarray(np.moveaxis(x, 1, -1)), LAST[nd])
    np.testing.assert_allclose(np.moveaxis(np.asarray(last), -1, 1), np.asarray(got), rtol=1e-6)


@pytest.mark.parametrize("nd", [1, 2, 3])
@pytest.mark.parametrize("average", [False, True])
@pytest.mark.parametrize(
    ("k", "s", "mode"), [(2, 2, "SAME"), (3, 2, "SAME"), (2, 1, "SAME_UPPER"), (3, 2, "VALID")]
)
def test_pooling_same_padding_matches_numpy(nd, average, k, s, mode) -> None:  # type: ignore[no-untyped-def]
    sizes = (7, 6, 5)[:nd]
    x = RNG.normal(size=(2, 2, *sizes)).astype(np.float32)
    got = OPS[nd, average](jnp.asarray(x), k, s, mode, FIRST[nd])
    pads = padding_pairs(mode, sizes, (k,) * nd, (s,) * nd, (1,) * nd, "t")
    np.testing.assert_allclose(
        np.asarray(got), np_pool(x, k, s, pads, average), rtol=1e-5, atol=1e-6
    )


@pytest.mark.parametrize("average", [False, True])
def test_ceil_mode_with_explicit_padding_matches_torch(average: bool) -> None:
    x = RNG.normal(size=(1, 2, 8, 7)).astype(np.float32)
    op = flow.nn.avg_pool2d if average else flow.nn.max_pool2d
    got = op(jnp.asarray(x), 3, 2, [[0, 0], [0, 0], [1, 1], [0, 0]], "NCHW", ceil_mode=True)
    want = torch_pool(torch.tensor(x), 2, average, 3, 2, (1, 0), ceil_mode=True)
    assert got.shape == want.shape == (1, 2, 5, 3)  # ceil((8 + 2 - 3) / 2) + 1 rows
    np.testing.assert_allclose(np.asarray(got), want.numpy(), rtol=1e-5, atol=1e-6)
    # ceil_mode is ignored with SAME/VALID, as in OneFlow's kernels
    np.testing.assert_array_equal(
        np.asarray(op(jnp.asarray(x), 3, 2, "VALID", ceil_mode=True)),
        np.asarray(op(jnp.asarray(x), 3, 2, "VALID")),
    )


def test_max_pool1d_defaults_to_nwc_as_oneflow_declared() -> None:
    x = jnp.asarray(RNG.normal(size=(2, 8, 3)).astype(np.float32))  # N, W, C
    got = flow.nn.max_pool1d(x, 2, 2, "VALID")
    np.testing.assert_allclose(np.asarray(got), np.asarray(x).reshape(2, 4, 2, 3).max(2))
    assert flow.nn.avg_pool1d(jnp.zeros((2, 3, 8)), 2, 2, "VALID").shape == (2, 3, 4)


def test_pool_errors() -> None:
    with pytest.raises(ArgumentError, match="5-D"):
        flow.nn.max_pool3d(jnp.zeros((1, 1, 4, 4)), 2, 2, "SAME")
    with pytest.raises(ArgumentError, match="NCDHW or NDHWC"):
        flow.nn.avg_pool3d(jnp.zeros((1, 1, 4, 4, 4)), 2, 2, "SAME", "NCHW")
