"""The binder on its own: a version's signature over an implementation, called by keyword."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from flowsnap.compat import ApiEntry, ApiParam, SourceDefault, evaluate_default
from flowsnap.compat._bind import bind_class, bind_function, plan, version_signature
from flowsnap.errors import UnsupportedFeatureError

PK = inspect.Parameter.POSITIONAL_OR_KEYWORD


def entry(name: str, *params: tuple[str, str | None], kind: str = "function") -> ApiEntry:
    return ApiEntry(name, kind, tuple(ApiParam(n, PK, d) for n, d in params), (), False, ())


def impl_conv(
    input: Any,
    filters: Any,
    strides: Any = 1,
    padding: Any = "VALID",
    bias: Any = None,
    data_format: str = "NHWC",
    name: Any = None,
) -> dict[str, Any]:
    return {"strides": strides, "padding": padding, "bias": bias, "data_format": data_format}


NAMESPACE = {"flow": type("Flow", (), {"float32": "f32"})()}


def test_each_version_keeps_its_positional_order_and_defaults() -> None:
    old = entry(
        "nn.conv2d",
        ("input", None),
        ("filters", None),
        ("strides", None),
        ("padding", None),
        ("data_format", '"NCHW"'),
        ("name", "None"),
    )
    signature = version_signature(old, NAMESPACE)
    call = bind_function(
        "flow.nn.conv2d", "oneflow.nn", signature, impl_conv, plan(old, impl_conv, {})
    )
    assert inspect.signature(call) == signature
    assert call("x", "w", 2, "SAME", "NHWC") == {
        "strides": 2,
        "padding": "SAME",
        "bias": None,
        "data_format": "NHWC",
    }
    assert call("x", "w", 2, "SAME")["data_format"] == "NCHW"  # the version's default wins
    with pytest.raises(TypeError, match=r"flow\.nn\.conv2d\(input, .*'bias'"):
        call("x", "w", 2, "SAME", bias=None)  # 0.5's parameter, not 0.3's


def test_defaults_are_evaluated_or_kept_as_text() -> None:
    assert evaluate_default("flow.float32", NAMESPACE) == "f32"
    assert evaluate_default("2 ** 30", NAMESPACE) == 2**30
    assert evaluate_default("[0.0]", NAMESPACE) == [0.0]
    marker = evaluate_default("GetVariablesForCurrentJob", NAMESPACE)
    assert isinstance(marker, SourceDefault)
    assert repr(marker) == "GetVariablesForCurrentJob"


def test_parameters_the_implementation_lacks() -> None:
    spec = entry(
        "f", ("x", None), ("hierarchy", "None"), ("variables", "GetVariablesForCurrentJob")
    )

    def impl(x: Any) -> Any:
        return x

    steps = plan(spec, impl, {})
    assert steps.unsupported == ("hierarchy", "variables")
    assert not steps.complete
    call = bind_function("flow.f", "oneflow", version_signature(spec, NAMESPACE), impl, steps)
    assert call(3) == 3  # defaults left alone are dropped, OneFlow's internal ones too
    with pytest.raises(UnsupportedFeatureError, match="hierarchy= is not implemented"):
        call(3, hierarchy=[2, 2])


def test_renamed_and_differently_named_parameters() -> None:
    spec = entry("get_variable", ("name", None), ("parallel_distribution", "None"))

    def impl(name: Any, nd_sbp: Any = None) -> Any:
        return name, nd_sbp

    steps = plan(spec, impl, {"parallel_distribution": "nd_sbp"})
    assert steps.complete
    call = bind_function("flow.get_variable", "oneflow", version_signature(spec, {}), impl, steps)
    assert call("v", "S0") == ("v", "S0")

    spec = entry("watch", ("blob_watched", None), ("handler_or_prompt", "None"))

    def watch(blob: Any, handler: Any = None) -> Any:
        return blob, handler

    steps = plan(spec, watch, {})
    assert steps.by_position == ("blob_watched->blob", "handler_or_prompt->handler")
    assert not steps.complete  # reported as partial until the names agree
    call = bind_function("flow.watch", "oneflow", version_signature(spec, {}), watch, steps)
    assert call(1, handler_or_prompt=2) == (1, 2)


def test_classes_become_subclasses_with_the_versions_init() -> None:
    class Impl:
        def __init__(self, lr: float, momentum: float = 0.0, extra: int = 1) -> None:
            self.lr, self.momentum, self.extra = lr, momentum, extra

    spec = entry("optimizer.X", ("lr", None), ("momentum", "0.9"), kind="class")
    signature = version_signature(spec, {})
    cls = bind_class("flow.optimizer.X", "oneflow.optimizer", signature, Impl, plan(spec, Impl, {}))
    assert issubclass(cls, Impl)
    assert cls.__name__ == "Impl"
    assert inspect.signature(cls) == signature
    made = cls(0.1)
    assert isinstance(made, Impl)
    assert made.momentum == 0.9
    assert made.extra == 1
    same = entry("optimizer.Y", ("lr", None), ("momentum", "0.0"), ("extra", "1"), kind="class")
    steps = plan(same, Impl, {})
    assert bind_class("y", "m", version_signature(same, {}), Impl, steps) is Impl


def test_a_name_flowsnap_lacks_is_none_but_a_broken_implementation_raises() -> None:
    """An AttributeError raised while an implementation loads (a NumPy alias gone) is a bug to
    show, not a missing name to list as pending."""
    import numpy

    from flowsnap.compat._facade import _lookup

    class Root:
        @property
        def broken(self) -> object:
            return numpy.this_alias_is_gone  # type: ignore[attr-defined]

    assert _lookup("absent", Root()) is None
    with pytest.raises(AttributeError, match="this_alias_is_gone"):
        _lookup("broken", Root())
