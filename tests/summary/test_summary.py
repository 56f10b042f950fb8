"""flow.summary against TensorBoard's own reader (``EventAccumulator``) and a reference CRC-32C
(``google-crc32c``): event files written by jobs as OneFlow's summary test wrote them."""

from __future__ import annotations

import io
import json
import os
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import flowsnap as flow
from flowsnap import summary
from flowsnap import typing as tp
from flowsnap.compat import facade
from flowsnap.errors import ArgumentError, SessionError

google_crc32c = pytest.importorskip("google_crc32c")
event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
plugin_data_pb2 = pytest.importorskip("tensorboard.plugins.hparams.plugin_data_pb2")


def _mask(crc: int) -> int:  # TFRecord's mask, written here from its definition
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


@given(st.binary(max_size=300))
def test_crc32c_matches_the_reference(data: bytes) -> None:
    assert summary.crc32c(data) == google_crc32c.value(data)
    assert summary.masked_crc32c(data) == _mask(google_crc32c.value(data))


def test_crc32c_known_answer() -> None:
    assert summary.crc32c(b"123456789") == 0xE3069283  # the CRC-32C check value


def test_record_framing_and_damage() -> None:
    record = summary.frame(b"hello")
    length, crc = struct.unpack("<QI", record[:12])
    assert length == 5
    assert crc == _mask(google_crc32c.value(record[:8]))
    assert record[12:17] == b"hello"
    assert struct.unpack("<I", record[17:])[0] == _mask(google_crc32c.value(b"hello"))
    assert list(summary.read_records(io.BytesIO(record * 2))) == [b"hello", b"hello"]
    damaged = record[:13] + b"X" + record[14:]
    with pytest.raises(ValueError, match="CRC of a record's data"):
        list(summary.read_records(io.BytesIO(damaged)))
    with pytest.raises(ValueError, match="truncated"):
        list(summary.read_records(io.BytesIO(record[:-2])))


def _accumulator(logdir: Path) -> event_accumulator.EventAccumulator:
    acc = event_accumulator.EventAccumulator(
        str(logdir / "event"),
        size_guidance={
            event_accumulator.TENSORS: 0,
            event_accumulator.HISTOGRAMS: 0,
            event_accumulator.IMAGES: 0,
        },
    )
    acc.Reload()
    return acc


def _tag(text: str) -> np.ndarray:
    return np.frombuffer(text.encode(), dtype=np.int8)


@pytest.fixture
def closed_writer() -> object:
    yield
    summary.close_writer()


def test_jobs_write_what_tensorboard_reads(tmp_path: Path, closed_writer: object) -> None:
    logdir = str(tmp_path)

    @flow.global_function()
    def CreateWriter() -> None:
        flow.summary.create_summary_writer(logdir)

    @flow.global_function()
    def ScalarJob(
        value: tp.ListNumpy.Placeholder((1,), dtype=flow.float),
        step: tp.ListNumpy.Placeholder((1,), dtype=flow.int64),
        tag: tp.ListNumpy.Placeholder((6,), dtype=flow.int8),
    ) -> None:
        flow.summary.scalar(value, step, tag)

    @flow.global_function()
    def HistogramJob(
        value: tp.Numpy.Placeholder((20, 30), dtype=flow.float),
        step: tp.Numpy.Placeholder((1,), dtype=flow.int64),
        tag: tp.Numpy.Placeholder((9,), dtype=flow.int8),
    ) -> None:
        flow.summary.histogram(value, step, tag)

    @flow.global_function()
    def ImageJob(
        value: tp.Numpy.Placeholder((3, 8, 6, 3), dtype=flow.uint8),
        step: tp.Numpy.Placeholder((1,), dtype=flow.int64),
        tag: tp.Numpy.Placeholder((5,), dtype=flow.int8),
    ) -> None:
        flow.summary.image(value, step=step, tag=tag)

    @flow.global_function()
    def FlushJob() -> None:
        flow.summary.flush_summary_writer()

    CreateWriter()
    for i in range(10):
        ScalarJob([np.array([i * 0.25], np.float32)], [np.array([i], np.int64)], [_tag("scalar")])
    rng = np.random.default_rng(0)
    values = [rng.normal(size=(20, 30)).astype(np.float32) for _ in range(3)]
    for i, v in enumerate(values):
        HistogramJob(v, np.array([i], np.int64), _tag("histogram"))
    images = rng.integers(0, 256, size=(3, 8, 6, 3), dtype=np.uint8)
    ImageJob(images, np.array([7], np.int64), _tag("image"))
    FlushJob()
    flow.summary.flush_summary_writer()  # outside a job: after the steps' callbacks

    acc = _accumulator(tmp_path)
    scalars = acc.Scalars("scalar")
    assert [(s.step, s.value) for s in scalars] == [(i, i * 0.25) for i in range(10)]

    histos = acc.Histograms("histogram")
    assert [h.step for h in histos] == [0, 1, 2]
    for h, v in zip(histos, values, strict=True):
        x = v.astype(np.float64).ravel()
        got = h.histogram_value
        assert got.num == x.size
        assert got.min == x.min()
        assert got.max == x.max()
        np.testing.assert_allclose(got.sum, x.sum(), rtol=1e-12)
        np.testing.assert_allclose(got.sum_squares, (x * x).sum(), rtol=1e-12)
        assert sum(got.bucket) == x.size
        # every value is below its bucket's limit and at or above the previous limit
        limits = np.asarray(got.bucket_limit)
        edges = np.concatenate([[-np.inf], limits[:-1]])
        for lo, hi, count in zip(edges, limits, got.bucket, strict=True):
            assert np.count_nonzero((x >= lo) & (x < hi)) == count

    from PIL import Image

    for i in range(3):
        (event,) = acc.Images(f"image{i}")
        assert event.step == 7
        assert (event.width, event.height) == (6, 8)
        decoded = np.asarray(Image.open(io.BytesIO(event.encoded_image_string)))
        np.testing.assert_array_equal(decoded, images[i])


