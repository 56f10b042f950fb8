"""Tests written as OneFlow's own multi-device tests were (``flow.unittest.TestCase``,
``skip_unless_1n4d``, ``gpu_device_num``, mirrored view, ``tp.ListNumpy``), through OneFlow
0.4's facade, run by ``test_mesh_unittest.py`` under ``ONEFLOW_TEST_DEVICE_NUM`` with that many
CPU devices. Not collected by pytest (no ``test_`` prefix): it is a script,
``python _oneflow_style_cases.py``.
"""

# ruff: noqa: N805, PT009 - OneFlow's test style (test_case, assertTrue), on purpose

from __future__ import annotations

import unittest

import numpy as np

from flowsnap import typing as tp
from flowsnap.compat import facade

flow = facade("0.4")  # what `import oneflow` gives under `flowsnap run`


def _sgd_reference(x: np.ndarray, y: np.ndarray, steps: int, lr: float) -> list[np.ndarray]:
    """NumPy: per-example squared error of x @ w, the mean over the whole batch minimized by SGD
    from w = 0; the per-example losses before each step."""
    w = np.zeros((x.shape[1], 1), np.float64)
    losses = []
    for _ in range(steps):
        err = x @ w - y
        losses.append(err**2)
        w -= lr * 2 * x.T @ err / len(x)
    return [*losses, w]


@flow.unittest.skip_unless_1n4d()
class TestMirroredDataParallel(flow.unittest.TestCase):
    def test_mirrored_sgd_on_four_devices(test_case: unittest.TestCase) -> None:
        flow.config.gpu_device_num(4)
        func_config = flow.FunctionConfig()
        func_config.default_logical_view(flow.scope.mirrored_view())

        @flow.global_function(type="train", function_config=func_config)
        def train(
            x: tp.ListNumpy.Placeholder((2, 3)), y: tp.ListNumpy.Placeholder((2, 1))
        ) -> tp.ListNumpy:
            w = flow.get_variable("w", shape=(3, 1), initializer=flow.zeros_initializer())
            loss = flow.math.square(flow.matmul(x, w) - y)
            lr = flow.optimizer.PiecewiseConstantScheduler([], [0.1])
            flow.optimizer.SGD(lr, momentum=0).minimize(loss)  # OneFlow's default is 0.9
            return loss

        rng = np.random.default_rng(3)
        x = rng.normal(size=(8, 3)).astype(np.float32)
        y = rng.normal(size=(8, 1)).astype(np.float32)
        *expected, w = _sgd_reference(x.astype(np.float64), y.astype(np.float64), 2, 0.1)
        for step in range(2):
            losses = train(list(np.split(x, 4)), list(np.split(y, 4)))
            test_case.assertEqual(len(losses), 4)
            for device, part in enumerate(losses):
                want = expected[step][2 * device : 2 * device + 2]
                test_case.assertTrue(np.allclose(part, want, rtol=1e-5, atol=1e-6))
        got = flow.get_all_variables()["w"].numpy()
        test_case.assertTrue(np.allclose(got, w, rtol=1e-5, atol=1e-6))
        test_case.assertEqual(train.where.size, 4)

    def test_consistent_view_splits_the_batch(test_case: unittest.TestCase) -> None:
        flow.config.gpu_device_num(4)

        @flow.global_function()
        def scale(x: tp.Numpy.Placeholder((8, 3))) -> tp.Numpy:
            scope = flow.current_scope()
            test_case.assertEqual(scope.device_parallel_desc_symbol.parallel_num, 4)
            return x * 3

        x = np.arange(24, dtype=np.float32).reshape(8, 3)
        test_case.assertTrue(np.array_equal(scale(x), x * 3))


@flow.unittest.skip_unless_1n2d()
class TestTwoDevices(flow.unittest.TestCase):
    def test_runs_only_with_two_devices(test_case: unittest.TestCase) -> None:
        test_case.fail("ONEFLOW_TEST_DEVICE_NUM=4: a 1n2d test must skip")


@flow.unittest.skip_unless_1n1d()
class TestOneDevice(flow.unittest.TestCase):
    def test_runs_only_on_one_device(test_case: unittest.TestCase) -> None:
        test_case.fail("ONEFLOW_TEST_DEVICE_NUM=4: a 1n1d test must skip")


if __name__ == "__main__":
    unittest.main()
