"""Checkpoints as the OneFlow world wrote them (issue #11 item 6).

OneFlow's model-zoo converters (PyTorch/TensorFlow -> OneFlow scripts) wrote one directory per
variable — ``out`` from ``ndarray.tobytes()``, ``meta`` from protobuf's ``MessageToString`` of a
``VariableMetaInfo`` — and no ``snapshot_done``; some left stray files beside ``meta`` (a
``meta.npy`` from ``np.save``), some wrote ``out`` files only. Under the version facades those load
as in OneFlow, with one warning; flowsnap's own API refuses them unless ``allow_incomplete=True``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import flowsnap
import flowsnap.typing as tp
from flowsnap.compat import facade
from flowsnap.errors import IncompleteSnapshotError, SizeMismatchError

W = np.arange(12, dtype=np.float32).reshape(3, 4) / 8
B = np.array([1.0, -2.0, 0.5], np.float32)
STEP = np.array([7], np.int64)
K_FLOAT, K_INT64 = 2, 6  # OneFlow's DataType codes


def _meta(shape: tuple[int, ...], data_type: int) -> str:
    """``text_format.MessageToString(VariableMetaInfo)``, as the converters wrote ``meta``."""
    from google.protobuf import text_format

    from flowsnap.format._proto import variable_meta_info_class

    message = variable_meta_info_class()()
    message.shape.dim.extend(shape)
    message.data_type = data_type
    return str(text_format.MessageToString(message))


def convert(root: Path) -> Path:
    """A converter's output: ``<var>/out`` and ``<var>/meta``, a stray ``meta.npy``, one
    ``out``-only variable, and no ``snapshot_done``."""
    for name, array, code in (("dense-weight", W, K_FLOAT), ("System-Train-Step", STEP, K_INT64)):
        folder = root / name
        folder.mkdir(parents=True)
        (folder / "out").write_bytes(array.tobytes())
        (folder / "meta").write_text(_meta(array.shape, code))
    np.save(root / "dense-weight" / "meta.npy", np.array(W.shape))  # -> meta.npy
    (root / "dense-bias").mkdir()
    (root / "dense-bias" / "out").write_bytes(B.tobytes())  # out only: shape from the model
    return root


def define(flow: Any) -> Any:
    @flow.global_function(type="predict")
    def job() -> tp.Numpy:
        w = flow.get_variable("dense-weight", shape=(3, 4), initializer=flow.zeros_initializer())
        b = flow.get_variable("dense-bias", shape=(3,), initializer=flow.zeros_initializer())
        return flow.matmul(w, np.ones((4, 1), np.float32))[:, 0] + b

    return job


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "could not be verified" in r.getMessage()]


@pytest.mark.parametrize("version", ["0.3", "0.4", "0.5"])
def test_facades_load_converter_output_as_oneflow_did(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, version: str
) -> None:
    flow = facade(version)
    job = define(flow)
    path = convert(tmp_path / "of_model")
    with caplog.at_level(logging.WARNING, logger="flowsnap"):
        flow.load_variables(flow.checkpoint.get(str(path)))
    assert len(_warnings(caplog)) == 1
    assert "snapshot_done" in _warnings(caplog)[0]
    np.testing.assert_allclose(job(), W.sum(1) + B)


def test_train_checkpoint_load_reads_it_too(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    flow = facade("0.3")
    job = define(flow)
    path = convert(tmp_path / "of_model")
    checkpoint = flow.train.CheckPoint()
    assert isinstance(checkpoint, flowsnap.train.CheckPoint)
    with caplog.at_level(logging.WARNING, logger="flowsnap"):
        checkpoint.load(str(path))
    assert len(_warnings(caplog)) == 1
    np.testing.assert_allclose(job(), W.sum(1) + B)


def test_flowsnaps_own_api_keeps_refusing_them(tmp_path: Path) -> None:
    job = define(flowsnap)
    path = convert(tmp_path / "of_model")
    with pytest.raises(IncompleteSnapshotError, match="allow_incomplete=True"):
        flowsnap.checkpoint.get(path)
    with pytest.raises(IncompleteSnapshotError):
        flowsnap.train.CheckPoint().load(path)
    flowsnap.load_variables(flowsnap.checkpoint.get(path, allow_incomplete=True))
    np.testing.assert_allclose(job(), W.sum(1) + B)


def test_sizes_are_still_checked_against_meta(tmp_path: Path) -> None:
    flow = facade("0.5")
    define(flow)
    path = convert(tmp_path / "of_model")
    (path / "dense-weight" / "out").write_bytes(W.tobytes()[:-4])  # truncated by one value
    with pytest.raises(SizeMismatchError):
        flow.load_variables(flow.checkpoint.get(str(path)))


def test_a_complete_checkpoint_loads_without_the_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    flow = facade("0.5")
    define(flow)
    path = convert(tmp_path / "of_model")
    (path / "snapshot_done").write_bytes(b"")  # OneFlow's empty marker
    with caplog.at_level(logging.WARNING, logger="flowsnap"):
        flow.load_variables(flow.checkpoint.get(str(path)))
    assert not _warnings(caplog)
