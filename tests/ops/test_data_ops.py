"""flow.data's job ops: jobs with no placeholders that read OFRecords written by
flowsnap.data.write_ofrecord, checked against an independent NumPy reading of the same records;
shuffling, epoch boundaries, exact resume, the deprecated decode_ofrecord, decode_random, and a
OneFlow program that writes its own OFRecords and trains from them under ``flowsnap run``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import flowsnap as flow
import flowsnap.typing as tp
from flowsnap._engine import POSITION_PREFIX
from flowsnap.cli import main
from flowsnap.data import write_ofrecord
from flowsnap.errors import ArgumentError, DatasetError, TraceError
from flowsnap.ops._data import stream_records

N = 10
X = np.arange(N * 4, dtype=np.float32).reshape(N, 4) / 10
Y = (np.arange(N) % 3).astype(np.int32)


@pytest.fixture
def data_dir(tmp_path: Path) -> str:
    records = [{"x": X[i], "y": Y[i : i + 1], "id": np.int64([i])} for i in range(N)]
    write_ofrecord(records, tmp_path / "of", data_part_num=3, fsync=False)  # parts of 4, 3, 3
    return str(tmp_path / "of")


def ids_job(data_dir: str, batch_size: int, **reader: Any) -> Any:
    @flow.global_function()
    def ids() -> tp.Numpy:
        rec = flow.data.ofrecord_reader(data_dir, batch_size=batch_size, data_part_num=3, **reader)
        return flow.data.OFRecordRawDecoder(rec, "id", shape=(), dtype=flow.int32)

    return ids


def test_batches_wrap_around_epochs_in_part_order(data_dir: str) -> None:
    job = ids_job(data_dir, 4)
    got = np.concatenate([job() for _ in range(5)])
    # Independent reading: the stream is record 0..N-1 again and again, batches cut from it.
    np.testing.assert_array_equal(got, np.arange(20) % N)


def test_a_job_with_no_placeholders_trains_from_ofrecords(data_dir: str) -> None:
    lr = 0.1

    @flow.global_function(type="train")
    def train() -> tp.Numpy:
        rec = flow.data.ofrecord_reader(data_dir, batch_size=5, data_part_num=3)
        x = flow.data.OFRecordRawDecoder(rec, "x", shape=(4,), dtype=flow.float)
        y = flow.data.ofrecord_raw_decoder(rec, "y", shape=(), dtype=flow.int32)
        w = flow.get_variable("w", (4, 3), initializer=flow.constant_initializer(0.0))
        loss = flow.nn.sparse_softmax_cross_entropy_with_logits(y, flow.matmul(x, w))
        flow.optimizer.SGD(flow.optimizer.PiecewiseConstantScheduler([], [lr])).minimize(loss)
        return loss

    w, v = np.zeros((4, 3), np.float64), np.zeros((4, 3), np.float64)
    for k in range(4):
        loss = train()
        idx = (np.arange(5) + 5 * k) % N
        x, y = X[idx].astype(np.float64), Y[idx]
        logits = x @ w
        p = np.exp(logits - logits.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        np.testing.assert_allclose(loss, -np.log(p[np.arange(5), y]), rtol=1e-5)
        p[np.arange(5), y] -= 1
        v = 0.9 * v - lr * x.T @ p / 5  # OneFlow's SGD (momentum 0.9) on the mean loss
        w += v
    np.testing.assert_allclose(flow.get_all_variables()["w"].numpy(), w, rtol=1e-5, atol=1e-6)


def test_shuffle_after_epoch_keeps_parts_whole_and_covers_each_epoch(data_dir: str) -> None:
    job = ids_job(data_dir, 5, shuffle_after_epoch=True)
    stream = np.concatenate([job() for _ in range(8)]).reshape(4, N)  # four epochs
    np.testing.assert_array_equal(stream[0], np.arange(N))  # epoch 0 in part order
    parts = [[0, 1, 2, 3], [4, 5, 6], [7, 8, 9]]
    orders = set()
    for epoch in stream:
        assert sorted(epoch.tolist()) == list(range(N))
        pos, order = 0, []
        while pos < N:  # the epoch is whole parts, each in its own order
            part = next(p for p in parts if p[0] == epoch[pos])
            assert epoch[pos : pos + len(part)].tolist() == part
            order.append(parts.index(part))
            pos += len(part)
        orders.add(tuple(order))
    assert len(orders) > 1


def test_random_shuffle_is_a_window_permutation_and_deterministic(data_dir: str) -> None:
    job = ids_job(data_dir, 4, random_shuffle=True, shuffle_buffer_size=5)
    first = np.concatenate([job() for _ in range(10)])  # 40 positions = 8 windows of 5
    for w in range(8):
        window = first[5 * w : 5 * w + 5]
        assert sorted(window.tolist()) == sorted(((np.arange(5) + 5 * w) % N).tolist())
    assert not np.array_equal(first, np.arange(40) % N)
    flow.clear_default_session()
    again = ids_job(data_dir, 4, random_shuffle=True, shuffle_buffer_size=5)
    np.testing.assert_array_equal(np.concatenate([again() for _ in range(10)]), first)


def test_stream_order_is_a_pure_function_of_the_batch() -> None:
    lengths = [7, 5, 9]
    kw = {"seed": 11, "random_shuffle": True, "shuffle_buffer_size": 6, "shuffle_after_epoch": True}
    whole = stream_records(0, 21 * 6, lengths, **kw)
    for k in range(6):
        np.testing.assert_array_equal(
            stream_records(k, 21, lengths, **kw), whole[21 * k : 21 * k + 21]
        )
    assert np.bincount(whole, minlength=21).tolist() == [6] * 21  # each record once per epoch
    with pytest.raises(ArgumentError, match="no record"):
        stream_records(0, 2, [0, 0])


def test_resume_reads_exactly_the_batches_of_the_uninterrupted_run(
    data_dir: str, tmp_path: Path
) -> None:
    def build() -> Any:
        @flow.global_function(type="train")
        def train() -> tp.Numpy:
            rec = flow.data.ofrecord_reader(
                data_dir,
                batch_size=3,
                data_part_num=3,
                random_shuffle=True,
                shuffle_buffer_size=4,
                shuffle_after_epoch=True,
            )
            x = flow.data.OFRecordRawDecoder(rec, "x", shape=(4,), dtype=flow.float)
            ids = flow.data.OFRecordRawDecoder(rec, "id", shape=(), dtype=flow.int32)
            w = flow.get_variable("w", (4, 1), initializer=flow.constant_initializer(0.1))
            loss = flow.math.reduce_mean(flow.matmul(x, w) ** 2, axis=1)
            flow.optimizer.SGD(flow.optimizer.PiecewiseConstantScheduler([], [0.01])).minimize(loss)
            return ids

        return train

    job = build()
    for _ in range(5):
        job()
    flow.checkpoint.save(str(tmp_path / "ck"))
    uninterrupted = [job() for _ in range(4)]
    final = flow.get_all_variables()["w"].numpy()
    assert flow.get_all_variables()[POSITION_PREFIX + "train"].numpy().tolist() == [9]

    flow.clear_default_session()
    job = build()
    flow.load_variables(flow.checkpoint.get(str(tmp_path / "ck")))
    for a, b in zip(uninterrupted, [job() for _ in range(4)], strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(flow.get_all_variables()["w"].numpy(), final)  # bitwise


def test_decode_ofrecord_with_codecs(data_dir: str) -> None:
    @flow.global_function()
    def job() -> tp.Numpy:
        labels, x = flow.data.decode_ofrecord(
            data_dir,
            (
                flow.data.BlobConf("y", shape=(), dtype=flow.int32, codec=flow.data.RawCodec()),
                flow.data.BlobConf("x", (6,), flow.float, flow.data.RawCodec(truncate=True)),
            ),
            batch_size=4,
            data_part_num=3,
        )
        return x + flow.cast(flow.reshape(labels, (4, 1)), flow.float)

    got = job()
    want = np.zeros((4, 6), np.float32)
    want[:, :4] = X[:4]
    np.testing.assert_allclose(got, want + Y[:4, None])


def test_bytes_decoder_output_stays_on_the_host(data_dir: str) -> None:
    write_ofrecord([{"b": bytes([i] * (i + 1))} for i in range(3)], Path(data_dir) / "b")

    @flow.global_function()
    def job() -> tp.Numpy:
        rec = flow.data.ofrecord_reader(str(Path(data_dir) / "b"), batch_size=2)
        blob = flow.data.OFRecordBytesDecoder(rec, "b")
        assert blob.shape == (2,)
        return flow.math.reduce_sum(blob)

    with pytest.raises(TraceError, match="data on the host"):
        job()


def test_decode_random_is_seeded_per_batch() -> None:
    @flow.global_function()
    def job() -> tp.Numpy:
        return flow.data.decode_random((3, 2), flow.float, batch_size=4)

    a, b = job(), job()
    assert a.shape == (4, 3, 2)
    assert a.dtype == np.float32
    assert np.all((a >= 0) & (a < 1))
    assert not np.array_equal(a, b)
    flow.clear_default_session()

    @flow.global_function()
    def job2() -> tp.Numpy:
        return flow.data.decode_random(
            (5,), flow.float, batch_size=2, initializer=flow.random_normal_initializer(3.0, 0.1)
        )

    out = job2()
    assert abs(out.mean() - 3.0) < 0.3


def test_errors_name_the_problem(data_dir: str, tmp_path: Path) -> None:
    with pytest.raises(TraceError, match="inside the body of a job"):
        flow.data.ofrecord_reader(data_dir, batch_size=2)
    with pytest.raises(DatasetError, match="cannot read COCO annotations"):
        flow.data.coco_reader("a.json", "img", 2)

    @flow.global_function()
    def missing() -> tp.Numpy:
        rec = flow.data.ofrecord_reader(data_dir, batch_size=2, data_part_num=4)
        return flow.data.OFRecordRawDecoder(rec, "id", shape=(), dtype=flow.int32)

    with pytest.raises(DatasetError, match="part-3"):
        missing()
    flow.clear_default_session()

    @flow.global_function()
    def wrong_feature() -> tp.Numpy:
        rec = flow.data.ofrecord_reader(data_dir, batch_size=2, data_part_num=3)
        return flow.data.OFRecordRawDecoder(rec, "label", shape=(), dtype=flow.int32)

    with pytest.raises(DatasetError, match=r"no feature 'label' \(it has: id, x, y\)"):
        wrong_feature()


PROGRAM = """
import struct, sys
import numpy as np
import oneflow as flow
import oneflow.typing as tp
import oneflow.core.record.record_pb2 as ofrecord

