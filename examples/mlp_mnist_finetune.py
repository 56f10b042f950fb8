"""The chapter's mlp_mnist_finetune.py with ``import flowsnap as flow``: the MLP with a new layer
``dense3``, loaded from ./mlp_models_1 (dense3 keeps its fresh initial values), trained, and saved
to ./mlp_ext_models_1.

    python examples/mlp_mnist_finetune.py [--fashion-mnist]
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

        dense3 = flow.layers.dense(dense2, 10, kernel_initializer=initializer, name="dense3")
        loss = flow.nn.sparse_softmax_cross_entropy_with_logits(labels, dense3)

    lr_scheduler = flow.optimizer.PiecewiseConstantScheduler([], [0.1])
    flow.optimizer.SGD(lr_scheduler, momentum=0).minimize(loss)

    return loss


if __name__ == "__main__":
    flow.load_variables(flow.checkpoint.get("./mlp_models_1"))

    load = flow.data.load_fashion_mnist if "--fashion-mnist" in sys.argv else flow.data.load_mnist
    (train_images, train_labels), (test_images, test_labels) = load(BATCH_SIZE, BATCH_SIZE)
    for i, (images, labels) in enumerate(zip(train_images, train_labels)):
        loss = train_job(images, labels)
        if i % 20 == 0:
            print(loss.mean())
    flow.checkpoint.save("./mlp_ext_models_1")
