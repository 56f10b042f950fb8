"""``import oneflow.core.<package>.<name>_pb2`` under ``flowsnap run``: a data-preparation
program in OneFlow's style writes OFRecord part files and reads them back, unmodified."""

from __future__ import annotations

import struct
import sys
from pathlib import Path

import pytest

from flowsnap.cli import main
from flowsnap.core.record import record_pb2

# As OneFlow's data-preparation scripts wrote OFRecords (OneFlow-Benchmark's
# ``convert_*_to_ofrecord.py``): a length as 8-byte little-endian int64, then the record.
PROGRAM = """
import os
import struct
import sys

import numpy as np
import oneflow.core.record.record_pb2 as ofrecord
import oneflow.core.common.data_type_pb2 as data_type_util
import oneflow.core.job.initializer_conf_pb2 as initializer_conf_util
from oneflow.core.operator import op_conf_pb2 as op_conf_util
from oneflow.core.common import shape_pb2
{flow_import}


def int32_feature(value):
    if not isinstance(value, (list, tuple)):
        value = [value]
    return ofrecord.Feature(int32_list=ofrecord.Int32List(value=value))


def float_feature(value):
    return ofrecord.Feature(float_list=ofrecord.FloatList(value=value))


def bytes_feature(value):
    return ofrecord.Feature(bytes_list=ofrecord.BytesList(value=[value]))


out_dir = sys.argv[1]
images = np.random.RandomState(0).rand(10, 4).astype(np.float32)
os.makedirs(out_dir, exist_ok=True)
for part in range(2):
    with open(os.path.join(out_dir, "part-%05d" % part), "wb") as f:
        for i in range(part * 5, part * 5 + 5):
            example = ofrecord.OFRecord(
                feature={{
                    "label": int32_feature(i),
                    "image": float_feature(images[i].tolist()),
                    "name": bytes_feature(b"img%d" % i),
                }}
            )
            example.feature["shape"].int64_list.value.extend([2, 2])
            serialized = example.SerializeToString()
            f.write(struct.pack("q", len(serialized)))
            f.write(serialized)

labels, pixels = [], []
for part in range(2):
    with open(os.path.join(out_dir, "part-%05d" % part), "rb") as f:
        while True:
            head = f.read(8)
            if not head:
                break
            (length,) = struct.unpack("<q", head)
            record = ofrecord.OFRecord()
            record.ParseFromString(f.read(length))
            labels.append(record.feature["label"].int32_list.value[0])
            pixels.append(list(record.feature["image"].float_list.value))
            assert record.feature["name"].bytes_list.value[0] == b"img%d" % labels[-1]
print("labels", labels)
print("images equal", bool((np.array(pixels, np.float32) == images).all()))
print("activation", op_conf_util.kNone, op_conf_util.kTanH, op_conf_util.kSigmoid,
      op_conf_util.kRelu)
print("dtype", data_type_util.kFloat, data_type_util.DataType.Name(data_type_util.kInt8))
conf = initializer_conf_util.InitializerConf()
conf.truncated_normal_conf.std = 0.02
print("conf", conf.WhichOneof("type"), round(conf.truncated_normal_conf.std, 6))
print("shape", list(shape_pb2.ShapeProto(dim=[3, 4]).dim), flow.__name__)
"""

FLOW_IMPORTS = {
    "0.4": "import oneflow as flow",
    "0.5": "import oneflow.compatible.single_client as flow",
}


def _frames(path: Path) -> list[bytes]:
    data, frames, at = path.read_bytes(), [], 0
    while at < len(data):
        (length,) = struct.unpack_from("<q", data, at)
        frames.append(data[at + 8 : at + 8 + length])
        at += 8 + length
    return frames


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_a_program_writes_and_reads_ofrecord_parts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], version: str
) -> None:
    script = tmp_path / "prepare.py"
    script.write_text(PROGRAM.format(flow_import=FLOW_IMPORTS[version]))
    out = tmp_path / "ofrecord"
    assert main(["run", str(script), str(out)]) == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert "labels [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]" in printed
    assert "images equal True" in printed
    assert "activation 0 1 2 3" in printed
    assert "dtype 2 kInt8" in printed
    assert "conf truncated_normal_conf 0.02" in printed
    assert "shape [3, 4]" in printed
    # the files, read here with the framing and the schema, hold what OneFlow's reader expects
    frames = _frames(out / "part-00001")
    assert len(frames) == 5
    record = record_pb2.OFRecord.FromString(frames[0])
    assert list(record.feature["label"].int32_list.value) == [5]
    assert list(record.feature["shape"].int64_list.value) == [2, 2]
    assert b"\x0a\x05label\x12\x05\x22\x03\x0a\x01\x05" in frames[0]  # int32_list = 4, packed


def test_the_aliases_are_the_real_modules_and_go_away(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = tmp_path / "same.py"
    script.write_text(
        "import oneflow.core.record.record_pb2 as a\n"
        "import flowsnap.core.record.record_pb2 as b\n"
        "from oneflow.core.operator import op_conf_pb2\n"
        "assert a is b and a.OFRecord is b.OFRecord\n"
        "assert op_conf_pb2.kNone == 0\n"
        "print('same', a.__name__)\n"
    )
    assert main(["run", str(script)]) == 0, capsys.readouterr().err
    assert "same flowsnap.core.record.record_pb2" in capsys.readouterr().out
    assert record_pb2.__spec__.name == "flowsnap.core.record.record_pb2"
    assert not [m for m in sys.modules if m == "oneflow" or m.startswith("oneflow.")]


@pytest.mark.parametrize(
    "module",
    [
        "oneflow.core.serving.saved_model_pb2",
        "oneflow.core.record.image_pb2",
        "oneflow.core._schema",
        "oneflow.compatible.single_client.core.record.record_pb2",  # OneFlow 0.5 had no such
    ],
)
def test_modules_flowsnap_does_not_provide_are_not_found(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], module: str
) -> None:
    script = tmp_path / "missing.py"
    script.write_text(f"import {module}\n")
    assert main(["run", str(script)]) == 1
    assert "ModuleNotFoundError: No module named" in capsys.readouterr().err