data_dir = sys.argv[1]
rng = np.random.RandomState(0)
images = rng.rand(12, 4).astype(np.float32)
labels = (images.sum(1) > 2).astype(np.int32)
with open(data_dir + "/part-0", "wb") as f:
    for image, label in zip(images, labels):
        record = ofrecord.OFRecord(feature={
            "images": ofrecord.Feature(float_list=ofrecord.FloatList(value=image.tolist())),
            "labels": ofrecord.Feature(int32_list=ofrecord.Int32List(value=[int(label)])),
        })
        data = record.SerializeToString()
        f.write(struct.pack("q", len(data)))
        f.write(data)

@flow.global_function(type="train")
def train_job() -> tp.Numpy:
    ofrecord_blob = flow.data.ofrecord_reader(data_dir, batch_size=4, data_part_num=1,
                                             part_name_suffix_length=-1, random_shuffle=True)
    image = flow.data.OFRecordRawDecoder(ofrecord_blob, "images", shape=(4,), dtype=flow.float)
    label = flow.data.OFRecordRawDecoder(ofrecord_blob, "labels", shape=(1,), dtype=flow.int32,
                                         auto_zero_padding=False)
    logits = flow.layers.dense(image, 2, name="dense")
    loss = flow.nn.sparse_softmax_cross_entropy_with_logits(flow.reshape(label, (4,)), logits)
    lr = flow.optimizer.PiecewiseConstantScheduler([], [0.1])
    flow.optimizer.SGD(lr, momentum=0).minimize(loss)
    return loss

