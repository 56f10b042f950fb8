"""Binding one version's signature onto flowsnap's implementation.

A facade callable has exactly the version's signature (``inspect.signature`` shows it): it binds
the call to that signature, fills in the version's defaults, and calls the implementation **by
keyword**, so two versions that order parameters differently (0.3's ``nn.conv2d(input, filters,
strides, padding, data_format, ...)``, 0.5's ``(..., padding, bias, data_format, ...)``) share one
implementation. A class gets a subclass whose ``__init__`` does the same, so ``isinstance`` and the
methods keep working.
"""

from __future__ import annotations

import ast
import inspect
import types
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from flowsnap.compat._table import ApiEntry
from flowsnap.errors import UnsupportedFeatureError

_P = inspect.Parameter
_NAMED = (_P.POSITIONAL_ONLY, _P.POSITIONAL_OR_KEYWORD, _P.KEYWORD_ONLY)


class SourceDefault:
    """A default whose source text names one of OneFlow's internal helpers
    (``GetVariablesForCurrentJob``): shown as that text; when the caller leaves it, the facade
    passes nothing, so the implementation's own default (the same meaning) applies."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SourceDefault) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)


def evaluate_default(text: str, namespace: Mapping[str, Any]) -> Any:
    """The value of a default's source text: a literal, or ``a.b.c`` / ``a.b()`` looked up in
    ``namespace`` (where ``flow`` is the facade); a :class:`SourceDefault` when it names nothing
    flowsnap has. Only literals, names, attributes, argument-less calls and arithmetic on
    numbers are evaluated."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        pass
    try:
        return _evaluate(ast.parse(text, mode="eval").body, namespace)
    except (AttributeError, KeyError, TypeError, ValueError, SyntaxError):
        return SourceDefault(text)


def _evaluate(node: ast.expr, namespace: Mapping[str, Any]) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        return namespace[node.id]
    if isinstance(node, ast.Attribute):
        return getattr(_evaluate(node.value, namespace), node.attr)
    if isinstance(node, ast.Call) and not node.args and not node.keywords:
        return _evaluate(node.func, namespace)()
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow | ast.Mult | ast.Add):
        left, right = _evaluate(node.left, namespace), _evaluate(node.right, namespace)
        if isinstance(node.op, ast.Pow):
            return left**right
        return left * right if isinstance(node.op, ast.Mult) else left + right
    raise ValueError(f"unsupported default expression {ast.dump(node)}")


def version_signature(entry: ApiEntry, namespace: Mapping[str, Any]) -> inspect.Signature:
    """``entry``'s parameters as an :class:`inspect.Signature`, defaults evaluated."""
    return inspect.Signature(
        [
            _P(
                p.name,
                p.kind,
                default=_P.empty if p.default is None else evaluate_default(p.default, namespace),
            )
            for p in entry.params
        ]
    )


def same_default(a: Any, b: Any) -> bool:
    """Whether two defaults are the same value: equal, with ``True`` never equal to ``1`` nor
    ``None`` to anything else (``2 ** 30 == 2.0 ** 30`` and ``np.float32 == np.dtype("float32")``
    are the same default, and so are a list and a tuple of the same values: flowsnap writes
    OneFlow's mutable list defaults as tuples; arrays and odd objects compare by identity)."""
    if a is b:
        return True
    if a is None or b is None or isinstance(a, bool) != isinstance(b, bool):
        return False
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(same_default(x, y) for x, y in zip(a, b, strict=True))
    try:
        return bool(a == b)
    except Exception:  # an object whose == is not a plain bool (arrays)
        return False


def same_signature(a: inspect.Signature, b: inspect.Signature) -> bool:
    """Names, order, kinds and (evaluated) defaults all equal."""
    pa, pb = list(a.parameters.values()), list(b.parameters.values())
    return len(pa) == len(pb) and all(
        x.name == y.name and x.kind == y.kind and same_default(x.default, y.default)
        for x, y in zip(pa, pb, strict=True)
    )


class Plan(NamedTuple):
    """How a version's parameters reach the implementation."""

    targets: dict[str, str | None]  # version parameter -> implementation keyword (None: lacks it)
    unsupported: tuple[str, ...]  # version parameters the implementation does not take
    extra_required: tuple[str, ...]  # implementation parameters required but not in the version
    by_position: tuple[str, ...] = ()  # "input->x": matched by position, the names differ

    @property
    def complete(self) -> bool:
        """Every version parameter reaches the implementation under its own name, and nothing
        else is required."""
        return not self.unsupported and not self.extra_required and not self.by_position

    def gaps(self, version: str) -> str:
        """What keeps the binding from being complete, in words."""
        words = [f"{p}= not implemented" for p in self.unsupported]
        words += [f"{p} by position (the implementation's name differs)" for p in self.by_position]
        words += [
            f"the implementation requires {p}= that OneFlow {version} lacks"
            for p in self.extra_required
        ]
        return "; ".join(words)


