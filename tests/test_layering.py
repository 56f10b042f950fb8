"""The layering of docs/ARCHITECTURE.md, enforced exactly: imports point down only, private modules
stay in their package, modules stay small, and the engine-free layers never load JAX."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
SRC = ROOT / "src" / "flowsnap"
ARCHITECTURE = ROOT / "docs" / "ARCHITECTURE.md"
SOFT_LIMIT, HARD_LIMIT = 400, 800
FORBIDDEN_IN_ENGINE_FREE = {"jax", "jaxlib", "flax", "optax"}
LEAVES = {"__init__.py", "__main__.py", "_version.py", "errors.py", "py.typed"}


def _table_rows(heading: str) -> list[list[str]]:
    """The rows of the first markdown table after ``heading`` in ARCHITECTURE.md."""
    text = ARCHITECTURE.read_text()
    section = text[text.index(heading) :]
    rows = []
    for line in section.splitlines()[1:]:
        if line.startswith("#"):
            break
        if line.startswith("|") and not line.startswith("|---"):
            rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows[1:]  # without the header row


def _layers() -> tuple[dict[str, set[str]], set[str]]:
    allowed: dict[str, set[str]] = {}
    engine_free: set[str] = set()
    for layer, owns, imports in _table_rows("## Who owns what"):
        name = layer.strip("`")
        allowed[name] = set(re.findall(r"`(flowsnap[\w.]*)`", imports))
        if "*engine-free*" in owns:
            engine_free.add(name)
    return allowed, engine_free


ALLOWED, ENGINE_FREE = _layers()


def _owner(module: str) -> str:
    """The layer a ``flowsnap.x.y`` module belongs to (``x`` or ``x.py``)."""
    part = module.split(".")[1]
    return part if (SRC / part).is_dir() else part + ".py"


def imports_of(path: Path) -> set[str]:
    """Every module ``path`` imports; ``from pkg import _mod`` counts as importing ``pkg._mod``."""
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                if sub.startswith("flowsnap") and _is_module(sub):
                    found.add(sub)
    return found


def _is_module(name: str) -> bool:
    path = SRC.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _files(layer: str) -> list[Path]:
    root = SRC / layer
    return [root] if root.is_file() else sorted(root.rglob("*.py"))


def test_the_table_covers_every_module() -> None:
    top = {p.name for p in SRC.iterdir() if p.name != "__pycache__"}
    assert top - LEAVES == set(ALLOWED)


def test_layers_import_only_downward() -> None:
    problems = []
    for layer, allowed in ALLOWED.items():
        own = "flowsnap." + layer.removesuffix(".py")
        for path in _files(layer):
            for name in imports_of(path):
                if not name.startswith("flowsnap."):
                    continue
                ok = name == own or name.startswith(own + ".")
                ok = ok or any(name == a or name.startswith(a + ".") for a in allowed)
                if not ok:
                    problems.append(f"{path.relative_to(SRC)} imports {name}")
    assert not problems, "\n".join(problems)


def test_private_modules_stay_in_their_package() -> None:
    problems = []
    for path in SRC.rglob("*.py"):
        here = path.relative_to(SRC).parts
        for name in imports_of(path):
            parts = name.split(".")
            if parts[0] != "flowsnap" or len(parts) < 3:
                continue
            private = [p for p in parts[2:] if p.startswith("_")]
            if private and (len(here) < 2 or here[0] != parts[1]):
                problems.append(f"{path.relative_to(SRC)} imports private {name}")
    assert not problems, "\n".join(problems)


def test_engine_free_layers_never_import_jax() -> None:
    for layer in ENGINE_FREE:
        for path in _files(layer):
            for name in imports_of(path):
                assert name.split(".")[0] not in FORBIDDEN_IN_ENGINE_FREE, (
                    f"{path.relative_to(SRC)} imports {name}"
                )
                if name.startswith("flowsnap."):
                    assert _owner(name) in ENGINE_FREE or name in _engine_free_modules(), (
                        f"{path.relative_to(SRC)} (engine-free) imports {name}"
                    )


def _engine_free_modules() -> set[str]:
    """Modules outside the engine-free layers that those layers may use (no JAX inside)."""
    return {
        "flowsnap.errors",
        "flowsnap._version",
        "flowsnap.checkpoint",
        "flowsnap.checkpoint.rename",
    }


def test_errors_module_imports_nothing_from_flowsnap() -> None:
    assert not [n for n in imports_of(SRC / "errors.py") if n.startswith("flowsnap")]


def test_modules_stay_small() -> None:
    listed = {row[0].strip("`") for row in _table_rows("## Modules over the soft limit")}
    too_long, unlisted = [], []
    for path in SRC.rglob("*.py"):
        lines = len(path.read_text().splitlines())
        name = str(path.relative_to(SRC))
        if lines > HARD_LIMIT:
            too_long.append(f"{name}: {lines} lines")
        elif lines > SOFT_LIMIT and name not in listed:
            unlisted.append(f"{name}: {lines} lines")
    assert not too_long, f"over {HARD_LIMIT} lines, split them: {too_long}"
    assert not unlisted, (
        f"over {SOFT_LIMIT} lines: split them or list them with a reason in ARCHITECTURE.md: "
        f"{unlisted}"
    )


def test_the_soft_limit_list_names_only_long_modules() -> None:
    for row in _table_rows("## Modules over the soft limit"):
        path = SRC / row[0].strip("`")
        assert path.is_file(), row[0]
        assert len(path.read_text().splitlines()) > SOFT_LIMIT, f"{row[0]} is short now: unlist it"


@pytest.mark.parametrize(
    "code",
    [
        # the format layer: write, read and verify a checkpoint
        "import numpy as np, tempfile, os\n"
        "import flowsnap as flow\n"
        "from flowsnap import format as fmt\n"
        "p = os.path.join(tempfile.mkdtemp(), 'c')\n"
        "fmt.write_snapshot(p, {'w': np.ones(3)}, durable=False)\n"
        "fmt.read_snapshot(p); fmt.verify_snapshot(p)\n",
        # the tools, with the rename rules they borrow from the checkpoint package
        "import flowsnap.tools as t\nt.RenameRules({'a': 'b'})('a')\n",
    ],
    ids=["format", "tools"],
)
def test_engine_free_imports_leave_jax_out(code: str) -> None:
    code += (
        "import sys\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('jax', 'jaxlib'))\n"
        "assert not bad, bad\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
