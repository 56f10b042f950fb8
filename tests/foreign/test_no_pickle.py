"""flowsnap.foreign never unpickles: no pickle import, and every reader works with pickle
booby-trapped (PyTorch files only through torch.load(weights_only=True))."""

from __future__ import annotations

import ast
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import safetensors.numpy

from flowsnap.foreign import open_foreign, verify_foreign

SRC = Path(__file__).parent.parent.parent / "src" / "flowsnap" / "foreign"


def test_no_pickle_import() -> None:
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            assert not any(n.split(".")[0] in ("pickle", "dill", "cloudpickle") for n in names)


def test_readers_work_with_pickle_trapped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def trap(*args: object, **kwargs: object) -> None:
        raise AssertionError("pickle was reached")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, trap)
    values = {"w": np.arange(6, dtype=np.float32).reshape(2, 3)}
    safetensors.numpy.save_file(values, str(tmp_path / "m.safetensors"))
    np.savez(tmp_path / "m.npz", **values)
    for name in ("m.safetensors", "m.npz"):
        np.testing.assert_array_equal(open_foreign(tmp_path / name)["w"].numpy(), values["w"])
        assert verify_foreign(tmp_path / name).ok
    torch = pytest.importorskip("torch")
    torch.save({"w": torch.from_numpy(values["w"])}, tmp_path / "m.pt")
    calls: list[dict[str, Any]] = []
    real_load = torch.load

    def checked(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs)
        assert kwargs.get("weights_only") is True
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", checked)
    np.testing.assert_array_equal(open_foreign(tmp_path / "m.pt")["w"].numpy(), values["w"])
    assert calls
