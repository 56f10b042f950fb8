"""The seed chapter's models run as written: the MLP trains and its loss falls; LeNet builds with
exactly the variable names of the chapter's ``lenet_models_name`` tree; the ``myblob`` example."""

from __future__ import annotations

import numpy as np
from examples.seed_models import lenet, mlp

import flowsnap as flow
import flowsnap.typing as tp
from tests.conftest import GOLDEN

BATCH_SIZE = 100


def clustered_digits(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:  # type: ignore[type-arg]
    """Ten well-separated clusters in 784 dimensions, shaped like MNIST batches."""
    centers = np.random.default_rng(42).uniform(0, 1, size=(10, 784)).astype(np.float32)
    labels = rng.integers(0, 10, n).astype(np.int32)
    noise = rng.normal(0, 0.3, size=(n, 784)).astype(np.float32)
    return (centers[labels] + noise).reshape(n, 1, 28, 28), labels


def test_seed_mlp_trains_and_its_loss_falls() -> None:
    @flow.global_function(type="train")
    def train_job(
        images: tp.Numpy.Placeholder((BATCH_SIZE, 1, 28, 28), dtype=flow.float),
        labels: tp.Numpy.Placeholder((BATCH_SIZE,), dtype=flow.int32),
    ) -> tp.Numpy:
        with flow.scope.placement("cpu", "0:0"):
            logits = mlp(images)
            loss = flow.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)
        lr_scheduler = flow.optimizer.PiecewiseConstantScheduler([], [0.1])
        flow.optimizer.SGD(lr_scheduler, momentum=0).minimize(loss)
        return loss

    rng = np.random.default_rng(0)
    losses = []
    for _ in range(30):
        images, labels = clustered_digits(rng, BATCH_SIZE)
        loss = train_job(images, labels)
        assert loss.shape == (BATCH_SIZE,)  # per-example, as OneFlow returned it
        losses.append(float(loss.mean()))
    assert losses[-1] < 0.1 * losses[0]
    names = list(flow.get_all_variables())
    assert names == [
        "dense1-weight", "dense1-bias", "dense2-weight", "dense2-bias",
        "System-Train-TrainStep-train_job",
    ]  # fmt: skip
    assert flow.get_all_variables()["dense1-weight"].shape == (512, 784)


def test_seed_lenet_has_the_chapter_variable_names() -> None:
    @flow.global_function(type="train")
    def train_job(
        images: tp.Numpy.Placeholder((BATCH_SIZE, 1, 28, 28), dtype=flow.float),
        labels: tp.Numpy.Placeholder((BATCH_SIZE,), dtype=flow.int32),
    ) -> tp.Numpy:
        with flow.scope.placement("cpu", "0:0"):
            logits = lenet(images, train=True)
            loss = flow.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)
        lr_scheduler = flow.optimizer.PiecewiseConstantScheduler([], [0.1])
        flow.optimizer.SGD(lr_scheduler, momentum=0).minimize(loss)
        return loss

    @flow.global_function(type="predict")
    def eval_job(
        images: tp.Numpy.Placeholder((BATCH_SIZE, 1, 28, 28), dtype=flow.float),
    ) -> tp.Numpy:
        with flow.scope.placement("cpu", "0:0"):
            return lenet(images, train=False)

    variables = flow.get_all_variables()
    chapter = sorted(p.name for p in (GOLDEN / "lenet_models_name").iterdir() if p.is_dir())
    assert sorted(variables) == chapter
    shapes = {k: v.shape for k, v in variables.items()}
    assert shapes["conv1-weight"] == (32, 1, 5, 5)
    assert shapes["conv2-weight"] == (64, 32, 5, 5)
    assert shapes["dense1-weight"] == (512, 64 * 7 * 7)
    images, labels = clustered_digits(np.random.default_rng(1), BATCH_SIZE)
    train_job(images, labels)
    assert eval_job(images).shape == (BATCH_SIZE, 10)


def test_dropout_masks_differ_between_steps_but_repeat_for_the_same_step() -> None:
    @flow.global_function(type="train")
    def train_job(x: tp.Numpy.Placeholder((1000,))) -> tp.Numpy:
        w = flow.get_variable("w", shape=(1,), initializer=flow.zeros_initializer())
        y = flow.nn.dropout(x + w, rate=0.5, name="dropout")
        flow.optimizer.SGD(flow.optimizer.PiecewiseConstantScheduler([], [0.0])).minimize(y)
        return y

    ones = np.ones(1000, np.float32)
    first, second = train_job(ones), train_job(ones)
    assert set(np.unique(first)) == {0.0, 2.0}
    assert 400 < int((first == 0).sum()) < 600
    assert not np.array_equal(first, second)
    flow.clear_default_session()

    @flow.global_function(type="train")
    def train_job(x: tp.Numpy.Placeholder((1000,))) -> tp.Numpy:
        w = flow.get_variable("w", shape=(1,), initializer=flow.zeros_initializer())
        y = flow.nn.dropout(x + w, rate=0.5, name="dropout")
        flow.optimizer.SGD(flow.optimizer.PiecewiseConstantScheduler([], [0.0])).minimize(y)
        return y

    np.testing.assert_array_equal(train_job(ones), first)  # keyed by the train step


def test_seed_myblob_example() -> None:
    @flow.global_function()
    def job() -> tp.Numpy:
        myblob = flow.get_variable(
            "myblob",
            shape=(3, 3),
            initializer=flow.random_normal_initializer(),
        )
        return myblob  # noqa: RET504 - the chapter's code, verbatim

    value = job()
    np.testing.assert_array_equal(flow.get_all_variables()["myblob"].numpy(), value)
    assert value.shape == (3, 3)
