"""``flow.unittest``: OneFlow's test harness, so its legacy op tests load and run unmodified.

``TestCase`` (a :class:`unittest.TestCase` that starts each test with a fresh default session),
``skip_unless_<n>n<d>d()`` (run only on ``n`` nodes of ``d`` devices each), ``env.*`` (read from
OneFlow's ``ONEFLOW_TEST_*`` environment variables), ``num_nodes_required`` and
``register_test_cases``. On one device (``ONEFLOW_TEST_DEVICE_NUM`` unset or 1, no node list) the
multi-device and multi-node tests skip, as they did in OneFlow. With
``ONEFLOW_TEST_DEVICE_NUM=4`` the ``skip_unless_1n4d`` tests run, on 4 devices (GPUs, or CPU
devices from ``XLA_FLAGS=--xla_force_host_platform_device_count=4``); a process with fewer
devices than the variable asks for skips them, saying so.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import types
import unittest
from collections.abc import Callable
from typing import Any

_NUM_NODES = "__oneflow_test_case_num_nodes_required__"


def _eager_execution_enabled() -> bool:
    """``ONEFLOW_TEST_ENABLE_EAGER=1`` (flowsnap's jobs are always traced)."""
    return os.getenv("ONEFLOW_TEST_ENABLE_EAGER") == "1"


def _typing_check_enabled() -> bool:
    """``ONEFLOW_TEST_ENABLE_TYPING_CHECK=1``."""
    return os.getenv("ONEFLOW_TEST_ENABLE_TYPING_CHECK") == "1"


def _node_list() -> list[str]:
    """The hosts of ``ONEFLOW_TEST_NODE_LIST`` (comma separated)."""
    value = os.getenv("ONEFLOW_TEST_NODE_LIST", "")
    return [n for n in value.split(",") if n]


def _has_node_list() -> bool:
    """Whether ``ONEFLOW_TEST_NODE_LIST`` is set."""
    return os.getenv("ONEFLOW_TEST_NODE_LIST") is not None


def _node_size() -> int:
    """The number of nodes the tests run on (1 without a node list)."""
    return len(_node_list()) if _has_node_list() else 1


def _has_world_size() -> bool:
    """Whether ``ONEFLOW_TEST_WORLD_SIZE`` is set."""
    return os.getenv("ONEFLOW_TEST_WORLD_SIZE") is not None


def _world_size() -> int:
    """``ONEFLOW_TEST_WORLD_SIZE`` (1 when unset)."""
    return int(os.getenv("ONEFLOW_TEST_WORLD_SIZE", "1"))


def _device_num() -> int:
    """Devices per node: ``ONEFLOW_TEST_DEVICE_NUM`` (1 when unset)."""
    return int(os.getenv("ONEFLOW_TEST_DEVICE_NUM", "1"))


env = types.SimpleNamespace(
    eager_execution_enabled=_eager_execution_enabled,
    typing_check_enabled=_typing_check_enabled,
    node_list=_node_list,
    has_node_list=_has_node_list,
    node_size=_node_size,
    has_world_size=_has_world_size,
    world_size=_world_size,
    device_num=_device_num,
)


class TestCase(unittest.TestCase):
    """OneFlow's ``flow.unittest.TestCase``: each test starts with an empty default session."""

    def setUp(self) -> None:
        """Clear the default session (variables, jobs, settings), as OneFlow's did."""
        importlib.import_module("flowsnap").clear_default_session()


def _local_devices() -> int:
    """The devices this process has (JAX's default backend; JAX is imported only here)."""
    count: int = importlib.import_module("jax").local_device_count()
    return count


def _skip_unless(num_nodes: int, num_devices: int) -> Callable[[Any], Any]:
    if _node_size() != num_nodes or _device_num() != num_devices:
        return unittest.skip(
            f"only runs when node_size is {num_nodes} and device_num is {num_devices}"
        )
    if num_devices > 1:
        have = _local_devices()
        if have < num_devices:
            return unittest.skip(
                f"ONEFLOW_TEST_DEVICE_NUM={num_devices}, but this process has {have} device(s): "
                "start it on a machine with that many GPUs, or on CPUs with XLA_FLAGS="
                f"--xla_force_host_platform_device_count={num_devices}"
            )
    return lambda func: func


def skip_unless_1n1d() -> Callable[[Any], Any]:
    """Run only on 1 node with 1 device."""
    return _skip_unless(1, 1)


def skip_unless_1n2d() -> Callable[[Any], Any]:
    """Run only on 1 node with 2 devices."""
    return _skip_unless(1, 2)


def skip_unless_1n4d() -> Callable[[Any], Any]:
    """Run only on 1 node with 4 devices."""
    return _skip_unless(1, 4)


def skip_unless_2n1d() -> Callable[[Any], Any]:
    """Run only on 2 nodes with 1 device each."""
    return _skip_unless(2, 1)


def skip_unless_2n2d() -> Callable[[Any], Any]:
    """Run only on 2 nodes with 2 devices each."""
    return _skip_unless(2, 2)


def skip_unless_2n4d() -> Callable[[Any], Any]:
    """Run only on 2 nodes with 4 devices each."""
    return _skip_unless(2, 4)


def num_nodes_required(num_nodes: int) -> Callable[[Any], Any]:
    """Mark a test function with the number of nodes it needs (``register_test_cases`` reads it)."""

    def decorate(func: Any) -> Any:
        setattr(func, _NUM_NODES, num_nodes)
        return func

    return decorate


class _ClearDefaultSession:
    """The mixin ``register_test_cases`` gives each test case: a fresh default session."""

    def setUp(self) -> None:
        """Clear the default session."""
        importlib.import_module("flowsnap").clear_default_session()


def register_test_cases(
    scope: dict[str, Any],
    directory: str,
    filter_by_num_nodes: Callable[[int], bool],
    base_class: type = unittest.TestCase,
    test_case_mixin: type = _ClearDefaultSession,
) -> None:
    """Turn the ``test_*`` functions of the ``test_*.py`` files in ``directory`` into test cases
    in ``scope`` (a module's ``globals()``), one class per file, keeping the functions whose
    ``num_nodes_required`` (1 when unmarked) passes ``filter_by_num_nodes``."""
    for filename in sorted(os.listdir(directory)):
        if not (filename.startswith("test_") and filename.endswith(".py")):
            continue
        path = os.path.join(directory, filename)
        spec = importlib.util.spec_from_file_location(filename[:-3], path)
        if spec is None or spec.loader is None:
            continue
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        methods = {
            name: _as_method(func)
            for name, func in vars(module).items()
            if name.startswith("test_")
            and callable(func)
            and filter_by_num_nodes(getattr(func, _NUM_NODES, 1))
        }
        if methods:
            name = filename[:-3]
            scope[name] = type(name, (test_case_mixin, base_class), methods)


def _as_method(func: Callable[..., Any]) -> Callable[[Any], Any]:
    def method(self: Any) -> Any:
        return func(self)

    method.__name__ = getattr(func, "__name__", "test")
    return method
