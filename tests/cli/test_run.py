"""``flowsnap run``: unmodified legacy scripts, whichever way they import OneFlow."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from flowsnap.cli import main

OLD_STYLE = """
import sys
import numpy as np
import oneflow as flow
import oneflow.typing as oft

@flow.global_function(type="predict")
def job(x: oft.Numpy.Placeholder((2,), dtype=flow.float)) -> oft.Numpy:
    w = flow.get_variable("w", shape=(2,), initializer=flow.constant_initializer(3.0))
    return x * w

print("result", job(np.ones(2, np.float32)).tolist(), sys.argv[1:])
"""

SINGLE_CLIENT = """
import numpy as np
import oneflow.compatible.single_client as flow
from oneflow.compatible.single_client import typing as tp
from oneflow.compatible import single_client

assert single_client is flow

@flow.global_function()
def job(x: tp.Numpy.Placeholder((2,))) -> tp.Numpy:
    return flow.math.relu(x - 1)

print("result", job(np.array([0.0, 3.0], np.float32)).tolist())
"""


# A OneFlow 0.5 program, unmodified: 0.5's signatures, positionally (conv2d's bias fifth).
PROGRAM_0_5 = """
import sys
import numpy as np
import oneflow.compatible.single_client as flow
from oneflow.compatible.single_client import typing as tp

rng = np.random.default_rng(0)
X = rng.normal(size=(2, 2, 4, 4)).astype(np.float32)
W = rng.normal(size=(3, 2, 3, 3)).astype(np.float32)
B = np.array([1.0, -1.0, 0.5], np.float32)
flow.config.gpu_device_num(1)
func_config = flow.FunctionConfig()
func_config.default_data_type(flow.float)


@flow.global_function(type="predict", function_config=func_config)
def infer(x: tp.Numpy.Placeholder((2, 2, 4, 4))) -> tp.Numpy:
    w = flow.get_variable("w", shape=(3, 2, 3, 3), initializer=flow.zeros_initializer())
    b = flow.get_variable("b", shape=(3,), initializer=flow.zeros_initializer())
    y = flow.nn.conv2d(x, w, 1, "SAME", b, "NCHW", 1)  # input, filters, strides, padding, bias,
    mean, var = flow.nn.moments(y, [0, 2, 3])          # data_format, dilations
    y = flow.nn.batch_normalization(y, mean, var, None, None, 1e-5)  # axis: OneFlow's 1
    flat = flow.reshape(y, (2, -1))
    top = flow.cast(flow.math.top_k(flat, -1, 2), flow.float)  # input, axis, k
    both = flow.concat(values=[top, top], axis=1)
    picked = flow.gather(both, np.array([1, 0], np.int32), None, 0)  # params, indices,
    return flow.concat(values=[flat, picked], axis=1)                # validate_indices, axis


def reference(x):
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    y = np.zeros((2, 3, 4, 4), np.float32)
    for i in range(4):
        for j in range(4):
            y[:, :, i, j] = np.einsum("nchw,ochw->no", xp[:, :, i:i + 3, j:j + 3], W)
    y += B[None, :, None, None]
    y = (y - y.mean((0, 2, 3), keepdims=True)) / np.sqrt(y.var((0, 2, 3), keepdims=True) + 1e-5)
    flat = y.reshape(2, -1)
    top = np.argsort(-flat, axis=-1)[:, :2].astype(np.float32)
    return np.concatenate([flat, np.concatenate([top, top], 1)[[1, 0]]], axis=1)


flow.load_variables({"w": W, "b": B})
out = infer(X)
print("shape", out.shape, "max error", float(np.abs(out - reference(X)).max()) < 1e-4, sys.argv[1:])
"""

# A OneFlow 0.3 program, unmodified: 0.3's signatures (conv2d's data_format fifth), training
# and a checkpoint round trip.
PROGRAM_0_3 = """
import os
import sys
import numpy as np
import oneflow as flow
import oneflow.typing as tp

X = np.ones((4, 1, 5, 5), np.float32)
Y = np.zeros((4,), np.int32)


@flow.global_function(type="train")
def train_job(x: tp.Numpy.Placeholder((4, 1, 5, 5)), y: tp.Numpy.Placeholder((4,), dtype=flow.int32)
              ) -> tp.Numpy:
    w = flow.get_variable("conv-w", shape=(2, 1, 3, 3),
                          initializer=flow.random_normal_initializer(stddev=0.1))
    h = flow.nn.conv2d(x, w, 1, "SAME", "NCHW", 1)  # input, filters, strides, padding, data_format
    h = flow.reshape(flow.nn.relu(h), (4, -1))
    logits = flow.layers.dense(h, 3, name="dense")
    loss = flow.nn.sparse_softmax_cross_entropy_with_logits(y, logits)
    lr = flow.optimizer.PiecewiseConstantScheduler([], [0.1])
    flow.optimizer.SGD(lr, momentum=0).minimize(loss)
    return loss


first = float(train_job(X, Y).mean())
for _ in range(5):
    last = float(train_job(X, Y).mean())
