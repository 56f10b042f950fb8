"""The seed chapter end to end, on Fashion-MNIST (``make demo``).

1. Train the chapter's MLP (784-512-10) for one epoch, with a progress bar.
2. Save it with ``flow.checkpoint.save`` and show the checkpoint tree and ``flowsnap ls``.
3. Fine-tune: a new session, the MLP plus a new layer ``dense3``, ``flow.load_variables`` from the
   checkpoint (the load report says what was loaded and what kept its initial value), train one
   more epoch, save again.
4. Test accuracy of the backbone, of the extended model right after loading, and after
   fine-tuning; a loss curve as a PNG.
5. The chapter's LeNet as OneFlow's own programs trained: ``flowsnap ofrecord`` writes an OFRecord
   copy of Fashion-MNIST, and the jobs read it themselves (``flow.data.ofrecord_reader`` and
   ``OFRecordRawDecoder`` in the job body); a short run (``lenet_ofrecord.py`` trains longer).

Everything goes to ./demo_out/ (its previous content removed first).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

import flowsnap as flow
import flowsnap.typing as tp
from flowsnap.cli import main as flowsnap_cli

BATCH_SIZE = 100
OUT = Path("demo_out")
FASHION_MNIST = os.environ.get("FLOWSNAP_FASHION_MNIST", "/usr/share/datasets/fashion-mnist")


def define_jobs(with_dense3: bool) -> tuple[flow.JobFunction, flow.JobFunction]:  # type: ignore[name-defined]
    """The chapter's train_job (optionally with dense3) and a predict job over the same
    variables."""

    def model(images):  # type: ignore[no-untyped-def]
        initializer = flow.truncated_normal(0.1)
        reshape = flow.reshape(images, [images.shape[0], -1])
        hidden = flow.layers.dense(
            reshape, 512, activation=flow.nn.relu, kernel_initializer=initializer, name="dense1"
        )
        logits = flow.layers.dense(hidden, 10, kernel_initializer=initializer, name="dense2")
        if with_dense3:
            logits = flow.layers.dense(logits, 10, kernel_initializer=initializer, name="dense3")
        return logits

    @flow.global_function(type="train")
    def train_job(
        images: tp.Numpy.Placeholder((BATCH_SIZE, 1, 28, 28), dtype=flow.float),
        labels: tp.Numpy.Placeholder((BATCH_SIZE,), dtype=flow.int32),
    ) -> tp.Numpy:
        with flow.scope.placement("cpu", "0:0"):
            loss = flow.nn.sparse_softmax_cross_entropy_with_logits(labels, model(images))
        lr_scheduler = flow.optimizer.PiecewiseConstantScheduler([], [0.1])
        flow.optimizer.SGD(lr_scheduler, momentum=0).minimize(loss)
        return loss

    @flow.global_function(type="predict")
    def eval_job(
        images: tp.Numpy.Placeholder((BATCH_SIZE, 1, 28, 28), dtype=flow.float),
    ) -> tp.Numpy:
        with flow.scope.placement("cpu", "0:0"):
            return model(images)

    return train_job, eval_job


def train_epoch(train_job, images, labels, desc: str) -> list[float]:  # type: ignore[no-untyped-def]
    losses = []
    bar = tqdm(
        zip(images, labels, strict=True),
        total=len(images),
        desc=desc,
        unit="step",
        file=sys.stdout,
        mininterval=0.5,
        disable=None,  # no bar (and no \r frames) when stdout is not a terminal
    )
    for x, y in bar:
        losses.append(float(train_job(x, y).mean()))
        if len(losses) % 50 == 0:
            bar.set_postfix(loss=f"{np.mean(losses[-50:]):.3f}")
    if bar.disable:  # not a terminal: one plain line instead of the bar
        print(f"{desc.strip()}: {len(losses)} steps, last loss {np.mean(losses[-50:]):.3f}")
    return losses


def accuracy(eval_job, images, labels) -> float:  # type: ignore[no-untyped-def]
    hits = sum(
        int((eval_job(x).argmax(axis=1) == y).sum()) for x, y in zip(images, labels, strict=True)
    )
    return hits / labels.size


def tree(root: Path, limit: int = 3) -> None:
    entries = sorted(e for e in os.listdir(root) if not e.startswith("."))  # as `tree` shows it
    print(f"{root}/")
    for i, name in enumerate(entries):
        last = i == len(entries) - 1
        files = sorted(os.listdir(root / name)) if (root / name).is_dir() else []
        print(("└── " if last else "├── ") + name + (f"  [{', '.join(files)}]" if files else ""))


def plot(curves: dict[str, list[float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    start = 0
    for label, losses in curves.items():
        steps = np.arange(start, start + len(losses))
        smooth = np.convolve(losses, np.ones(20) / 20, mode="valid")
        ax.plot(steps, losses, alpha=0.25)
        ax.plot(steps[19:], smooth, label=label, color=ax.lines[-1].get_color())
        start += len(losses)
    ax.set_xlabel("train step")
    ax.set_ylabel("mean cross-entropy loss")
    ax.set_title("flowsnap: the chapter's MLP on Fashion-MNIST")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir()
    (train_x, train_y), (test_x, test_y) = flow.data.load_fashion_mnist(BATCH_SIZE, BATCH_SIZE)
    print(
        f"Fashion-MNIST: {train_x.shape[0]} training batches, {test_x.shape[0]} test batches "
        f"of {BATCH_SIZE}\n"
    )

    print("== 1. train the chapter's MLP (mlp_mnist_origin.py)")
    train_job, eval_job = define_jobs(with_dense3=False)
    origin = train_epoch(train_job, train_x, train_y, "origin  ")
    acc_origin = accuracy(eval_job, test_x, test_y)
    print(f"test accuracy: {acc_origin:.2%}\n")

    print("== 2. save it: flow.checkpoint.save('demo_out/mlp_models_1')")
    flow.checkpoint.save(OUT / "mlp_models_1")
    tree(OUT / "mlp_models_1")
    print("\n$ flowsnap ls demo_out/mlp_models_1")
    flowsnap_cli(["ls", str(OUT / "mlp_models_1")])

    print("\n== 3. fine-tune with a new layer dense3 (mlp_mnist_finetune.py)")
    flow.clear_default_session()
    train_job, eval_job = define_jobs(with_dense3=True)
    report = flow.load_variables(flow.checkpoint.get(OUT / "mlp_models_1"))
    print(report)
    acc_loaded = accuracy(eval_job, test_x, test_y)
    finetune = train_epoch(train_job, train_x, train_y, "finetune")
    acc_finetuned = accuracy(eval_job, test_x, test_y)
    flow.checkpoint.save(OUT / "mlp_ext_models_1")
    print(f"saved demo_out/mlp_ext_models_1 ({len(flow.get_all_variables())} variables)\n")

    print("== 4. results")
    print(f"test accuracy, backbone after one epoch:           {acc_origin:.2%}")
    print(f"test accuracy, + dense3 right after loading:       {acc_loaded:.2%}")
    print(f"test accuracy, + dense3 after one fine-tune epoch: {acc_finetuned:.2%}")
    plot(
        {"origin (dense1, dense2)": origin, "fine-tune (+ dense3)": finetune},
        OUT / "loss_curve.png",
    )
    print(f"loss curve: {OUT / 'loss_curve.png'}")

    print("\n== 5. LeNet reading OFRecords inside its jobs (lenet_ofrecord.py)")
    flow.clear_default_session()
    import lenet_ofrecord  # examples/lenet_ofrecord.py, next to this file

    lenet_ofrecord.main(FASHION_MNIST, str(OUT), steps=100, test_batches=20)


if __name__ == "__main__":
    main()
