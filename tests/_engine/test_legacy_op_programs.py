"""Programs in the style of OneFlow's own legacy op tests (``flow.unittest.TestCase``, jobs with
``flow.watch``/``watch_diff`` into a global storage, ``Tuple[...]`` placeholders,
``.get().numpy()``), run unmodified by ``flowsnap run`` under each version's facade."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowsnap.cli import main

# OneFlow 0.4 (`import oneflow`): a train job per case, values and diffs kept by watch handlers
# that store the LocalBlob, compared with NumPy after `.get()`.
PROGRAM_0_4 = """
import unittest
from collections import OrderedDict
import numpy as np
import oneflow as flow
import oneflow.typing as oft

global_storage = {}


def Setter(name):
    def _set(x):
        global_storage[name] = x

    return _set


def Get(name):
    return global_storage.get(name).numpy()


def _compare_reverse(test_case, device_type, x_shape, axis):
    flow.clear_default_session()
    func_config = flow.FunctionConfig()
    func_config.default_data_type(flow.float)
    func_config.default_logical_view(flow.scope.consistent_view())

    @flow.global_function(type="train", function_config=func_config)
    def ReverseJob():
        with flow.scope.placement(device_type, "0:0"):
            x = flow.get_variable(
                "x",
                shape=x_shape,
                dtype=flow.float,
                initializer=flow.random_uniform_initializer(minval=-10, maxval=10),
                trainable=True,
            )
            x = flow.cast_to_current_logical_view(x)
            loss = flow.reverse(x * x, axis)
            flow.optimizer.SGD(
                flow.optimizer.PiecewiseConstantScheduler([], [1e-4]), momentum=0
            ).minimize(loss)
            flow.watch(x, Setter("x"))
            flow.watch_diff(x, Setter("x_diff"))
            flow.watch(loss, Setter("loss"))
            flow.watch_diff(loss, Setter("loss_diff"))
            return loss

    of_out = ReverseJob().get()
    x = Get("x")
    test_case.assertTrue(np.allclose(of_out.numpy(), np.flip(x * x, axis)))
    test_case.assertTrue(np.allclose(Get("loss"), of_out.numpy()))
    test_case.assertTrue(np.allclose(Get("loss_diff"), np.ones(x_shape)))
    test_case.assertTrue(np.allclose(Get("x_diff"), 2 * x, rtol=1e-5))


def _compare_pad(test_case, device_type, x_shape, paddings):
    flow.clear_default_session()

    @flow.global_function(type="train")
    def PadJob(w: oft.Numpy.Placeholder(tuple(d + sum(p) for d, p in zip(x_shape, paddings)))):
        with flow.scope.placement(device_type, "0:0"):
            x = flow.get_variable(
                "x", shape=x_shape, initializer=flow.random_uniform_initializer()
            )
            y = flow.pad(x, paddings, constant_value=2.0)
            flow.watch(x, Setter("x"))
            flow.watch_diff(x, Setter("x_diff"))
            flow.optimizer.SGD(
                flow.optimizer.PiecewiseConstantScheduler([], [1e-4]), momentum=0
            ).minimize(y * w)
            return y

    w = np.random.uniform(size=tuple(d + sum(p) for d, p in zip(x_shape, paddings)))
    y = PadJob(w.astype(np.float32)).get().numpy()
    x = Get("x")
    test_case.assertTrue(np.allclose(y, np.pad(x, paddings, constant_values=2.0)))
    inner = tuple(slice(p[0], p[0] + d) for d, p in zip(x_shape, paddings))
    test_case.assertTrue(np.allclose(Get("x_diff"), w[inner], rtol=1e-5))


def GenArgList(arg_dict):
    import itertools

    return list(itertools.product(*arg_dict.values()))


@flow.unittest.skip_unless_1n1d()
class TestReverseAndPad(flow.unittest.TestCase):
    def test_reverse(test_case):
        arg_dict = OrderedDict()
        arg_dict["device_type"] = ["gpu", "cpu"]
        arg_dict["x_shape"] = [(3, 4)]
        arg_dict["axis"] = [[0, 1]]
        for arg in GenArgList(arg_dict):
            _compare_reverse(test_case, *arg)

    def test_pad(test_case):
        _compare_pad(test_case, "cpu", (2, 3), ((1, 0), (2, 1)))


@flow.unittest.skip_unless_1n4d()
class TestReverseOnFourDevices(flow.unittest.TestCase):
    def test_reverse(test_case):
        raise AssertionError("runs only on four devices")


if __name__ == "__main__":
    unittest.main()
"""

# OneFlow 0.5 (`oneflow.compatible.single_client`): Tuple placeholders, current_scope,
# mirrored ListNumpy jobs with a tp.ListNumpy watch_diff handler, .get().numpy_list().
PROGRAM_0_5 = """
import unittest
from typing import Tuple

import numpy as np

import oneflow.compatible.single_client.unittest
from oneflow.compatible import single_client as flow
from oneflow.compatible.single_client import typing as oft

func_config = flow.FunctionConfig()
func_config.default_data_type(flow.float)