path = os.path.join(sys.argv[1], "ckpt")
flow.checkpoint.save(path)
flow.load_variables(flow.checkpoint.get(path))
print("trained", last < first, [n for n in sorted(os.listdir(path)) if n[0] != "."][:2])
"""


# In the style of OneFlow's own legacy op tests: flow.unittest.TestCase, skip_unless_*,
# unittest.main(); the multi-device case skips on one device.
OP_TEST = """
import unittest
import numpy as np
import oneflow.compatible.single_client as flow
from oneflow.compatible.single_client import typing as tp


def _check_relu(test_case, shape):
    x = np.random.randn(*shape).astype(np.float32)

    @flow.global_function(type="predict")
    def relu_job(x: tp.Numpy.Placeholder(shape)) -> tp.Numpy:
        return flow.math.relu(x)

    test_case.assertTrue(np.allclose(relu_job(x), np.maximum(x, 0)))


@flow.unittest.skip_unless_1n1d()
class TestRelu(flow.unittest.TestCase):
    def test_relu(test_case):
        _check_relu(test_case, (3, 4))

    def test_relu_in_a_fresh_session(test_case):
        _check_relu(test_case, (2,))
        test_case.assertEqual(flow.unittest.env.device_num(), 1)


@flow.unittest.skip_unless_1n2d()
class TestReluOnTwoDevices(flow.unittest.TestCase):
    def test_relu(test_case):
        raise AssertionError("runs only on two devices")


if __name__ == "__main__":
    unittest.main()
"""


def write(tmp_path: Path, text: str, name: str = "script.py") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_old_style_script_runs_unmodified(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", write(tmp_path, OLD_STYLE), "--epochs", "3"]) == 0
    assert "result [3.0, 3.0] ['--epochs', '3']" in capsys.readouterr().out
    assert "oneflow" not in sys.modules  # the aliases last for the run only


def test_single_client_script_runs_unmodified(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", write(tmp_path, SINGLE_CLIENT)]) == 0
    assert "result [0.0, 2.0]" in capsys.readouterr().out


def test_a_oneflow_0_5_program_runs_with_its_own_signatures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", write(tmp_path, PROGRAM_0_5), "--flag"]) == 0, capsys.readouterr().err
    assert "shape (2, 52) max error True ['--flag']" in capsys.readouterr().out


@pytest.mark.parametrize("version", [None, "0.3", "0.4"])
def test_a_oneflow_0_3_program_runs_with_its_own_signatures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], version: str | None
) -> None:
    flag = [] if version is None else ["--oneflow-version", version]
    code = main(["run", *flag, write(tmp_path, PROGRAM_0_3), str(tmp_path)])
    assert code == 0, capsys.readouterr().err
    assert "trained True ['System-Train-TrainStep-train_job', 'conv-w']" in capsys.readouterr().out


def test_the_version_flag_gives_every_import_that_versions_signatures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = (
        "import inspect, oneflow as flow\n"
        "import oneflow.compatible.single_client as sc\n"
        "print(list(inspect.signature(flow.nn.conv2d).parameters)[4],"
        " list(inspect.signature(sc.nn.conv2d).parameters)[4])\n"
    )
    path = write(tmp_path, script)
    assert main(["run", path]) == 0
    assert "data_format bias" in capsys.readouterr().out
    assert main(["run", "--oneflow-version", "0.5", path]) == 0
    assert "bias bias" in capsys.readouterr().out
    assert main(["run", "--oneflow-version", "0.3", path]) == 0
    assert "data_format data_format" in capsys.readouterr().out


def test_only_the_versions_namespaces_import(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", write(tmp_path, "import oneflow.no_such_module\n")]) == 1
    assert "No module named 'oneflow.no_such_module'" in capsys.readouterr().err
    script = "import oneflow.unittest.env\nimport oneflow.compatible.single_client.unittest\n"
    assert main(["run", write(tmp_path, script, "b.py")]) == 0


def test_a_oneflow_style_op_test_runs_unmodified(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ONEFLOW_TEST_DEVICE_NUM", raising=False)
    monkeypatch.delenv("ONEFLOW_TEST_NODE_LIST", raising=False)
    assert main(["run", write(tmp_path, OP_TEST)]) == 0
    err = capsys.readouterr().err
    assert "Ran 3 tests" in err
    assert "OK (skipped=1)" in err


def test_a_missing_op_fails_with_its_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = "import oneflow as flow\nflow.layers.conv3d_transpose_magic\n"
    assert main(["run", write(tmp_path, script)]) == 1
    err = capsys.readouterr().err
    assert "flow.layers.conv3d_transpose_magic is not provided by flowsnap" in err


def test_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", write(tmp_path, "import sys\nsys.exit(4)\n")]) == 4
    assert main(["run", write(tmp_path, "raise ValueError('boom')\n", "b.py")]) == 1
    assert "ValueError: boom" in capsys.readouterr().err
    assert main(["run", str(tmp_path / "missing.py")]) == 3  # a wrong path, as for every command
