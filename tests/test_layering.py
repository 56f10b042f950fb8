"""Imports point down only (DESIGN.md section 1), and the format layer never loads JAX."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).parent.parent / "src" / "flowsnap"

# What each layer may import from flowsnap (besides itself). Lower layers come first.
ALLOWED = {
    "format": {"flowsnap.errors", "flowsnap._version", "flowsnap.format"},
    "dtypes.py": {"flowsnap.errors"},
    "typing.py": {"flowsnap.errors", "flowsnap.dtypes"},
    "initializers": {"flowsnap.errors", "flowsnap.format", "flowsnap.initializers"},
    "_store": {
        "flowsnap.errors",
        "flowsnap.format",
        "flowsnap.tools",
        "flowsnap.initializers",
        "flowsnap._store",
    },
    "_engine": {
        "flowsnap.errors",
        "flowsnap.format",
        "flowsnap.dtypes",
        "flowsnap.typing",
        "flowsnap.initializers",
        "flowsnap._store",
        "flowsnap._engine",
    },
    "optimizers": {
        "flowsnap.errors",
        "flowsnap.format",
        "flowsnap.initializers",
        "flowsnap._engine",
        "flowsnap.optimizers",
    },
    "ops": {"flowsnap.errors", "flowsnap.dtypes", "flowsnap._engine", "flowsnap.ops"},
    "layers": {
        "flowsnap.errors",
        "flowsnap.initializers",
        "flowsnap._store",
        "flowsnap._engine",
        "flowsnap.ops",
        "flowsnap.layers",
    },
    "scope.py": {"flowsnap._engine"},
    "distribute.py": {"flowsnap._engine"},
    "config.py": {"flowsnap._engine"},
    "env.py": {"flowsnap._engine"},
    "data": {"flowsnap.errors", "flowsnap.data"},
    "tools": {"flowsnap.errors", "flowsnap.format", "flowsnap.tools"},
    "checkpoint.py": {"flowsnap._store"},
    "train.py": {"flowsnap._store"},
    "cli": {
        "flowsnap.errors",
        "flowsnap._version",
        "flowsnap.format",
        "flowsnap.tools",
        "flowsnap.cli",
    },
}
# Third-party modules the engine-free layers may use.
ENGINE_FREE = {"format", "cli", "data", "tools"}
FORBIDDEN_IN_ENGINE_FREE = {"jax", "jaxlib", "flax", "optax"}


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "flowsnap":  # from flowsnap import dtypes -> flowsnap.dtypes
                found.update(f"flowsnap.{alias.name}" for alias in node.names)
            else:
                found.add(node.module)
    return found


def test_layers_import_only_downward() -> None:
    for layer, allowed in ALLOWED.items():
        root = SRC / layer
        for path in [root] if root.is_file() else root.rglob("*.py"):
            for name in imports_of(path):
                if name.startswith("flowsnap"):
                    assert any(name == a or name.startswith(a + ".") for a in allowed), (
                        f"{path.relative_to(SRC)} imports {name}"
                    )
                if layer in ENGINE_FREE:
                    assert name.split(".")[0] not in FORBIDDEN_IN_ENGINE_FREE, (
                        f"{path.relative_to(SRC)} imports {name}"
                    )


def test_every_module_belongs_to_a_layer() -> None:
    top = {p.name for p in SRC.iterdir() if p.name != "__pycache__"}
    facade = {"__init__.py", "__main__.py", "_version.py", "errors.py", "py.typed", "typing.py"}
    assert top - facade - set(ALLOWED) == set()


def test_errors_module_imports_nothing_from_flowsnap() -> None:
    assert not [n for n in imports_of(SRC / "errors.py") if n.startswith("flowsnap")]


def test_importing_format_leaves_jax_out() -> None:
    code = (
        "import sys, numpy as np, tempfile, os\n"
        "import flowsnap as flow\n"
        "from flowsnap import format as fmt\n"
        "p = os.path.join(tempfile.mkdtemp(), 'c')\n"
        "fmt.write_snapshot(p, {'w': np.ones(3)}, durable=False)\n"
        "fmt.read_snapshot(p); fmt.verify_snapshot(p)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('jax', 'jaxlib'))\n"
        "assert not bad, bad\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
