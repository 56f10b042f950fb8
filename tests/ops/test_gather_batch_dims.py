"""``flow.gather(..., batch_dims=k)``: OneFlow's batch gather, against a NumPy oracle.

OneFlow's legacy ``gather`` runs its ``batch_gather`` kernel when ``batch_dims > 0`` and ``axis ==
batch_dims`` (``axis`` defaults to ``batch_dims``): the leading ``indices.ndim - 1`` axes are batch
axes shared by ``params`` and ``indices``, and the next axis of ``params`` is the one gathered,
``out[b..., m, rest...] = params[b..., indices[b..., m], rest...]``, of shape ``indices.shape +
params.shape[indices.ndim:]``. ``axis > batch_dims`` raised ``NotImplementedError`` there and
``axis < batch_dims`` an ``AttributeError``. The model zoo's BERT gathers its masked positions with
``flow.gather(params=sequence, indices=positions, axis=2, batch_dims=2)``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import flowsnap as flow
import flowsnap.typing as tp
from flowsnap.errors import ArgumentError, UnsupportedFeatureError

RNG = np.random.default_rng(7)


def oracle(params: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """``out[b..., m, rest...] = params[b..., indices[b..., m], rest...]`` in NumPy."""
    k = indices.ndim - 1
    index = indices.reshape(indices.shape + (1,) * (params.ndim - k - 1))
    index = np.broadcast_to(index, indices.shape + params.shape[k + 1 :])
    return np.take_along_axis(params, index, axis=k)


@pytest.mark.parametrize(
    ("params_shape", "indices_shape", "axis", "batch_dims"),
    [
        ((2, 7, 5), (2, 3), 2, 2),  # the model zoo's call (BERT's masked positions)
        ((2, 7, 5), (2, 3), None, 1),  # axis defaults to batch_dims
        ((3, 2, 6, 4, 2), (3, 2, 5), 2, 2),  # two batch axes, trailing axes kept
        ((4, 9), (4, 6), 1, 1),  # no trailing axes
    ],
)
def test_batch_gather_matches_numpy(
    params_shape: tuple[int, ...],
    indices_shape: tuple[int, ...],
    axis: int | None,
    batch_dims: int,
) -> None:
    params = RNG.normal(size=params_shape).astype(np.float32)
    gathered = params_shape[len(indices_shape) - 1]
    indices = RNG.integers(0, gathered, size=indices_shape).astype(np.int32)
    got = flow.gather(
        params=jnp.asarray(params), indices=jnp.asarray(indices), axis=axis, batch_dims=batch_dims
    )
    want = oracle(params, indices)
    assert got.shape == indices_shape + params_shape[len(indices_shape) :]
    np.testing.assert_array_equal(np.asarray(got), want)


def test_batch_gather_gradient_scatters_back() -> None:
    params = RNG.normal(size=(2, 5, 3)).astype(np.float32)
    indices = np.array([[4, 4, 0], [1, 2, 1]], np.int32)
    weights = RNG.normal(size=(2, 3, 3)).astype(np.float32)
    grad = jax.grad(
        lambda p: jnp.sum(flow.gather(p, jnp.asarray(indices), axis=1, batch_dims=1) * weights)
    )(jnp.asarray(params))
    want = np.zeros_like(params)
    for b in range(2):
        for m in range(3):
            want[b, indices[b, m]] += weights[b, m]
    np.testing.assert_allclose(np.asarray(grad), want, rtol=1e-6)


def test_zoo_masked_position_gather_trains_in_a_job() -> None:
    flow.clear_default_session()
    positions = np.array([[0, 3], [2, 1]], np.int32)

    @flow.global_function(type="train")
    def job(pos: tp.Numpy.Placeholder((2, 2), dtype=flow.int32)) -> tp.Numpy:
        seq = flow.get_variable(
            "seq", shape=(2, 4, 3), initializer=flow.random_normal_initializer()
        )
        picked = flow.gather(params=seq, indices=pos, axis=2, batch_dims=2)
        flow.optimizer.SGD(flow.optimizer.PiecewiseConstantScheduler([], [0.1])).minimize(
            flow.math.reduce_sum(picked, axis=[1, 2])
        )
        return picked

    before = flow.get_all_variables()["seq"].numpy()
    out = job(positions)
    np.testing.assert_array_equal(out, oracle(before, positions))
    after = flow.get_all_variables()["seq"].numpy()
    moved = np.zeros_like(before, dtype=bool)
    for b in range(2):
        moved[b, positions[b]] = True
    assert np.all(after[moved] != before[moved])
    np.testing.assert_array_equal(after[~moved], before[~moved])


def test_batch_gather_refuses_what_oneflow_refused() -> None:
    params, indices = jnp.zeros((2, 4, 3)), jnp.zeros((2, 2), jnp.int32)
    with pytest.raises(UnsupportedFeatureError, match="axis"):
        flow.gather(params, indices, axis=2, batch_dims=1)
    with pytest.raises(ArgumentError, match="axis"):
        flow.gather(params, indices, axis=0, batch_dims=1)
    with pytest.raises(ArgumentError, match="batch"):
        flow.gather(jnp.zeros((3, 4, 3)), indices, axis=1, batch_dims=1)
