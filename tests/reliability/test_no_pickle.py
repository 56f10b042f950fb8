"""Safety by construction: no load path ever reaches pickle, and PyTorch files are only opened with
``torch.load(weights_only=True)``. Every reader runs with pickle's entry points booby-trapped.

The one exception is OneFlow 0.6 - 0.9's ``pickled_data`` (SPEC.md section 11), read by
``flowsnap.format._pickled.RestrictedUnpickler`` alone: a ``pickle.Unpickler`` subclass whose
``find_class`` resolves plain containers and tensor records only. It works with the traps set (it
never calls ``pickle.load``/``loads`` or a plain ``Unpickler``), and a hostile pickle that names
``os.system`` is refused with the trap on ``os.system`` untouched."""

from __future__ import annotations

import ast
import hashlib
import os
import pickle
import posix
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import flowsnap as flow
import flowsnap.typing as tp
from flowsnap.errors import PickledDataError
from flowsnap.format import (
    open_path,
    open_snapshot,
    read_snapshot,
    verify_snapshot,
    write_snapshot,
)
from flowsnap.tools import convert, read_tensors
from tests.conftest import GOLDEN

SRC = Path(__file__).parent.parent.parent / "src" / "flowsnap"
# the only module allowed to import pickle, and what it may use of it
RESTRICTED = SRC / "format" / "_pickled.py"


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
    src = SRC
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
            if path == RESTRICTED and names == ["pickle"]:
                continue  # checked by test_the_restricted_unpickler_is_the_only_pickle_use
            assert not any(n.split(".")[0] in ("pickle", "dill", "cloudpickle") for n in names), (
                path
            )


def test_the_restricted_unpickler_is_the_only_pickle_use() -> None:
    """In ``_pickled.py``, ``pickle`` appears only as the base class of RestrictedUnpickler, which
    overrides ``find_class`` and ``persistent_load``."""
    tree = ast.parse(RESTRICTED.read_text())
    uses = [
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "pickle"
    ]
    assert uses == ["Unpickler"]
    (cls,) = [
        n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name == "RestrictedUnpickler"
    ]
    assert [ast.unparse(b) for b in cls.bases] == ["pickle.Unpickler"]
    methods = {n.name for n in cls.body if isinstance(n, ast.FunctionDef)}
    assert {"find_class", "persistent_load"} <= methods
    from flowsnap.format._pickled import ALLOWED_GLOBALS, RestrictedUnpickler

    assert RestrictedUnpickler.__mro__[1] is pickle.Unpickler
    assert {m for m, _ in ALLOWED_GLOBALS} == {
        "builtins",
        "collections",
        "oneflow",
        "oneflow._oneflow_internal",
        "oneflow._oneflow_internal.nn",
        "oneflow.nn",
    }
    assert {v.__name__ for v in ALLOWED_GLOBALS.values()} == {
        "OrderedDict",
        "ParameterRecord",
        "TensorRecord",
        "complex",
        "frozenset",
        "set",
    }


def test_oneflow_pickled_directories_read_with_the_traps_set(
    tmp_path: Path, no_pickle: list[dict[str, Any]]
) -> None:
    root = GOLDEN / "oneflow_v0_9_nested"
    snap = open_snapshot(root, allow_incomplete=True)
    assert "model.conv1.weight" in snap
    read_snapshot(root, allow_incomplete=True)
    convert(str(root), str(tmp_path / "m.safetensors"), allow_incomplete=True)
    assert "model.conv1.weight" in read_tensors(str(tmp_path / "m.safetensors"))


def test_a_hostile_pickle_never_runs(
    tmp_path: Path, no_pickle: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    fired: list[object] = []

    def trap(*args: object) -> int:
        fired.append(args)
        raise PickleReachedError("os.system was called")

    monkeypatch.setattr(os, "system", trap)
    monkeypatch.setattr(posix, "system", trap)
    root = GOLDEN / "damaged_pickle_os_system"
    for read in (
        lambda: open_snapshot(root, allow_incomplete=True),
        lambda: open_path(root, allow_incomplete=True),
        lambda: read_snapshot(root, allow_incomplete=True),
        lambda: convert(str(root), str(tmp_path / "x.safetensors"), allow_incomplete=True),
        lambda: flow.checkpoint.get(root, allow_incomplete=True),
    ):
        with pytest.raises(PickledDataError, match=r"posix\.system"):
            read()
    assert verify_snapshot(root).problems[0].kind == "PickledDataError"
    assert fired == []
    assert not (tmp_path / "x.safetensors").exists()