def test_histogram_buckets_follow_oneflow() -> None:
    limits = summary.bucket_limits()
    assert limits.size == 675
    assert limits[337] == 0.0
    assert limits[338] == 6.144212353328214e-06
    np.testing.assert_allclose(limits[339:-1] / limits[338:-2], 1.1)
    np.testing.assert_array_equal(limits[:337], -limits[338:][::-1])
    histo = summary.message_class("tensorboard.HistogramProto")()
    from flowsnap.summary._encode import fill_histogram

    fill_histogram(histo, np.array([0.0, 0.0, 1.0]))
    # empty runs collapse to their last limit; 0 falls in [0, 6.1e-6); 1.0 in the bucket above it
    assert list(histo.bucket) == [0.0, 2.0, 0.0, 1.0, 0.0]
    assert histo.bucket_limit[1] == limits[338]
    assert histo.bucket_limit[3] > 1.0 >= histo.bucket_limit[2]
    assert histo.bucket_limit[-1] == limits[-1]


def test_text_and_hparams_through_pb(tmp_path: Path, closed_writer: object) -> None:
    @flow.global_function()
    def PbJob(
        value: tp.ListNumpy.Placeholder((1500,), dtype=flow.int8),
        step: tp.ListNumpy.Placeholder((1,), dtype=flow.int64),
    ) -> None:
        flow.summary.pb(value, step=step)

    flow.summary.create_summary_writer(str(tmp_path))
    text = flow.summary.text(["vgg16", "resnet50"])
    encoded = np.frombuffer(str(text).encode(), dtype=np.int8)
    params = {
        flow.summary.HParam("learning_rate", flow.summary.RealRange(1e-2, 1e-1)): 0.02,
        flow.summary.HParam("dense_layers", flow.summary.IntegerRange(2, 7)): 5,
        flow.summary.HParam("optimizer", flow.summary.ValueSet(["sgd", "adam"])): "adam",
        flow.summary.HParam("magic", flow.summary.ValueSet([False, True])): True,
        flow.summary.Metric("loss", float): 0.25,
        "dropout": np.float32(0.5),
    }
    hparams = np.frombuffer(str(flow.summary.hparams(params)).encode(), dtype=np.int8)
    PbJob([np.resize(encoded, 1500)[: encoded.size]], [np.array([3], np.int64)])
    flow.summary.pb(hparams, step=np.array([4], np.int64))
    flow.summary.flush_summary_writer()

    acc = _accumulator(tmp_path)
    (event,) = acc.Tensors("text")
    assert event.step == 3
    assert list(event.tensor_proto.string_val) == [b"vgg16", b"resnet50"]
    content = acc.SummaryMetadata("_hparams_/session_start_info").plugin_data.content
    data = plugin_data_pb2.HParamsPluginData.FromString(content)
    info = data.session_start_info
    assert info.hparams["learning_rate"].number_value == 0.02
    assert info.hparams["dense_layers"].number_value == 5
    assert info.hparams["optimizer"].string_value == "adam"
    assert info.hparams["magic"].bool_value is True
    assert info.hparams["dropout"].number_value == 0.5
    assert "loss" not in info.hparams
    assert len(info.group_name) == 64


