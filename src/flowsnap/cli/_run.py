"""``flowsnap run script.py [args]``: run a legacy OneFlow script unmodified.

For the run, the module names legacy scripts import are provided by the version facades of
:mod:`flowsnap.compat`: ``oneflow`` (and ``oneflow.typing``, ``oneflow.nn``...) is OneFlow 0.4's
API (0.2-0.4 code), ``oneflow.compatible.single_client`` is 0.5's
(``import oneflow.compatible.single_client as flow``,
``from oneflow.compatible.single_client import typing as tp``); ``--oneflow-version`` gives every
such import one version's API instead. Each facade callable has its version's signature and calls
flowsnap's implementation by keyword. Nothing is installed on disk; the aliases exist only in this
process.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import os
import runpy
import sys
import traceback
import types
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from flowsnap.compat import get_facade

DEFAULT_VERSION = "0.4"  # what `import oneflow` is, unless --oneflow-version says otherwise
SINGLE_CLIENT = "oneflow.compatible.single_client"
CORE = "oneflow.core"  # OneFlow's protobuf modules (every version): flowsnap.core


class _Alias(importlib.abc.Loader):
    def __init__(self, module: types.ModuleType) -> None:
        self.module = module

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        return self.module

    def exec_module(self, module: types.ModuleType) -> None:
        """Nothing to run: the module is a facade's, already built."""


class _RealAlias(_Alias):
    """A real module (``flowsnap.core...``) under a legacy name; it keeps its own spec."""

    def __init__(self, module: types.ModuleType) -> None:
        super().__init__(module)
        self.spec = module.__spec__

    def exec_module(self, module: types.ModuleType) -> None:
        """Undo importlib's setting the alias's spec on the module."""
        module.__spec__ = self.spec


class LegacyFinder(importlib.abc.MetaPathFinder):
    """Resolves ``oneflow...`` imports to a version facade's modules."""

    def __init__(self, version: str | None = None) -> None:
        self.version = version

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None = None,
        target: types.ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        """A spec aliasing ``fullname`` to its facade module, if it is a legacy name."""
        del path, target
        if fullname == "oneflow.compatible":  # an empty package holding single_client
            module = types.ModuleType(fullname)
            module.__path__ = []
            return importlib.util.spec_from_loader(fullname, _Alias(module), is_package=True)
        if fullname == CORE or fullname.startswith(CORE + "."):
            return _core_spec(fullname)
        for prefix, default in ((SINGLE_CLIENT, "0.5"), ("oneflow", DEFAULT_VERSION)):
            if fullname == prefix or fullname.startswith(prefix + "."):
                facade = get_facade(self.version or default)
                sub = fullname[len(prefix) + 1 :]
                if sub and not facade.is_submodule(sub):
                    return None  # not a namespace of that version: ModuleNotFoundError
                loader = _Alias(facade.module(sub))
                return importlib.util.spec_from_loader(fullname, loader, is_package=True)
        return None


def _core_spec(fullname: str) -> importlib.machinery.ModuleSpec | None:
    """``oneflow.core.x.y_pb2`` is ``flowsnap.core.x.y_pb2`` (None, so ModuleNotFoundError, for
    a module flowsnap does not provide)."""
    real = "flowsnap" + fullname.removeprefix("oneflow")
    if any(part.startswith("_") for part in real.split(".")):  # flowsnap's own, not OneFlow's
        raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)
    try:
        module = importlib.import_module(real)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (exc.name == real or real.startswith(exc.name + ".")):
            return None
        raise
    is_package = hasattr(module, "__path__")
    return importlib.util.spec_from_loader(fullname, _RealAlias(module), is_package=is_package)


# NumPy's aliases of builtin types, removed in NumPy 1.24 and current in OneFlow 0.3-0.5's time:
# the model zoo's programs use them (the GPT's Megatron dataset code maps dtype codes to
# ``np.float``). A run restores the missing ones and removes them afterwards.
_NUMPY_ALIASES = {"float": float, "int": int, "object": object, "str": str, "complex": complex}


@contextmanager
def _legacy_numpy_aliases() -> Iterator[None]:
    import numpy as np

    added = [n for n in _NUMPY_ALIASES if n not in vars(np)]
    for name in added:
        setattr(np, name, _NUMPY_ALIASES[name])
    try:
        yield
    finally:
        for name in added:
            if vars(np).get(name) is _NUMPY_ALIASES[name]:
                delattr(np, name)


@contextmanager
def legacy_aliases(version: str | None = None) -> Iterator[None]:
    """Make ``import oneflow`` and friends import a version facade inside the block (``version``:
    one version for every import; None: 0.4 for ``oneflow``, 0.5 for ``single_client``), and
    NumPy's builtin-type aliases of that time (``np.float``, ``np.int``...) exist."""
    finder = LegacyFinder(version)
    sys.meta_path.insert(0, finder)
    try:
        with _legacy_numpy_aliases():
            yield
    finally:
        sys.meta_path.remove(finder)
        for name in [n for n in sys.modules if n == "oneflow" or n.startswith("oneflow.")]:
            del sys.modules[name]


def run_script(script: str, args: Sequence[str], *, version: str | None = None) -> int:
    """Run ``script`` as ``__main__`` with ``sys.argv = [script, *args]``; return its exit code.

    ``version`` (``"0.3"``, ``"0.4"``, ``"0.5"``) gives every ``oneflow`` import that version's
    API; by default ``import oneflow`` is 0.4's and ``oneflow.compatible.single_client`` 0.5's.
    An exception in the script prints its traceback (as ``python script.py`` would) and gives 1.
    """
    if not os.path.isfile(script):
        what = "is not a file" if os.path.lexists(script) else "does not exist"
        print(f"flowsnap run: error: {script} {what}; check the path", file=sys.stderr)
        return 3
    saved_argv, saved_path = sys.argv, list(sys.path)
    sys.argv = [script, *args]
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
    try:
        with legacy_aliases(version):
            runpy.run_path(script, run_name="__main__")
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or 0
        print(exc.code, file=sys.stderr)
        return 1
    except Exception:  # the script's own failure: show it as Python would
        traceback.print_exc()
        return 1
    finally:
        sys.argv, sys.path[:] = saved_argv, saved_path
    return 0
