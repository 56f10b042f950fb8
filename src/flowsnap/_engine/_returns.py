"""What a job call gives back, from its return annotation (reference 5.1).

``parse_return(annotation, job)`` checks the annotation when the job is defined and gives a
:class:`ReturnSpec`; ``ReturnSpec.check(outputs)`` checks the body's result against it when the
job is traced, and ``ReturnSpec.convert(outputs)`` turns the computed arrays into what the caller
gets: NumPy arrays for ``tp.Numpy``, one-element lists for ``tp.ListNumpy`` (one device), and so on
through tuples, lists, dicts and ``tp.Bundle``. :func:`deliver` hands a call's result over: at once,
through a ``tp.Callback`` (run promptly and in call order), or, for a job without an annotation, as
a :class:`LazyResult` of :class:`LocalBlob` s (OneFlow's old ``.get()`` style).
"""

from __future__ import annotations

import logging
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import numpy as np

from flowsnap import typing as tp
from flowsnap._store import Session
from flowsnap.errors import JobDefinitionError, TraceError

_log = logging.getLogger("flowsnap")
_LEAVES = {tp.Numpy: "Numpy", tp.ListNumpy: "ListNumpy", tp.ListListNumpy: "ListListNumpy"}


@dataclass(frozen=True)
class ReturnSpec:
    """A parsed return annotation.

    Attributes:
        kind: ``"none"``, ``"leaf"``, ``"tuple"``, ``"list"``, ``"dict"``, ``"bundle"`` or
            ``"future"`` (no annotation: OneFlow's old ``.get()`` style).
        leaf: for leaves and bundles, ``"Numpy"``, ``"ListNumpy"`` or ``"ListListNumpy"``.
        items: for tuples, the spec of each element (one element and ``...`` for ``Tuple[T, ...]``);
            for lists and dicts, the spec of the values.
        callback: whether the annotation was ``tp.Callback[...]``.
    """

    kind: str
    leaf: str = ""
    items: tuple[ReturnSpec, ...] = ()
    variadic: bool = False
    callback: bool = False

    def check(self, outputs: Any, job: str) -> None:
        """Raise a clear error if the body's result does not fit the annotation."""
        _check(self, outputs, job, "the result")

    def convert(self, outputs: Any) -> Any:
        """Turn computed arrays into what the annotation promises."""
        return _convert(self, outputs)


def parse_return(annotation: Any, job: str) -> ReturnSpec:
    """Check a job's return annotation and parse it."""
    if annotation is _EMPTY:
        return ReturnSpec("future")
    origin = typing.get_origin(annotation)
    if origin is tp.Callback:
        (inner,) = typing.get_args(annotation) or (None,)
        spec = parse_return(inner, job) if inner is not None else ReturnSpec("none")
        if spec.kind == "future":
            raise JobDefinitionError(f"job {job!r}: tp.Callback[...] needs a result type")
        return ReturnSpec(spec.kind, spec.leaf, spec.items, spec.variadic, callback=True)
    return _parse(annotation, job)


_EMPTY: Any = object()


def _parse(annotation: Any, job: str) -> ReturnSpec:
    if annotation is None or annotation is type(None):
        return ReturnSpec("none")
    if annotation in _LEAVES:
        return ReturnSpec("leaf", _LEAVES[annotation])
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is tp.Bundle:
        (inner,) = args
        if inner not in _LEAVES:
            raise JobDefinitionError(
                f"job {job!r}: tp.Bundle[...] takes tp.Numpy, tp.ListNumpy or tp.ListListNumpy"
            )
        return ReturnSpec("bundle", _LEAVES[inner])
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return ReturnSpec("tuple", items=(_parse(args[0], job),), variadic=True)
        return ReturnSpec("tuple", items=tuple(_parse(a, job) for a in args))
    if origin is list:
        return ReturnSpec("list", items=(_parse(args[0], job),))
    if origin is dict:
        return ReturnSpec("dict", items=(_parse(args[1], job),))
    raise JobDefinitionError(
        f"job {job!r}: return annotation {annotation!r} is not supported; use tp.Numpy, "
        "tp.ListNumpy, tp.ListListNumpy, Tuple/List/Dict of them, tp.Bundle[...], "
        "tp.Callback[...] or None"
    )