def test_hparam_domains_check_as_oneflow() -> None:
    with pytest.raises(TypeError, match="not an integer"):
        flow.summary.IntegerRange(1.0, 2)
    with pytest.raises(ValueError, match="bigger"):
        flow.summary.RealRange(2.0, 1.0)
    assert flow.summary.ValueSet(["b", "a"]).values == ["a", "b"]
    with pytest.raises(TypeError):
        flow.summary.ValueSet(["a", 1])
    with pytest.raises(ValueError, match="Hparam dtype"):
        flow.summary.HParam("x", dtype=int)
    with pytest.raises(ValueError, match="int, float"):
        flow.summary.Metric("m", str)
    with pytest.raises(ValueError, match="already exist"):
        flow.summary.hparams({"a": 1, flow.summary.HParam("a"): 2})
    assert flow.summary.text([]) is None


def test_writes_need_a_writer_and_checked_values(tmp_path: Path, closed_writer: object) -> None:
    summary.close_writer()
    with pytest.raises(SessionError, match="create_summary_writer"):
        flow.summary.scalar(np.array([1.0]), np.array([0]), "x")
    flow.summary.create_summary_writer(str(tmp_path))
    with pytest.raises(ArgumentError, match="uint8"):
        flow.summary.image(np.zeros((1, 2, 2, 3), np.float32), np.array([0]), "i")
    with pytest.raises(ArgumentError, match="neither"):
        flow.summary.pb(np.frombuffer(b"\xff\xfe{", np.int8), np.array([0]))


def test_graph_and_projector_files(tmp_path: Path) -> None:
    @flow.global_function()
    def predict(x: tp.Numpy.Placeholder((2, 3))) -> tp.Numpy:
        w = flow.get_variable("w", shape=(3, 4), initializer=flow.zeros_initializer())
        return flow.matmul(x, w)

    graph = flow.summary.Graph(str(tmp_path))
    graph.write_structure_graph()
    with pytest.raises(OSError, match="only one"):
        graph.write_structure_graph()
    written = json.loads(Path(graph.structure_graph_filename).read_text())
    assert written["jobs"][0]["name"] == "predict"
    assert written["jobs"][0]["variables"] == ["w"]
    assert written["variables"]["w"]["shape"] == [3, 4]

    projector = flow.summary.Projector(str(tmp_path))
    projector.create_embedding_projector()
    projector.create_exception_projector()
    value = np.arange(6, dtype=np.float32).reshape(2, 3)
    projector.embedding_projector(
        value=value,
        label=np.array([1, 0]),
        step=1,
        sample_name="s",
        sample_type="image",
        x=np.zeros((2, 4), np.uint8),
    )
    projector.exception_projector(value=value, tag="exc", step=2)
    message = summary.message_class("oneflow.summary.SummaryProjector")
    embedding = message.FromString(Path(projector.embedding_filename).read_bytes())
    assert embedding.metadata.type == 0
    (pro,) = embedding.projector
    assert pro.tag == "embedding_projector"
    assert pro.step == 1
    assert [d.size for d in pro.value.shape.dim] == [2, 3]
    np.testing.assert_array_equal(np.frombuffer(pro.value.content, np.float32), value.ravel())
    assert embedding.sample.name == "s"
    exception = message.FromString(Path(projector.exception_filename).read_bytes())
    assert exception.metadata.type == 1
    assert exception.projector[0].tag == "exc"
    assert os.path.dirname(projector.embedding_filename) == str(tmp_path / "projector")


@pytest.mark.parametrize("version", ["0.3", "0.4", "0.5"])
def test_every_summary_name_resolves_under_each_facade(version: str) -> None:
    from flowsnap.compat import get_facade

    table = get_facade(version).table
    names = [n for n in table.entries if n.startswith("summary.")]
    assert len(names) == 15
    root = facade(version)
    for name in names:
        assert callable(getattr(root.summary, name.split(".")[1])), name
    hparam = root.summary.HParam if version == "0.5" else root.summary.Hparam
    assert isinstance(hparam("lr"), summary.HParam)
