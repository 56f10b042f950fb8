"""The chapter's mlp_mnist_origin.py with ``import flowsnap as flow``: train the MLP "backbone" on
MNIST and save it to ./mlp_models_1.

    python examples/mlp_mnist_origin.py                  # MNIST (mnist.npz, downloaded or local)
    python examples/mlp_mnist_origin.py --fashion-mnist  # Debian's Fashion-MNIST, offline
"""

import sys

import flowsnap as flow
import flowsnap.typing as tp

BATCH_SIZE = 100


@flow.global_function(type="train")
def train_job(
    images: tp.Numpy.Placeholder((BATCH_SIZE, 1, 28, 28), dtype=flow.float),
    labels: tp.Numpy.Placeholder((BATCH_SIZE,), dtype=flow.int32),
) -> tp.Numpy:
    with flow.scope.placement("cpu", "0:0"):
        initializer = flow.truncated_normal(0.1)
        reshape = flow.reshape(images, [images.shape[0], -1])
        hidden = flow.layers.dense(
            reshape,
            512,
            activation=flow.nn.relu,
            kernel_initializer=initializer,
            name="dense1",
        )
        dense2 = flow.layers.dense(hidden, 10, kernel_initializer=initializer, name="dense2")

        loss = flow.nn.sparse_softmax_cross_entropy_with_logits(labels, dense2)

    lr_scheduler = flow.optimizer.PiecewiseConstantScheduler([], [0.1])
    flow.optimizer.SGD(lr_scheduler, momentum=0).minimize(loss)

    return loss


if __name__ == "__main__":
    load = flow.data.load_fashion_mnist if "--fashion-mnist" in sys.argv else flow.data.load_mnist
    (train_images, train_labels), (test_images, test_labels) = load(BATCH_SIZE, BATCH_SIZE)
    for i, (images, labels) in enumerate(zip(train_images, train_labels)):
        loss = train_job(images, labels)
        if i % 20 == 0:
            print(loss.mean())
    flow.checkpoint.save("./mlp_models_1")
