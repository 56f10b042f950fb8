"""flow.math elementwise ops against NumPy/SciPy formulas (forward) and the derivatives OneFlow's
kernels define (gradients through jax.grad), with PyTorch as a second oracle where it matches;
binary ops over broadcast shapes drawn by hypothesis."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import hypothesis.extra.numpy as hnp
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special

import flowsnap as flow
from flowsnap.errors import ArgumentError

RNG = np.random.default_rng(11)
Arr = np.ndarray[Any, Any]


def grad_of(
    fn: Callable[..., jax.Array], *args: Arr, argnums: int = 0, dy: Arr | None = None
) -> Arr:
    """d/d args[argnums] of sum(fn(*args) * dy)."""

    def loss(*a: jax.Array) -> jax.Array:
        out = fn(*a)
        return jnp.sum(out * (jnp.ones_like(out) if dy is None else jnp.asarray(dy)))

    return np.asarray(jax.grad(loss, argnums=argnums)(*(jnp.asarray(a) for a in args)))


# name -> (domain sampler, forward oracle, derivative oracle)
GENERAL = RNG.uniform(-3, 3, size=(4, 5)).astype(np.float32)
UNIT = RNG.uniform(-0.9, 0.9, size=(4, 5)).astype(np.float32)
POSITIVE = RNG.uniform(0.2, 4, size=(4, 5)).astype(np.float32)
ABOVE_ONE = RNG.uniform(1.2, 4, size=(4, 5)).astype(np.float32)
NONZERO = np.where(np.abs(GENERAL) < 0.2, 0.7, GENERAL).astype(np.float32)

sig = special.expit
UNARY: dict[str, tuple[Arr, Callable[[Arr], Arr], Callable[[Arr], Arr]]] = {
    "abs": (NONZERO, np.abs, np.sign),
    "acos": (UNIT, np.arccos, lambda x: -1 / np.sqrt(1 - x * x)),
    "acosh": (ABOVE_ONE, np.arccosh, lambda x: 1 / np.sqrt(x * x - 1)),
    "asin": (UNIT, np.arcsin, lambda x: 1 / np.sqrt(1 - x * x)),
    "asinh": (GENERAL, np.arcsinh, lambda x: 1 / np.sqrt(1 + x * x)),
    "atan": (GENERAL, np.arctan, lambda x: 1 / (1 + x * x)),
    "atanh": (UNIT, np.arctanh, lambda x: 1 / (1 - x * x)),
    "ceil": (GENERAL, np.ceil, np.zeros_like),
    "cos": (GENERAL, np.cos, lambda x: -np.sin(x)),
    "cosh": (GENERAL, np.cosh, np.sinh),
    "erf": (GENERAL, special.erf, lambda x: 2 / math.sqrt(math.pi) * np.exp(-x * x)),
    "erfc": (GENERAL, special.erfc, lambda x: -2 / math.sqrt(math.pi) * np.exp(-x * x)),
    "exp": (GENERAL, np.exp, np.exp),
    "expm1": (GENERAL, np.expm1, np.exp),
    "floor": (GENERAL, np.floor, np.zeros_like),
    "lgamma": (POSITIVE, special.gammaln, special.digamma),
    "log": (POSITIVE, np.log, lambda x: 1 / x),
    "log1p": (POSITIVE, np.log1p, lambda x: 1 / (1 + x)),
    "negative": (GENERAL, np.negative, lambda x: -np.ones_like(x)),
    "reciprocal": (NONZERO, lambda x: 1 / x, lambda x: -1 / (x * x)),
    "reciprocal_no_nan": (NONZERO, lambda x: 1 / x, lambda x: -1 / (x * x)),
    "rint": (GENERAL, np.rint, np.zeros_like),
    "round": (GENERAL, np.rint, np.zeros_like),
    "rsqrt": (POSITIVE, lambda x: 1 / np.sqrt(x), lambda x: -0.5 * x**-1.5),
    "sign": (NONZERO, np.sign, np.zeros_like),
    "sin": (GENERAL, np.sin, np.cos),
    "sinh": (GENERAL, np.sinh, np.cosh),
    "sqrt": (POSITIVE, np.sqrt, lambda x: 0.5 / np.sqrt(x)),
    "square": (GENERAL, np.square, lambda x: 2 * x),
    "tan": (UNIT, np.tan, lambda x: 1 / np.cos(x) ** 2),
    "tanh": (GENERAL, np.tanh, lambda x: 1 - np.tanh(x) ** 2),
    "relu": (NONZERO, lambda x: np.maximum(x, 0), lambda x: (x > 0).astype(x.dtype)),
    "sigmoid": (GENERAL, sig, lambda x: sig(x) * (1 - sig(x))),
    "sigmoid_v2": (GENERAL, sig, lambda x: sig(x) * (1 - sig(x))),
    "softplus": (GENERAL, lambda x: np.log1p(np.exp(x)), sig),
    "log_sigmoid": (GENERAL, lambda x: -np.log1p(np.exp(-x)), lambda x: 1 / (np.exp(x) + 1)),
    "gelu": (
        GENERAL,
        lambda x: 0.5 * x * (1 + special.erf(x / math.sqrt(2))),
        lambda x: (
            0.5 * (1 + special.erf(x / math.sqrt(2)))
            + x * np.exp(-x * x / 2) / math.sqrt(2 * math.pi)
        ),
    ),
}


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_forward_and_gradient(name: str) -> None:
    x, forward, derivative = UNARY[name]
    op = getattr(flow.math, name)
    got = np.asarray(op(jnp.asarray(x)))
    np.testing.assert_allclose(got, forward(x.astype(np.float64)), rtol=2e-5, atol=2e-6)
    dy = RNG.normal(size=x.shape).astype(np.float32)
    np.testing.assert_allclose(
        grad_of(op, x, dy=dy), derivative(x.astype(np.float64)) * dy, rtol=1e-4, atol=1e-5
    )


TORCH_UNARY = {
    "abs": torch.abs,
    "acos": torch.acos,
    "asinh": torch.asinh,
    "atan": torch.atan,
    "erf": torch.erf,
    "erfc": torch.erfc,
    "expm1": torch.expm1,
    "lgamma": torch.lgamma,
    "log1p": torch.log1p,
    "rsqrt": torch.rsqrt,
    "sinh": torch.sinh,
    "tan": torch.tan,
    "sigmoid": torch.sigmoid,
    "softplus": torch.nn.functional.softplus,
    "log_sigmoid": torch.nn.functional.logsigmoid,
    "gelu": torch.nn.functional.gelu,
    "relu": torch.relu,
}


@pytest.mark.parametrize("name", sorted(TORCH_UNARY))
def test_unary_against_pytorch(name: str) -> None:
    x = UNARY[name][0]
    t = torch.tensor(x, requires_grad=True)
    TORCH_UNARY[name](t).sum().backward()
    op = getattr(flow.math, name)
    np.testing.assert_allclose(
        np.asarray(op(jnp.asarray(x))), TORCH_UNARY[name](t).detach().numpy(), rtol=2e-5, atol=2e-6
    )
    assert t.grad is not None
    np.testing.assert_allclose(grad_of(op, x), t.grad.numpy(), rtol=1e-4, atol=1e-5)


def test_rounding_is_half_to_even_and_special_points() -> None:
    halves = jnp.asarray([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5], jnp.float32)
    np.testing.assert_array_equal(np.asarray(flow.math.round(halves)), [-2, -2, -0, 0, 2, 2])
    np.testing.assert_array_equal(np.asarray(flow.math.rint(halves)), [-2, -2, -0, 0, 2, 2])
    zero = np.array([0.0, 2.0], np.float32)
    np.testing.assert_array_equal(
        np.asarray(flow.math.reciprocal_no_nan(jnp.asarray(zero))), [0, 0.5]
    )
    np.testing.assert_array_equal(grad_of(flow.math.reciprocal_no_nan, zero), [0, -0.25])
    np.testing.assert_array_equal(grad_of(flow.math.abs, zero), [0, 1])
    np.testing.assert_array_equal(grad_of(flow.math.relu, zero), [0, 1])  # 0 at 0, as OneFlow
    assert np.isfinite(np.asarray(flow.math.softplus(jnp.asarray([100.0])))).all()
    assert np.isfinite(np.asarray(flow.math.log_sigmoid(jnp.asarray([-100.0])))).all()


def test_tanh_v2_warns_and_is_tanh() -> None:
    with pytest.warns(DeprecationWarning, match="tanh_v2"):
        got = flow.math.tanh_v2(jnp.asarray(GENERAL))
    np.testing.assert_allclose(np.asarray(got), np.tanh(GENERAL), rtol=1e-6)


def test_gelu_grad_and_sigmoid_grad_are_the_derivatives() -> None:
    x, dy = GENERAL, RNG.normal(size=GENERAL.shape).astype(np.float32)
    np.testing.assert_allclose(
        np.asarray(flow.math.gelu_grad(jnp.asarray(x), jnp.asarray(dy))),
        grad_of(flow.math.gelu, x, dy=dy),
        rtol=1e-5,
        atol=1e-6,
    )
    y = sig(x)
    np.testing.assert_allclose(
        np.asarray(flow.math.sigmoid_grad(jnp.asarray(y), jnp.asarray(dy))),
        dy * y * (1 - y),
        rtol=1e-5,
        atol=1e-7,
    )


# --- binary ops ---------------------------------------------------------------------------------


@st.composite
def broadcast_pair(draw: st.DrawFn) -> tuple[Arr, Arr]:
    shapes = draw(
        hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=4)
    )
    a, b = shapes.input_shapes
    floats = st.floats(-4, 4, width=32, allow_subnormal=False)
    x = draw(hnp.arrays(np.float32, a, elements=floats))
    y = draw(hnp.arrays(np.float32, b, elements=floats))
    return x, y


def sum_to(grad: Arr, shape: tuple[int, ...]) -> Arr:
    """Reduce a broadcast gradient back to ``shape`` (the oracle of broadcasting's gradient)."""
    while grad.ndim > len(shape):
        grad = grad.sum(axis=0)
    for i, n in enumerate(shape):
        if n == 1 and grad.shape[i] != 1:
            grad = grad.sum(axis=i, keepdims=True)
    return grad


def nonzero(a: Arr) -> Arr:
    return np.where(np.abs(a) < 0.25, 1.0, a).astype(np.float32)


# name -> (forward, d/dx, d/dy, make y safe)
BINARY: dict[str, tuple[Callable[..., Arr], Callable[..., Arr], Callable[..., Arr], bool]] = {
    "add": (np.add, lambda x, y: np.ones_like(x + y), lambda x, y: np.ones_like(x + y), False),
    "subtract": (
        np.subtract,
        lambda x, y: np.ones_like(x + y),
        lambda x, y: -np.ones_like(x + y),
        False,
    ),
    "multiply": (np.multiply, lambda x, y: y + 0 * x, lambda x, y: x + 0 * y, False),
    "divide": (np.divide, lambda x, y: 1 / y + 0 * x, lambda x, y: -x / y**2, True),
    "squared_difference": (
        lambda x, y: (x - y) ** 2,
        lambda x, y: 2 * (x - y),
        lambda x, y: -2 * (x - y),
        False,
    ),
    "atan2": (
        np.arctan2,
        lambda x, y: y / (x * x + y * y),
        lambda x, y: -x / (x * x + y * y),
        True,
    ),
    "xdivy": (
        lambda x, y: np.where(x == 0, 0, x / y),
        lambda x, y: np.where(x == 0, 0, 1 / y),
        lambda x, y: np.where(x == 0, 0, -x / y**2),
        True,
    ),
    "floordiv": (
        lambda x, y: np.floor(x / y),
        lambda x, y: np.zeros_like(x + y),
        lambda x, y: np.zeros_like(x + y),
        True,
    ),
    "mod": (
        np.mod,
        lambda x, y: np.ones_like(x + y),
        lambda x, y: -np.floor(x / y),
        True,
    ),
}


@pytest.mark.parametrize("name", sorted(BINARY))
@settings(max_examples=12)
@given(pair=broadcast_pair())
def test_binary_ops_broadcast_like_numpy(name: str, pair: tuple[Arr, Arr]) -> None:
    forward, dfdx, dfdy, safe = BINARY[name]
    x, y = pair
    if safe:
        y = nonzero(y)
    if name in ("floordiv", "mod"):  # x / y stays >= 0.04 away from the jumps
        x = (np.clip(np.round(x), -4, 4) + 0.3).astype(np.float32)
        y = np.select([y >= 1, y >= 0, y > -1], [2.5, 1.25, -1.25], -2.5).astype(np.float32)
    op = getattr(flow.math, name)
    x64, y64 = x.astype(np.float64), y.astype(np.float64)
    got = np.asarray(op(jnp.asarray(x), jnp.asarray(y)))
    np.testing.assert_allclose(got, forward(x64, y64), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(
        grad_of(op, x, y, argnums=0), sum_to(dfdx(x64, y64), x.shape), rtol=1e-4, atol=1e-4
    )
    np.testing.assert_allclose(
        grad_of(op, x, y, argnums=1), sum_to(dfdy(x64, y64), y.shape), rtol=1e-4, atol=1e-4
    )


def test_scalar_operands_on_either_side() -> None:
    x = jnp.asarray(POSITIVE)
    np.testing.assert_allclose(np.asarray(flow.math.add(2, x)), POSITIVE + 2, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(flow.math.subtract(x, 1.5)), POSITIVE - 1.5, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(flow.math.multiply(3, x)), 3 * POSITIVE, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(flow.math.divide(2, x)), 2 / POSITIVE, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(flow.math.divide(x, 4)), POSITIVE / 4, rtol=1e-6)
    assert flow.math.add(2, x).dtype == jnp.float32
    # a (1,)-shaped x is still the left operand (OneFlow 0.3 swapped them)
    one, three = jnp.asarray([10.0]), jnp.asarray([1.0, 2.0, 4.0])
    np.testing.assert_allclose(np.asarray(flow.math.subtract(one, three)), [9, 8, 6])
    np.testing.assert_allclose(np.asarray(flow.math.divide(one, three)), [10, 5, 2.5])


def test_integer_division_truncates_and_mod_floors() -> None:
    a = np.array([7, -7, 7, -7, 9], np.int32)
    b = np.array([2, 2, -2, -2, 3], np.int32)
    got = flow.math.divide(jnp.asarray(a), jnp.asarray(b))
    assert got.dtype == jnp.int32
    np.testing.assert_array_equal(np.asarray(got), np.trunc(a / b).astype(np.int32))
    np.testing.assert_array_equal(
        np.asarray(flow.math.divide(jnp.asarray(a), 4)), [1, -1, 1, -1, 2]
    )
    np.testing.assert_array_equal(np.asarray(flow.math.mod(jnp.asarray(a), jnp.asarray(b))), a % b)
    np.testing.assert_array_equal(
        np.asarray(flow.math.floordiv(jnp.asarray(a), jnp.asarray(b))), a // b
    )
    # float mod takes the sign of the divisor, like Python and OneFlow's floor_mod
    xf, yf = np.array([5.5, -5.5, 5.5], np.float32), np.array([2.0, 2.0, -2.0], np.float32)
    got = flow.math.mod(jnp.asarray(xf), jnp.asarray(yf))
    np.testing.assert_allclose(np.asarray(got), [1.5, 0.5, -0.5])


def test_pow_scalar_and_blob_exponent_with_oneflows_gradient() -> None:
    x = np.array([-2.0, 0.0, 0.5, 3.0], np.float32)
    y = np.array([2.0, 3.0, 1.5, -1.0], np.float32)
    np.testing.assert_allclose(np.asarray(flow.math.pow(jnp.asarray(x), 3)), x**3)
    np.testing.assert_allclose(
        np.asarray(flow.math.pow(jnp.asarray(POSITIVE), 0.5)), POSITIVE**0.5, rtol=1e-6
    )
    got = np.asarray(flow.math.pow(jnp.asarray(x), jnp.asarray(y)))
    np.testing.assert_allclose(got, np.power(x.astype(np.float64), y), rtol=1e-6)
    dx = grad_of(flow.math.pow, x, y, argnums=0)
    dy = grad_of(flow.math.pow, x, y, argnums=1)
    np.testing.assert_allclose(dx, y * np.power(x.astype(np.float64), y - 1), rtol=1e-5)
    safe = np.where(x > 0, x, 1).astype(np.float64)
    np.testing.assert_allclose(dy, np.where(x > 0, np.log(safe) * np.power(safe, y), 0), rtol=1e-5)
    # against PyTorch where x > 0
    tx, ty = torch.tensor(POSITIVE, requires_grad=True), torch.tensor(GENERAL, requires_grad=True)
    torch.pow(tx, ty).sum().backward()
    assert tx.grad is not None
    assert ty.grad is not None
    np.testing.assert_allclose(
        grad_of(flow.math.pow, POSITIVE, GENERAL), tx.grad.numpy(), rtol=1e-4
    )
    np.testing.assert_allclose(
        grad_of(flow.math.pow, POSITIVE, GENERAL, argnums=1), ty.grad.numpy(), rtol=1e-4
    )


def test_xlogy_and_xdivy_are_zero_where_x_is_zero_without_nans() -> None:
    x = np.array([0.0, 0.0, 2.0, 3.0], np.float32)
    y = np.array([0.0, 5.0, 0.5, 2.0], np.float32)
    np.testing.assert_allclose(
        np.asarray(flow.math.xlogy(jnp.asarray(x), jnp.asarray(y))),
        [0, 0, 2 * np.log(0.5), 3 * np.log(2)],
        rtol=1e-6,
    )
    np.testing.assert_allclose(
        np.asarray(flow.math.xdivy(jnp.asarray(x), jnp.asarray(y))), [0, 0, 4, 1.5]
    )
    for op in (flow.math.xlogy, flow.math.xdivy):
        for argnums in (0, 1):
            assert np.isfinite(grad_of(op, x, y, argnums=argnums)).all()
    np.testing.assert_allclose(
        grad_of(flow.math.xlogy, x, y, argnums=0), [0, 0, np.log(0.5), np.log(2)], rtol=1e-6
    )
    np.testing.assert_allclose(grad_of(flow.math.xlogy, x, y, argnums=1), [0, 0, 4, 1.5], rtol=1e-6)
    tx, ty = torch.tensor(x[2:], requires_grad=True), torch.tensor(y[2:], requires_grad=True)
    torch.xlogy(tx, ty).sum().backward()
    assert ty.grad is not None
    np.testing.assert_allclose(
        grad_of(flow.math.xlogy, x[2:], y[2:], argnums=1), ty.grad.numpy(), rtol=1e-6
    )


def test_maximum_minimum_send_tied_gradients_to_y() -> None:
    x = np.array([1.0, 2.0, 3.0], np.float32)
    y = np.array([2.0, 2.0, 1.0], np.float32)
    np.testing.assert_array_equal(
        np.asarray(flow.math.maximum(jnp.asarray(x), jnp.asarray(y))), [2, 2, 3]
    )
    np.testing.assert_array_equal(
        np.asarray(flow.math.minimum(jnp.asarray(x), jnp.asarray(y))), [1, 2, 1]
    )
    np.testing.assert_array_equal(grad_of(flow.math.maximum, x, y, argnums=0), [0, 0, 1])
    np.testing.assert_array_equal(grad_of(flow.math.maximum, x, y, argnums=1), [1, 1, 0])
    np.testing.assert_array_equal(grad_of(flow.math.minimum, x, y, argnums=0), [1, 0, 0])
    np.testing.assert_array_equal(grad_of(flow.math.minimum, x, y, argnums=1), [0, 1, 1])
    # broadcasting: (3, 1) against (4,)
    a, b = RNG.normal(size=(3, 1)).astype(np.float32), RNG.normal(size=(4,)).astype(np.float32)
    np.testing.assert_array_equal(
        np.asarray(flow.math.maximum(jnp.asarray(a), jnp.asarray(b))), np.maximum(a, b)
    )
    np.testing.assert_array_equal(
        grad_of(flow.math.maximum, a, b), (a > b).sum(axis=1, keepdims=True)
    )


@pytest.mark.parametrize(
    ("name", "ref"),
    [
        ("equal", np.equal),
        ("not_equal", np.not_equal),
        ("greater", np.greater),
        ("greater_equal", np.greater_equal),
        ("less", np.less),
        ("less_equal", np.less_equal),
        ("logical_and", lambda a, b: (a != 0) & (b != 0)),
    ],
)
@settings(max_examples=15)
@given(pair=broadcast_pair())
def test_comparisons_are_int8_and_broadcast(
    name: str, ref: Callable[[Arr, Arr], Arr], pair: tuple[Arr, Arr]
) -> None:
    x, y = (np.round(a) for a in pair)  # integral values make ties common
    got = getattr(flow.math, name)(jnp.asarray(x), jnp.asarray(y))
    assert got.dtype == jnp.int8
    np.testing.assert_array_equal(np.asarray(got), ref(x, y).astype(np.int8))


def test_add_n_polyval_and_broadcast_to_compatible_with() -> None:
    xs = [RNG.normal(size=(2, 3)).astype(np.float32) for _ in range(11)]  # > 8: OneFlow chunked
    np.testing.assert_allclose(
        np.asarray(flow.math.add_n([jnp.asarray(a) for a in xs])), sum(xs), rtol=1e-5
    )
    with pytest.raises(ArgumentError, match="add_n"):
        flow.math.add_n([])
    coeffs = [2.0, -1.0, 0.5, 3.0]
    np.testing.assert_allclose(
        np.asarray(flow.math.polyval(coeffs, jnp.asarray(GENERAL))),
        np.polyval(coeffs, GENERAL),
        rtol=1e-5,
    )
    np.testing.assert_array_equal(
        np.asarray(flow.math.polyval([], jnp.asarray(GENERAL))), np.zeros_like(GENERAL)
    )
    np.testing.assert_allclose(
        grad_of(lambda x: flow.math.polyval(coeffs, x), GENERAL),
        np.polyval(np.polyder(coeffs), GENERAL),
        rtol=1e-5,
    )
    with pytest.raises(ArgumentError, match="list or tuple"):
        flow.math.polyval(2.0, jnp.asarray(GENERAL))  # type: ignore[arg-type]
    x = jnp.ones((4, 1, 1))
    out = flow.math.broadcast_to_compatible_with(x, [jnp.ones((1, 2, 1)), jnp.ones((1, 1, 3))])
    assert out.shape == (4, 2, 3)
    assert flow.broadcast_to_compatible_with is flow.math.broadcast_to_compatible_with
    g = grad_of(
        lambda a: flow.math.broadcast_to_compatible_with(a, [jnp.ones((2, 3))]),
        np.ones((1, 3), np.float32),
    )
    np.testing.assert_array_equal(g, np.full((1, 3), 2.0))
    with pytest.raises(ArgumentError, match="do not broadcast"):
        flow.math.broadcast_to_compatible_with(x, [jnp.ones((3, 2, 1))])


def test_clip_by_value_and_its_aliases() -> None:
    x = np.array([-2.0, -1.0, 0.5, 5.0, 7.0], np.float32)
    for op in (
        flow.math.clip_by_value,
        flow.clip_by_value,
        flow.clip,
        flow.clamp,
        flow.clip_by_scalar,
    ):
        np.testing.assert_array_equal(np.asarray(op(jnp.asarray(x), -1, 5)), np.clip(x, -1, 5))
    np.testing.assert_array_equal(
        np.asarray(flow.clip(jnp.asarray(x), min_value=0)), np.maximum(x, 0)
    )
    np.testing.assert_array_equal(
        np.asarray(flow.clip(jnp.asarray(x), max_value=0)), np.minimum(x, 0)
    )
    # gradient passes inside the closed interval, bounds included (OneFlow's clip grad)
    np.testing.assert_array_equal(grad_of(lambda a: flow.clip(a, -1, 5), x), [0, 1, 1, 1, 0])
    ints = flow.clip(jnp.asarray([1, 5, 9], jnp.int32), 2.7, 6.2)
    assert ints.dtype == jnp.int32
    np.testing.assert_array_equal(np.asarray(ints), [2, 5, 6])
    with pytest.raises(ArgumentError, match="cannot both be None"):
        flow.clip(jnp.asarray(x))


@pytest.mark.parametrize("dtype", [jnp.float16, jnp.bfloat16])
def test_half_precision_stays_half(dtype: Any) -> None:
    x = jnp.asarray(POSITIVE, dtype)
    ops: list[Callable[[jax.Array], jax.Array]] = [
        lambda a: flow.math.xdivy(a, a),
        lambda a: flow.math.xlogy(a, a),
        lambda a: flow.math.pow(a, a),
        lambda a: flow.math.maximum(a, a),
        lambda a: flow.math.clip_by_value(a, 0.5, 1),
        flow.math.reciprocal_no_nan,
        flow.math.abs,
        flow.math.relu,
        lambda a: flow.math.tril(a, fill_value=-1),
        lambda a: flow.math.reduce_sum(a, axis=1),
        lambda a: flow.math.reduce_std(a, axis=1),
        lambda a: flow.math.squared_difference(a, 1.0),
    ]
    for op in ops:
        assert op(x).dtype == dtype
