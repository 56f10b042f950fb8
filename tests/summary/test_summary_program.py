"""A OneFlow 0.5 program in the style of OneFlow's summary test (jobs that create the writer,
write scalars from ListNumpy blobs with a tag shorter than its placeholder, log a train job's loss
and weights, flush) runs unmodified under ``flowsnap run``; TensorBoard's reader is the oracle."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from flowsnap.cli import main
from flowsnap.summary import close_writer

event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")

PROGRAM = """
import json, sys
import numpy as np
import oneflow.compatible.single_client as flow
from oneflow.compatible.single_client import typing as tp

logdir = sys.argv[1]
func_config = flow.FunctionConfig()
func_config.default_data_type(flow.float)
func_config.default_logical_view(flow.scope.mirrored_view())


@flow.global_function(function_config=func_config)
def CreateWriter():
    flow.summary.create_summary_writer(logdir)


@flow.global_function(function_config=func_config)
def ScalarJob(
    value: tp.ListNumpy.Placeholder((1,), dtype=flow.float),
    step: tp.ListNumpy.Placeholder((1,), dtype=flow.int64),
    tag: tp.ListNumpy.Placeholder((1000,), dtype=flow.int8),
):
    flow.summary.scalar(value, step, tag)


@flow.global_function(type="train")
def TrainJob(
    x: tp.Numpy.Placeholder((4, 3)), step: tp.Numpy.Placeholder((1,), dtype=flow.int64)
) -> tp.Numpy:
    w = flow.get_variable("w", shape=(3, 1), initializer=flow.ones_initializer())
    loss = flow.math.reduce_mean(flow.matmul(x, w) ** 2)
    flow.summary.scalar(loss, step, "loss")
    flow.summary.histogram(w, step, "w")
    flow.optimizer.SGD(flow.optimizer.PiecewiseConstantScheduler([], [0.01])).minimize(loss)
    return loss


@flow.global_function(function_config=func_config)
def FlushJob():
    flow.summary.flush_summary_writer()


CreateWriter()
for i in range(3):
    tag = np.frombuffer(b"scalar", dtype=np.int8)
    ScalarJob([np.array([i * 0.5], np.float32)], [np.array([i], np.int64)], [tag])
losses = []
for i in range(4):
    losses.append(float(TrainJob(np.ones((4, 3), np.float32), np.array([i], np.int64))[0]))
FlushJob()
flow.sync_default_session()
with open(sys.argv[2], "w") as f:
    json.dump(losses, f)
"""


def test_oneflow_style_summary_program_runs_unmodified(tmp_path: Path) -> None:
    script = tmp_path / "summary_program.py"
    script.write_text(textwrap.dedent(PROGRAM))
    losses_file = tmp_path / "losses.json"
    logdir = tmp_path / "logs"
    try:
        assert main(["run", str(script), str(logdir), str(losses_file)]) == 0
    finally:
        close_writer()
    losses = json.loads(losses_file.read_text())
    acc = event_accumulator.EventAccumulator(
        str(logdir / "event"), size_guidance={event_accumulator.HISTOGRAMS: 0}
    )
    acc.Reload()
    assert [(e.step, e.value) for e in acc.Scalars("scalar")] == [(0, 0.0), (1, 0.5), (2, 1.0)]
    logged = [e.value for e in acc.Scalars("loss")]
    assert logged == pytest.approx(losses, rel=1e-6)
    assert losses[0] > losses[-1]  # it trained
    assert [h.step for h in acc.Histograms("w")] == [0, 1, 2, 3]
    assert all(h.histogram_value.num == 3 for h in acc.Histograms("w"))
