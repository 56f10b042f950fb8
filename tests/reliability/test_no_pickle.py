"""Safety by construction: no load path ever reaches pickle, and PyTorch files are only opened with
``torch.load(weights_only=True)``. Every reader runs with pickle's entry points booby-trapped."""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import flowsnap as flow
import flowsnap.typing as tp
from flowsnap.format import open_snapshot, read_snapshot, verify_snapshot, write_snapshot
from flowsnap.tools import convert, read_tensors


class PickleReachedError(Exception):
    pass


@pytest.fixture
def no_pickle(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    def trap(*args: object, **kwargs: object) -> None:
        raise PickleReachedError("pickle was reached")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, trap)
    torch_calls: list[dict[str, Any]] = []
    try:
        import torch
    except ImportError:
        return torch_calls
    real_load = torch.load

    def checked_load(*args: Any, **kwargs: Any) -> Any:
        torch_calls.append(kwargs)
        if kwargs.get("weights_only") is not True:
            raise PickleReachedError("torch.load without weights_only=True")
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", checked_load)
    return torch_calls


def test_every_reader_works_without_pickle(tmp_path: Path, no_pickle: list[dict[str, Any]]) -> None:
    values = {"w": np.arange(12, dtype=np.float32).reshape(3, 4), "step": np.array([3], np.int64)}
    write_snapshot(tmp_path / "ckpt", values)
    read_snapshot(tmp_path / "ckpt")
    assert verify_snapshot(tmp_path / "ckpt").ok
    open_snapshot(tmp_path / "ckpt")["w"].mmap()
    convert(str(tmp_path / "ckpt"), str(tmp_path / "m.safetensors"))
    convert(str(tmp_path / "m.safetensors"), str(tmp_path / "m.npz"))
    for name in ("m.safetensors", "m.npz"):
        got = read_tensors(str(tmp_path / name))
        np.testing.assert_array_equal(np.asarray(got["w"]), values["w"])
    torch = pytest.importorskip("torch")
    torch.save({k: torch.from_numpy(v) for k, v in values.items()}, tmp_path / "m.pt")
    got = read_tensors(str(tmp_path / "m.pt"))
    np.testing.assert_array_equal(np.asarray(got["w"]), values["w"])
    assert no_pickle  # torch.load was called, with weights_only=True


def test_live_variables_and_mnist_load_without_pickle(
    tmp_path: Path, no_pickle: list[dict[str, Any]]
) -> None:
    @flow.global_function()
    def job() -> tp.Numpy:
        return flow.get_variable("w", shape=(3,), initializer=flow.ones_initializer())

    job()
    flow.checkpoint.save(tmp_path / "ckpt")
    flow.load_variables(flow.checkpoint.get(tmp_path / "ckpt"))
    rng = np.random.default_rng(0)
    np.savez(
        tmp_path / "mnist.npz",
        x_train=rng.integers(0, 255, (100, 28, 28), np.uint8),
        y_train=np.zeros(100, np.uint8),
        x_test=np.zeros((100, 28, 28), np.uint8),
        y_test=np.zeros(100, np.uint8),
    )
    sha = hashlib.sha256((tmp_path / "mnist.npz").read_bytes()).hexdigest()
    flow.data.load_mnist(hash_check=sha, out_dir=str(tmp_path))


def test_no_pickle_import_on_the_format_path() -> None:
    import ast

    src = Path(__file__).parent.parent.parent / "src" / "flowsnap"
    for path in [
        *(src / "format").rglob("*.py"),
        *(src / "tools").rglob("*.py"),
        *(src / "data").rglob("*.py"),
        *(src / "_store").rglob("*.py"),
        *(src / "checkpoint").rglob("*.py"),
    ]:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            assert not any(n.split(".")[0] in ("pickle", "dill", "cloudpickle") for n in names), (
                path
            )
