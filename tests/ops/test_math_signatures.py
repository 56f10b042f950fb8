"""flow.math provides every ``oneflow.math`` name of OneFlow 0.3.4, 0.4.0 and 0.5.0 with 0.5's
parameter names, order and defaults (the per-version facades call these implementations by
keyword), and the top-level names that are the same functions are the same objects."""

from __future__ import annotations

import ast
import inspect
import json
from pathlib import Path
from typing import Any

import pytest

import flowsnap as flow
import flowsnap.compat

VERSIONS = ("v0.3.4", "v0.4.0", "v0.5.0")
# the facts about OneFlow's API the project keeps (see scripts/make_api_tables.py)
_TABLES = Path(flowsnap.compat.__file__).parent / "api"


def _tables() -> dict[str, dict[str, Any]]:
    """{version: {dotted name: {"params": [{"name", "default"}, ...]}}}"""
    tables = {}
    for v in VERSIONS:
        names = json.loads((_TABLES / f"{v}.json").read_text())["names"]
        tables[v] = {
            n: {"params": [{"name": p[0], "default": p[2]} for p in row.get("params", [])]}
            for n, row in names.items()
        }
    return tables


def _math_names(tables: dict[str, dict[str, Any]]) -> list[str]:
    return sorted({n[len("math.") :] for t in tables.values() for n in t if n.startswith("math.")})


def test_every_oneflow_math_name_is_provided() -> None:
    tables = _tables()
    names = _math_names(tables)
    assert len(names) == 88
    missing = [n for n in names if n not in flow.math.__all__]
    assert not missing, f"flow.math lacks {missing}"


def test_parameters_are_oneflow_050s_and_accept_every_older_keyword() -> None:
    tables = _tables()
    problems = []
    for name in _math_names(tables):
        params = inspect.signature(getattr(flow.math, name)).parameters
        newest = next(
            tables[v][f"math.{name}"] for v in reversed(VERSIONS) if f"math.{name}" in tables[v]
        )
        want = [(p["name"], p["default"]) for p in newest["params"]]
        got = [
            (p.name, None if p.default is inspect.Parameter.empty else p.default)
            for p in params.values()
            if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
        ]
        if [n for n, _ in got] != [n for n, _ in want]:
            problems.append(f"{name}: parameters {[n for n, _ in got]} != {[n for n, _ in want]}")
            continue
        for (pname, default), (_, text) in zip(got, want, strict=True):
            if text is None:
                if default is not None:
                    problems.append(f"{name}({pname}): OneFlow has no default, got {default!r}")
            elif default != ast.literal_eval(text):
                problems.append(f"{name}({pname}): default {default!r} != OneFlow's {text}")
        older = {
            p["name"]
            for v in VERSIONS
            for p in tables[v].get(f"math.{name}", {"params": []})["params"]
        }
        if not older <= set(params):
            problems.append(f"{name}: no keyword for {sorted(older - set(params))}")
    assert not problems, "\n".join(problems)


def test_top_k_takes_axis_before_k_as_oneflow() -> None:
    assert list(inspect.signature(flow.math.top_k).parameters) == [
        "input",
        "axis",
        "k",
        "sorted",
        "name",
    ]


@pytest.mark.parametrize(
    ("top", "math"),
    [
        ("broadcast_to_compatible_with", "broadcast_to_compatible_with"),
        ("clip_by_value", "clip_by_value"),
        ("clip", "clip_by_value"),
        ("clamp", "clip_by_value"),
        ("clip_by_scalar", "clip_by_value"),
        ("in_top_k", "in_top_k"),
        ("unsorted_segment_sum", "unsorted_segment_sum"),
        ("unsorted_segment_sum_like", "unsorted_segment_sum_like"),
        ("unsorted_batch_segment_sum", "unsorted_batch_segment_sum"),
    ],
)
def test_top_level_aliases_are_the_math_functions(top: str, math: str) -> None:
    assert getattr(flow, top) is getattr(flow.math, math)


def test_every_math_function_has_a_docstring() -> None:
    for name in flow.math.__all__:
        assert getattr(flow.math, name).__doc__, name


@pytest.mark.parametrize("version", ["0.3", "0.4", "0.5"])
def test_each_version_facade_reaches_these_implementations(version: str) -> None:
    import jax.numpy as jnp
    import numpy as np

    oneflow = flowsnap.compat.facade(version)
    x = jnp.asarray([[1.0, 3.0, 8.0, 7.0, 2.0], [9.0, 1.0, 4.0, 3.0, 2.0]])
    np.testing.assert_array_equal(np.asarray(oneflow.math.top_k(x, 1, 2)), [[2, 3], [0, 2]])
    np.testing.assert_array_equal(np.asarray(oneflow.math.top_k(x, 0)), [[1, 0, 0, 0, 0]])
    np.testing.assert_allclose(np.asarray(oneflow.math.reduce_mean(x, [1], True)), [[4.2], [3.8]])
    np.testing.assert_array_equal(
        np.asarray(oneflow.unsorted_segment_sum(x, jnp.asarray([1, 1]), 2)),
        [[0] * 5, [10, 4, 12, 10, 4]],
    )
    np.testing.assert_array_equal(np.asarray(oneflow.clamp(x, 2, 3)), np.clip(np.asarray(x), 2, 3))
