"""Saving: validation before any side effect, atomic publication, nothing half-written."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np
import pytest

from flowsnap.errors import (
    InvalidNameError,
    MissingMetaError,
    SnapshotWriteError,
    TargetExistsError,
    UnsupportedDtypeError,
)
from flowsnap.format import _writer, open_snapshot, open_variable, write_snapshot


def leftovers(parent: Path) -> list[str]:
    return [n for n in os.listdir(parent) if ".flowsnap-tmp-" in n]


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("", "empty"),
        (".", "special"),
        ("..", "special"),
        ("a/b", "'/'"),
        ("../escape", "'/'"),
        ("a\\b", "'/'"),
        ("nul\0byte", "NUL"),
        ("snapshot_done", "commit marker"),
        ("x" * 256, "256 bytes"),
        ("\udc80", "UTF-8"),
        (3, "strings"),
    ],
)
def test_invalid_names_are_rejected_before_writing(
    tmp_path: Path, name: object, fragment: str
) -> None:
    with pytest.raises(InvalidNameError, match=fragment):
        write_snapshot(tmp_path / "c", {name: np.ones(1)})  # type: ignore[dict-item]
    assert os.listdir(tmp_path) == []


def test_names_up_to_255_utf8_bytes_are_fine(tmp_path: Path) -> None:
    name = "é" * 127  # 254 bytes
    write_snapshot(tmp_path / "c", {name: np.ones(1)}, durable=False)
    assert list(open_snapshot(tmp_path / "c")) == [name]


def test_duplicate_names_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(InvalidNameError, match="twice"):
        write_snapshot(tmp_path / "c", [("w", np.ones(1)), ("w", np.zeros(1))])
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    "value",
    [
        np.array(["a", "b"]),
        np.array([object(), None]),
        np.array(["2020-01-01"], dtype="datetime64[D]"),
        np.zeros(2, dtype="float8_e4m3fn"),
    ],
    ids=["str", "object", "datetime", "float8"],
)
def test_unsupported_dtypes_are_rejected_before_writing(tmp_path: Path, value: np.ndarray) -> None:
    with pytest.raises(UnsupportedDtypeError, match=r"variable 'w'.*Cast it first"):
        write_snapshot(tmp_path / "c", {"ok": np.ones(1), "w": value})
    assert os.listdir(tmp_path) == []


def test_not_an_array_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises((TypeError, UnsupportedDtypeError), match="variable 'w'"):
        write_snapshot(tmp_path / "c", {"w": {"a": 1}})
    with pytest.raises(TypeError, match="mapping"):
        write_snapshot(tmp_path / "c", [np.ones(1)])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="JSON"):
        write_snapshot(tmp_path / "c", {"w": np.ones(1)}, metadata={"x": object()})
    assert os.listdir(tmp_path) == []


def test_target_rules(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(TargetExistsError, match="is a file"):
        write_snapshot(tmp_path / "file", {"w": np.ones(1)})
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "old").write_text("precious")
    with pytest.raises(TargetExistsError, match="non-empty directory"):
        write_snapshot(tmp_path / "full", {"w": np.ones(1)})
    assert (tmp_path / "full" / "old").read_text() == "precious"
    os.symlink(tmp_path / "elsewhere", tmp_path / "link")
    with pytest.raises(TargetExistsError, match="symlink"):
        write_snapshot(tmp_path / "link", {"w": np.ones(1)})
    # An empty directory is fine (OneFlow allowed it), and so are missing parents.
    (tmp_path / "empty").mkdir()
    write_snapshot(tmp_path / "empty", {"w": np.ones(1)})
    write_snapshot(tmp_path / "a" / "b" / "c", {"w": np.ones(1)})
    assert open_snapshot(tmp_path / "a" / "b" / "c")["w"].numpy().tolist() == [1.0]
    assert leftovers(tmp_path) == []


def test_error_message_is_oneflow_like(tmp_path: Path) -> None:
    (tmp_path / "ckpt.pt").write_text("x")
    with pytest.raises(TargetExistsError) as info:
        write_snapshot(tmp_path / "ckpt.pt", {"w": np.ones(1)})
    text = str(info.value)
    assert str(tmp_path / "ckpt.pt") in text
    assert "directory" in text
    assert isinstance(info.value, FileExistsError)


def test_failure_midway_publishes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = _writer.write_chunks
    calls = {"n": 0}

    def flaky(path: str, chunks: object, *, durable: bool) -> int:
        calls["n"] += 1
        if calls["n"] == 5:
            raise OSError(errno.ENOSPC, "No space left on device", path)
        return real(path, chunks, durable=durable)  # type: ignore[arg-type]

    monkeypatch.setattr(_writer, "write_chunks", flaky)
    variables = {f"v{i}": np.ones(10) for i in range(8)}
    with pytest.raises(SnapshotWriteError, match="disk is full") as info:
        write_snapshot(tmp_path / "c", variables, workers=1)
    assert info.value.errno == errno.ENOSPC
    assert isinstance(info.value, OSError)
    assert not (tmp_path / "c").exists()
    assert leftovers(tmp_path) == []


def test_interrupt_cleans_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(_writer, "_write_marker", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_snapshot(tmp_path / "c", {"w": np.ones(3)})
    assert os.listdir(tmp_path) == []


def test_target_created_by_someone_else_during_save(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = _writer._write_marker

    def racing(tmp: str, manifest: object, *, durable: bool) -> None:
        real(tmp, manifest, durable=durable)  # type: ignore[arg-type]
        (tmp_path / "c").mkdir()
        (tmp_path / "c" / "theirs").write_text("other writer")

    monkeypatch.setattr(_writer, "_write_marker", racing)
    with pytest.raises(TargetExistsError, match="created there while saving"):
        write_snapshot(tmp_path / "c", {"w": np.ones(3)})
    assert os.listdir(tmp_path / "c") == ["theirs"]
    assert leftovers(tmp_path) == []


def test_permission_denied_is_a_write_error(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root ignores directory permissions")
    (tmp_path / "ro").mkdir(mode=0o500)
    with pytest.raises(SnapshotWriteError, match="permission"):
        write_snapshot(tmp_path / "ro" / "c", {"w": np.ones(3)})


def test_permission_denied_simulated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def denied(path: str, mode: int = 0o777) -> None:
        raise PermissionError(errno.EACCES, "Permission denied", path)

    monkeypatch.setattr(_writer.os, "mkdir", denied)
    with pytest.raises(SnapshotWriteError, match="permission denied") as info:
        write_snapshot(tmp_path / "c", {"w": np.ones(3)})
    assert str(tmp_path) in str(info.value)


def test_parent_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(SnapshotWriteError, match="parent directory"):
        write_snapshot(tmp_path / "f" / "c", {"w": np.ones(3)})


def test_legacy_stored_value_without_meta_needs_shape(tmp_path: Path) -> None:
    (tmp_path / "leg" / "w").mkdir(parents=True)
    (tmp_path / "leg" / "w" / "out").write_bytes(np.ones(4, np.float32).tobytes())
    stored = open_variable(tmp_path / "leg" / "w")
    with pytest.raises(MissingMetaError, match="with_meta"):
        write_snapshot(tmp_path / "c", {"w": stored})
    write_snapshot(tmp_path / "c", {"w": stored.with_meta((2, 2), np.float32)})
    assert open_snapshot(tmp_path / "c")["w"].shape == (2, 2)


def test_new_snapshot_has_normal_permissions(tmp_path: Path) -> None:
    write_snapshot(tmp_path / "c", {"w": np.ones(3)})
    mode = (tmp_path / "c").stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o777 & ~umask


def test_failed_final_flush_says_the_snapshot_exists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = _writer.fsync_dir

    def flaky(path: str) -> None:
        if path == str(tmp_path):
            raise OSError(errno.EIO, "Input/output error", path)
        real(path)

    monkeypatch.setattr(_writer, "fsync_dir", flaky)
    with pytest.raises(SnapshotWriteError, match="was saved and is complete") as info:
        write_snapshot(tmp_path / "c", {"w": np.ones(3)})
    assert info.value.errno == errno.EIO
    assert open_snapshot(tmp_path / "c")["w"].numpy().tolist() == [1.0, 1.0, 1.0]


def test_deferred_arrays_are_produced_only_when_written(tmp_path: Path) -> None:
    from flowsnap.format import DeferredArray

    calls: list[str] = []

    def make(name: str, value: np.ndarray) -> DeferredArray:  # type: ignore[type-arg]
        def produce() -> np.ndarray:  # type: ignore[type-arg]
            calls.append(name)
            return value

        return DeferredArray(value.shape, value.dtype, produce)

    a, b = np.arange(6, dtype=np.float32).reshape(2, 3), np.ones(4, np.int64)
    write_snapshot(tmp_path / "d", {"a": make("a", a), "b": make("b", b)}, durable=False)
    assert sorted(calls) == ["a", "b"]
    snap = open_snapshot(tmp_path / "d")
    np.testing.assert_array_equal(snap["a"].numpy(), a)
    wrong = DeferredArray((3,), np.float32, lambda: np.zeros(4, np.float32))
    with pytest.raises(ValueError, match=r"declared \(3,\) kFloat, but produced \(4,\)"):
        write_snapshot(tmp_path / "e", {"w": wrong}, durable=False)
    assert not (tmp_path / "e").exists()


def test_the_next_save_sweeps_its_target_s_crashed_temporaries(tmp_path: Path) -> None:
    import subprocess
    import sys

    dead = int(
        subprocess.run(
            [sys.executable, "-c", "import os; print(os.getpid())"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    mine = tmp_path / f".ckpt.flowsnap-tmp-{dead}-aaaaaa"
    other = tmp_path / f".other.flowsnap-tmp-{dead}-bbbbbb"
    for p in (mine, other):
        p.mkdir()
    write_snapshot(tmp_path / "ckpt", {"w": np.ones(2)}, durable=False)
    assert not mine.exists()
    assert other.exists()  # another target's: left to that target's next save or a manager


# -- overwrite=True --------------------------------------------------------------------------


def _values(path: Path) -> dict[str, list[float]]:
    return {k: v.numpy().tolist() for k, v in open_snapshot(path).items()}


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2", "two-renames"])
def test_overwrite_replaces_a_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exchange: bool
) -> None:
    from flowsnap.format import _fs

    monkeypatch.setattr(_fs._state, "exchange_disabled", not exchange)
    write_snapshot(tmp_path / "c", {"w": np.ones(3), "old-only": np.zeros(2)})
    with pytest.raises(TargetExistsError, match="overwrite=True"):
        write_snapshot(tmp_path / "c", {"w": np.full(3, 2.0)})  # the default never overwrites
    write_snapshot(tmp_path / "c", {"w": np.full(3, 2.0)}, overwrite=True)
    assert _values(tmp_path / "c") == {"w": [2.0, 2.0, 2.0]}
    assert os.listdir(tmp_path) == ["c"]  # the old one is gone, nothing left over
    write_snapshot(tmp_path / "new", {"w": np.ones(1)}, overwrite=True)  # nothing to replace
    assert _values(tmp_path / "new") == {"w": [1.0]}


@pytest.mark.parametrize(
    ("setup", "fragment"),
    [
        (lambda d: (d / "notes.txt").write_text("mine"), "'notes.txt', which is not a variable"),
        (lambda d: (d / "src").mkdir() or (d / "src" / "a.py").write_text(""), "'src'"),
        (lambda d: (d / "out").write_bytes(b"1234"), "single variable"),
    ],
    ids=["user-file", "user-directory", "variable-directory"],
)
def test_overwrite_refuses_what_is_not_a_checkpoint(
    tmp_path: Path, setup: object, fragment: str
) -> None:
    target = tmp_path / "c"
    target.mkdir()
    setup(target)  # type: ignore[operator]
    before = sorted(p.name for p in target.rglob("*"))
    with pytest.raises(TargetExistsError, match="not a OneFlow/flowsnap checkpoint") as info:
        write_snapshot(target, {"w": np.ones(3)}, overwrite=True)
    assert fragment in str(info.value)
    assert sorted(p.name for p in target.rglob("*")) == before
    assert leftovers(tmp_path) == []


def test_overwrite_refuses_a_file_or_a_symlink(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    write_snapshot(tmp_path / "real", {"w": np.ones(1)})
    (tmp_path / "link").symlink_to(tmp_path / "real")
    for name in ("f", "link"):
        with pytest.raises(TargetExistsError):
            write_snapshot(tmp_path / name, {"w": np.ones(3)}, overwrite=True)
    assert (tmp_path / "f").read_text() == "x"
    assert _values(tmp_path / "real") == {"w": [1.0]}


def test_overwrite_accepts_oneflow_checkpoints(tmp_path: Path) -> None:
    """An empty snapshot_done (OneFlow's), none at all with variable directories, or OneFlow
    0.6-0.9's flow.save directory (pickled_data)."""
    (tmp_path / "saved" / "w").mkdir(parents=True)
    (tmp_path / "saved" / "pickled_data").write_bytes(b"\x80\x02}q\x00.")
    for name, marker in (("of", True), ("incomplete", False), ("saved", False)):
        target = tmp_path / name
        (target / "w").mkdir(parents=True, exist_ok=True)
        (target / "w" / "out").write_bytes(np.ones(2, np.float32).tobytes())
        (target / "w" / "meta").write_text("shape {\n  dim: 2\n}\ndata_type: kFloat\n")
        if marker:
            (target / "snapshot_done").write_bytes(b"")
        write_snapshot(target, {"v": np.zeros(1)}, overwrite=True)
        assert _values(target) == {"v": [0.0]}


def test_a_failed_overwrite_keeps_the_old_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_snapshot(tmp_path / "c", {"w": np.ones(3)})

    def full(*args: object, **kwargs: object) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(_writer, "write_chunks", full)
    with pytest.raises(SnapshotWriteError, match="disk is full"):
        write_snapshot(tmp_path / "c", {"w": np.zeros(3)}, overwrite=True)
    assert _values(tmp_path / "c") == {"w": [1.0, 1.0, 1.0]}
    assert os.listdir(tmp_path) == ["c"]


def test_an_overwrite_cut_between_its_two_renames_is_undone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The two-rename fallback: old moved aside, new not yet in, writer dead. The next save to
    that path (or the manager, or sweep_temporaries) puts the old one back."""
    from flowsnap.format import _publish, sweep_temporaries

    write_snapshot(tmp_path / "c", {"w": np.ones(3)})
    aside = tmp_path / ".c.flowsnap-old-999999999-abcdef"
    (tmp_path / "c").rename(aside)
    (tmp_path / ".c.flowsnap-tmp-999999999-012345").mkdir()  # the new one, unfinished
    monkeypatch.setattr(_publish, "_alive", lambda pid: False)
    with pytest.raises(TargetExistsError, match="overwrite=True"):
        write_snapshot(tmp_path / "c", {"w": np.zeros(3)})  # recovers first, then refuses
    assert _values(tmp_path / "c") == {"w": [1.0, 1.0, 1.0]}
    assert os.listdir(tmp_path) == ["c"]
    # with the new one published, a leftover old copy is removed instead
    aside.mkdir()
    (aside / "snapshot_done").write_text("")
    assert sweep_temporaries(tmp_path) == [str(aside)]
    assert os.listdir(tmp_path) == ["c"]


def test_an_overwrite_in_progress_is_never_swept(tmp_path: Path) -> None:
    from flowsnap.format import sweep_temporaries

    aside = tmp_path / f".c.flowsnap-old-{os.getpid()}-abcdef"
    aside.mkdir()
    assert sweep_temporaries(tmp_path) == []
    assert aside.exists()
