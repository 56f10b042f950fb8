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
