"""``facade("0.3"|"0.4"|"0.5")``: the module tree a legacy program imports as ``oneflow``.

Each module (``oneflow``, ``oneflow.nn``, ``oneflow.unittest.env``...) resolves a name on first
use: the version's table says what the name is and its signature; the implementation is
flowsnap's object of the same dotted name (or the one ``_rules`` names); ``_bind`` puts the two
together. Names are resolved lazily, so building a facade imports nothing heavy.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import types
import unittest
from collections.abc import Mapping
from typing import Any, NamedTuple

from flowsnap.compat import _bind, _checkpoint, _rules, _unittest
from flowsnap.compat._table import ApiEntry, ApiTable, load_table, normalize_version
from flowsnap.errors import MissingOpError

ROOT_NAMES = {"0.3": "oneflow", "0.4": "oneflow", "0.5": "oneflow.compatible.single_client"}

# The 0.4 facade (what `import oneflow` is by default, for 0.2-0.4 programs) also answers the
# few names 0.3 had and 0.4 dropped (`typing.ListListNumpy`...), with 0.3's signatures.
FALLBACK = {"0.4": "0.3"}


class Resolution(NamedTuple):
    """What a facade makes of one public name."""

    name: str
    status: str  # "provided", "partial", "pending" or "not-provided"
    reason: str  # why it is not (fully) provided; "" when it is
    value: Any  # the facade's object (None unless provided or partial)


class FacadeModule(types.ModuleType):
    """One namespace of a facade (``oneflow``, ``oneflow.math``...); names bound on first use."""

    def __init__(self, name: str, facade: Facade, path: str) -> None:
        super().__init__(name)
        self.__path__: list[str] = []  # a package, so ``import oneflow.typing`` works
        self._flowsnap_facade = facade
        self._flowsnap_path = path

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__") or attr.startswith("_flowsnap_"):
            raise AttributeError(f"module {self.__name__!r} has no attribute {attr!r}")
        dotted = f"{self._flowsnap_path}.{attr}" if self._flowsnap_path else attr
        value = self._flowsnap_facade.get(dotted)
        setattr(self, attr, value)  # later look-ups skip __getattr__
        return value

    def __dir__(self) -> list[str]:
        return sorted({*super().__dir__(), *self._flowsnap_facade.children(self._flowsnap_path)})


class Facade:
    """One OneFlow version's API bound onto flowsnap."""

    def __init__(self, version: str) -> None:
        self.version = normalize_version(version)
        self.table: ApiTable = load_table(self.version)
        self.root_name = ROOT_NAMES[self.version]
        self._submodules = self.table.submodules
        self._modules: dict[str, FacadeModule] = {}
        self._resolved: dict[str, Resolution] = {}
        self.root = self.module("")
        self.root.__version__ = self.table.version  # type: ignore[attr-defined]
        self.root.__doc__ = (
            f"OneFlow {self.table.version}'s public API ({self.root_name}), provided by flowsnap."
        )

    # -- the module tree ---------------------------------------------------------------------

    def module(self, path: str) -> FacadeModule:
        """The namespace at dotted ``path`` ("" for the root)."""
        if path not in self._modules:
            name = f"{self.root_name}.{path}" if path else self.root_name
            self._modules[path] = FacadeModule(name, self, path)
        return self._modules[path]

    def children(self, path: str) -> set[str]:
        """The names directly under ``path``."""
        prefix = f"{path}." if path else ""
        return {
            n[len(prefix) :].split(".")[0]
            for n in (*self.table.entries, *self._submodules)
            if n.startswith(prefix)
        }

    def is_submodule(self, path: str) -> bool:
        """Whether ``path`` names a namespace of this version (``nn``, ``unittest.env``)."""
        return path in self._submodules

    def get(self, dotted: str) -> Any:
        """The facade's object for ``dotted``; MissingOpError (an AttributeError) saying why
        when there is none."""
        if dotted in self._submodules:
            return self.module(dotted)
        if dotted not in self.table.entries:
            older = FALLBACK.get(self.version)
            if older is not None and dotted in load_table(older).entries:
                return get_facade(older).get(dotted)
            extension = _flowsnap_extension(dotted)
            if extension is not None:
                return extension
            raise MissingOpError(
                f"flow.{dotted} is not provided by flowsnap: it is not part of OneFlow "
                f"{self.table.version}'s public API ({self.root_name}); check the spelling, or "
                "run the program with the version it was written for "
                "(flowsnap run --oneflow-version 0.3|0.4|0.5)"
            )
        found = self.resolve(dotted)
        if found.status in ("provided", "partial"):
            return found.value
        raise MissingOpError(f"flow.{dotted} is not provided by flowsnap: {found.reason}")

    # -- resolving one name ------------------------------------------------------------------

    @functools.cached_property
    def namespace(self) -> Mapping[str, Any]:
        """Where defaults' source text is evaluated: ``flow`` (and OneFlow's other spellings of
        its own package) is this facade; ``unittest`` is Python's, as in OneFlow's source."""
        internal = _Internal(self.root)
        return {
            "flow": self.root,
            "oneflow": internal,
            "oneflow_api": self.root,
            "dtype_util": self.root,
            "unittest": unittest,
        }

    def signature(self, dotted: str) -> inspect.Signature:
        """The version's signature of ``dotted`` (a function or class), defaults evaluated."""
        return _bind.version_signature(self.table.entries[dotted], self.namespace)

    def resolve(self, dotted: str) -> Resolution:
        """Bind ``dotted`` (a name in the table) onto its implementation, once."""
        if dotted not in self._resolved:
            self._resolved[dotted] = self._resolve(self.table.entries[dotted])
        return self._resolved[dotted]

    def _resolve(self, entry: ApiEntry) -> Resolution:
        name = entry.name
        if name in _rules.NOT_PROVIDED:
            return Resolution(name, "not-provided", _rules.NOT_PROVIDED[name], None)
        impl = _implementation(name, entry.same)
        for_version = getattr(impl, "for_oneflow", None) if isinstance(impl, type) else None
        if callable(for_version):  # a class whose behaviour differs by version (FunctionConfig)
            impl = for_version(self.table.version)
        if impl is None:
            owner = _rules.pending_elsewhere(name)
            why = f"pending on {owner}" if owner else "not implemented yet (pending)"
            return Resolution(name, "pending", why, None)
        if entry.kind == "attribute" or (
            # 0.3's dtypes are classes used as tokens (flow.float32); flowsnap's are values
            entry.kind == "class" and not entry.params and not callable(impl)
        ):
            return Resolution(name, "provided", "", impl)
        if isinstance(impl, types.ModuleType) or not callable(impl):
            why = f"not implemented yet (flowsnap's {name} is a {type(impl).__name__})"
            return Resolution(name, "pending", why, None)
        if entry.kind == "class" and name in _rules.IDENTITY_CLASSES:
            return Resolution(name, "provided", "", impl)
        signature = self.signature(name)
        steps = _bind.plan(entry, impl, _rules.PARAM_RENAMES.get(name, {}))
        module = self.module(name.rpartition(".")[0]).__name__
        what = f"flow.{name}"
        if entry.kind == "class" and isinstance(impl, type):
            value: Any = _bind.bind_class(what, module, signature, impl, steps)
        else:
            value = _bind.bind_function(what, module, signature, impl, steps)
        if steps.complete:
            return Resolution(name, "provided", "", value)
        why = "pending parameters: " + steps.gaps(self.table.version)
        return Resolution(name, "partial", why, value)


