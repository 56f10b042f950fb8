"""A job's signature: its placeholders and return annotation, and the checks on each call's inputs.

:func:`parse_signature` reads the body's annotations when the job is defined (string annotations
too, PEP 563) and refuses anything but positional parameters annotated with placeholders;
:func:`bind_inputs` checks what a call feeds against them (count, names, containers, dtype,
shape) before anything runs; :func:`abstract_inputs` gives the shapes the discovery trace uses.
"""

from __future__ import annotations

import inspect
import math
import typing
from collections.abc import Callable, Mapping
from typing import Any, Union

import jax
import numpy as np

from flowsnap import typing as tp
from flowsnap._engine._returns import _EMPTY, ReturnSpec, parse_return
from flowsnap.errors import JobArgumentError, JobDefinitionError, plural

# one parameter: a placeholder, or a tuple of them (nested: ``Tuple[Tuple[...], ...]``)
ParamSpec = Union[tp.PlaceholderDef, tuple["ParamSpec", ...]]  # noqa: UP007 - a runtime alias
Placeholders = dict[str, ParamSpec]


def parse_signature(
    func: Callable[..., Any], job: str, localns: Mapping[str, Any]
) -> tuple[Placeholders, ReturnSpec]:
    """The placeholders of ``func``'s parameters, by name, and its parsed return annotation.

    Raises:
        JobDefinitionError: a parameter is not positional or not annotated with a placeholder,
            an annotation cannot be evaluated, or the return annotation is not supported.
    """
    signature = inspect.signature(func)
    params: Placeholders = {}
    for name, param in signature.parameters.items():
        annotation = _resolve(param.annotation, func, localns)
        if param.kind is not inspect.Parameter.POSITIONAL_OR_KEYWORD:
            raise JobDefinitionError(
                f"job {job!r}: parameter {name!r} must be a plain positional parameter "
                "(no *args, **kwargs or keyword-only parameters)"
            )
        if annotation is inspect.Parameter.empty and isinstance(param.default, tp.PlaceholderDef):
            annotation = param.default  # def job(x=flow.FixedTensorDef((2, 3)))
        spec = _param_spec(annotation)
        if spec is None:
            raise JobDefinitionError(
                f"job {job!r}: parameter {name!r} must be annotated with a placeholder, e.g. "
                f"{name}: tp.Numpy.Placeholder((100, 784), dtype=flow.float), or a "
                f"Tuple[...] of them; got "
                f"{annotation if annotation is not inspect.Parameter.empty else 'no annotation'}"
            )
        params[name] = spec
    ret = signature.return_annotation
    ret = _EMPTY if ret is inspect.Signature.empty else _resolve(ret, func, localns)
    return params, parse_return(ret, job)


def _param_spec(annotation: Any) -> ParamSpec | None:
    """The placeholder(s) an annotation declares, or None if it is not one."""
    if isinstance(annotation, tp.PlaceholderDef):
        return annotation
    if typing.get_origin(annotation) is tuple:
        args = typing.get_args(annotation)
        if not args or Ellipsis in args:
            return None
        items = [_param_spec(a) for a in args]
        if any(item is None for item in items):
            return None
        return tuple(item for item in items if item is not None)
    return None


def _resolve(annotation: Any, func: Callable[..., Any], localns: Mapping[str, Any]) -> Any:
    """Evaluate a string annotation (``from __future__ import annotations``) in the function's
    module and the scope that defined it."""
    if isinstance(annotation, str):
        try:
            return eval(annotation, getattr(func, "__globals__", {}), dict(localns))
        except Exception as exc:
            raise JobDefinitionError(
                f"job {func.__name__!r}: cannot evaluate annotation {annotation!r}: {exc}"
            ) from None
    return annotation


def abstract_inputs(params: Placeholders) -> tuple[Any, ...]:
    """One abstract array per placeholder (at its maximum shape; tuples for tuple parameters),
    for the discovery trace."""

    def abstract(spec: ParamSpec) -> Any:
        if isinstance(spec, tuple):
            return tuple(abstract(s) for s in spec)
        return jax.ShapeDtypeStruct(spec.shape, jax.dtypes.canonicalize_dtype(spec.dtype))  # type: ignore[no-untyped-call]

    return tuple(abstract(p) for p in params.values())


def bind_inputs(
    job: str,
    params: Placeholders,
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
    devices: int = 1,
) -> tuple[Any, ...]:
    """The arrays a call feeds, in parameter order, checked against the placeholders.

    ``devices`` is the number of devices of the job: a ``tp.ListNumpy`` placeholder takes that
    many arrays (one per device; on several devices it gives a tuple of them).

    Raises:
        JobArgumentError: too many, unknown, doubled or missing arguments, or an array of the
            wrong container, type, dtype or shape.
    """
    names = list(params)
    if len(args) > len(names):
        raise JobArgumentError(
            f"job {job!r} takes {plural(len(names), 'argument')} ({', '.join(names)}), "
            f"got {len(args)}"
        )
    given = dict(zip(names, args, strict=False))
    for key, value in kwargs.items():
        if key not in params:
            raise JobArgumentError(f"job {job!r} has no parameter {key!r}")
        if key in given:
            raise JobArgumentError(f"job {job!r}: argument {key!r} given twice")
        given[key] = value
    missing = [n for n in names if n not in given]
    if missing:
        raise JobArgumentError(f"job {job!r} is missing argument(s) {', '.join(missing)}")
    return tuple(
        _check_param(f"job {job!r}, argument {name!r}", params[name], given[name], devices)
        for name in names
    )


