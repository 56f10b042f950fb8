"""flow.nn normalizations against PyTorch: batch_normalization (default axis=1, OneFlow's),
layer_norm, GroupNorm and InstanceNorm1d/2d/3d (their ``<name>_gamma``/``<name>_beta`` variables
trained in a train job), moments; forward and gradients."""

from __future__ import annotations

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import flowsnap as flow
import flowsnap.typing as tp
from flowsnap.errors import ArgumentError

torch = pytest.importorskip("torch")
F = torch.nn.functional
RNG = np.random.default_rng(3)


def test_batch_normalization_defaults_to_axis_1_as_oneflow() -> None:
    """The silent bug of issue #11: an NCHW program relying on the default normalizes channels."""
    assert inspect.signature(flow.nn.batch_normalization).parameters["axis"].default == 1
    x = RNG.normal(size=(2, 3, 4, 5)).astype(np.float32)
    mean, var = RNG.normal(size=3).astype(np.float32), RNG.uniform(0.5, 2, 3).astype(np.float32)
    scale, offset = RNG.normal(size=3).astype(np.float32), RNG.normal(size=3).astype(np.float32)
    tx = torch.tensor(x, requires_grad=True)
    want = F.batch_norm(
        tx,
        torch.tensor(mean),
        torch.tensor(var),
        torch.tensor(scale),
        torch.tensor(offset),
        eps=1e-5,
    )

    def run(a):  # type: ignore[no-untyped-def]
        return flow.nn.batch_normalization(
            a, jnp.asarray(mean), jnp.asarray(var), jnp.asarray(offset), jnp.asarray(scale)
        )

    np.testing.assert_allclose(
        np.asarray(run(jnp.asarray(x))), want.detach().numpy(), rtol=1e-5, atol=1e-5
    )
    cot = RNG.normal(size=x.shape).astype(np.float32)
    (want * torch.tensor(cot)).sum().backward()
    grad = jax.grad(lambda a: jnp.sum(run(a) * cot))(jnp.asarray(x))
    np.testing.assert_allclose(np.asarray(grad), tx.grad.numpy(), rtol=1e-5, atol=1e-5)
    # channels last: axis=-1; full-rank statistics broadcast
    last = flow.nn.batch_normalization(
        jnp.asarray(x.transpose(0, 2, 3, 1)), jnp.asarray(mean), jnp.asarray(var), axis=-1
    )
    plain = flow.nn.batch_normalization(
        jnp.asarray(x), jnp.asarray(mean.reshape(1, 3, 1, 1)), jnp.asarray(var.reshape(1, 3, 1, 1))
    )
    np.testing.assert_allclose(
        np.asarray(last).transpose(0, 3, 1, 2), np.asarray(plain), rtol=1e-5, atol=1e-6
    )
    with pytest.raises(ArgumentError, match="axis"):
        flow.nn.batch_normalization(jnp.asarray(x), jnp.asarray(mean), jnp.asarray(var), axis=4)


@pytest.mark.parametrize(
    ("begin_norm_axis", "begin_params_axis"), [(1, -1), (2, 2), (-1, -1), (1, 1)]
)
def test_layer_norm_matches_torch(begin_norm_axis: int, begin_params_axis: int) -> None:
    x = RNG.normal(size=(2, 3, 4)).astype(np.float32)
    params_shape = x.shape[begin_params_axis:]
    norm_shape = x.shape[begin_norm_axis:]
    gamma = RNG.normal(size=params_shape).astype(np.float32)
    beta = RNG.normal(size=params_shape).astype(np.float32)
    tx = torch.tensor(x, requires_grad=True)
    normed = F.layer_norm(tx, norm_shape, eps=1e-5)
    want = normed * torch.tensor(gamma) + torch.tensor(beta)

    def run(a):  # type: ignore[no-untyped-def]
        return flow.nn.layer_norm(
            a, jnp.asarray(gamma), jnp.asarray(beta), begin_norm_axis, begin_params_axis
        )

    np.testing.assert_allclose(
        np.asarray(run(jnp.asarray(x))), want.detach().numpy(), rtol=1e-5, atol=1e-5
    )
    cot = RNG.normal(size=x.shape).astype(np.float32)
    (want * torch.tensor(cot)).sum().backward()
    grad = jax.grad(lambda a: jnp.sum(run(a) * cot))(jnp.asarray(x))
    np.testing.assert_allclose(np.asarray(grad), tx.grad.numpy(), rtol=1e-4, atol=1e-5)


