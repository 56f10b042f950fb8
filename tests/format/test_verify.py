"""verify_snapshot reports every problem, not just the first."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from flowsnap.format import verify_snapshot, write_snapshot


def flip(path: Path, index: int = 0) -> None:
    data = bytearray(path.read_bytes())
    data[index] ^= 0x80
    path.write_bytes(bytes(data))


def test_sound_snapshot_verifies(tmp_path: Path) -> None:
    write_snapshot(tmp_path / "c", {"a": np.ones(5), "b": np.zeros((2, 3), np.float32)})
    report = verify_snapshot(tmp_path / "c")
    assert report.ok
    assert report.has_manifest
    assert report.checked == ("a", "b")
    assert report.nbytes == 40 + 24


def test_every_damaged_variable_is_reported(tmp_path: Path) -> None:
    variables = {f"v{i}": np.arange(100, dtype=np.float32) + i for i in range(6)}
    write_snapshot(tmp_path / "c", variables)
    flip(tmp_path / "c" / "v1" / "out", 17)
    flip(tmp_path / "c" / "v4" / "out", 399)
    (tmp_path / "c" / "v2" / "meta").write_text("garbage {")
    with open(tmp_path / "c" / "v3" / "out", "ab") as f:
        f.write(b"\0")
    (tmp_path / "c" / "v5" / "out").unlink()
    report = verify_snapshot(tmp_path / "c", workers=3)
    kinds = {(p.name, p.kind) for p in report.problems}
    assert kinds == {
        ("v1", "ChecksumMismatchError"),
        ("v2", "MetaError"),
        ("v3", "SizeMismatchError"),
        ("v4", "ChecksumMismatchError"),
        ("v5", "MissingVariableError"),
    }
    assert not report.ok


def test_oneflow_snapshot_without_manifest(tmp_path: Path) -> None:
    write_snapshot(tmp_path / "c", {"a": np.ones(5)})
    (tmp_path / "c" / "snapshot_done").write_bytes(b"")
    (tmp_path / "c" / ".flowsnap-manifest").unlink()  # as OneFlow wrote it: neither
    report = verify_snapshot(tmp_path / "c")
    assert report.ok
    assert not report.has_manifest


def test_damaged_manifest_and_missing_marker(tmp_path: Path) -> None:
    write_snapshot(tmp_path / "c", {"a": np.ones(5)})
    (tmp_path / "c" / "snapshot_done").write_text("{not json")
    assert [p.kind for p in verify_snapshot(tmp_path / "c").problems] == ["ManifestError"]
    (tmp_path / "c" / "snapshot_done").unlink()
    assert [p.kind for p in verify_snapshot(tmp_path / "c").problems] == ["IncompleteSnapshotError"]
    assert [p.kind for p in verify_snapshot(tmp_path / "missing").problems] == [
        "SnapshotNotFoundError"
    ]
