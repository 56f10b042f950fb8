"""``flowsnap run script.py [args]``: run a legacy OneFlow script unmodified.

For the run, the module names legacy scripts import are provided by flowsnap: ``oneflow`` (and
``oneflow.typing``, ``oneflow.<anything>``) as ``flowsnap`` (0.2-0.4 code), and
``oneflow.compatible.single_client`` as ``flowsnap`` (0.5 code:
``import oneflow.compatible.single_client as flow``,
``from oneflow.compatible.single_client import typing as tp``). Nothing is installed on disk;
the aliases exist only in this process.
"""

from __future__ import annotations

import importlib
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

# legacy prefix -> flowsnap module, the longest first
ALIASES = (
    ("oneflow.compatible.single_client", "flowsnap"),
    ("oneflow", "flowsnap"),
)


class _Alias(importlib.abc.Loader):
    def __init__(self, target: str) -> None:
        self.target = target

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        if not self.target:  # oneflow.compatible: an empty package holding single_client
            module = types.ModuleType(spec.name)
            module.__path__ = []
            return module
        return importlib.import_module(self.target)

    def exec_module(self, module: types.ModuleType) -> None:
        """Nothing to run: the module is flowsnap's, already imported."""


class LegacyFinder(importlib.abc.MetaPathFinder):
    """Resolves ``oneflow...`` imports to flowsnap modules."""

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None = None,
        target: types.ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        """A spec aliasing ``fullname`` to its flowsnap module, if it is a legacy name."""
        del path, target
        if fullname == "oneflow.compatible":
            return importlib.util.spec_from_loader(fullname, _Alias(""), is_package=True)
        for old, new in ALIASES:
            if fullname == old or fullname.startswith(old + "."):
                mapped = new + fullname[len(old) :]
                if importlib.util.find_spec(mapped) is None:
                    return None
                return importlib.util.spec_from_loader(fullname, _Alias(mapped), is_package=True)
        return None


@contextmanager
def legacy_aliases() -> Iterator[None]:
    """Make ``import oneflow`` and friends import flowsnap inside the block."""
    finder = LegacyFinder()
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)
        for name in [n for n in sys.modules if n == "oneflow" or n.startswith("oneflow.")]:
            del sys.modules[name]


def run_script(script: str, args: Sequence[str]) -> int:
    """Run ``script`` as ``__main__`` with ``sys.argv = [script, *args]``; return its exit code.

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
        with legacy_aliases():
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
