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
    assert "1 variable," in text


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
        f"rc |= main(['show', {str(ckpt)!r}, 'step']); rc |= main(['diff', {str(ckpt)!r}, "
        f"{str(ckpt)!r}]); rc |= main(['convert', {str(ckpt)!r}, {str(ckpt) + '.safetensors'!r}]); "
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


def test_show_statistics_and_preview(tmp_path: Path) -> None:
    values = np.array([[1.0, -2.0, np.nan], [np.inf, 0.0, 4.0]], np.float32)
    write_snapshot(tmp_path / "s", {"w": values, "n": np.arange(10, dtype=np.int64)})
    code, out = run("show", str(tmp_path / "s"), "w")
    assert code == 0
    assert "min -2  max 4  mean 0.75" in out
    assert "zeros 1  nan 1  +inf 1  -inf 0" in out
    code, out = run("show", str(tmp_path / "s"), "n", "--json")
    doc = json.loads(out)
    assert (doc["count"], doc["min"], doc["max"], doc["mean"]) == (10, 0, 9, 4.5)
    assert doc["std"] == pytest.approx(np.arange(10).std())
    assert doc["preview"] == list(range(8))
    code, out = run("show", str(tmp_path / "s" / "w"))  # a variable directory needs no name
    assert code == 0
    assert run("show", str(tmp_path / "s"))[0] == 2  # a snapshot needs a name
    assert run("show", str(tmp_path / "s"), "missing")[0] == 3


def test_show_streams_large_variables_in_chunks(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    big = rng.normal(3.0, 2.0, size=3_000_000).astype(np.float32)  # 12 MB: three chunks
    write_snapshot(tmp_path / "b", {"big": big}, durable=False)
    doc = json.loads(run("show", str(tmp_path / "b"), "big", "--json")[1])
    assert doc["mean"] == pytest.approx(float(big.astype(np.float64).mean()), rel=1e-9)
    assert doc["std"] == pytest.approx(float(big.astype(np.float64).std()), rel=1e-9)
    assert (doc["min"], doc["max"]) == (float(big.min()), float(big.max()))


def test_diff_reports_added_removed_and_changed(tmp_path: Path) -> None:
    a = {
        "same": np.ones(4, np.float32),
        "gone": np.zeros(2, np.float32),
        "moved": np.arange(6, dtype=np.float32),
        "reshaped": np.zeros((2, 3), np.float32),
    }
    b = {
        "same": np.ones(4, np.float32),
        "new": np.zeros(1, np.int32),
        "moved": np.arange(6, dtype=np.float32) + np.array([0, 0, 0.5, 0, 0, -2], np.float32),
        "reshaped": np.zeros((3, 2), np.float32),
    }
    write_snapshot(tmp_path / "a", a)
    write_snapshot(tmp_path / "b", b)
    code, out = run("diff", str(tmp_path / "a"), str(tmp_path / "b"))
    assert code == 1
    assert out.splitlines() == [  # one column per field, names aligned
        "- gone      float32 (2,)  (only in A)",
        "~ moved     2 elements differ, max abs difference 2",
        "+ new       int32 (1,)  (only in B)",
        "~ reshaped  float32 (2, 3) -> float32 (3, 2)",
        "1 same, 4 different",
    ]
    doc = json.loads(run("diff", str(tmp_path / "a"), str(tmp_path / "a"), "--json")[1])
    assert doc["same"] is True
    assert run("diff", str(tmp_path / "a"), str(tmp_path / "a"))[0] == 0


def test_convert_command(ckpt: Path, tmp_path: Path) -> None:
    code, out = run(
        "convert",
        str(ckpt),
        str(tmp_path / "m.safetensors"),
        "--rename",
        "^conv1=backbone.conv1",
        "--dtype",
        "fp16",
    )
    assert code == 0, out
    assert "flowsnap -> safetensors: 2 tensors" in out
    assert "1 renamed, 1 cast" in out
    code, out = run("convert", str(tmp_path / "m.safetensors"), str(tmp_path / "back"))
    assert code == 0
    code, out = run("ls", str(tmp_path / "back"))
    assert "backbone.conv1-weight  float16" in out
    assert run("convert", str(ckpt), str(tmp_path / "x"), "--rename", "no-equals")[0] == 2
    assert run("convert", str(ckpt), str(tmp_path / "s"), "--max-shard-size", "1KiB")[0] == 0
    assert (tmp_path / "s" / "model.safetensors.index.json").is_file()
    assert run("convert", str(ckpt), str(tmp_path / "q"), "--max-shard-size", "lots")[0] == 2


def test_show_and_diff_draw_progress_bars_when_asked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from flowsnap.format import open_snapshot
    from flowsnap.tools import diff_snapshots, variable_stats

    write_snapshot(tmp_path / "p", {"w": np.ones(1000, np.float32)}, durable=False)
    snap = open_snapshot(tmp_path / "p")
    variable_stats(snap["w"], progress=True)
    diff_snapshots(snap, snap, progress=True)
    err = capsys.readouterr().err
    assert "show w: " in err
    assert "diff: " in err
    assert "\r" not in err  # stderr is not a terminal: one line each, no frames


def test_json_output_is_strict_json_even_with_nan_and_inf(tmp_path: Path) -> None:
    values = np.array([np.nan, np.inf, -np.inf, 1.0], np.float32)
    write_snapshot(tmp_path / "a", {"w": values})
    write_snapshot(tmp_path / "b", {"w": np.zeros(4, np.float32)})
    code, text = run("show", str(tmp_path / "a"), "w", "--json")
    assert code == 0
    doc = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard JSON {c}"))
    assert doc["preview"] == ["nan", "inf", "-inf", 1.0]
    code, text = run("diff", str(tmp_path / "a"), str(tmp_path / "b"), "--json")
    assert code == 1
    doc = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard JSON {c}"))
    assert doc["variables"][0]["max_abs_diff"] == "inf"