def _check(spec: ReturnSpec, value: Any, job: str, where: str) -> None:
    def fail(expected: str) -> TraceError:
        return TraceError(
            f"job {job!r} returns {type(value).__name__} as {where}, but its return annotation "
            f"expects {expected}"
        )

    if spec.kind == "future":
        return
    if spec.kind == "none":
        if value is not None:
            raise fail("None")
    elif spec.kind == "leaf":
        if not hasattr(value, "shape"):
            raise fail("an array (a blob)")
    elif spec.kind == "bundle":
        for leaf in _tree_leaves(value):
            if not hasattr(leaf, "shape"):
                raise fail("arrays nested in tuples, lists and dicts")
    elif spec.kind in ("tuple", "list"):
        if not isinstance(value, tuple | list):
            raise fail(f"a {spec.kind}")
        if spec.kind == "tuple" and not spec.variadic and len(value) != len(spec.items):
            raise fail(f"a tuple of {len(spec.items)}, not {len(value)}")
        for i, item in enumerate(value):
            _check(
                spec.items[0 if spec.variadic or spec.kind == "list" else i],
                item,
                job,
                f"item {i} of {where}",
            )
    elif spec.kind == "dict":
        if not isinstance(value, dict):
            raise fail("a dict")
        for key, item in value.items():
            _check(spec.items[0], item, job, f"entry {key!r} of {where}")


def _tree_leaves(value: Any) -> list[Any]:
    if isinstance(value, tuple | list):
        return [leaf for item in value for leaf in _tree_leaves(item)]
    if isinstance(value, dict):
        return [leaf for item in value.values() for leaf in _tree_leaves(item)]
    return [value]


def writable(value: Any) -> np.ndarray[Any, Any]:
    """``value`` as a NumPy array the caller may change, as OneFlow's results were (a JAX
    array's NumPy view is read-only: then it is copied)."""
    array = np.asarray(value)
    return array if array.flags.writeable else array.copy()


def _leaf(kind: str, value: Any) -> Any:
    parts = getattr(value, "parts", None)  # a mirrored-view result on several devices
    if parts is not None:
        parts = [writable(p) for p in parts]
    array = writable(value) if parts is None else np.asarray(value)
    if kind == "Numpy":
        return array
    if kind == "ListNumpy":
        return parts if parts is not None else [array]
    return [[p] for p in parts] if parts is not None else [[array]]


def _convert(spec: ReturnSpec, value: Any) -> Any:
    convert: Callable[[Any], Any]
    if spec.kind == "none":
        return None
    if spec.kind == "leaf":
        return _leaf(spec.leaf, value)
    if spec.kind in ("bundle", "future"):
        leaf_kind = spec.leaf or "Numpy"

        def convert(v: Any) -> Any:
            if isinstance(v, tuple | list):
                return type(v)(convert(x) for x in v)
            if isinstance(v, dict):
                return {k: convert(x) for k, x in v.items()}
            return _leaf(leaf_kind, v)

        return convert(value)
    if spec.kind == "dict":
        return {k: _convert(spec.items[0], v) for k, v in value.items()}
    if spec.kind == "list":
        return [_convert(spec.items[0], v) for v in value]
    return tuple(_convert(spec.items[0 if spec.variadic else i], v) for i, v in enumerate(value))


# -- handing a result over ---------------------------------------------------------------------


class LocalBlob:
    """A computed result of a job without a return annotation, or what an un-annotated
    ``flow.watch``/``watch_diff`` handler gets (OneFlow's ``LocalBlob``): ``.numpy()`` gives the
    array, ``.numpy_list()`` a list with one array per device (one, except for a mirrored-view
    result over several devices); other attributes and operators are the array's (``blob.mean()``,
    ``blob * 2``)."""

    __slots__ = ("_array", "_dynamic", "_parts")

    def __init__(
        self,
        array: np.ndarray[Any, Any],
        is_dynamic: bool = False,
        parts: tuple[np.ndarray[Any, Any], ...] | None = None,
    ) -> None:
        self._array = array
        self._dynamic = is_dynamic
        self._parts = parts if parts is not None else (array,)

    def numpy(self, parallel_id: int | None = None) -> np.ndarray[Any, Any]:
        """The result as a NumPy array; with ``parallel_id``, that device's part (mirrored view;
        0 or None on one device)."""
        if parallel_id is None:
            return self._array
        if not 0 <= parallel_id < len(self._parts):
            raise ValueError(
                f"LocalBlob.numpy: parallel_id {parallel_id} is not one of the "
                f"{len(self._parts)} device(s) of this result (0-{len(self._parts) - 1})"
            )
        return self._parts[parallel_id]

    def numpy_list(self) -> list[np.ndarray[Any, Any]]:
        """The result of each device: one array per device."""
        return list(self._parts)

    def ndarray(self) -> np.ndarray[Any, Any]:
        """Deprecated spelling of :meth:`numpy`."""
        _log.warning("LocalBlob.ndarray is deprecated, please use LocalBlob.numpy()")
        return self._array

    def ndarray_list(self) -> list[np.ndarray[Any, Any]]:
        """Deprecated spelling of :meth:`numpy_list`."""
        _log.warning("LocalBlob.ndarray_list is deprecated, please use LocalBlob.numpy_list()")
        return list(self._parts)

    def parallel_num(self) -> int:
        """The number of devices the result came from (1 unless split per device)."""
        return len(self._parts)

    @property
    def is_dynamic(self) -> bool:
        """Whether it came from a dynamically shaped (``ListNumpy``) blob."""
        return self._dynamic

    def __getattr__(self, name: str) -> Any:
        return getattr(self._array, name)

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray[Any, Any]:
        del copy
        return self._array if dtype is None else self._array.astype(dtype)

    def __repr__(self) -> str:
        return f"LocalBlob({self._array!r})"

    def __len__(self) -> int:
        return len(self._array)

    def __iter__(self) -> Any:
        return iter(self._array)


