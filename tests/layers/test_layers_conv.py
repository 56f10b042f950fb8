"""flow.layers.conv1d / conv3d (and conv2d): OneFlow's variable names, weight layouts and
defaults, the math against PyTorch, and one SGD step of a train job against PyTorch's."""

from __future__ import annotations

import numpy as np
import pytest

import flowsnap as flow
import flowsnap.typing as tp
from flowsnap.errors import ArgumentError

torch = pytest.importorskip("torch")
F = torch.nn.functional
RNG = np.random.default_rng(21)


def values() -> dict[str, np.ndarray]:  # type: ignore[type-arg]
    return {k: v.numpy() for k, v in flow.get_all_variables().items()}


@pytest.mark.parametrize(
    ("nd", "shape", "fmt", "groups", "want_w"),
    [
        (1, (2, 4, 9), "NCW", 2, (6, 2, 3)),
        (1, (2, 9, 4), "NWC", 1, (6, 3, 4)),
        (3, (2, 4, 5, 6, 5), "NCDHW", 1, (6, 4, 3, 3, 3)),
        (3, (2, 5, 6, 5, 4), "NDHWC", 1, (6, 3, 3, 3, 4)),
    ],
)
def test_conv_layers_names_layouts_and_math(nd, shape, fmt, groups, want_w) -> None:  # type: ignore[no-untyped-def]
    layer = flow.layers.conv1d if nd == 1 else flow.layers.conv3d

    @flow.global_function()
    def job(x: tp.Numpy.Placeholder(shape)) -> tp.Numpy:
        return layer(
            x, 6, 3, padding="SAME", data_format=fmt, groups=groups, name="c",
            bias_initializer=flow.random_normal_initializer(), activation=flow.nn.relu,
        )  # fmt: skip

    x = RNG.normal(size=shape).astype(np.float32)
    out = job(x)
    v = values()
    assert list(v) == ["c-weight", "c-bias"]
    assert v["c-weight"].shape == want_w
    assert np.any(v["c-weight"] != 0)  # Xavier uniform by default
    first = fmt.startswith("NC")
    tx = torch.tensor(x if first else np.moveaxis(x, -1, 1))
    tw = torch.tensor(v["c-weight"] if first else np.moveaxis(v["c-weight"], -1, 1))
    conv = F.conv1d if nd == 1 else F.conv3d
    want = F.relu(conv(tx, tw, torch.tensor(v["c-bias"]), padding=1, groups=groups)).numpy()
    np.testing.assert_allclose(
        out if first else np.moveaxis(out, -1, 1), want, rtol=1e-4, atol=1e-5
    )


def test_conv1d_trains_like_torch() -> None:
    lr = 0.1
    x = RNG.normal(size=(3, 2, 8)).astype(np.float32)
    w0 = RNG.normal(size=(4, 2, 3)).astype(np.float32)

    @flow.global_function(type="train")
    def train(inp: tp.Numpy.Placeholder((3, 2, 8))) -> tp.Numpy:
        y = flow.layers.conv1d(
            inp,
            4,
            3,
            strides=2,
            padding="VALID",
            name="c1",
            kernel_initializer=flow.constant_initializer(0.0),
            bias_initializer=flow.constant_initializer(0.5),
        )
        loss = flow.math.reduce_sum(y * y)
        flow.optimizer.SGD(
            flow.optimizer.PiecewiseConstantScheduler([], [lr]), momentum=0
        ).minimize(loss)
        return y

    flow.get_all_variables()  # start the session, then set the weight
    flow.load_variables({"c1-weight": w0})
    out = train(x)
    tw = torch.tensor(w0, requires_grad=True)
    tb = torch.full((4,), 0.5, requires_grad=True)
    y = F.conv1d(torch.tensor(x), tw, tb, stride=2)
    np.testing.assert_allclose(out, y.detach().numpy(), rtol=1e-4, atol=1e-5)
    (y * y).sum().backward()
    v = values()
    np.testing.assert_allclose(
        v["c1-weight"], (tw - lr * tw.grad).detach().numpy(), rtol=1e-4, atol=1e-4
    )
    np.testing.assert_allclose(
        v["c1-bias"], (tb - lr * tb.grad).detach().numpy(), rtol=1e-4, atol=1e-4
    )


def test_conv_layer_argument_errors() -> None:
    @flow.global_function()
    def bad(x: tp.Numpy.Placeholder((1, 4, 5, 5, 5))) -> tp.Numpy:
        return flow.layers.conv3d(x, 4, [3, 3], name="bad")

    with pytest.raises(ArgumentError, match="kernel_size"):
        bad(np.zeros((1, 4, 5, 5, 5), np.float32))
    flow.clear_default_session()

    @flow.global_function()
    def bad_format(x: tp.Numpy.Placeholder((1, 4, 5))) -> tp.Numpy:
        return flow.layers.conv1d(x, 4, 3, data_format="NCHW")

    with pytest.raises(ArgumentError, match="NCW or NWC"):
        bad_format(np.zeros((1, 4, 5), np.float32))
