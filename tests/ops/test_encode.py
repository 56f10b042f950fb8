"""``flow.categorical_ordinal_encode`` against a NumPy oracle, and the dtype names of 0.4/0.5."""

from __future__ import annotations

import numpy as np
import pytest

import flowsnap as flow
import flowsnap.typing as tp
from flowsnap.errors import ArgumentError, TraceError


@pytest.fixture(autouse=True)
def _fresh() -> None:
    flow.clear_default_session()


def _oracle(batches: list[list[int]]) -> list[list[int]]:
    seen: dict[int, int] = {}
    out = []
    for batch in batches:
        out.append([seen.setdefault(i, len(seen) + 1) for i in batch])
    return out


def test_ordinals_in_order_of_first_appearance_across_steps() -> None:
    capacity = 64

    @flow.global_function()
    def job(x: tp.Numpy.Placeholder((5,), dtype=flow.int32)) -> tp.Numpy:
        zeros = flow.zeros_initializer(flow.int32)
        table = flow.get_variable(
            "t", shape=(2 * capacity,), dtype=flow.int32, initializer=zeros, trainable=False
        )
        size = flow.get_variable(
            "s", shape=(1,), dtype=flow.int32, initializer=zeros, trainable=False
        )
        return flow.categorical_ordinal_encode(table, size, x)

    rng = np.random.default_rng(0)
    batches = [rng.integers(1, 40, size=5).tolist() for _ in range(4)]
    got = [job(np.array(b, np.int32)).tolist() for b in batches]
    assert got == _oracle(batches)
    assert int(flow.get_all_variables()["s"].numpy()[0]) == len({i for b in batches for i in b})


def test_table_and_size_must_be_variables_of_the_job() -> None:
    @flow.global_function()
    def job(x: tp.Numpy.Placeholder((2,), dtype=flow.int32)) -> tp.Numpy:
        return flow.categorical_ordinal_encode(x, x, x)

    with pytest.raises(ArgumentError, match=r"flow\.get_variable"):
        job(np.array([1, 2], np.int32))
    with pytest.raises(TraceError, match="inside a job body"):
        flow.categorical_ordinal_encode(np.zeros(4), np.zeros(1), np.zeros(2))


def test_dtype_names_of_0_4_and_0_5() -> None:
    from flowsnap.compat import facade

    for version in ("0.4", "0.5"):
        f = facade(version)
        assert f.int == np.int32
        assert f.long == np.int64
        assert isinstance(f.float32, f.dtype)
        assert flow.float32 in f.dtypes()
        assert flow.bfloat16 in f.dtypes()
