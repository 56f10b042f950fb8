"""The chapter's LeNet trained as OneFlow's own programs trained: the job reads its data.

1. ``flowsnap ofrecord`` turns the Fashion-MNIST IDX files into OFRecord part files (features
   ``images``, 784 bytes, and ``labels``, int32), as OneFlow's data-preparation scripts did.
2. The train job has no placeholders: ``flow.data.ofrecord_reader`` reads a shuffled batch of
   records, ``flow.data.OFRecordRawDecoder`` decodes images and labels; flowsnap runs these on the
   host before each step (computing the next batches while the step runs).
3. A predict job reads the test parts the same way for the accuracy; a checkpoint carries the
   readers' position (``System-DataPosition-<job>``) with the variables.

    python examples/lenet_ofrecord.py [IDX_DIR] [OUT_DIR] [STEPS]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from seed_models import lenet  # examples/seed_models.py, next to this file

import flowsnap as flow
import flowsnap.typing as tp
from flowsnap.cli import main as flowsnap_cli

BATCH_SIZE = 100
PARTS = 4


def images_and_labels(ofrecord_dir: Path, shuffle: bool):  # type: ignore[no-untyped-def]
    """The reader and decoders of OneFlow's MNIST examples: uint8 images scaled to [0, 1]."""
    record = flow.data.ofrecord_reader(
        str(ofrecord_dir),
        batch_size=BATCH_SIZE,
        data_part_num=PARTS,
        random_shuffle=shuffle,
        shuffle_after_epoch=shuffle,
    )
    images = flow.data.OFRecordRawDecoder(record, "images", shape=(1, 28, 28), dtype=flow.uint8)
    labels = flow.data.OFRecordRawDecoder(record, "labels", shape=(), dtype=flow.int32)
    return flow.cast(images, flow.float) / 255.0, labels


def define_jobs(data: Path):  # type: ignore[no-untyped-def]
    @flow.global_function(type="train")
    def train_lenet() -> tp.Numpy:
        with flow.scope.placement("cpu", "0:0"):
            images, labels = images_and_labels(data / "train", shuffle=True)
            logits = lenet(images, train=True)
            loss = flow.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)
        flow.optimizer.SGD(flow.optimizer.PiecewiseConstantScheduler([], [0.1])).minimize(loss)
        return loss

    @flow.global_function(type="predict")
    def eval_lenet() -> tp.Numpy:
        with flow.scope.placement("cpu", "0:0"):
            images, labels = images_and_labels(data / "t10k", shuffle=False)
            predictions = flow.math.argmax(lenet(images, train=False))
            return flow.math.reduce_sum(flow.cast(flow.math.equal(predictions, labels), flow.int32))

    return train_lenet, eval_lenet


def main(idx_dir: str, out: str, steps: int, test_batches: int = 10_000 // BATCH_SIZE) -> float:
    """Convert, train ``steps`` steps, evaluate on ``test_batches`` batches of test images;
    return the accuracy."""
    data = Path(out) / "fashion_mnist_ofrecord"
    print(f"$ flowsnap ofrecord {idx_dir} {data} --parts {PARTS} --overwrite")
    code = flowsnap_cli(["ofrecord", idx_dir, str(data), "--parts", str(PARTS), "--overwrite"])
    if code:
        raise SystemExit(code)
    test_records = len(flow.data.OFRecordDataset(str(data / "t10k"), PARTS))
    train_lenet, eval_lenet = define_jobs(data)
    start = time.perf_counter()
    losses = [float(train_lenet().mean()) for _ in range(steps)]
    seconds = time.perf_counter() - start
    print(
        f"LeNet, {steps} steps of {BATCH_SIZE} read in the job: loss {sum(losses[:20]) / 20:.3f} "
        f"-> {sum(losses[-20:]) / 20:.3f} ({steps * BATCH_SIZE / seconds:,.0f} images/s)"
    )
    test_batches = min(test_batches, test_records // BATCH_SIZE)
    correct = sum(int(eval_lenet().sum()) for _ in range(test_batches))
    accuracy = correct / (test_batches * BATCH_SIZE)
    print(
        f"LeNet test accuracy on {test_batches * BATCH_SIZE:,} test images (read in the predict "
        f"job): {accuracy:.2%}"
    )
    flow.checkpoint.save(Path(out) / "lenet_ofrecord_models")
    position = flow.get_all_variables()["System-DataPosition-train_lenet"].numpy()[0]
    print(
        f"saved {Path(out) / 'lenet_ofrecord_models'}: the train reader's position ({position} "
        "batches) is in it, so a resumed run reads the next batch the uninterrupted run would"
    )
    return accuracy


if __name__ == "__main__":
    args = sys.argv[1:]
    main(
        args[0] if args else "/usr/share/datasets/fashion-mnist",
        args[1] if len(args) > 1 else "lenet_ofrecord_out",
        int(args[2]) if len(args) > 2 else 600,
    )