losses = [float(train_job().mean()) for _ in range(60)]  # 20 epochs of 3 batches
print("first epoch", sum(losses[:3]) / 3, "last epoch", sum(losses[-3:]) / 3)
assert sum(losses[-3:]) < sum(losses[:3])
"""


def test_a_oneflow_program_writes_ofrecords_and_trains_from_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = tmp_path / "train.py"
    script.write_text(PROGRAM)
    (tmp_path / "data").mkdir()
    assert main(["run", str(script), str(tmp_path / "data")]) == 0, capsys.readouterr().err
    assert "last" in capsys.readouterr().out
    assert "oneflow" not in sys.modules


def _naive_device_stream(lengths: list[int], parts: range, count: int) -> list[int]:
    """One device of OneFlow's reader, unshuffled: its parts' records in order, forever."""
    starts = np.concatenate([[0], np.cumsum(lengths)])
    epoch = [int(starts[p]) + i for p in parts for i in range(lengths[p])]
    return [epoch[i % len(epoch)] for i in range(count)]


@pytest.mark.parametrize("devices", [1, 2, 3])
def test_each_device_reads_its_balanced_share_of_the_parts(devices: int) -> None:
    lengths = [4, 1, 3, 2, 5]  # BalancedSplitter(5, 2): parts 0-2 and 3-4; (5, 3): 0-1, 2-3, 4
    ranges = {1: [range(5)], 2: [range(3), range(3, 5)], 3: [range(2), range(2, 4), range(4, 5)]}
    per = 2
    streams = [_naive_device_stream(lengths, r, 7 * per) for r in ranges[devices]]
    for k in range(7):
        got = stream_records(k, per * devices, lengths, parallel_num=devices)
        want = [i for s in streams for i in s[k * per : k * per + per]]
        assert got.tolist() == want
    with pytest.raises(ArgumentError, match="not divisible by the 2 devices"):
        stream_records(0, 3, lengths, parallel_num=2)
    with pytest.raises(ArgumentError, match="6 devices read 5 parts"):
        stream_records(0, 6, lengths, parallel_num=6)


def test_devices_shuffle_parts_after_each_epoch_within_their_range() -> None:
    lengths = [3, 2, 4, 1]
    starts = np.concatenate([[0], np.cumsum(lengths)])
    part_of = {int(starts[p]) + i: p for p in range(4) for i in range(lengths[p])}
    got = np.stack(
        [
            stream_records(k, 2, lengths, seed=3, shuffle_after_epoch=True, parallel_num=2)
            for k in range(40)
        ]
    )
    first, second = got[:, 0], got[:, 1]  # device 0 and device 1, one record per batch each
    assert first[:5].tolist() == [0, 1, 2, 3, 4]  # epoch 0: parts 0-1 of the natural order
    assert second[:5].tolist() == [5, 6, 7, 8, 9]  # parts 2-3
    # Later epochs: every record of a device's epoch belongs to the same two parts, each whole.
    assert {part_of[int(i)] for i in first} | {part_of[int(i)] for i in second} == {0, 1, 2, 3}
    assert {part_of[int(i)] for i in first[5:]} != {0, 1}


def test_decode_ofrecord_image_codec(tmp_path: Path) -> None:
    import io

    from PIL import Image

    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (4, 8, 8, 3), dtype=np.uint8)
    records = []
    for i, rgb in enumerate(pixels):
        png = io.BytesIO()
        Image.fromarray(rgb).save(png, "PNG")
        records.append({"encoded": png.getvalue(), "class/label": np.int32([i])})
    write_ofrecord(records, tmp_path / "img", fsync=False)
    mean = (123.68, 116.78, 103.94)

    @flow.global_function()
    def job() -> tuple[tp.Numpy, tp.Numpy]:
        label, image = flow.data.decode_ofrecord(
            str(tmp_path / "img"),
            (
                flow.data.BlobConf("class/label", (), flow.int32, flow.data.RawCodec()),
                flow.data.BlobConf(
                    "encoded",
                    (8, 8, 3),
                    flow.float,
                    flow.data.ImageCodec([flow.data.ImageResizePreprocessor(8, 8)]),
                    preprocessors=[flow.data.NormByChannelPreprocessor(mean)],
                ),
            ),
            batch_size=2,
        )
        return label, image

    for k in range(2):
        labels, images = job()
        np.testing.assert_array_equal(labels, [2 * k, 2 * k + 1])
        bgr = pixels[labels][..., ::-1].astype(np.float32)  # OneFlow's default color space: BGR
        np.testing.assert_allclose(images, bgr - np.float32(mean), rtol=1e-6)


def test_several_readers_and_a_predict_job_reading_validation_data(
    data_dir: str, tmp_path: Path
) -> None:
    write_ofrecord([{"id": np.int64([100 + i])} for i in range(3)], tmp_path / "val", fsync=False)
    val_dir = str(tmp_path / "val")

    @flow.global_function(type="train")
    def train() -> tuple[tp.Numpy, tp.Numpy]:
        a = flow.data.ofrecord_reader(data_dir, batch_size=4, data_part_num=3)
        b = flow.data.ofrecord_reader(val_dir, batch_size=2)  # a second reader in one job
        ids_a = flow.data.OFRecordRawDecoder(a, "id", shape=(), dtype=flow.int32)
        ids_b = flow.data.OFRecordRawDecoder(b, "id", shape=(), dtype=flow.int32)
        x = flow.data.OFRecordRawDecoder(a, "x", shape=(4,), dtype=flow.float)
        w = flow.get_variable("w", (4, 1), initializer=flow.constant_initializer(0.1))
        loss = flow.math.reduce_mean(flow.matmul(x, w), axis=1)
        flow.optimizer.SGD(flow.optimizer.PiecewiseConstantScheduler([], [0.01])).minimize(loss)
        return ids_a, ids_b

    @flow.global_function(type="predict")
    def validate() -> tp.Numpy:
        rec = flow.data.ofrecord_reader(val_dir, batch_size=3)
        return flow.data.OFRecordRawDecoder(rec, "id", shape=(), dtype=flow.int32)

    for k in range(3):
        ids_a, ids_b = train()
        assert ids_a.tolist() == [(4 * k + i) % N for i in range(4)]
        assert ids_b.tolist() == [100 + (2 * k + i) % 3 for i in range(2)]
        assert validate().tolist() == [100, 101, 102]  # its own position, one epoch per call
    variables = flow.get_all_variables()
    assert variables[POSITION_PREFIX + "train"].numpy().tolist() == [3]
    assert variables[POSITION_PREFIX + "validate"].numpy().tolist() == [3]
