"""``flow.unittest``: OneFlow's test harness under the facades."""

from __future__ import annotations

import io
import unittest
from pathlib import Path

import pytest

from flowsnap.compat import facade

CASES = """
import oneflow.compatible.single_client as flow

def test_one_node(test_case):
    test_case.assertEqual(1 + 1, 2)

@flow.unittest.num_nodes_required(2)
def test_two_nodes(test_case):
    raise AssertionError("needs two nodes")
"""


@pytest.mark.parametrize("version", ["0.3", "0.4", "0.5"])
def test_env_and_skips_follow_oneflows_variables(
    version: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness = facade(version).unittest
    monkeypatch.delenv("ONEFLOW_TEST_NODE_LIST", raising=False)
    monkeypatch.delenv("ONEFLOW_TEST_DEVICE_NUM", raising=False)
    assert (harness.env.device_num(), harness.env.node_size()) == (1, 1)
    assert harness.skip_unless_1n1d()(len) is len
    monkeypatch.setenv("ONEFLOW_TEST_DEVICE_NUM", "2")
    skipped = harness.skip_unless_1n2d()(lambda: None)  # this process has one device
    assert "--xla_force_host_platform_device_count=2" in skipped.__unittest_skip_why__
    monkeypatch.setattr("flowsnap.compat._unittest._local_devices", lambda: 2)
    assert harness.skip_unless_1n2d()(len) is len
    monkeypatch.setenv("ONEFLOW_TEST_NODE_LIST", "a,b")
    assert harness.env.node_list() == ["a", "b"]
    assert harness.skip_unless_2n2d()(len) is len
    assert harness.skip_unless_1n1d()(len) is not len
    assert issubclass(harness.TestCase, unittest.TestCase)


def test_register_test_cases(tmp_path: Path) -> None:
    from flowsnap.cli._run import legacy_aliases

    (tmp_path / "test_cases.py").write_text(CASES)
    scope: dict[str, type] = {}
    with legacy_aliases():
        facade("0.5").unittest.register_test_cases(scope, str(tmp_path), lambda n: n == 1)
    suite = unittest.defaultTestLoader.loadTestsFromTestCase(scope["test_cases"])
    assert suite.countTestCases() == 1
    result = unittest.TextTestRunner(stream=io.StringIO()).run(suite)
    assert result.wasSuccessful()
