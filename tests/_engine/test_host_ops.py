"""Host data ops in job bodies (``_engine/_host.py``): discovery, feeding, prefetching, the data
position in checkpoints and its restore, and the errors a wrong body gets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import flowsnap as flow
import flowsnap.typing as tp
from flowsnap._engine import POSITION_PREFIX, HostBlob, HostCall, host_op
from flowsnap.errors import TraceError

DATA = np.arange(40, dtype=np.float32).reshape(10, 4)  # 10 records of 4 features
LABELS = np.arange(10, dtype=np.int32) % 3


def reader(batch_size: int = 3) -> HostBlob:
    """A tiny reader: record indices of each batch, wrapping around the 10 records."""

    def read(call: HostCall) -> list[int]:
        start = call.batch * batch_size
        return [(start + i) % len(DATA) for i in range(batch_size)]

    blob = host_op("test_reader", read, fed=False, key=batch_size, shape=(batch_size,))
    assert isinstance(blob, HostBlob)
    return blob


def features(records: HostBlob) -> Any:
    return host_op("test_features", lambda call, idx: DATA[idx], (records,), fed=True)


def labels(records: HostBlob) -> Any:
    return host_op("test_labels", lambda call, idx: LABELS[idx], (records,), fed=True)


def expected_batch(k: int, batch_size: int = 3) -> np.ndarray:
    return DATA[[(k * batch_size + i) % len(DATA) for i in range(batch_size)]]


def test_predict_job_reads_its_own_data_batch_after_batch() -> None:
    @flow.global_function()
    def read_job() -> tp.Numpy:
        return features(reader()) * 2

    for k in range(5):
        np.testing.assert_array_equal(read_job(), expected_batch(k) * 2)


def test_fed_output_of_one_data_op_feeds_another_and_placeholders_mix() -> None:
    def noisy(call: HostCall, x: np.ndarray) -> np.ndarray:
        return x + call.rng.integers(0, 5, size=x.shape).astype(np.float32)

    @flow.global_function()
    def job(scale: tp.Numpy.Placeholder((1,), dtype=flow.float)) -> tp.Numpy:
        x = features(reader())
        y = host_op("test_noise", noisy, (x,), fed=True)
        return (y - x) * scale

    first = [job(np.ones(1, np.float32)) for _ in range(3)]
    for out in first:
        assert np.all((out >= 0) & (out < 5))
        assert out.shape == (3, 4)
    assert not all(np.array_equal(first[0], o) for o in first[1:])


def test_train_job_trains_from_host_data_and_checkpoint_restores_position(tmp_path: Path) -> None:
    def build() -> Any:
        @flow.global_function(type="train")
        def train_job() -> tp.Numpy:
            records = reader()
            x, y = features(records), labels(records)
            w = flow.get_variable("w", (4, 3), initializer=flow.constant_initializer(0.01))
            logits = flow.matmul(x, w)
            loss = flow.nn.sparse_softmax_cross_entropy_with_logits(y, logits)
            flow.optimizer.SGD(flow.optimizer.PiecewiseConstantScheduler([], [0.01])).minimize(loss)
            return loss

        return train_job

    job = build()
    for _ in range(4):
        job()
    flow.checkpoint.save(str(tmp_path / "ckpt"))
    uninterrupted = [job() for _ in range(3)]
    final = flow.get_all_variables()["w"].numpy()
    position = flow.get_all_variables()[POSITION_PREFIX + "train_job"].numpy()
    assert position.tolist() == [7]
    assert position.dtype == np.int64

    flow.clear_default_session()
    job = build()
    flow.load_variables(flow.checkpoint.get(str(tmp_path / "ckpt")))
    resumed = [job() for _ in range(3)]
    for a, b in zip(uninterrupted, resumed, strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(flow.get_all_variables()["w"].numpy(), final)


def test_loading_an_older_position_rewinds_the_stream(tmp_path: Path) -> None:
    @flow.global_function()
    def read_job() -> tp.Numpy:
        return features(reader())

    read_job()
    flow.checkpoint.save(str(tmp_path / "at1"))
    second = read_job()
    for _ in range(3):
        read_job()  # the producer has computed batches ahead by now
    flow.load_variables(flow.checkpoint.get(str(tmp_path / "at1")))
    np.testing.assert_array_equal(read_job(), second)


def test_data_op_outside_a_job_is_a_clear_error() -> None:
    with pytest.raises(TraceError, match="inside the body of a job"):
        host_op("test_reader", lambda call: [0], fed=False)


def test_device_value_into_a_data_op_is_refused() -> None:
    @flow.global_function()
    def job(x: tp.Numpy.Placeholder((2,), dtype=flow.float)) -> tp.Numpy:
        return host_op("test_bad", lambda call, v: v, (x,), fed=True)

    with pytest.raises(TraceError, match="takes the output of another data op"):
        job(np.zeros(2, np.float32))


def test_a_fed_op_changing_shape_is_a_clear_error() -> None:
    @flow.global_function()
    def job() -> tp.Numpy:
        return host_op("test_growing", lambda call: np.zeros(call.batch + 1), fed=True)

    job()
    with pytest.raises(TraceError, match="same shape every batch"):
        job()


def test_host_errors_reach_the_caller() -> None:
    def broken(call: HostCall) -> np.ndarray:
        if call.batch == 2:
            raise ValueError("damaged record in part-00001 at byte 48")
        return np.zeros(2)

    @flow.global_function()
    def job() -> tp.Numpy:
        return host_op("test_broken", broken, fed=True)

    job()
    job()
    with pytest.raises(ValueError, match="part-00001 at byte 48"):
        job()


def test_gradient_accumulation_reads_one_batch_per_micro_batch(tmp_path: Path) -> None:
    """As OneFlow ran its readers once per micro-batch: a call with n micro-batches consumes n
    batches, equal to feeding their concatenation through a placeholder."""

    def model(x: Any, y: Any) -> Any:
        w = flow.get_variable("w", (4, 3), initializer=flow.constant_initializer(0.01))
        loss = flow.nn.sparse_softmax_cross_entropy_with_logits(y, flow.matmul(x, w))
        flow.optimizer.SGD(flow.optimizer.PiecewiseConstantScheduler([], [0.01])).minimize(loss)
        return loss

    def config() -> Any:
        cfg = flow.FunctionConfig()
        cfg.train.num_gradient_accumulation_steps(2)
        return cfg

    @flow.global_function(type="train", function_config=config())
    def reads() -> tp.Numpy:
        records = reader()
        return model(features(records), labels(records))

    for _ in range(3):
        reads()
    assert flow.get_all_variables()[POSITION_PREFIX + "reads"].numpy().tolist() == [6]
    flow.checkpoint.save(str(tmp_path / "after3"))
    read_weights = flow.get_all_variables()["w"].numpy()

    flow.clear_default_session()

    @flow.global_function(type="train", function_config=config())
    def fed(
        x: tp.Numpy.Placeholder((6, 4), dtype=flow.float),
        y: tp.Numpy.Placeholder((6,), dtype=flow.int32),
    ) -> tp.Numpy:
        return model(x, y)

    for call in range(3):
        rows = [(call * 6 + i) % len(DATA) for i in range(6)]
        fed(DATA[rows], LABELS[rows])
    np.testing.assert_array_equal(flow.get_all_variables()["w"].numpy(), read_weights)


def test_results_are_writable_numpy_arrays_as_in_oneflow() -> None:
    @flow.global_function()
    def job() -> tp.Numpy:
        return features(reader()) + 0

    out = job()
    out.sort(axis=0)  # OneFlow's results were ordinary arrays a program could change
    assert out.flags.writeable


def test_clearing_the_session_stops_the_data_producer() -> None:
    import threading

    @flow.global_function()
    def job() -> tp.Numpy:
        return features(reader())

    job()  # starts the producer, which computes the next batches
    flow.clear_default_session()
    producers = [t for t in threading.enumerate() if t.name.startswith("flowsnap-data-job")]
    for thread in producers:
        thread.join(timeout=5)
    assert not [t for t in producers if t.is_alive()]
