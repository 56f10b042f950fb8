"""The chapter's LeNet and its checkpoint tree: build the model (train and eval jobs share its
variables), save it to ./lenet_models_name, and print the tree.

    python examples/lenet.py
"""

import os

from seed_models import lenet  # examples/seed_models.py, next to this file

import flowsnap as flow
import flowsnap.typing as tp

BATCH_SIZE = 100


@flow.global_function(type="train")
def train_job(
    images: tp.Numpy.Placeholder((BATCH_SIZE, 1, 28, 28), dtype=flow.float),
    labels: tp.Numpy.Placeholder((BATCH_SIZE,), dtype=flow.int32),
) -> tp.Numpy:
    with flow.scope.placement("cpu", "0:0"):
        logits = lenet(images, train=True)
        loss = flow.nn.sparse_softmax_cross_entropy_with_logits(labels, logits, name="softmax_loss")
    lr_scheduler = flow.optimizer.PiecewiseConstantScheduler([], [0.1])
    flow.optimizer.SGD(lr_scheduler, momentum=0).minimize(loss)
    return loss


@flow.global_function(type="predict")
def eval_job(images: tp.Numpy.Placeholder((BATCH_SIZE, 1, 28, 28), dtype=flow.float)) -> tp.Numpy:
    with flow.scope.placement("cpu", "0:0"):
        return lenet(images, train=False)


def tree(root: str) -> None:
    """Print a directory tree like the chapter's."""
    print(os.path.basename(root) + "/")
    entries = sorted(e for e in os.listdir(root) if not e.startswith("."))  # as `tree` shows it
    for i, name in enumerate(entries):
        last = i == len(entries) - 1
        print(("└── " if last else "├── ") + name)
        path = os.path.join(root, name)
        if os.path.isdir(path):
            files = sorted(os.listdir(path))
            for j, f in enumerate(files):
                print(
                    ("    " if last else "│   ") + ("└── " if j == len(files) - 1 else "├── ") + f
                )


if __name__ == "__main__":
    flow.checkpoint.save("./lenet_models_name")
    tree("./lenet_models_name")
