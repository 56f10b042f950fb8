"""OneFlow 0.6 - 0.9 ``flow.save`` directories (SPEC.md section 11): the golden fixtures read under
their state_dict names, and the restricted unpickler refuses everything but plain containers and
tensor records, without ever importing or calling what a pickle names."""

from __future__ import annotations

import os
import pickle
import posix
import sys
import types
from pathlib import Path
from typing import Any

import hypothesis
import hypothesis.strategies as st
import numpy as np
import pytest
from scripts.make_golden import STATE_DICT, pattern

from flowsnap.errors import (
    IncompleteSnapshotError,
    MissingVariableError,
    PickledDataError,
    UnsafePathError,
)
from flowsnap.format import (
    Snapshot,
    data_type_for,
    encode_meta,
    open_path,
    open_snapshot,
    read_snapshot,
    verify_snapshot,
    write_snapshot,
)
from flowsnap.format._pickled import RestrictedUnpickler, read_pickled_index
from tests.conftest import GOLDEN


class BoobyTrapError(Exception):
    pass


@pytest.fixture
def armed(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    """Replace os.system (and posix.system, its real home) by a trap that records every call."""
    calls: list[tuple[Any, ...]] = []

    def trap(*args: Any) -> int:
        calls.append(args)
        raise BoobyTrapError("a pickle called os.system")

    monkeypatch.setattr(os, "system", trap)
    monkeypatch.setattr(posix, "system", trap)
    return calls


@pytest.mark.parametrize("version", ["oneflow_v0_6_state_dict", "oneflow_v0_9_state_dict"])
def test_a_state_dict_reads_under_its_own_names(version: str) -> None:
    with pytest.raises(IncompleteSnapshotError, match=r"flow\.save"):
        open_snapshot(GOLDEN / version)
    snap = open_snapshot(GOLDEN / version, allow_incomplete=True)
    assert not snap.complete
    assert snap.manifest is None
    assert sorted(snap) == sorted(STATE_DICT)
    for name, (shape, dtype, _) in STATE_DICT.items():
        var = snap[name]
        assert var.name == name
        assert var.shape == shape
        assert var.dtype == np.dtype(dtype)
        assert os.path.basename(var.path).startswith("tensor_")
        np.testing.assert_array_equal(var.numpy(), pattern(shape, dtype))
    assert snap["bn1.num_batches_tracked"].shape == ()  # a scalar, which 0.6+ could save


def test_both_class_layouts_are_the_same_checkpoint() -> None:
    # 0.6/0.7 pickled oneflow._oneflow_internal[.nn] classes with protocol 3, 0.8/0.9 oneflow[.nn]
    old = (GOLDEN / "oneflow_v0_6_state_dict" / "pickled_data").read_bytes()
    new = (GOLDEN / "oneflow_v0_9_state_dict" / "pickled_data").read_bytes()
    assert old[:2] == b"\x80\x03"
    assert b"oneflow._oneflow_internal.nn\nParameter" in old
    assert new[:2] == b"\x80\x04"
    assert b"oneflow.nn" in new
    assert b"_oneflow_internal" not in new
    a = read_snapshot(GOLDEN / "oneflow_v0_6_state_dict", allow_incomplete=True)
    b = read_snapshot(GOLDEN / "oneflow_v0_9_state_dict", allow_incomplete=True)
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])


def test_nested_objects_flatten_with_dots_and_tied_tensors_share_a_directory() -> None:
    snap = open_snapshot(GOLDEN / "oneflow_v0_9_nested", allow_incomplete=True)
    assert sorted(snap) == sorted(
        [*(f"model.{n}" for n in STATE_DICT), "model.head.weight", "optimizer.state.0.exp_avg"]
    )
    assert snap["model.head.weight"].path == snap["model.fc.weight"].path
    np.testing.assert_array_equal(
        snap["model.head.weight"].numpy(), snap["model.fc.weight"].numpy()
    )
    # the epoch, the note and the optimizer's hyper-parameters are not variables
    assert not [n for n in snap if "epoch" in n or "lr" in n or "note" in n]