_WIDE = frozenset(np.dtype(t) for t in (np.int64, np.uint64, np.float64, np.complex128))
"""The dtypes ``jax.dtypes.canonicalize_dtype`` narrows without ``jax_enable_x64`` (every other
dtype is its own canonical dtype whatever the flag)."""


class InputBinder:
    """:func:`bind_inputs` for one job, its per-signature work done once.

    A call that passes every argument positionally as a NumPy array of exactly the placeholder's
    shape and dtype (NumPy's own dtype object for it), where the dtype is one JAX computes in
    as it is (not a 64-bit type JAX narrows), is checked by an identity and a comparison per
    argument and fed as it came -- the common case, ``job(images, labels)``. Anything else
    (keywords, lists, JAX arrays, 64-bit feeds, another dtype or shape, a mistake) goes through
    :func:`bind_inputs`, which accepts, converts or refuses it as always. Both give the same
    result for every input.
    """

    def __init__(self, job: str, params: Placeholders, devices: int = 1) -> None:
        self.job = job
        self.params = params
        self.devices = devices
        fast: list[tuple[tuple[int, ...], np.dtype[Any]]] | None = []
        for p in params.values():
            if fast is None or not isinstance(p, tp.PlaceholderDef) or p.kind != "Numpy":
                fast = None
                break
            builtin = np.dtype(p.dtype.type)  # NumPy's one object for the type
            if builtin != p.dtype or builtin in _WIDE:
                fast = None
                break
            fast.append((p.shape, builtin))
        self._fast = None if fast is None else tuple(fast)

    def bind(self, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> tuple[Any, ...]:
        """The arrays a call feeds, in parameter order (see :func:`bind_inputs`).

        Raises:
            JobArgumentError: as :func:`bind_inputs`.
        """
        fast = self._fast
        if fast is not None and not kwargs and len(args) == len(fast):
            for value, (shape, dtype) in zip(args, fast, strict=True):
                if (
                    type(value) is not np.ndarray
                    or value.dtype is not dtype
                    or value.shape != shape
                ):
                    break
            else:
                return args
        return bind_inputs(self.job, self.params, args, kwargs, self.devices)


def _check_param(where: str, spec: ParamSpec, value: Any, devices: int = 1) -> Any:
    if not isinstance(spec, tuple):
        if devices > 1 and spec.kind != "Numpy":
            return _check_per_device(where, spec, value, devices)
        return _check_input(where, spec, value)
    if not isinstance(value, tuple | list) or len(value) != len(spec):
        raise JobArgumentError(
            f"{where}: expected a tuple of {len(spec)} array(s) (its annotation is a "
            f"Tuple[...] of placeholders), got {type(value).__name__}"
            + (f" of {len(value)}" if isinstance(value, tuple | list) else "")
        )
    return tuple(
        _check_param(f"{where}, item {i}", s, v, devices)
        for i, (s, v) in enumerate(zip(spec, value, strict=True))
    )


def _check_per_device(where: str, p: tp.PlaceholderDef, value: Any, devices: int) -> Any:
    """A mirrored placeholder on ``devices`` devices: a list of one array (``[[array]]`` for
    ``tp.ListListNumpy``) per device, each checked as on one device."""
    if not isinstance(value, list | tuple) or len(value) != devices:
        raise JobArgumentError(
            f"{where}: a tp.{p.kind}.Placeholder takes a list with one array per device "
            f"({devices} devices here), got {type(value).__name__}"
            + (f" of {len(value)}" if isinstance(value, list | tuple) else "")
        )
    return tuple(_check_input(f"{where}, device {i}", p, [item]) for i, item in enumerate(value))


def _check_input(where: str, p: tp.PlaceholderDef, value: Any) -> Any:
    if p.kind != "Numpy":
        if not isinstance(value, list | tuple) or len(value) != 1:
            raise JobArgumentError(
                f"{where}: a tp.{p.kind}.Placeholder takes a list with one array per device "
                f"(1 device here), got {type(value).__name__}"
            )
        (value,) = value
        if p.kind == "ListListNumpy":
            if not isinstance(value, list | tuple) or len(value) != 1:
                raise JobArgumentError(f"{where}: expected [[array]] for one device")
            (value,) = value
    if not isinstance(value, np.ndarray | jax.Array):
        raise JobArgumentError(
            f"{where}: expected a NumPy array of shape {p.shape} and dtype {p.dtype}, got "
            f"{type(value).__name__}; convert it with np.asarray(..., dtype=np.{p.dtype})"
        )
    if value.dtype != p.dtype:
        raise JobArgumentError(
            f"{where}: expected dtype {p.dtype}, got {value.dtype}; convert it with "
            f".astype(np.{p.dtype})"
        )
    if p.kind == "Numpy":
        if tuple(value.shape) != p.shape:
            raise JobArgumentError(f"{where}: expected shape {p.shape}, got {tuple(value.shape)}")
    elif len(value.shape) != len(p.shape) or math.prod(value.shape) > math.prod(p.shape):
        raise JobArgumentError(
            f"{where}: expected an array of rank {len(p.shape)} with at most "
            f"{math.prod(p.shape)} elements (the placeholder's {p.shape}), got shape "
            f"{tuple(value.shape)}"
        )
    canonical = jax.dtypes.canonicalize_dtype(p.dtype)
    if isinstance(value, np.ndarray) and value.dtype != canonical:
        value = value.astype(canonical)
    return value
