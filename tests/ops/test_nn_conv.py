"""flow.nn convolutions against PyTorch: conv1d/2d/3d in both layouts with OneFlow's SAME_LOWER /
SAME_UPPER / explicit padding, groups and dilations, forward and gradients; compat_conv2d's
TensorFlow SAME; conv2d_transpose and torch_conv2d_transpose."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import flowsnap as flow
from flowsnap.errors import ArgumentError
from flowsnap.ops._conv import padding_pairs

torch = pytest.importorskip("torch")
F = torch.nn.functional
RNG = np.random.default_rng(11)

CONV = {1: flow.nn.conv1d, 2: flow.nn.conv2d, 3: flow.nn.conv3d}
TORCH_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
FIRST = {1: "NCW", 2: "NCHW", 3: "NCDHW"}
LAST = {1: "NWC", 2: "NHWC", 3: "NDHWC"}


def to_last(a: np.ndarray) -> np.ndarray:  # type: ignore[type-arg]
    return np.moveaxis(a, 1, -1)


def torch_conv(x, w, stride, pads, dilation, groups, nd):  # type: ignore[no-untyped-def]
    """PyTorch's convolution after explicit (before, after) padding of each spatial dim."""
    flat = [p for pair in reversed(pads) for p in pair]  # F.pad wants the last dim first
    return TORCH_CONV[nd](F.pad(x, flat), w, stride=stride, dilation=dilation, groups=groups)


def call(nd, x, w, stride, padding, fmt, dilation, groups):  # type: ignore[no-untyped-def]
    if nd == 2:
        return flow.nn.conv2d(x, w, stride, padding, None, fmt, dilation, groups)
    return CONV[nd](x, w, stride, padding, fmt, dilation, groups)


CASES = [
    (1, "SAME", 1, 1, 1),
    (1, "SAME", 2, 1, 2),
    (1, "VALID", 1, 2, 1),
    (1, "SAME_UPPER", 2, 1, 1),
    (2, "SAME", 2, 1, 1),
    (2, "SAME_UPPER", 1, 2, 2),
    (2, [[0, 0], [0, 0], [1, 2], [0, 1]], 1, 1, 1),
    (3, "SAME", 1, 1, 1),
    (3, "SAME", 2, 1, 2),
    (3, "VALID", 1, 1, 1),
    (3, [[1, 0], [0, 1], [2, 2]], 1, 1, 1),
]