@flow.unittest.skip_unless_1n1d()
class TestAddNAndScope(flow.unittest.TestCase):
    def test_naive(test_case):
        @flow.global_function(function_config=func_config)
        def AddJob(xs: Tuple[(oft.Numpy.Placeholder((5, 2)),) * 3]):
            return flow.math.add_n(xs)

        inputs = tuple((np.random.rand(5, 2).astype(np.float32) for i in range(3)))
        r = AddJob(inputs).get().numpy()
        test_case.assertTrue(np.allclose(r, sum(inputs)))

    def test_scope(test_case):
        @flow.global_function(function_config=func_config)
        def Foo():
            with flow.scope.placement("cpu", "0:0"):
                test_case.assertEqual(
                    "cpu", flow.current_scope().device_parallel_desc_symbol.device_tag
                )
                return flow.get_variable(
                    "w", (10,), initializer=flow.constant_initializer(1)
                )

        r = Foo().get()
        test_case.assertTrue(np.array_equal(r.numpy(), np.ones(10)))
        test_case.assertTrue(np.array_equal(r.numpy_list()[0], np.ones(10)))

    def test_mirrored_diff(test_case):
        config = flow.FunctionConfig()
        config.default_data_type(flow.float)
        config.default_logical_view(flow.scope.mirrored_view())
        diffs = []

        def handler(diff: oft.ListNumpy):
            diffs.append(diff)

        @flow.global_function(type="train", function_config=config)
        def SquareJob(x: oft.ListNumpy.Placeholder((4, 3))) -> oft.ListNumpy:
            with flow.scope.placement("cpu", "0:0"):
                v = flow.get_variable("v", (1,), initializer=flow.zeros_initializer())
                y = flow.math.square(x + v)
                flow.watch_diff(y, handler)
                flow.optimizer.SGD(
                    flow.optimizer.PiecewiseConstantScheduler([], [0.0]), momentum=0
                ).minimize(y)
                return y

        x = np.random.rand(2, 3).astype(np.float32)  # smaller than the placeholder: dynamic
        (y,) = SquareJob([x])
        test_case.assertTrue(np.allclose(y, x * x))
        test_case.assertEqual(len(diffs[0]), 1)
        test_case.assertTrue(np.allclose(diffs[0][0], np.ones((2, 3))))


if __name__ == "__main__":
    unittest.main()
"""

# OneFlow 0.3 (`import oneflow`, run with --oneflow-version 0.3): the pre-typing FixedTensorDef
# inputs, .get().ndarray(), async_get, and a watch_diff on an NCHW pad.
PROGRAM_0_3 = """
import threading
import unittest
import numpy as np
import oneflow as flow


@flow.unittest.skip_unless_1n1d()
class TestFixedTensorDef(flow.unittest.TestCase):
    def test_fixed_tensor_def(test_case):
        @flow.global_function()
        def Foo(x=flow.FixedTensorDef((2, 5))):
            return x

        data = np.ones((2, 5), dtype=np.float32)
        of_ret = Foo(data).get()
        test_case.assertEqual(of_ret.numpy().max(), 1)
        test_case.assertTrue(np.allclose(of_ret.ndarray(), data))

    def test_async_get(test_case):
        done = threading.Event()
        got = []

        @flow.global_function()
        def Bar(x=flow.FixedTensorDef((3,))):
            return flow.math.relu(x)

        def callback(blob):
            got.append(blob.numpy())
            done.set()

        Bar(np.array([-1.0, 0.0, 2.0], np.float32)).async_get(callback)
        test_case.assertTrue(done.wait(30))
        test_case.assertTrue(np.allclose(got[0], [0.0, 0.0, 2.0]))

    def test_reflection_pad_diff(test_case):
        diffs = {}

        def keep(diff):
            diffs["x"] = diff.numpy()

        @flow.global_function(type="train")
        def PadJob(x=flow.FixedTensorDef((1, 1, 3, 3))):
            v = flow.get_variable("v", (1,), initializer=flow.zeros_initializer())
            xv = x + v
            y = flow.reflection_pad2d(xv, [1, 1, 1, 1])
            flow.watch_diff(xv, keep)
            flow.optimizer.SGD(
                flow.optimizer.PiecewiseConstantScheduler([], [0.0]), momentum=0
            ).minimize(y)
            return y

        x = np.arange(9, dtype=np.float32).reshape(1, 1, 3, 3)
        y = PadJob(x).get().numpy()
        test_case.assertTrue(np.allclose(y, np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)), "reflect")))
        # each input element's diff is how many times the padded output holds it
        counts = np.outer([1, 3, 1], [1, 3, 1]).astype(np.float32)
        test_case.assertTrue(np.allclose(diffs["x"][0, 0], counts))


if __name__ == "__main__":
    unittest.main()
"""


@pytest.fixture(autouse=True)
def one_device(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ONEFLOW_TEST_DEVICE_NUM", raising=False)
    monkeypatch.delenv("ONEFLOW_TEST_NODE_LIST", raising=False)


@pytest.mark.parametrize(
    ("program", "flags", "tests", "skipped"),
    [
        (PROGRAM_0_4, (), 3, 1),
        (PROGRAM_0_5, (), 3, 0),
        (PROGRAM_0_3, ("--oneflow-version", "0.3"), 3, 0),
    ],
    ids=["0.4-reverse-pad", "0.5-add_n-scope-mirrored", "0.3-fixed-tensor-def"],
)
def test_a_oneflow_style_op_test_runs_unmodified(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    program: str,
    flags: tuple[str, ...],
    tests: int,
    skipped: int,
) -> None:
    path = tmp_path / "test_program.py"
    path.write_text(program)
    code = main(["run", *flags, str(path)])
    err = capsys.readouterr().err
    assert code == 0, err
    assert f"Ran {tests} tests" in err
    assert ("OK" if not skipped else f"OK (skipped={skipped})") in err
