"""Running a worker script of this directory in a subprocess with several CPU devices (the pytest
process keeps its one device)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent


def device_env(devices: int, **extra: str) -> dict[str, str]:
    """The environment of a subprocess with ``devices`` CPU devices."""
    env = dict(os.environ)
    flags = [f for f in env.get("XLA_FLAGS", "").split() if "host_platform_device_count" not in f]
    env["XLA_FLAGS"] = " ".join([*flags, f"--xla_force_host_platform_device_count={devices}"])
    env["JAX_PLATFORMS"] = "cpu"
    env.update(extra)
    return env


def run_worker(script: str, *args: str, devices: int = 4, timeout: float = 240) -> dict[str, Any]:
    """Run ``script`` (in this directory) and return the JSON it printed after ``RESULT``."""
    proc = subprocess.run(
        [sys.executable, str(HERE / script), *args],
        env=device_env(devices),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            result: dict[str, Any] = json.loads(line[len("RESULT ") :])
            return result
    raise AssertionError(
        f"{script} {' '.join(args)} exited {proc.returncode} without a result:\n"
        f"{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    )


def ok(report: dict[str, Any], name: str) -> dict[str, Any]:
    """The scenario ``name`` of a worker's report, failing with its traceback if it raised."""
    entry: dict[str, Any] = report[name]
    assert "error" not in entry, entry.get("error")
    return entry