def test_moments_keepdims() -> None:
    x = RNG.normal(size=(3, 4, 5)).astype(np.float32)
    mean, var = flow.nn.moments(jnp.asarray(x), [0, 2], keepdims=True)
    assert mean.shape == var.shape == (1, 4, 1)
    np.testing.assert_allclose(np.asarray(var), x.var(axis=(0, 2), keepdims=True), rtol=1e-5)


def test_group_and_instance_norm_without_affine_match_torch() -> None:
    x = RNG.normal(size=(2, 6, 4, 3)).astype(np.float32)
    got = flow.nn.GroupNorm(jnp.asarray(x), num_groups=3, affine=False)
    np.testing.assert_allclose(
        np.asarray(got), F.group_norm(torch.tensor(x), 3, eps=1e-5).numpy(), rtol=1e-4, atol=1e-5
    )
    for op, shape in [
        (flow.nn.InstanceNorm1d, (2, 3, 7)),
        (flow.nn.InstanceNorm2d, (2, 3, 4, 5)),
        (flow.nn.InstanceNorm3d, (2, 3, 2, 3, 4)),
    ]:
        y = RNG.normal(size=shape).astype(np.float32)
        got = op(jnp.asarray(y), eps=1e-5, affine=False)
        np.testing.assert_allclose(
            np.asarray(got),
            F.instance_norm(torch.tensor(y), eps=1e-5).numpy(),
            rtol=1e-4,
            atol=1e-5,
        )
    with pytest.raises(ArgumentError, match="divisible"):
        flow.nn.GroupNorm(jnp.asarray(x), num_groups=4, affine=False)
    with pytest.raises(ArgumentError, match="4-D"):
        flow.nn.InstanceNorm2d(jnp.zeros((2, 3, 4)), affine=False)


def test_group_norm_variables_train_like_torch_parameters() -> None:
    """OneFlow's names (``<name>_gamma``, ``<name>_beta``, shape (1, C, 1); numbered defaults)
    and one SGD step: the new values equal PyTorch's after the same step."""
    x = RNG.normal(size=(4, 6, 5)).astype(np.float32)
    lr = 0.5

    @flow.global_function(type="train")
    def train(inp: tp.Numpy.Placeholder((4, 6, 5))) -> tp.Numpy:
        y = flow.nn.GroupNorm(inp, num_groups=2, name="gn")
        z = flow.nn.InstanceNorm1d(inp)  # default name InstanceNorm1D_0
        loss = flow.math.reduce_sum(y * y * jnp.arange(5.0)) + flow.math.reduce_sum(z)
        flow.optimizer.SGD(
            flow.optimizer.PiecewiseConstantScheduler([], [lr]), momentum=0
        ).minimize(loss)
        return y

    out = train(x)
    names = list(flow.get_all_variables())
    assert names[:4] == ["gn_gamma", "gn_beta", "InstanceNorm1D_0_gamma", "InstanceNorm1D_0_beta"]
    v = {k: flow.get_all_variables()[k].numpy() for k in names[:2]}
    gamma = torch.ones(1, 6, 1, requires_grad=True)
    beta = torch.zeros(1, 6, 1, requires_grad=True)
    y = F.group_norm(torch.tensor(x), 2, eps=1e-5) * gamma + beta
    np.testing.assert_allclose(out, y.detach().numpy(), rtol=1e-4, atol=1e-5)
    (y * y * torch.arange(5.0)).sum().backward()
    np.testing.assert_allclose(
        v["gn_gamma"], (gamma - lr * gamma.grad).detach().numpy(), rtol=1e-4, atol=1e-5
    )
    np.testing.assert_allclose(
        v["gn_beta"], (beta - lr * beta.grad).detach().numpy(), rtol=1e-4, atol=1e-5
    )
