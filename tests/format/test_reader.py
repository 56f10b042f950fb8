"""Reading: laziness, legacy variables, and every kind of bad input giving a flowsnap error."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from flowsnap.errors import (
    ChecksumMismatchError,
    IncompleteSnapshotError,
    ManifestError,
    MissingMetaError,
    NotASnapshotError,
    SizeMismatchError,
    SnapshotNotFoundError,
    UnsafePathError,
    VariableNotFoundError,
)
from flowsnap.format import (
    open_snapshot,
    open_variable,
    read_snapshot,
    verify_snapshot,
    write_snapshot,
)


@pytest.fixture
def ckpt(tmp_path: Path) -> Path:
    path = tmp_path / "ckpt"
    write_snapshot(
        path,
        {"w": np.arange(12, dtype=np.float32).reshape(4, 3), "b": np.ones(3, np.float32)},
        durable=False,
    )
    return path


def test_opening_reads_no_data(ckpt: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[str] = []
    real_open = os.open

    def spy(path: str, *args: object, **kwargs: object) -> int:
        opened.append(os.path.basename(path))
        return real_open(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", spy)
    snap = open_snapshot(ckpt)
    assert "out" not in opened
    assert snap["w"].shape == (4, 3)
    assert "out" not in opened
    snap["w"].numpy()
    assert "out" in opened


def test_unknown_variable_suggests_close_names(ckpt: Path) -> None:
    with pytest.raises(VariableNotFoundError, match="Did you mean 'w'") as info:
        open_snapshot(ckpt)["ww"]
    assert isinstance(info.value, KeyError)


def test_missing_or_file_path(tmp_path: Path) -> None:
    with pytest.raises(SnapshotNotFoundError, match="does not exist"):
        open_snapshot(tmp_path / "nope")
    (tmp_path / "f").write_text("x")
    with pytest.raises(SnapshotNotFoundError, match="not a directory"):
        open_snapshot(tmp_path / "f")


def test_variable_dir_is_not_a_snapshot(ckpt: Path) -> None:
    with pytest.raises(NotASnapshotError, match="single variable"):
        open_snapshot(ckpt / "w")


def test_incomplete_snapshot(ckpt: Path) -> None:
    (ckpt / "snapshot_done").unlink()
    with pytest.raises(IncompleteSnapshotError, match="never finished"):
        open_snapshot(ckpt)
    snap = open_snapshot(ckpt, allow_incomplete=True)
    assert not snap.complete
    assert snap["w"].numpy().sum() == 66


def test_empty_snapshot_done_is_oneflow(ckpt: Path) -> None:
    (ckpt / "snapshot_done").write_bytes(b"")
    (ckpt / ".flowsnap-manifest").unlink()  # OneFlow writes neither
    snap = open_snapshot(ckpt)
    assert snap.manifest is None
    assert snap["w"].expected_checksum is None
    assert snap["w"].numpy().shape == (4, 3)


def test_an_emptied_marker_does_not_turn_off_checksums(ckpt: Path) -> None:
    (ckpt / "snapshot_done").write_bytes(b"")  # damage: the manifest copy still has them
    out = ckpt / "w" / "out"
    data = bytearray(out.read_bytes())
    data[0] ^= 1
    out.write_bytes(bytes(data))
    snap = open_snapshot(ckpt)
    assert snap.manifest is not None
    with pytest.raises(ChecksumMismatchError):
        snap["w"].numpy()
    kinds = {p.kind for p in verify_snapshot(ckpt).problems}
    assert kinds == {"ManifestError", "ChecksumMismatchError"}


def test_marker_and_copy_must_agree(ckpt: Path) -> None:
    copy = ckpt / ".flowsnap-manifest"
    copy.write_bytes(copy.read_bytes().replace(b'"w"', b'"x"'))
    with pytest.raises(ManifestError, match="differ"):
        open_snapshot(ckpt)
    assert not verify_snapshot(ckpt).ok


def test_bit_flip_is_caught_on_every_full_read(ckpt: Path) -> None:
    out = ckpt / "w" / "out"
    data = bytearray(out.read_bytes())
    data[0] ^= 1
    out.write_bytes(bytes(data))
    var = open_snapshot(ckpt)["w"]
    for read in (var.numpy, var.mmap, lambda: read_snapshot(ckpt)):
        with pytest.raises(ChecksumMismatchError, match=r"'w'.*corrupted"):
            read()
    # Opting out returns the damaged bytes, and partial reads are size-checked only.
    assert var.numpy(verify=False).shape == (4, 3)
    assert open_snapshot(ckpt, verify=False)["w"].numpy().shape == (4, 3)
    assert var.read(0, 1).shape == (1, 3)


def test_size_change_after_open_is_caught(ckpt: Path) -> None:
    var = open_snapshot(ckpt)["w"]
    with open(ckpt / "w" / "out", "ab") as f:
        f.write(b"xx")
    with pytest.raises(SizeMismatchError, match="changed size"):
        var.numpy()


def test_legacy_variable_needs_shape_and_dtype(tmp_path: Path) -> None:
    root = tmp_path / "legacy"
    (root / "w").mkdir(parents=True)
    (root / "w" / "out").write_bytes(np.arange(6, dtype=np.float32).tobytes())
    (root / "snapshot_done").write_bytes(b"")
    var = open_snapshot(root)["w"]
    assert var.shape is None
    assert var.dtype is None
    with pytest.raises(MissingMetaError, match="with_meta"):
        var.numpy()
    np.testing.assert_array_equal(
        var.with_meta((2, 3), np.float32).numpy(), np.arange(6, dtype=np.float32).reshape(2, 3)
    )
    with pytest.raises(SizeMismatchError, match="needs 48 bytes"):
        var.with_meta((3, 4), np.float32)
    np.testing.assert_array_equal(
        open_variable(root / "w", shape=(6,), dtype="float32").numpy(), np.arange(6.0)
    )
    with pytest.raises(ValueError, match="both"):
        open_variable(root / "w", shape=(6,))


def test_open_variable_with_meta_refuses_shape(ckpt: Path) -> None:
    with pytest.raises(ValueError, match="has a meta file"):
        open_variable(ckpt / "w", shape=(12,), dtype=np.float32)


def test_fifo_and_device_are_refused(ckpt: Path) -> None:
    os.unlink(ckpt / "w" / "out")
    os.mkfifo(ckpt / "w" / "out")
    with pytest.raises(UnsafePathError, match="not a regular file"):
        open_snapshot(ckpt)
    os.unlink(ckpt / "w" / "out")
    os.symlink("/dev/zero", ckpt / "w" / "out")
    with pytest.raises(UnsafePathError, match="outside"):
        open_snapshot(ckpt)


def test_fifo_as_marker_is_refused(ckpt: Path) -> None:
    os.unlink(ckpt / "snapshot_done")
    os.mkfifo(ckpt / "snapshot_done")
    with pytest.raises(UnsafePathError, match="not a regular file"):
        open_snapshot(ckpt)


def test_symlinks_inside_are_followed(ckpt: Path) -> None:
    shutil.move(ckpt / "b" / "out", ckpt / "b" / "real_out")
    os.symlink("real_out", ckpt / "b" / "out")
    np.testing.assert_array_equal(open_snapshot(ckpt)["b"].numpy(), np.ones(3, np.float32))


def test_directory_loop_is_harmless(ckpt: Path) -> None:
    os.symlink(".", ckpt / "loop")
    os.symlink("loop2", ckpt / "loop2")
    assert sorted(open_snapshot(ckpt)) == ["b", "w"]


def test_slice_bounds(ckpt: Path) -> None:
    var = open_snapshot(ckpt)["w"]
    with pytest.raises(ValueError, match="outside"):
        var.read(2, 9)
    with pytest.raises(ValueError, match="outside"):
        var.read_bytes(40, 16)
    assert var.read_bytes(4, 4) == np.float32(1).tobytes()


def test_readinto_checks_destination(ckpt: Path) -> None:
    var = open_snapshot(ckpt)["w"]
    with pytest.raises(ValueError, match="expected shape"):
        var.readinto(np.empty((3, 4), np.float32))
    with pytest.raises(ValueError, match="expected shape"):
        var.readinto(np.empty((4, 3), np.float64))


def test_meta_deleted_although_manifest_recorded_it(ckpt: Path) -> None:
    (ckpt / "w" / "meta").unlink()
    with pytest.raises(ManifestError, match="meta is missing"):
        open_snapshot(ckpt)
    assert [p.kind for p in verify_snapshot(ckpt).problems] == ["ManifestError"]
