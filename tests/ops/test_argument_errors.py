"""A non-tensor where an op takes a tensor is an ArgumentError naming the op, the parameter and
what it got (never an AttributeError from deep inside); a data-format or padding string says an
argument passed by position landed there, and conv2d's fifth parameter explains OneFlow 0.3/0.4's
order and how to run such a program."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import jax.numpy as jnp
import numpy as np
import pytest

import flowsnap as flow
import flowsnap.typing as tp
from flowsnap.compat import facade
from flowsnap.errors import ArgumentError

X4 = jnp.ones((2, 3, 6, 6))
W4 = jnp.ones((4, 3, 3, 3))


def raises(fn: Callable[[], Any], *fragments: str) -> str:
    """Run ``fn``; it must raise an ArgumentError (a ValueError) whose message has every
    fragment (plain text, not patterns)."""
    with pytest.raises(ArgumentError) as info:
        fn()
    assert isinstance(info.value, ValueError)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return message


def test_conv2d_in_oneflow_03_order_names_the_order_and_the_fix() -> None:
    # OneFlow 0.3/0.4: conv2d(input, filters, strides, padding, data_format, dilations)
    message = raises(
        lambda: flow.nn.conv2d(X4, W4, 1, "SAME", "NCHW", 1),
        "flow.nn.conv2d",
        "bias must be a tensor",
        "got str 'NCHW'",
        "OneFlow 0.3/0.4 had data_format in this position",
        "data_format='NCHW'",
        "flowsnap run --oneflow-version 0.4",
        "flowsnap.compat.facade('0.4')",
    )
    assert "AttributeError" not in message
    # the advice works: 0.4's facade takes that call, and the keyword form gives the same
    legacy = facade("0.4").nn.conv2d(X4, W4, 1, "SAME", "NCHW", 1)
    keyword = flow.nn.conv2d(X4, W4, 1, "SAME", data_format="NCHW", dilations=1)
    np.testing.assert_array_equal(np.asarray(legacy), np.asarray(keyword))


def test_the_zoo_call_inside_a_job_fails_when_traced_with_the_same_error() -> None:
    flow.clear_default_session()

    @flow.global_function()
    def predict(x: tp.Numpy.Placeholder((2, 3, 6, 6))) -> tp.Numpy:
        w = flow.get_variable("w", (4, 3, 3, 3), initializer=flow.ones_initializer())
        return flow.nn.conv2d(x, w, 1, "SAME", "NCHW", [1, 1])

    with pytest.raises(ArgumentError, match=re.escape("--oneflow-version 0.4")):
        flow.get_all_variables()  # starts the session: traces the body
    flow.clear_default_session()


@pytest.mark.parametrize(
    ("call", "fragments"),
    [
        (
            lambda: flow.nn.conv1d("NCW", jnp.ones((2, 3, 3)), 1, "SAME"),
            ("flow.nn.conv1d: input must be a tensor", "str 'NCW'", "is a data format",
             "passed by position has landed on input"),
        ),
        (
            lambda: flow.nn.conv3d(jnp.ones((1, 2, 3, 3, 3)), None, 1, "SAME"),
            ("flow.nn.conv3d: filters must be a tensor", "NoneType None", "pass the filters"),
        ),
        (
            lambda: flow.nn.conv2d(X4, "SAME", 1, "SAME"),
            ("flow.nn.conv2d: filters must be a tensor", "'SAME' is a padding mode"),
        ),
        (
            lambda: flow.nn.compat_conv2d(X4, [[1.0]], 1, "SAME"),
            ("flow.nn.conv2d: filters must be a tensor", "list [[1.0]]", "numpy.asarray"),
        ),
        (
            lambda: flow.nn.conv2d_transpose(value="NCHW", filter=W4, output_shape=(2, 3, 6, 6)),
            ("flow.nn.conv2d_transpose: input must be a tensor", "is a data format"),
        ),
        (
            lambda: flow.nn.torch_conv2d_transpose(value=X4, filter=3, strides=1),
            ("flow.nn.torch_conv2d_transpose: filters must be a tensor", "int 3"),
        ),
        (
            lambda: flow.nn.max_pool2d("NCHW", 2, 2, "SAME"),
            ("flow.nn.max_pool2d: input must be a tensor", "is a data format"),
        ),
        (
            lambda: flow.nn.avg_pool1d(None, 2, 2, "VALID"),
            ("flow.nn.avg_pool1d: input must be a tensor", "NoneType None"),
        ),
        (
            lambda: flow.nn.max_pool3d(jnp.ones((1, 1, 4, 4, 4)), 2, 2, "SAME", 1),
            ("flow.nn.max_pool3d: data_format must be the string 'NCDHW' or 'NDHWC'", "int 1"),
        ),
        (
            lambda: flow.nn.avg_pool2d(X4, "SAME", 2, "VALID"),
            ("flow.nn.avg_pool2d: ksize must be an int or 2 ints", "str 'SAME'"),
        ),
        (
            lambda: flow.nn.conv2d(X4, W4, "SAME", 1),
            ("flow.nn.conv2d: strides must be an int or 2 ints", "str 'SAME'"),
        ),
        (
            lambda: flow.matmul(jnp.ones((2, 3)), "NCHW"),
            ("flow.matmul: b must be a tensor", "str 'NCHW'"),
        ),
        (
            lambda: flow.batch_matmul(None, jnp.ones((2, 3, 4))),
            ("flow.batch_matmul: a must be a tensor", "NoneType None"),
        ),
        (
            lambda: flow.layers.conv2d("NCHW", 4, 3),
            ("flow.layers.conv2d(name='Conv2d'): inputs must be a tensor", "is a data format"),
        ),
        (
            lambda: flow.layers.conv1d(jnp.ones((1, 2, 5)), W4, 3),
            ("flow.layers.conv1d(name='Conv1d'): filters is the number of output channels",
             "ArrayImpl"),
        ),
        (
            lambda: flow.layers.conv3d(jnp.ones((1, 2, 3, 3, 3)), 4, 1, 1, "SAME", 0),
            ("flow.layers.conv3d(name='Conv3d'): data_format must be the string 'NCDHW'", "int 0"),
        ),
        (
            lambda: flow.layers.dense([[1.0, 2.0]], 3, name="fc"),
            ("flow.layers.dense(name='fc'): inputs must be a tensor", "list [[1.0, 2.0]]"),
        ),
        (
            lambda: flow.layers.dense(jnp.ones((2, 3)), "10"),
            ("flow.layers.dense(name='Dense'): units must be a positive int", "str '10'"),
        ),
    ],
)  # fmt: skip
def test_non_tensors_are_argument_errors_naming_op_parameter_and_value(
    call: Callable[[], Any], fragments: tuple[str, ...]
) -> None:
    raises(call, *fragments)


def test_arrays_of_every_kind_are_taken() -> None:
    a = np.arange(6.0, dtype=np.float32).reshape(2, 3)
    b = np.ones((3, 2), np.float32)
    want = a @ b
    for left, right in ((a, b), (jnp.asarray(a), b), (a, jnp.asarray(b))):
        np.testing.assert_allclose(np.asarray(flow.matmul(left, right)), want)
    x = np.ones((1, 3, 6, 6), np.float32)
    assert flow.nn.max_pool2d(x, 2, 2, "VALID").shape == (1, 3, 3, 3)
    assert flow.nn.conv2d(x, np.ones((4, 3, 1, 1), np.float32), np.int64(2), "SAME").shape == (
        1, 4, 3, 3,
    )  # fmt: skip
    assert flow.nn.conv2d(x, np.ones((4, 3, 1, 1), np.float32), [2.0, 1], "VALID").shape == (
        1, 4, 3, 6,
    )  # fmt: skip