def test_open_path_and_verify_read_them() -> None:
    path = GOLDEN / "oneflow_v0_9_state_dict"
    with pytest.raises(IncompleteSnapshotError):
        open_path(path)
    opened = open_path(path, allow_incomplete=True)
    assert isinstance(opened, Snapshot)
    assert "conv1.weight" in opened
    one = open_path(opened["conv1.weight"].path)  # a tensor directory is a variable directory
    assert not isinstance(one, Snapshot)
    np.testing.assert_array_equal(one.numpy(), opened["conv1.weight"].numpy())
    report = verify_snapshot(path)
    assert [p.kind for p in report.problems] == ["IncompleteSnapshotError"]
    assert sorted(report.checked) == sorted(STATE_DICT)


def test_they_convert_into_a_snapshot_under_the_state_dict_names(tmp_path: Path) -> None:
    snap = open_snapshot(GOLDEN / "oneflow_v0_9_state_dict", allow_incomplete=True)
    write_snapshot(tmp_path / "ckpt", snap, durable=False)
    again = open_snapshot(tmp_path / "ckpt")
    assert sorted(again) == sorted(STATE_DICT)
    np.testing.assert_array_equal(again["fc.weight"].numpy(), snap["fc.weight"].numpy())


def test_the_hostile_fixture_is_refused_without_running_anything(
    armed: list[tuple[Any, ...]],
) -> None:
    root = GOLDEN / "damaged_pickle_os_system"
    data = (root / "pickled_data").read_bytes()
    for opener in (open_snapshot, open_path, read_snapshot):
        with pytest.raises(PickledDataError) as info:
            opener(root, allow_incomplete=True)  # type: ignore[operator]
        message = str(info.value)
        assert str(root / "pickled_data") in message
        assert "posix.system" in message
    assert verify_snapshot(root).problems[0].kind == "PickledDataError"
    assert armed == []  # the trap never fired
    # ... and the fixture is armed: an ordinary unpickler walks straight into the trap.
    with pytest.raises(BoobyTrapError):
        pickle.loads(data)  # on purpose, against the trap
    assert len(armed) == 1


def test_a_missing_tensor_directory_is_named() -> None:
    root = GOLDEN / "damaged_pickle_missing_tensor"
    with pytest.raises(MissingVariableError, match=r"conv1.bias.*tensor_8"):
        open_snapshot(root, allow_incomplete=True)


# -- the restricted unpickler on crafted pickles -----------------------------------------------


@pytest.fixture
def oneflow(monkeypatch: pytest.MonkeyPatch) -> type:
    """A stand-in ``oneflow.Tensor`` whose pickled state is whatever ``state`` holds."""

    class Tensor:
        state: Any = None

        def __init__(self, state: Any) -> None:
            self.state = state

        def __getstate__(self) -> Any:
            return self.state

    Tensor.__module__, Tensor.__qualname__ = "oneflow", "Tensor"
    module = types.ModuleType("oneflow")
    module.Tensor = Tensor  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "oneflow", module)
    return Tensor


def saved(data: Any, protocol: int = 4, version: Any = 1) -> bytes:
    return pickle.dumps({"protocol_version": version, "data": data}, protocol=protocol)


def index(data: bytes) -> dict[str, str]:
    return read_pickled_index(data, where="ckpt/pickled_data")


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])  # OneFlow: 3 (Python 3.6/3.7) or 4
def test_every_pickle_protocol_reads(oneflow: type, protocol: int) -> None:
    data = {"a": oneflow({"path": "tensor_1"}), "b": [oneflow({"path": "tensor_2"}), 3]}
    assert index(saved(data, protocol)) == {"a": "tensor_1", "b.0": "tensor_2"}


def test_a_bare_tensor_is_named_by_its_directory(oneflow: type) -> None:
    assert index(saved(oneflow({"path": "tensor_9"}))) == {"tensor_9": "tensor_9"}


def test_integer_keys_and_plain_values(oneflow: type) -> None:
    data = {0: {"exp_avg": oneflow({"path": "t0"})}, "lr": 0.1, "s": {1, 2}, "c": complex(1, 2)}
    assert index(saved(data, protocol=3)) == {"0.exp_avg": "t0"}


