"""flow.saved_model / flow.serving: a predict job exported in OneFlow's layout and served by
InferenceSession, compared with the job run in-process (the oracle) and with NumPy."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from google.protobuf import text_format

import flowsnap as flow
from flowsnap import serving
from flowsnap import typing as tp
from flowsnap.compat import facade, get_facade
from flowsnap.errors import ArgumentError, TargetExistsError, UnsupportedFeatureError


def _define(batch: int) -> object:
    @flow.global_function(type="predict")
    def mlp_infer(
        image: tp.Numpy.Placeholder((batch, 4), dtype=flow.float32),
        bias: tp.Numpy.Placeholder((batch, 3), dtype=flow.float32),
    ) -> tp.Numpy:
        w = flow.get_variable(
            "w", shape=(4, 3), initializer=flow.random_normal_initializer(), random_seed=1
        )
        hidden = flow.math.relu(flow.matmul(image, w) + bias)
        return flow.math.reduce_sum(hidden, axis=1)

    return mlp_infer


def _save(path: Path, job: object, version: int = 1) -> None:
    builder = flow.serving.ModelBuilder(str(path))
    signature = builder.ModelName("mlp").Version(version).AddFunction(job).AddSignature("regress")
    signature.Input("x", "image/out").Input("b", "bias/out").Output("y", "out/0")
    builder.Save()


def test_export_then_serve_matches_the_job(tmp_path: Path) -> None:
    job = _define(4)
    rng = np.random.default_rng(0)
    image = rng.normal(size=(4, 4)).astype(np.float32)
    bias = rng.normal(size=(4, 3)).astype(np.float32)
    expected = job(image, bias)
    w = flow.get_all_variables()["w"].numpy()
    np.testing.assert_allclose(expected, np.maximum(image @ w + bias, 0).sum(1), rtol=1e-5)
    _save(tmp_path / "models", job)

    version = tmp_path / "models" / "1"
    assert sorted(os.listdir(version)) == [
        "flowsnap",
        "saved_model.pb",
        "saved_model.prototxt",
        "variables",
    ]
    assert (version / "variables" / "w" / "meta").is_file()
    assert (version / "variables" / "snapshot_done").is_file()
    graph_json = json.loads((version / "flowsnap" / "mlp_infer.json").read_text())
    assert graph_json["platforms"] == ["cpu", "cuda"]
    assert graph_json["batch_polymorphic"] is True
    assert graph_json["signatures"]["regress"]["outputs"] == ["y"]
    proto = serving.message_class("SavedModel")()
    text_format.Merge((version / "saved_model.prototxt").read_text(), proto)
    assert proto.name == "mlp"
    assert proto.version == 1
    assert proto.checkpoint_dir == "variables"
    assert proto.default_graph_name == "mlp_infer"
    graph = proto.graphs["mlp_infer"]
    assert graph.default_signature_name == "regress"
    x = graph.signatures["regress"].inputs["x"]
    assert x.lbi.op_name == "image"
    assert list(x.blob_conf.shape.dim) == [4, 4]
    assert x.blob_conf.data_type == 2  # kFloat

    flow.clear_default_session()  # the served model needs nothing of the program's session
    sess = flow.serving.InferenceSession()
    sess.load_saved_model(str(tmp_path / "models"))
    sess.launch()
    assert sess.list_jobs() == ["mlp_infer"]
    assert sorted(sess.list_inputs()) == ["b", "x"]
    assert sess.list_outputs() == ("y",)
    assert sess.input_info("x")["shape"] == (4, 4)
    (got,) = sess.run("mlp_infer", x=image, b=bias)
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    # the batch axis was exported symbolically: another batch size runs the same graph
    (half,) = sess.run("mlp_infer", x=image[:2], b=bias[:2])
    np.testing.assert_allclose(half, expected[:2], rtol=1e-6)
    with pytest.raises(ArgumentError, match='input "b" is absent'):
        sess.run("mlp_infer", x=image)
    with pytest.raises(ArgumentError, match="expected float32"):
        sess.run("mlp_infer", x=image.astype(np.float64), b=bias)
    sess.close()


def test_oneflow_low_level_sequence_and_latest_version(tmp_path: Path) -> None:
    job = _define(2)
    _save(tmp_path, job, version=1)
    flow.get_all_variables()  # the same variables, saved again as version 3
    _save(tmp_path, job, version=3)
    with pytest.raises(TargetExistsError, match="already"):
        _save(tmp_path, job, version=3)

    proto = serving.message_class("SavedModel")()
    text_format.Merge((tmp_path / "3" / "saved_model.prototxt").read_text(), proto)
    sess = flow.serving.InferenceSession(flow.serving.SessionOption())
    sess.set_checkpoint_path(str(tmp_path / "3" / proto.checkpoint_dir))
    graph_def = proto.graphs[proto.default_graph_name]
    signature = graph_def.signatures[graph_def.default_signature_name]
    with sess.open(proto.default_graph_name, signature, 5):
        sess.compile(graph_def.op_list)
    sess.launch()
    assert sess.input_info("x")["shape"] == (5, 4)
    image = np.ones((5, 4), np.float32)
    bias = np.zeros((5, 3), np.float32)
    (got,) = sess.run(job.__name__, x=image, b=bias)
    w = flow.get_all_variables()["w"].numpy()
    np.testing.assert_allclose(got, np.maximum(image @ w, 0).sum(1), rtol=1e-5)


def test_refusals(tmp_path: Path) -> None:
    @flow.global_function(type="train")
    def train(x: tp.Numpy.Placeholder((2, 2))) -> tp.Numpy:
        w = flow.get_variable("tw", shape=(2, 2), initializer=flow.ones_initializer())
        loss = flow.math.reduce_mean(flow.matmul(x, w))
        flow.optimizer.SGD(flow.optimizer.PiecewiseConstantScheduler([], [0.1])).minimize(loss)
        return loss

    builder = flow.saved_model.ModelBuilder(str(tmp_path))
    builder.ModelName("t").AddFunction(train)
    with pytest.raises(ArgumentError, match="version is not set"):
        builder.Save()
    builder.Version(1)
    with pytest.raises(UnsupportedFeatureError, match="not a predict job"):
        builder.Save()
    assert not (tmp_path / "1").exists()  # nothing written before the export succeeded

    job = _define(2)
    bad = flow.saved_model.ModelBuilder(str(tmp_path / "bad"))
    bad.Version(1).AddFunction(job).AddSignature("s").Input("x", "nope/out")
    with pytest.raises(ArgumentError, match="not a parameter"):
        bad.Save()
    with pytest.raises(ArgumentError, match="invalid lbn"):
        flow.saved_model.SignatureBuilder("s").Input("x", "no-slash")

    # a model OneFlow exported: its graph is C++ operators flowsnap cannot run
    version = tmp_path / "oneflow_model" / "1"
    version.mkdir(parents=True)
    proto = serving.message_class("SavedModel")(name="m", version=1, checkpoint_dir="variables")
    proto.graphs["job"].op_list.add()
    proto.default_graph_name = "job"
    (version / "saved_model.pb").write_bytes(proto.SerializeToString())
    with pytest.raises(UnsupportedFeatureError, match="OneFlow's C\\+\\+ operators"):
        flow.serving.InferenceSession().load_saved_model(str(tmp_path / "oneflow_model"))


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_names_resolve_under_the_facades(version: str) -> None:
    root = facade(version)
    table = get_facade(version).table
    for name in [n for n in table.entries if n.split(".")[0] in ("saved_model", "serving")]:
        group, attr = name.split(".")
        assert getattr(getattr(root, group), attr) is not None
    assert root.serving.ModelVersionPolicy.LATEST.value == 1
    option = root.serving.SessionOption()
    assert (option.device_tag, option.device_num, option.is_mirrored_view) == ("gpu", 1, False)
