"""The two commands of the README: `make demo` installs only what the demo needs and says what it
is doing; `make test` and `make bench` keep their extras (checked with `make -n`)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent.parent

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


def dry_run(target: str, venv: Path) -> str:
    result = subprocess.run(
        ["make", "-n", target, f"VENV={venv}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


def test_make_demo_installs_only_the_demo_extra(tmp_path: Path) -> None:
    out = dry_run("demo", tmp_path / "venv")
    installs = [line for line in out.splitlines() if "pip install" in line and "-e" in line]
    assert installs == [f'{tmp_path / "venv"}/bin/python -m pip install --quiet -e ".[demo]"']
    for word in ("torch", "test", "dev"):
        assert f"{word}," not in installs[0]
        assert f",{word}" not in installs[0]
    steps = [line for line in out.splitlines() if line.startswith('echo "==>')]
    assert len(steps) >= 4  # venv, pip, install, run (and the data package when missing)
    assert any("examples/demo.py" in s for s in steps)


def test_make_test_and_bench_keep_their_extras(tmp_path: Path) -> None:
    out = dry_run("pytest", tmp_path / "venv")
    assert '-e ".[test,dev,demo,torch]"' in out
    out = dry_run("bench", tmp_path / "venv")
    assert '-e ".[test,dev,bench,torch]"' in out