@pytest.mark.parametrize(
    "state",
    [
        {"path": "../outside"},
        {"path": "a/b"},
        {"path": ""},
        {"path": "."},
        {"path": 3},
        {"path": "t", "data": b"x"},
        {"data": [1, 2]},
        "tensor_1",
        ({"path": "t"}, {"x": 1}),
    ],
)
def test_malformed_tensor_records_are_refused(oneflow: type, state: Any) -> None:
    with pytest.raises(PickledDataError, match="ckpt/pickled_data"):
        index(saved({"w": oneflow(state)}))


def test_a_record_without_state_is_refused(oneflow: type) -> None:
    with pytest.raises(PickledDataError, match="no 'path'"):
        index(saved({"w": oneflow(None)}))


class _Call:
    def __init__(self, func: Any, *args: Any) -> None:
        self.func, self.args = func, args

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return self.func, self.args


# pickled before the trap is set (pickling checks that the global is the real function)
HOSTILE = {
    "builtins.eval": saved({"x": _Call(eval, "1 + 1")}),
    "builtins.getattr": saved({"x": _Call(getattr, 1, "real")}),
    "posix.system": saved({"x": _Call(os.system, "true")}),
    "numpy": saved({"x": _Call(np.array, [1, 2])}),
    "builtins.dict": saved({"x": _Call(dict)}),
    "types.SimpleNamespace": saved({"x": _Call(types.SimpleNamespace)}),
}


@pytest.mark.parametrize("shown", sorted(HOSTILE))
def test_any_other_global_is_refused_naming_it(shown: str, armed: list[tuple[Any, ...]]) -> None:
    with pytest.raises(PickledDataError, match=shown) as info:
        index(HOSTILE[shown])
    assert "ckpt/pickled_data" in str(info.value)
    assert armed == []


def test_persistent_ids_are_refused() -> None:
    import io

    class WithIds(pickle.Pickler):
        def persistent_id(self, obj: Any) -> Any:
            return "storage:0" if isinstance(obj, bytes) else None

    buf = io.BytesIO()
    WithIds(buf).dump({"protocol_version": 1, "data": {"w": b"x"}})
    with pytest.raises(PickledDataError, match="persistent id"):
        index(buf.getvalue())


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (saved({}, version=2), "protocol_version is 2"),
        (pickle.dumps([1, 2]), "not OneFlow's"),
        (pickle.dumps({"protocol_version": 1}), "not OneFlow's"),
        (saved({})[:-5], "not a readable pickle"),
        (b"", "not a readable pickle"),
        (b"\x80\x04not a pickle at all", "not a readable pickle"),
    ],
)
def test_damaged_or_foreign_pickles_are_refused(data: bytes, match: str) -> None:
    with pytest.raises(PickledDataError, match=match):
        index(data)


def test_names_must_be_unique_and_containers_finite(oneflow: type) -> None:
    clash = {"a.b": oneflow({"path": "t1"}), "a": {"b": oneflow({"path": "t2"})}}
    with pytest.raises(PickledDataError, match=r"'a\.b'"):
        index(saved(clash))
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(PickledDataError, match="contains itself"):
        index(saved({"x": loop}))
    with pytest.raises(PickledDataError, match="cannot name a variable"):
        index(saved({("a", 1): oneflow({"path": "t"})}))
    with pytest.raises(PickledDataError, match="empty name"):
        index(saved({"": oneflow({"path": "t"})}))


def test_the_unpickler_resolves_only_the_allow_list() -> None:
    unpickler = RestrictedUnpickler(b"", where="w")
    assert unpickler.find_class("oneflow", "Tensor").__name__ == "TensorRecord"
    assert unpickler.find_class("oneflow._oneflow_internal.nn", "Parameter").kind == "Parameter"
    for module, name in [("os", "system"), ("oneflow", "load"), ("collections", "defaultdict")]:
        with pytest.raises(PickledDataError):
            unpickler.find_class(module, name)


# -- the directory around the pickle ----------------------------------------------------------


def tensor_dir(root: Path, name: str, array: np.ndarray) -> None:  # type: ignore[type-arg]
    """``root/name/{meta,out}`` as OneFlow's ``_save_tensor_to_disk`` wrote it."""
    (root / name).mkdir(parents=True)
    (root / name / "out").write_bytes(array.tobytes())
    (root / name / "meta").write_bytes(encode_meta(array.shape, data_type_for(array.dtype)))


