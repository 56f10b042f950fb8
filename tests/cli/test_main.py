"""The flowsnap command, called through main([...])."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from flowsnap.cli import main
from flowsnap.format import write_snapshot


@pytest.fixture
def ckpt(tmp_path: Path) -> Path:
    write_snapshot(
        tmp_path / "c",
        {"conv1-weight": np.ones((32, 1, 5, 5), np.float32), "step": np.array([3], np.int64)},
    )
    return tmp_path / "c"


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


def test_ls_table_and_json(ckpt: Path) -> None:
    code, text = run("ls", str(ckpt))
    assert code == 0
    assert "conv1-weight  float32" in text
    assert "(32, 1, 5, 5)" in text
    assert "2 variables" in text
    code, text = run("ls", "--json", str(ckpt))
    doc = json.loads(text)
    assert code == 0
    assert [v["name"] for v in doc["variables"]] == ["conv1-weight", "step"]
    assert doc["nbytes"] == 3200 + 8


def test_ls_single_variable_dir(ckpt: Path) -> None:
    code, text = run("ls", str(ckpt / "step"))
    assert code == 0
    assert "step" in text
    assert "1 variables" in text


def test_verify_exit_codes(ckpt: Path) -> None:
    code, text = run("verify", str(ckpt))
    assert (code, text.startswith("OK")) == (0, True)
    data = bytearray((ckpt / "step" / "out").read_bytes())
    data[0] ^= 1
    (ckpt / "step" / "out").write_bytes(bytes(data))
    code, text = run("verify", str(ckpt))
    assert code == 1
    assert "DAMAGED step: ChecksumMismatchError" in text
    code, text = run("verify", "--json", str(ckpt))
    assert json.loads(text)["problems"][0]["name"] == "step"


def test_errors_are_one_line_and_exit_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _ = run("ls", str(tmp_path / "missing"))
    assert code == 3
    err = capsys.readouterr().err
    assert err.startswith("flowsnap ls: error:")
    assert "does not exist" in err
    assert "Traceback" not in err


def test_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert run()[0] == 2
    assert run("nonsense")[0] == 2
    assert run("--version")[0] == 0
    assert "flowsnap 0.1.0" in capsys.readouterr().out


def test_console_script_runs_without_jax(ckpt: Path) -> None:
    code = (
        "import sys; from flowsnap.cli import main; "
        f"rc = main(['ls', {str(ckpt)!r}]); rc |= main(['verify', {str(ckpt)!r}]); "
        "assert 'jax' not in sys.modules, 'jax was imported'; sys.exit(rc)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    result = subprocess.run(
        [sys.executable, "-m", "flowsnap", "ls", str(ckpt)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "conv1-weight" in result.stdout
