"""A training run used by the exact-resume test: each invocation is a fresh process.

python resume_worker.py train FIRST STEPS OUT_NPZ [--load CKPT] [--save CKPT]
"""

from __future__ import annotations

import argparse

import numpy as np

import flowsnap as flow
import flowsnap.typing as tp

BATCH = 16


def define() -> flow.JobFunction:  # type: ignore[name-defined]
    @flow.global_function(type="train")
    def train_job(
        x: tp.Numpy.Placeholder((BATCH, 12), dtype=flow.float),
        y: tp.Numpy.Placeholder((BATCH,), dtype=flow.int32),
    ) -> tp.Numpy:
        h = flow.layers.dense(
            x, 32, kernel_initializer=flow.glorot_uniform_initializer(), name="fc1"
        )
        h = flow.layers.batch_normalization(h, axis=1, momentum=0.9, name="bn")
        h = flow.nn.dropout(flow.nn.relu(h), rate=0.3, name="drop")
        logits = flow.layers.dense(h, 5, kernel_initializer=flow.truncated_normal(0.1), name="fc2")
        loss = flow.nn.sparse_softmax_cross_entropy_with_logits(y, logits)
        schedule = flow.optimizer.CosineScheduler(
            0.05, 20, warmup=flow.optimizer.warmup.linear(3, 0.1)
        )
        flow.optimizer.Adam(schedule, do_bias_correction=True).minimize(loss)
        return loss

    return train_job


def data(step: int) -> tuple[np.ndarray, np.ndarray]:  # type: ignore[type-arg]
    rng = np.random.default_rng(1000 + step)
    return rng.normal(size=(BATCH, 12)).astype(np.float32), rng.integers(0, 5, BATCH).astype(
        np.int32
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("first", type=int)
    parser.add_argument("steps", type=int)
    parser.add_argument("out")
    parser.add_argument("--load")
    parser.add_argument("--save")
    args = parser.parse_args()
    train_job = define()
    if args.load:
        report = flow.load_variables(flow.checkpoint.get(args.load), ignore_mismatch=False)
        assert not report.kept, report
    for step in range(args.first, args.first + args.steps):
        train_job(*data(step))
    if args.save:
        flow.checkpoint.save(args.save)
    np.savez(args.out, **{k: v.numpy() for k, v in flow.get_all_variables().items()})


if __name__ == "__main__":
    main()
