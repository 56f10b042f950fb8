"""Programs in the style of OneFlow's own legacy math op tests (``flow.unittest.TestCase``, jobs
returning ``.get().numpy()``, ``x += flow.get_variable(...)`` train jobs, positional arguments in
each version's order), run unmodified through ``flowsnap run`` for OneFlow 0.5 and 0.3."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowsnap.cli import main

COMMON = """
import unittest
import numpy as np


def _top_k(test_case, shape, axis, k):
    flow.clear_default_session()
    x = np.random.randn(*shape).astype(np.float32)

    @flow.global_function(function_config=func_config)
    def TopKJob(input: oft.Numpy.Placeholder(shape)):
        return flow.math.top_k(input, axis, k, True)  # (input, axis, k, sorted)

    got = TopKJob(x).get().numpy()
    want = np.moveaxis(np.argsort(-np.moveaxis(x, axis, -1), axis=-1)[..., :k], -1, axis)
    test_case.assertTrue(np.array_equal(got, want))


def _reduce_max_train(test_case, shape, axis, keepdims):
    flow.clear_default_session()

    @flow.global_function(type="train", function_config=func_config)
    def ReduceMaxJob(x: oft.Numpy.Placeholder(shape)):
        x += flow.get_variable(name="v1", shape=shape, dtype=flow.float,
                               initializer=flow.zeros_initializer())
        loss = flow.math.reduce_max(x, axis=axis, keepdims=keepdims)
        flow.optimizer.SGD(flow.optimizer.PiecewiseConstantScheduler([], [1.0]),
                           momentum=0).minimize(flow.math.reduce_sum(loss))
        return loss

    x = np.random.rand(*shape).astype(np.float32)
    out = ReduceMaxJob(x).get().numpy()
    test_case.assertTrue(np.allclose(out, x.max(axis=tuple(axis), keepdims=keepdims)))
    # one SGD step of rate 1 from zero: v1 == -d(sum of maxima)/dx
    v1 = flow.get_all_variables()["v1"].numpy()
    test_case.assertTrue(np.allclose(-v1, x == x.max(axis=tuple(axis), keepdims=True)))


class TestMath(flow.unittest.TestCase):
    def test_top_k(test_case):
        for shape, axis, k in [((5,), 0, 2), ((3, 6), 1, 4), ((4, 3, 2), 0, 1)]:
            _top_k(test_case, shape, axis, k)

    def test_reduce_max_gradient(test_case):
        _reduce_max_train(test_case, (3, 4, 5), [1], False)
        _reduce_max_train(test_case, (3, 4, 5), [0, 2], True)

    def test_segment_sums(test_case):
        @flow.global_function(function_config=func_config)
        def SegmentJob(data: oft.Numpy.Placeholder((2, 4, 3)),
                       ids: oft.Numpy.Placeholder((4,), dtype=flow.int32)):
            return (flow.math.unsorted_segment_sum(data, ids, 3, 1),
                    flow.unsorted_segment_sum_like(data, ids, flow.zeros_like(data[:, :3]), 1))

        data = np.random.randn(2, 4, 3).astype(np.float32)
        ids = np.array([2, 0, 2, 1], np.int32)
        a, b = SegmentJob(data, ids).get()
        want = np.zeros((2, 3, 3), np.float32)
        for i, s in enumerate(ids):
            want[:, s] += data[:, i]
        test_case.assertTrue(np.allclose(a.numpy(), want, atol=1e-6))
        test_case.assertTrue(np.allclose(b.numpy(), want, atol=1e-6))

    def test_in_top_k_and_comparisons(test_case):
        @flow.global_function(function_config=func_config)
        def InTopKJob(targets: oft.Numpy.Placeholder((3,), dtype=flow.int32),
                      predictions: oft.Numpy.Placeholder((3, 4))):
            return (flow.math.in_top_k(targets, predictions, k=2),
                    flow.math.greater(predictions, flow.math.reduce_mean(predictions)))

        p = np.array([[0.1, 0.9, 0.3, 0.2], [0.5, 0.1, 0.2, 0.7], [0.3, 0.3, 0.2, 0.1]], np.float32)
        hit, gt = InTopKJob(np.array([3, 0, 1], np.int32), p).get()
        test_case.assertTrue(np.array_equal(hit.numpy(), np.array([0, 1, 1], np.int8)))
        test_case.assertTrue(np.array_equal(gt.numpy(), (p > p.mean()).astype(np.int8)))

    def test_int_mod_and_division(test_case):
        int_config = flow.FunctionConfig()
        int_config.default_data_type(flow.int32)

        @flow.global_function(function_config=int_config)
        def ModJob(a: oft.Numpy.Placeholder((5, 2), dtype=flow.int32),
                   b: oft.Numpy.Placeholder((1, 2), dtype=flow.int32)):
            return flow.math.mod(a, b), flow.math.divide(a, b), a % b

        a = (np.random.rand(5, 2) * 1000).astype(np.int32) + 1
        b = (np.random.rand(1, 2) * 100).astype(np.int32) + 1
        mod, div, op_mod = ModJob(a, b).get()
        test_case.assertTrue(np.array_equal(mod.numpy(), a % b))
        test_case.assertTrue(np.array_equal(div.numpy(), a // b))
        test_case.assertTrue(np.array_equal(op_mod.numpy(), a % b))

    def test_clip_and_polyval(test_case):
        @flow.global_function(function_config=func_config)
        def ClipJob(x: oft.Numpy.Placeholder((4,))):
            return (flow.math.clip_by_value(x, min_value=-1, max_value=5),
                    flow.clip(x, -1), flow.math.polyval([1.0, 2.0, 3.0], x))

        x = np.array([-2, 1, 4, 7], dtype=np.float32)
        clipped, lower, poly = ClipJob(x).get()
        test_case.assertTrue(np.array_equal(clipped.numpy(), [-1, 1, 4, 5]))
        test_case.assertTrue(np.array_equal(lower.numpy(), [-1, 1, 4, 7]))
        test_case.assertTrue(np.allclose(poly.numpy(), x * x + 2 * x + 3))


if __name__ == "__main__":
    unittest.main()
"""

HEADER = {
    "0.5": """
from oneflow.compatible import single_client as flow
from oneflow.compatible.single_client import typing as oft

func_config = flow.FunctionConfig()
func_config.default_data_type(flow.float)
""",
    "0.3": """
import oneflow as flow
import oneflow.typing as oft

func_config = flow.FunctionConfig()
func_config.default_data_type(flow.float)
""",
}


@pytest.mark.parametrize("version", ["0.5", "0.3"])
def test_a_legacy_style_math_test_program_passes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], version: str
) -> None:
    script = tmp_path / "test_math_ops.py"
    script.write_text(HEADER[version] + COMMON)
    code = main(["run", str(script)])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "Ran 6 tests" in err
    assert err.rstrip().endswith("OK"), err