@pytest.mark.parametrize(("nd", "padding", "stride", "dilation", "groups"), CASES)
def test_conv_matches_torch_forward_and_gradients(nd, padding, stride, dilation, groups) -> None:  # type: ignore[no-untyped-def]
    sizes = (7, 6, 5)[:nd]
    kernel = (3, 2, 3)[:nd]
    x = RNG.normal(size=(2, 4, *sizes)).astype(np.float32)
    w = RNG.normal(size=(6, 4 // groups, *kernel)).astype(np.float32)
    out = call(nd, jnp.asarray(x), jnp.asarray(w), stride, padding, FIRST[nd], dilation, groups)
    pads = padding_pairs(padding, sizes, kernel, (stride,) * nd, (dilation,) * nd, "t")
    tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    want = torch_conv(tx, tw, stride, pads, dilation, groups, nd)
    np.testing.assert_allclose(np.asarray(out), want.detach().numpy(), rtol=1e-4, atol=1e-4)
    cot = RNG.normal(size=want.shape).astype(np.float32)
    (want * torch.tensor(cot)).sum().backward()

    def loss(a, b):  # type: ignore[no-untyped-def]
        return jnp.sum(call(nd, a, b, stride, padding, FIRST[nd], dilation, groups) * cot)

    gx, gw = jax.grad(loss, argnums=(0, 1))(jnp.asarray(x), jnp.asarray(w))
    np.testing.assert_allclose(np.asarray(gx), tx.grad.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(np.asarray(gw), tw.grad.numpy(), rtol=1e-4, atol=1e-4)
    if groups == 1 and isinstance(padding, str):  # channels-last: (out, *kernel, in) weights
        last = call(
            nd,
            jnp.asarray(to_last(x)),
            jnp.asarray(to_last(w)),
            stride,
            padding,
            LAST[nd],
            dilation,
            1,
        )
        np.testing.assert_allclose(np.asarray(last), to_last(np.asarray(out)), rtol=1e-4, atol=1e-4)


def test_same_is_same_lower_and_compat_conv2d_is_tensorflow_same() -> None:
    x = jnp.asarray(RNG.normal(size=(1, 1, 5, 5)).astype(np.float32))
    w = jnp.ones((1, 1, 2, 2))
    lower = flow.nn.conv2d(x, w, 1, "SAME")
    upper = flow.nn.conv2d(x, w, 1, "SAME_UPPER")
    compat = flow.nn.compat_conv2d(x, w, 1, "SAME")
    xs = np.asarray(x)[0, 0]
    # SAME_LOWER pads the one extra row/column before: output[0, 0] sees only x[0, 0]
    assert np.isclose(np.asarray(lower)[0, 0, 0, 0], xs[0, 0])
    np.testing.assert_allclose(np.asarray(compat), np.asarray(upper))
    assert np.isclose(np.asarray(upper)[0, 0, -1, -1], xs[-1, -1])


def test_conv2d_bias_is_fifth_and_added_per_channel() -> None:
    x = jnp.asarray(RNG.normal(size=(2, 3, 4, 4)).astype(np.float32))
    w = jnp.asarray(RNG.normal(size=(5, 3, 1, 1)).astype(np.float32))
    b = jnp.arange(5.0)
    with_bias = flow.nn.conv2d(x, w, 1, "VALID", b)
    np.testing.assert_allclose(
        np.asarray(with_bias),
        np.asarray(flow.nn.conv2d(x, w, 1, "VALID")) + np.arange(5.0)[:, None, None],
        rtol=1e-6,
    )


def test_conv_argument_errors() -> None:
    x = jnp.zeros((1, 4, 5))
    with pytest.raises(ArgumentError, match="NCW or NWC"):
        flow.nn.conv1d(x, jnp.zeros((2, 4, 3)), 1, "SAME", "NCHW")
    with pytest.raises(ArgumentError, match="channels"):
        flow.nn.conv1d(x, jnp.zeros((2, 3, 3)), 1, "SAME")
    with pytest.raises(ArgumentError, match="groups > 1"):
        flow.nn.conv1d(jnp.zeros((1, 5, 4)), jnp.zeros((2, 3, 2)), 1, "SAME", "NWC", groups=2)
    with pytest.raises(ArgumentError, match="3-D"):
        flow.nn.conv1d(jnp.zeros((1, 4, 5, 5)), jnp.zeros((2, 4, 3)), 1, "SAME")


@pytest.mark.parametrize(
    ("size_in", "k", "s", "padding", "size_out"),
    [
        (4, 3, 2, "SAME", 8),
        (4, 3, 2, "SAME", 7),
        (5, 3, 1, "SAME", 5),
        (4, 3, 2, "VALID", 9),
        (4, 3, 2, "VALID", 10),
        (3, 4, 2, "SAME", 6),
    ],
)
def test_conv2d_transpose_is_the_gradient_of_conv2d(size_in, k, s, padding, size_out) -> None:  # type: ignore[no-untyped-def]
    """conv2d_transpose(y, w, output_shape) is the vector-Jacobian product of conv2d(x, w) with
    respect to x, for an x of output_shape: the definition of a transposed convolution. Its "SAME"
    is TensorFlow's (the gradient of a SAME_UPPER convolution), as OneFlow's deconv2d."""
    w = RNG.normal(size=(3, 2, k, k)).astype(
        np.float32
    )  # deconv (C_in=3, C_out=2) = conv (3 out, 2 in)
    y = RNG.normal(size=(2, 3, size_in, size_in)).astype(np.float32)
    x_shape = (2, 2, size_out, size_out)
    got = flow.nn.conv2d_transpose(
        jnp.asarray(y), jnp.asarray(w), output_shape=x_shape, strides=s, padding=padding
    )
    assert got.shape == x_shape

    def forward(x):  # type: ignore[no-untyped-def]
        return flow.nn.conv2d(x, jnp.asarray(w), s, "SAME_UPPER" if padding == "SAME" else padding)

    fwd, vjp = jax.vjp(forward, jnp.zeros(x_shape))
    assert fwd.shape == y.shape
    np.testing.assert_allclose(
        np.asarray(got), np.asarray(vjp(jnp.asarray(y))[0]), rtol=1e-4, atol=1e-4
    )
    nhwc = flow.nn.conv2d_transpose(
        input=jnp.asarray(y.transpose(0, 2, 3, 1)),
        filters=jnp.asarray(w.transpose(0, 2, 3, 1)),
        output_shape=(2, size_out, size_out, 2),
        strides=s,
        padding=padding,
        data_format="NHWC",
    )
    np.testing.assert_allclose(
        np.asarray(nhwc).transpose(0, 3, 1, 2), np.asarray(got), rtol=1e-4, atol=1e-4
    )


def test_conv2d_transpose_valid_matches_torch() -> None:
    x = RNG.normal(size=(2, 3, 4, 5)).astype(np.float32)
    w = RNG.normal(size=(3, 4, 3, 2)).astype(np.float32)
    got = flow.nn.conv2d_transpose(
        jnp.asarray(x), jnp.asarray(w), (2, 4, 10, 11), 2, "VALID", dilations=1
    )
    want = F.conv_transpose2d(torch.tensor(x), torch.tensor(w), stride=2, output_padding=(1, 1))
    np.testing.assert_allclose(np.asarray(got), want.numpy(), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    ("needed", "output_padding", "dilation"),
    [((2, 2), (1, 0), 1), ((0, 4), (0, 1), 1), ((2, 0), (0, 0), 2)],
)
def test_torch_conv2d_transpose_matches_torch(needed, output_padding, dilation) -> None:  # type: ignore[no-untyped-def]
    x = RNG.normal(size=(2, 3, 5, 4)).astype(np.float32)
    w = RNG.normal(size=(3, 2, 3, 3)).astype(np.float32)
    tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    want = F.conv_transpose2d(
        tx,
        tw,
        stride=2,
        padding=(needed[0] // 2, needed[1] // 2),
        output_padding=output_padding,
        dilation=dilation,
    )

    def run(a, b):  # type: ignore[no-untyped-def]
        return flow.nn.torch_conv2d_transpose(
            input=a,
            filters=b,
            output_padding=output_padding,
            strides=2,
            padding_needed=needed,
            dilations=dilation,
        )

    got = run(jnp.asarray(x), jnp.asarray(w))
    np.testing.assert_allclose(np.asarray(got), want.detach().numpy(), rtol=1e-4, atol=1e-4)
    cot = RNG.normal(size=want.shape).astype(np.float32)
    (want * torch.tensor(cot)).sum().backward()
    gx, gw = jax.grad(lambda a, b: jnp.sum(run(a, b) * cot), argnums=(0, 1))(
        jnp.asarray(x), jnp.asarray(w)
    )
    np.testing.assert_allclose(np.asarray(gx), tx.grad.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(np.asarray(gw), tw.grad.numpy(), rtol=1e-4, atol=1e-4)


def test_conv2d_transpose_argument_checks() -> None:
    x, w = jnp.zeros((1, 3, 4, 4)), jnp.zeros((3, 2, 3, 3))
    with pytest.raises(ArgumentError, match="exactly one"):
        flow.nn.conv2d_transpose(x, w, (1, 2, 8, 8), 2, "SAME", input=x)
    with pytest.raises(ArgumentError, match="does not map back"):
        flow.nn.conv2d_transpose(x, w, (1, 2, 12, 12), 2, "SAME")
    with pytest.raises(ArgumentError, match="channels"):
        flow.nn.conv2d_transpose(x, w, (1, 5, 8, 8), 2, "SAME")