class _Internal:
    """``oneflow`` in OneFlow's source: ``oneflow._oneflow_internal.X`` is the facade's ``X``."""

    def __init__(self, root: FacadeModule) -> None:
        self._root = root

    def __getattr__(self, attr: str) -> Any:
        return self._root if attr == "_oneflow_internal" else getattr(self._root, attr)


def _implementation(name: str, same: tuple[str, ...] = ()) -> Any:
    """flowsnap's object for OneFlow's ``name``: the one ``_rules`` names, else the same dotted
    name under flowsnap, else one of OneFlow's other names of the same def (``nn.relu`` is
    ``math.relu``); None when flowsnap has none."""
    if name in _checkpoint.PROVIDERS:
        return _checkpoint.PROVIDERS[name]()
    for candidate in (_rules.IMPLEMENTATIONS.get(name, name), *same):
        obj = _lookup(candidate)
        if obj is not None:
            return obj
    if name.startswith("unittest."):  # OneFlow's test harness, for its legacy tests
        return _lookup(name.removeprefix("unittest."), _unittest)
    return None


def _lookup(dotted: str, root: Any = None) -> Any:
    obj: Any = importlib.import_module("flowsnap") if root is None else root
    for part in dotted.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError as exc:  # MissingOpError included
            other = exc.obj is not None and exc.obj is not obj
            if other or exc.name not in (None, part):
                # raised inside the implementation while importing it (e.g. a NumPy alias
                # gone): a bug to show, not a name flowsnap lacks
                raise
            return None
    return obj


@functools.cache
def get_facade(version: str) -> Facade:
    """The :class:`Facade` of ``version`` (one per version per process)."""
    return Facade(normalize_version(version))


def facade(version: str) -> FacadeModule:
    """The root module of OneFlow ``version``'s facade (``"0.3"``, ``"0.4"`` or ``"0.5"``):
    what ``import oneflow`` (0.3, 0.4) or ``import oneflow.compatible.single_client`` (0.5)
    gives a legacy program under ``flowsnap run``."""
    return get_facade(version).root


def _flowsnap_extension(dotted: str) -> Any:
    """flowsnap's own object at ``dotted`` when OneFlow never had the name (an extension such as
    ``flow.data.load_fashion_mnist`` or ``flow.CheckpointManager``), else None."""
    import flowsnap

    value: Any = flowsnap
    for part in dotted.split("."):
        if part.startswith("_"):
            return None
        try:
            value = getattr(value, part)
        except AttributeError:  # MissingOpError is one too
            return None
    return value
