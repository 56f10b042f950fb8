"""Small legacy programs written against each version's facade: a ResNet-style block (conv2d,
batch_normalization_add_relu, max_pool2d, dense, sparse softmax cross entropy) and a 1-D
convolution net with layer_norm and dropout train, and the loss goes down."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import flowsnap
from flowsnap.compat import facade

RNG = np.random.default_rng(12)


def resnet_block_job(flow: Any, shape: tuple[int, ...]) -> Any:
    tp = flow.typing

    @flow.global_function(type="train")
    def train(
        images: tp.Numpy.Placeholder(shape),
        labels: tp.Numpy.Placeholder((shape[0],), dtype=flow.int32),
    ) -> tp.Numpy:
        init = flow.variance_scaling_initializer(2.0, "fan_in", "random_normal", "NCHW")
        x = flow.layers.conv2d(images, 8, 3, padding="SAME", name="conv0", kernel_initializer=init)
        x = flow.layers.batch_normalization_relu(x, axis=1, name="bn0")
        y = flow.layers.conv2d(
            x, 8, 3, padding="SAME", name="conv1", use_bias=False, kernel_initializer=init
        )
        x = flow.layers.batch_normalization_add_relu(y, x, axis=1, name="bn1")
        x = flow.nn.max_pool2d(x, 2, 2, "SAME", "NCHW")
        x = flow.reshape(x, (shape[0], -1))
        logits = flow.layers.dense(x, 3, kernel_initializer=flow.truncated_normal(0.1), name="fc")
        loss = flow.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)
        flow.optimizer.SGD(
            flow.optimizer.PiecewiseConstantScheduler([], [0.05]), momentum=0.9
        ).minimize(loss)
        return loss

    return train


@pytest.mark.parametrize("version", ["0.3", "0.5", None])
def test_resnet_block_trains_under_each_facade(version: str | None) -> None:
    flow = flowsnap if version is None else facade(version)
    shape = (12, 3, 6, 6)
    labels = np.arange(12, dtype=np.int32) % 3
    images = (RNG.normal(size=shape) + labels[:, None, None, None]).astype(np.float32)
    train = resnet_block_job(flow, shape)
    losses = [float(train(images, labels).mean()) for _ in range(15)]
    assert losses[-1] < 0.5 * losses[0]
    names = list(flowsnap.get_all_variables())
    assert {
        "bn1-beta",
        "bn1-gamma",
        "bn1-moving_mean",
        "bn1-moving_variance",
        "conv1-weight",
    } <= set(names)
    assert "conv1-bias" not in names


def test_conv1d_layer_norm_dropout_net_trains() -> None:
    flow = facade("0.4")
    tp = flow.typing

    @flow.global_function(type="train")
    def train(x: tp.Numpy.Placeholder((16, 2, 10)), y: tp.Numpy.Placeholder((16, 1))) -> tp.Numpy:
        h = flow.layers.conv1d(x, 4, 3, padding="SAME", activation=flow.nn.swish, name="c")
        h = flow.layers.layer_norm(h, begin_norm_axis=1, begin_params_axis=1, name="ln")
        h = flow.nn.dropout(h, 0.1)
        h = flow.nn.avg_pool1d(h, 2, 2, "VALID")
        pred = flow.layers.dense(
            flow.reshape(h, (16, -1)), 1, kernel_initializer=flow.random_normal_initializer(0, 0.1)
        )
        loss = flow.nn.MSELoss(pred, y, reduction="mean")
        flow.optimizer.Adam(flow.optimizer.PiecewiseConstantScheduler([], [0.01])).minimize(loss)
        return loss

    x = RNG.normal(size=(16, 2, 10)).astype(np.float32)
    y = x.sum(axis=(1, 2))[:, None].astype(np.float32) / 5
    losses = [float(train(x, y).mean()) for _ in range(40)]
    assert losses[-1] < 0.5 * losses[0]
    assert flowsnap.get_all_variables()["ln-gamma"].numpy().shape == (4, 10)
