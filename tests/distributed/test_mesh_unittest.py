"""``flow.unittest``'s device-count markers on a process with several devices: under
``ONEFLOW_TEST_DEVICE_NUM=4`` with 4 CPU devices the ``skip_unless_1n4d`` tests run (and pass,
against a NumPy oracle) while the 1n1d/1n2d ones skip; with fewer devices than the variable asks
for, they skip and say how to get them."""

from __future__ import annotations

import subprocess
import sys

from tests.distributed._run import HERE, device_env


def run_cases(devices: int, device_num: str) -> str:
    proc = subprocess.run(
        [sys.executable, str(HERE / "_oneflow_style_cases.py"), "-v"],
        env=device_env(devices, ONEFLOW_TEST_DEVICE_NUM=device_num),
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-5000:]
    return proc.stderr  # unittest reports on stderr


def test_1n4d_tests_run_on_four_devices() -> None:
    report = run_cases(4, "4")
    assert "test_mirrored_sgd_on_four_devices" in report
    assert "Ran 4 tests" in report
    assert "OK (skipped=2)" in report
    assert "test_mirrored_sgd_on_four_devices (__main__.TestMirroredDataParallel" in report
    assert "only runs when node_size is 1 and device_num is 2" in report


def test_1n4d_tests_skip_without_the_devices() -> None:
    report = run_cases(2, "4")
    assert "OK (skipped=4)" in report
    assert "--xla_force_host_platform_device_count=4" in report