def plan(entry: ApiEntry, impl: Callable[..., Any], renames: Mapping[str, str]) -> Plan:
    """Match ``entry``'s parameters to ``impl``'s by name (and ``renames``)."""
    try:
        params = inspect.signature(impl).parameters
    except (TypeError, ValueError):  # no signature to read: trust it with every name
        return Plan({p.name: p.name for p in entry.params}, (), ())
    kinds = {p.kind for p in params.values()}
    targets: dict[str, str | None] = {}
    for p in entry.params:
        if p.kind is _P.VAR_POSITIONAL or p.kind is _P.VAR_KEYWORD:
            targets[p.name] = p.name if p.kind in kinds else None
            continue
        found = None
        for candidate in (p.name, renames.get(p.name)):
            if candidate and candidate in params and params[candidate].kind in _NAMED[1:]:
                found = candidate
                break
        if found is None and _P.VAR_KEYWORD in kinds:
            found = renames.get(p.name, p.name)
        targets[p.name] = found
    # a parameter the implementation spells differently in the same slot (0.3's `x`, 0.5's
    # `input`): matched by position, and reported, so calls work while the names get aligned
    slots = [n for n, q in params.items() if q.kind in _NAMED[:2]]
    version_slots = [p.name for p in entry.params if p.kind in _NAMED[:2]]
    taken = {t for t in targets.values() if t} | set(version_slots)
    by_position = []
    for i, name in enumerate(version_slots):
        if targets[name] is None and i < len(slots) and slots[i] not in taken:
            targets[name] = slots[i]
            taken.add(slots[i])
            by_position.append(f"{name}->{slots[i]}")
    used = {t for t in targets.values() if t}
    extra = tuple(
        name
        for name, p in params.items()
        if p.kind in _NAMED and p.default is _P.empty and name not in used
    )
    missing = tuple(k for k, v in targets.items() if v is None)
    return Plan(targets, missing, extra, tuple(by_position))


def _translate(
    what: str, signature: inspect.Signature, steps: Plan, args: Any, kwargs: Any
) -> tuple[list[Any], dict[str, Any]]:
    """The implementation's ``(args, kwargs)`` for a call made with the version's signature."""
    try:
        bound = signature.bind(*args, **kwargs)
    except TypeError as exc:  # name the function, as Python's own message would
        raise TypeError(f"{what}{signature}: {exc}") from None
    bound.apply_defaults()
    has_varargs = any(p.kind is _P.VAR_POSITIONAL for p in signature.parameters.values())
    positional: list[Any] = []
    keywords: dict[str, Any] = {}
    for name, value in bound.arguments.items():
        param = signature.parameters[name]
        target = steps.targets[name]
        if param.kind is _P.VAR_POSITIONAL:
            positional.extend(value)  # the implementation's own parameters take them, or not
            continue
        if param.kind is _P.VAR_KEYWORD:
            keywords.update(value)
            continue
        if isinstance(value, SourceDefault):
            continue  # OneFlow's internal default: the implementation's own applies
        if target is None:
            if same_default(value, param.default):
                continue
            raise UnsupportedFeatureError(
                f"{what}: the parameter {name}= is not implemented by flowsnap yet (given "
                f"{value!r}); leave it at its default {param.default!r}"
            )
        if has_varargs and param.kind is not _P.KEYWORD_ONLY:
            positional.append(value)  # before *args, as the version's call had it
        else:
            keywords[target] = value
    return positional, keywords


def bind_function(
    what: str, module: str, signature: inspect.Signature, impl: Callable[..., Any], steps: Plan
) -> Callable[..., Any]:
    """A function with ``signature`` that calls ``impl`` by keyword."""

    def call(*args: Any, **kwargs: Any) -> Any:
        positional, keywords = _translate(what, signature, steps, args, kwargs)
        return impl(*positional, **keywords)

    name = what.rsplit(".", 1)[-1]
    call.__name__ = call.__qualname__ = name
    call.__module__ = module
    call.__doc__ = getattr(impl, "__doc__", None)
    call.__signature__ = signature  # type: ignore[attr-defined]
    call.__flowsnap_implementation__ = impl  # type: ignore[attr-defined]
    return call


def bind_class(
    what: str, module: str, signature: inspect.Signature, impl: type, steps: Plan
) -> type:
    """A subclass of ``impl`` whose ``__init__`` has ``signature`` (``impl`` itself when its own
    signature is already the version's)."""
    try:
        if same_signature(inspect.signature(impl), signature):
            return impl
    except (TypeError, ValueError):
        pass
    base_init: Callable[..., None] = impl.__init__  # type: ignore[misc]

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:  # noqa: N807
        positional, keywords = _translate(what, signature, steps, args, kwargs)
        base_init(self, *positional, **keywords)

    def body(ns: dict[str, Any]) -> None:
        ns.update(
            __init__=__init__,
            __signature__=signature,
            __module__=module,
            __qualname__=impl.__qualname__,
            __doc__=impl.__doc__,
            __flowsnap_implementation__=impl,
        )

    return types.new_class(impl.__name__, (impl,), {}, body)