def test_a_tensor_directory_linked_outside_is_refused(tmp_path: Path, oneflow: type) -> None:
    tensor_dir(tmp_path / "outside", "t", np.zeros(2, np.float32))
    root = tmp_path / "ckpt"
    root.mkdir()
    (root / "pickled_data").write_bytes(saved({"w": oneflow({"path": "tensor_1"})}))
    os.symlink(tmp_path / "outside" / "t", root / "tensor_1")
    with pytest.raises(UnsafePathError, match="outside"):
        open_snapshot(root, allow_incomplete=True)


def test_a_variable_named_pickled_data_is_just_a_variable(tmp_path: Path) -> None:
    write_snapshot(tmp_path / "ckpt", {"pickled_data": np.ones(2, np.float32)}, durable=False)
    snap = open_snapshot(tmp_path / "ckpt")
    assert snap.complete
    assert list(snap) == ["pickled_data"]


def test_only_the_directories_the_pickle_names_are_variables(tmp_path: Path, oneflow: type) -> None:
    root = tmp_path / "ckpt"
    tensor_dir(root, "tensor_1", np.arange(3, dtype=np.int32))
    tensor_dir(root, "tensor_2", np.zeros(2, np.float32))  # left by an earlier save
    (root / "pickled_data").write_bytes(saved({"w": oneflow({"path": "tensor_1"})}))
    snap = open_snapshot(root, allow_incomplete=True)
    assert list(snap) == ["w"]
    np.testing.assert_array_equal(snap["w"].numpy(), [0, 1, 2])


def test_a_tensor_without_meta_reads_as_a_legacy_variable(tmp_path: Path, oneflow: type) -> None:
    root = tmp_path / "ckpt"
    tensor_dir(root, "tensor_1", np.arange(4, dtype=np.float32))
    (root / "tensor_1" / "meta").unlink()
    (root / "pickled_data").write_bytes(saved({"w": oneflow({"path": "tensor_1"})}))
    var = open_snapshot(root, allow_incomplete=True)["w"]
    assert var.shape is None
    np.testing.assert_array_equal(var.with_meta((2, 2), np.float32).numpy(), [[0, 1], [2, 3]])


def test_the_flowsnap_command_reads_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], armed: list[tuple[Any, ...]]
) -> None:
    from flowsnap.cli import main

    v06, v09 = str(GOLDEN / "oneflow_v0_6_state_dict"), str(GOLDEN / "oneflow_v0_9_state_dict")
    assert main(["ls", "--allow-incomplete", v09]) == 0
    assert "conv1.weight" in capsys.readouterr().out
    assert main(["show", "--allow-incomplete", v09, "fc.bias"]) == 0
    assert main(["diff", "--allow-incomplete", v06, v09]) == 0
    assert "7 same, 0 different" in capsys.readouterr().out
    out = str(tmp_path / "ckpt")
    assert main(["convert", "--allow-incomplete", v06, out]) == 0
    assert sorted(open_snapshot(out)) == sorted(STATE_DICT)
    assert main(["ls", "--allow-incomplete", str(GOLDEN / "damaged_pickle_os_system")]) != 0
    assert "posix.system" in capsys.readouterr().err
    assert armed == []


GOLDEN_PICKLE = (GOLDEN / "oneflow_v0_9_nested" / "pickled_data").read_bytes()


@hypothesis.given(
    edits=st.lists(
        st.tuples(st.integers(0, len(GOLDEN_PICKLE) - 1), st.integers(0, 255)), max_size=4
    ),
    cut=st.integers(0, len(GOLDEN_PICKLE)),
)
def test_damaged_pickles_give_only_pickled_data_errors(
    edits: list[tuple[int, int]], cut: int
) -> None:
    data = bytearray(GOLDEN_PICKLE)
    for at, byte in edits:
        data[at] = byte
    with pytest.MonkeyPatch.context() as patch:
        calls: list[object] = []
        patch.setattr(posix, "system", lambda *a: calls.append(a))
        patch.setattr(os, "system", lambda *a: calls.append(a))
        try:
            found = read_pickled_index(bytes(data[:cut]), where="w")
        except PickledDataError:
            pass
        else:
            assert all(isinstance(k, str) and isinstance(v, str) for k, v in found.items())
        assert calls == []
