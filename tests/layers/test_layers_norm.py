"""flow.layers' fused batch-norm layers (OneFlow 0.5's ResNet blocks) and the explicit layer-norm
gradient ops, against PyTorch and NumPy."""

from __future__ import annotations

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import flowsnap as flow
import flowsnap.typing as tp

torch = pytest.importorskip("torch")
F = torch.nn.functional
RNG = np.random.default_rng(4)


def values() -> dict[str, np.ndarray]:  # type: ignore[type-arg]
    return {k: v.numpy() for k, v in flow.get_all_variables().items()}


def test_layers_batch_normalization_keeps_oneflow_axis_default() -> None:
    """flow.layers.batch_normalization defaults to axis=-1 in every OneFlow version (unlike
    flow.nn.batch_normalization's 1); both fused layers share it."""
    for layer in (
        flow.layers.batch_normalization,
        flow.layers.batch_normalization_relu,
        flow.layers.batch_normalization_add_relu,
    ):
        params = inspect.signature(layer).parameters
        assert params["axis"].default == -1
        assert params["momentum"].default == 0.99
        assert params["epsilon"].default == 0.001


def test_batch_normalization_add_relu_trains_and_predicts_like_torch() -> None:
    momentum, eps, lr = 0.9, 1e-3, 0.1
    shape = (4, 3, 2, 2)

    @flow.global_function(type="train")
    def train(x: tp.Numpy.Placeholder(shape), r: tp.Numpy.Placeholder(shape)) -> tp.Numpy:
        y = flow.layers.batch_normalization_add_relu(
            x, r, axis=1, momentum=momentum, epsilon=eps, name="bn"
        )
        z = flow.layers.batch_normalization_relu(
            x, axis=1, momentum=momentum, epsilon=eps, name="bn2"
        )
        loss = flow.math.reduce_sum(y * y) + flow.math.reduce_sum(z)
        flow.optimizer.SGD(
            flow.optimizer.PiecewiseConstantScheduler([], [lr]), momentum=0
        ).minimize(loss)
        return y

    @flow.global_function()
    def infer(x: tp.Numpy.Placeholder(shape), r: tp.Numpy.Placeholder(shape)) -> tp.Numpy:
        return flow.layers.batch_normalization_add_relu(
            x, r, axis=1, momentum=momentum, epsilon=eps, name="bn"
        )

    x = RNG.normal(loc=1.0, size=shape).astype(np.float32)
    r = RNG.normal(size=shape).astype(np.float32)
    out = train(x, r)
    v = values()
    assert [k for k in v if k.startswith("bn-")] == [
        "bn-beta",
        "bn-gamma",
        "bn-moving_mean",
        "bn-moving_variance",
    ]
    gamma = torch.ones(3, requires_grad=True)
    beta = torch.zeros(3, requires_grad=True)
    running_mean, running_var = torch.zeros(3), torch.ones(3)
    bn = F.batch_norm(
        torch.tensor(x),
        running_mean,
        running_var,
        gamma,
        beta,
        training=True,
        momentum=1 - momentum,
        eps=eps,
    )
    y = F.relu(bn + torch.tensor(r))
    np.testing.assert_allclose(out, y.detach().numpy(), rtol=1e-4, atol=1e-4)
    (y * y).sum().backward()
    np.testing.assert_allclose(
        v["bn-gamma"], (gamma - lr * gamma.grad).detach().numpy(), rtol=1e-4, atol=1e-4
    )
    np.testing.assert_allclose(
        v["bn-beta"], (beta - lr * beta.grad).detach().numpy(), rtol=1e-4, atol=1e-4
    )
    np.testing.assert_allclose(v["bn-moving_mean"], running_mean.numpy(), rtol=1e-5, atol=1e-6)
    # OneFlow's moving variance takes the biased batch variance (PyTorch's the unbiased one)
    biased = x.var(axis=(0, 2, 3))
    np.testing.assert_allclose(
        v["bn-moving_variance"], momentum + (1 - momentum) * biased, rtol=1e-5
    )
    got = infer(x, r)
    mm, mv = v["bn-moving_mean"].reshape(1, 3, 1, 1), v["bn-moving_variance"].reshape(1, 3, 1, 1)
    g, b = v["bn-gamma"].reshape(1, 3, 1, 1), v["bn-beta"].reshape(1, 3, 1, 1)
    np.testing.assert_allclose(
        got, np.maximum((x - mm) / np.sqrt(mv + eps) * g + b + r, 0), rtol=1e-4, atol=1e-5
    )


@pytest.mark.parametrize("begin_norm_axis", [1, 2, -1])
def test_layer_norm_grad_is_the_vjp_of_layer_norm(begin_norm_axis: int) -> None:
    x = RNG.normal(size=(2, 3, 4)).astype(np.float32)
    dy = RNG.normal(size=x.shape).astype(np.float32)
    axis = begin_norm_axis % 3
    axes = tuple(range(axis, 3))
    mean = x.mean(axis=axes)
    inv = 1 / np.sqrt(x.var(axis=axes) + 1e-5)
    got = flow.layers.layer_norm_grad(
        jnp.asarray(dy), jnp.asarray(x), jnp.asarray(mean), jnp.asarray(inv), begin_norm_axis
    )
    tx = torch.tensor(x, requires_grad=True)
    F.layer_norm(tx, x.shape[axis:], eps=1e-5).backward(torch.tensor(dy))
    np.testing.assert_allclose(np.asarray(got), tx.grad.numpy(), rtol=1e-4, atol=1e-5)


def test_layer_norm_param_grad() -> None:
    norm = RNG.normal(size=(2, 3, 4)).astype(np.float32)
    dy = RNG.normal(size=norm.shape).astype(np.float32)
    gamma = RNG.normal(size=(4,)).astype(np.float32)
    dnorm, dbeta, dgamma = flow.layers.layer_norm_param_grad(
        jnp.asarray(dy), jnp.asarray(norm), jnp.asarray(gamma)
    )
    _, vjp = jax.vjp(lambda n, g, b: n * g + b, jnp.asarray(norm), jnp.asarray(gamma), jnp.zeros(4))
    want_norm, want_gamma, want_beta = vjp(jnp.asarray(dy))
    np.testing.assert_allclose(np.asarray(dnorm), np.asarray(want_norm), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(dgamma), np.asarray(want_gamma), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(dbeta), np.asarray(want_beta), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(dbeta), dy.sum(axis=(0, 1)), rtol=1e-5)
