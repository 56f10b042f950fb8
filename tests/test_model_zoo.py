"""Model-zoo style code written against the legacy API (get_variable + flow.nn.conv2d, as in the
chapter's conv2d excerpt): a ResNet bottleneck, a MobileNet depthwise block, a VGG block and a
small transformer build with OneFlow's names and train (each overfits one fixed batch)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

import flowsnap as flow
import flowsnap.typing as tp

RNG = np.random.default_rng(3)


def conv(x: Any, filters: int, k: int, name: str, strides: int = 1, groups: int = 1) -> Any:
    """A conv written the way ResNet/MobileNet zoos wrote it for the legacy API."""
    weight = flow.get_variable(
        name + "-weight",
        shape=(filters, x.shape[1] // groups, k, k),
        dtype=x.dtype,
        initializer=flow.variance_scaling_initializer(2, "fan_out", "random_normal", "NCHW"),
        model_name="weight",
    )
    return flow.nn.conv2d(x, weight, strides, "SAME", None, "NCHW", None, groups=groups, name=name)


def bn_relu(x: Any, name: str) -> Any:
    return flow.nn.relu(flow.layers.batch_normalization(x, axis=1, name=name + "_bn"))


def resnet_bottleneck(x: Any) -> Any:
    x = bn_relu(conv(x, 16, 3, "conv1"), "conv1")
    shortcut = x
    y = bn_relu(conv(x, 8, 1, "res2a_branch2a"), "res2a_branch2a")
    y = bn_relu(conv(y, 8, 3, "res2a_branch2b"), "res2a_branch2b")
    y = flow.layers.batch_normalization(
        conv(y, 16, 1, "res2a_branch2c"), axis=1, name="res2a_branch2c_bn"
    )
    x = flow.nn.relu(y + shortcut)
    x = flow.nn.avg_pool2d(x, ksize=x.shape[2], strides=1, padding="VALID")
    return flow.layers.dense(
        flow.reshape(x, [x.shape[0], -1]),
        10,
        kernel_initializer=flow.xavier_uniform_initializer(),
        name="fc",
    )


def mobilenet_block(x: Any) -> Any:
    x = bn_relu(conv(x, 8, 3, "conv0", strides=2), "conv0")
    x = bn_relu(conv(x, 8, 3, "dw1", groups=8), "dw1")  # depthwise
    x = bn_relu(conv(x, 16, 1, "pw1"), "pw1")
    x = flow.nn.avg_pool2d(x, ksize=x.shape[2], strides=1, padding="VALID")
    return flow.layers.dense(
        flow.flatten(x, start_dim=1),
        10,
        kernel_initializer=flow.glorot_normal_initializer(),
        name="fc",
    )


def vgg_block(x: Any) -> Any:
    for i, filters in enumerate((8, 16)):
        x = flow.layers.conv2d(
            x,
            filters,
            3,
            padding="SAME",
            activation=flow.nn.relu,
            name=f"conv{i}",
            kernel_initializer=flow.kaiming_initializer((filters, x.shape[1], 3, 3)),
        )
        x = flow.nn.max_pool2d(x, 2, 2, "SAME")
    x = flow.reshape(x, [x.shape[0], -1])
    x = flow.layers.dense(
        x, 32, activation=flow.nn.relu, name="fc1", kernel_initializer=flow.truncated_normal(0.05)
    )
    return flow.layers.dense(x, 10, name="fc2", kernel_initializer=flow.truncated_normal(0.05))


def transformer(tokens: Any) -> Any:
    vocab, d, heads, seq = 50, 16, 2, tokens.shape[1]
    table = flow.get_variable(
        "embedding", shape=(vocab, d), initializer=flow.random_normal_initializer(stddev=0.1)
    )
    pos = flow.get_variable(
        "position", shape=(seq, d), initializer=flow.random_normal_initializer(stddev=0.1)
    )
    x = flow.gather(table, tokens) + pos  # (batch, seq, d)
    with flow.scope.namespace("layer0"):
        h = flow.layers.layer_norm(x, begin_norm_axis=-1, name="ln1")
        qkv = flow.layers.dense(
            h, 3 * d, name="qkv", kernel_initializer=flow.xavier_uniform_initializer()
        )
        q, k, v = (flow.slice(qkv, [None, None, i * d], [None, None, d]) for i in range(3))

        def split(t: Any) -> Any:
            return flow.transpose(
                flow.reshape(t, [t.shape[0], seq, heads, d // heads]), perm=[0, 2, 1, 3]
            )

        att = flow.matmul(split(q), split(k), transpose_b=True, alpha=(d // heads) ** -0.5)
        out = flow.matmul(flow.nn.softmax(att), split(v))
        out = flow.reshape(flow.transpose(out, perm=[0, 2, 1, 3]), [out.shape[0], seq, d])
        x = x + flow.layers.dense(
            out, d, name="proj", kernel_initializer=flow.xavier_uniform_initializer()
        )
        h = flow.layers.layer_norm(x, begin_norm_axis=-1, name="ln2")
        h = flow.math.gelu(
            flow.layers.dense(
                h, 4 * d, name="fc1", kernel_initializer=flow.xavier_uniform_initializer()
            )
        )
        x = x + flow.layers.dense(
            h, d, name="fc2", kernel_initializer=flow.xavier_uniform_initializer()
        )
    pooled = flow.math.reduce_mean(x, axis=1)
    return flow.layers.dense(
        pooled, 10, name="head", kernel_initializer=flow.xavier_uniform_initializer()
    )


def overfit(body: Callable[[Any], Any], x: np.ndarray, steps: int = 25) -> list[float]:  # type: ignore[type-arg]
    labels = RNG.integers(0, 10, x.shape[0]).astype(np.int32)

    @flow.global_function(type="train")
    def train_job(
        inputs: tp.Numpy.Placeholder(x.shape, dtype=x.dtype),
        labels: tp.Numpy.Placeholder((x.shape[0],), dtype=flow.int32),
    ) -> tp.Numpy:
        loss = flow.nn.sparse_softmax_cross_entropy_with_logits(labels, body(inputs))
        flow.optimizer.Adam(flow.optimizer.PiecewiseConstantScheduler([], [0.01])).minimize(loss)
        return loss

    return [float(train_job(x, labels).mean()) for _ in range(steps)]


def test_resnet_bottleneck_trains_with_oneflow_names() -> None:
    losses = overfit(resnet_bottleneck, RNG.normal(size=(8, 3, 8, 8)).astype(np.float32))
    assert losses[-1] < 0.5 * losses[0]
    names = set(flow.get_all_variables())
    assert {
        "conv1-weight",
        "conv1_bn-gamma",
        "res2a_branch2c_bn-moving_variance",
        "fc-weight",
        "conv1-weight-m",
        "System-Train-TrainStep-train_job",
    } <= names
    assert "conv1_bn-moving_mean-m" not in names  # untrainable: no optimizer slots


def test_mobilenet_depthwise_block_trains() -> None:
    losses = overfit(mobilenet_block, RNG.normal(size=(8, 3, 8, 8)).astype(np.float32))
    assert losses[-1] < 0.5 * losses[0]
    assert flow.get_all_variables()["dw1-weight"].shape == (8, 1, 3, 3)


def test_vgg_block_trains() -> None:
    losses = overfit(vgg_block, RNG.normal(size=(8, 3, 8, 8)).astype(np.float32))
    assert losses[-1] < 0.5 * losses[0]


def test_small_transformer_trains() -> None:
    tokens = RNG.integers(0, 50, size=(8, 6)).astype(np.int32)
    losses = overfit(transformer, tokens)
    assert losses[-1] < 0.5 * losses[0]
    names = set(flow.get_all_variables())
    assert {"layer0-qkv-weight", "layer0-ln1-gamma", "embedding"} <= names
    assert flow.get_all_variables()["layer0-qkv-weight"].shape == (48, 16)