def _forward(op: str) -> Callable[..., Any]:
    def method(self: LocalBlob, *args: Any) -> Any:
        plain = [a.numpy() if isinstance(a, LocalBlob) else a for a in args]
        return getattr(self.numpy(), op)(*plain)

    method.__name__ = op
    return method


# operators act on the array, as OneFlow's LocalBlob forwarded every ndarray dunder
for _op in [
    "__add__",
    "__radd__",
    "__sub__",
    "__rsub__",
    "__mul__",
    "__rmul__",
    "__truediv__",
    "__rtruediv__",
    "__floordiv__",
    "__rfloordiv__",
    "__mod__",
    "__rmod__",
    "__pow__",
    "__rpow__",
    "__matmul__",
    "__rmatmul__",
    "__neg__",
    "__pos__",
    "__abs__",
    "__eq__",
    "__ne__",
    "__lt__",
    "__le__",
    "__gt__",
    "__ge__",
    "__getitem__",
    "__bool__",
    "__float__",
    "__int__",
    "__and__",
    "__or__",
    "__xor__",
    "__invert__",
]:
    setattr(LocalBlob, _op, _forward(_op))
LocalBlob.__hash__ = None  # type: ignore[assignment]


class LazyResult:
    """What an un-annotated job returns: ``.get()`` waits for the result (a :class:`LocalBlob` or a
    tuple/list/dict of them); ``.async_get(cb)`` hands it to ``cb`` in the background."""

    def __init__(self, outputs: Any, session: Session) -> None:
        self._outputs = outputs
        self._session = session

    def get(self) -> Any:
        """The result, once computed."""
        return jax.tree_util.tree_map(
            lambda a: LocalBlob(writable(a), parts=getattr(a, "parts", None)), self._outputs
        )

    def async_get(self, callback: Callable[[Any], None]) -> None:
        """Call ``callback(self.get())`` on the session's callback thread, after the callbacks
        registered before it, and return once it has run (see :func:`deliver`)."""
        self._session.run_callback(
            lambda: callback(self.get()), f"the async_get callback {_name(callback)}"
        )


def deliver(spec: ReturnSpec, outputs: Any, session: Session) -> Any:
    """What a job call returns for the computed ``outputs``: the converted result; for no
    annotation a :class:`LazyResult`; for ``tp.Callback[...]`` a function that takes the
    callback.

    The job call itself returns at once (the step runs asynchronously). Registering the callback
    runs it promptly, in call order: on the session's callback thread once the result is
    computed and every earlier callback has run, and the registration returns after it ran. So
    OneFlow's evaluation pattern (``for ...: eval_job(x, y)(acc)`` then
    ``print(g_correct / g_total)``) sees every callback's effect, as in OneFlow, which ran each
    callback as soon as its job finished. A callback's exception is logged at once and raised
    again by ``flow.sync_default_session()``."""
    if spec.kind == "future":
        return LazyResult(outputs, session)
    if spec.callback:

        def register(callback: Callable[[Any], None]) -> None:
            session.run_callback(
                lambda: callback(spec.convert(outputs)), f"the tp.Callback {_name(callback)}"
            )

        return register
    return spec.convert(outputs)


def _name(callback: Any) -> str:
    return repr(getattr(callback, "__qualname__", callback))
