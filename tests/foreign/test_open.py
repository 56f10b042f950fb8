"""flowsnap.foreign: every reader, lazily, against the real writers (safetensors, torch, numpy),
with the hardening kept (FIFOs, sizes before allocation, no pickle but weights_only)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest
import safetensors.numpy

import flowsnap.foreign
from flowsnap.errors import (
    ConversionError,
    CorruptCheckpointError,
    FlowsnapError,
    SnapshotNotFoundError,
    UnsafePathError,
)
from flowsnap.foreign import (
    ForeignTensor,
    detect_format,
    open_checkpoint,
    open_foreign,
    verify_foreign,
)
from flowsnap.format import StoredVariable, write_snapshot
from flowsnap.tools import convert

FOREIGN_API = [
    "FOREIGN_FORMATS",
    "FORMATS",
    "INDEX_SUFFIX",
    "SAFETENSORS_DTYPES",
    "ForeignReport",
    "ForeignTensor",
    "detect_format",
    "format_of_name",
    "open_checkpoint",
    "open_foreign",
    "read_index",
    "read_safetensors",
    "verify_foreign",
    "with_shapes",
]


def values() -> dict[str, np.ndarray]:  # type: ignore[type-arg]
    return {
        "w": np.arange(12, dtype=np.float32).reshape(3, 4),
        "b": np.array([1.5, -2.0], np.float64),
        "step": np.array([7], np.int64),
        "scalar": np.array(3, np.int32),
    }


def test_public_surface() -> None:
    import inspect

    assert sorted(flowsnap.foreign.__all__) == sorted(FOREIGN_API)
    for name in FOREIGN_API:
        obj = getattr(flowsnap.foreign, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert (obj.__doc__ or "").strip(), name
            for attr, member in vars(obj).items() if inspect.isclass(obj) else []:
                if not attr.startswith("_") and (
                    inspect.isfunction(member) or isinstance(member, property)
                ):
                    assert member.__doc__, f"{name}.{attr}"


def check_tensor(t: ForeignTensor, want: np.ndarray) -> None:  # type: ignore[type-arg]
    assert (t.shape, t.dtype, t.nbytes, t.ndim) == (want.shape, want.dtype, want.nbytes, want.ndim)
    assert t.expected_checksum is None
    np.testing.assert_array_equal(t.numpy(), want)
    out = np.empty(want.shape, want.dtype)
    t.readinto(out)
    np.testing.assert_array_equal(out, want)
    assert b"".join(bytes(v) for v in t.iter_chunks(5)) == want.tobytes()
    assert t.read_bytes(1, 3) == want.tobytes()[1:4]
    np.testing.assert_array_equal(np.asarray(t), want)
    if want.ndim:
        np.testing.assert_array_equal(t.read(0, 1), want[0:1])
    with pytest.raises(ValueError, match="cannot read into"):
        t.readinto(np.empty((99,), want.dtype))


def test_safetensors_single_and_sharded(tmp_path: Path) -> None:
    safetensors.numpy.save_file(values(), str(tmp_path / "m.safetensors"))
    assert detect_format(tmp_path / "m.safetensors") == "safetensors"
    tensors = open_foreign(tmp_path / "m.safetensors")
    for name, want in values().items():
        check_tensor(tensors[name], want)
        assert tensors[name].format == "safetensors"
    write_snapshot(tmp_path / "ck", values(), durable=False)
    convert(str(tmp_path / "ck"), str(tmp_path / "sh"), max_shard_bytes=40)
    for path in (tmp_path / "sh", tmp_path / "sh" / "model.safetensors.index.json"):
        assert detect_format(path) == "safetensors-sharded"
        tensors = open_foreign(path)
        assert sorted(tensors) == sorted(values())
        for name, want in values().items():
            check_tensor(tensors[name], want)


def test_npz_and_torch(tmp_path: Path) -> None:
    np.savez(tmp_path / "m.npz", **values())
    for name, want in values().items():
        check_tensor(open_foreign(tmp_path / "m.npz")[name], want)
    torch = pytest.importorskip("torch")
    state = {k: torch.from_numpy(v) for k, v in values().items()}
    state["bf"] = torch.ones(2, 3, dtype=torch.bfloat16)
    torch.save(state, tmp_path / "m.pt")
    tensors = open_foreign(tmp_path / "m.pt")
    for name, want in values().items():
        check_tensor(tensors[name], want)
    assert tensors["bf"].dtype == np.dtype(ml_dtypes.bfloat16)
    assert tensors["bf"].numpy().astype(np.float32).sum() == 6


def test_torch_refuses_what_is_not_a_flat_state_dict(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    torch.save({"state_dict": {"w": torch.ones(2)}, "epoch": 3}, tmp_path / "nested.pt")
    with pytest.raises(ConversionError, match=r"'state_dict', 'epoch'.*model.state_dict\(\)"):
        open_foreign(tmp_path / "nested.pt")
    torch.save({"w": torch.zeros(1).expand(1000)}, tmp_path / "view.pt")
    with pytest.raises(CorruptCheckpointError, match="broadcast view"):
        open_foreign(tmp_path / "view.pt")


def test_detect_format(tmp_path: Path) -> None:
    with pytest.raises(SnapshotNotFoundError, match="does not exist"):
        detect_format(tmp_path / "missing.safetensors")
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(ConversionError, match="cannot tell the format"):
        detect_format(tmp_path / "notes.txt")
    write_snapshot(tmp_path / "ck", values(), durable=False)
    assert detect_format(tmp_path / "ck") == "flowsnap"
    assert detect_format(tmp_path / "ck" / "w") == "flowsnap"
    with pytest.raises(ConversionError, match="name its directory"):
        detect_format(tmp_path / "ck" / "w" / "out")
    with pytest.raises(ConversionError, match="not a foreign format"):
        open_foreign(tmp_path / "ck")


def test_open_checkpoint_opens_every_format_and_fills_legacy_shapes(tmp_path: Path) -> None:
    write_snapshot(tmp_path / "ck", values(), durable=False)
    assert isinstance(open_checkpoint(tmp_path / "ck" / "w"), StoredVariable)
    convert(str(tmp_path / "ck"), str(tmp_path / "m.safetensors"))
    assert sorted(open_checkpoint(tmp_path / "m.safetensors")) == sorted(values())
    legacy = Path(__file__).parent.parent / "golden" / "legacy_out_only"
    plain = open_checkpoint(legacy)
    assert plain["dense1-bias"].shape is None
    filled = open_checkpoint(legacy, shapes={"dense1-bias": ((16,), "float32")})
    assert filled["dense1-bias"].shape == (16,)
    assert filled["dense1-weight"].shape is None


def test_symlinked_files_open_as_in_the_hugging_face_cache(tmp_path: Path) -> None:
    blobs = tmp_path / "blobs"
    blobs.mkdir()
    safetensors.numpy.save_file(values(), str(blobs / "abc123"))
    (tmp_path / "model.safetensors").symlink_to(blobs / "abc123")
    assert sorted(open_foreign(tmp_path / "model.safetensors")) == sorted(values())


def test_hardening(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "f.safetensors")
    os.mkfifo(tmp_path / "f.npz")
    os.mkfifo(tmp_path / "f.pt")
    for name in ("f.safetensors", "f.npz", "f.pt"):
        with pytest.raises(UnsafePathError, match="not a regular file"):
            open_foreign(tmp_path / name)
    (tmp_path / "x").mkdir()
    index = {"weight_map": {"w": "../outside.safetensors"}}
    (tmp_path / "x" / "model.safetensors.index.json").write_text(json.dumps(index))
    with pytest.raises(CorruptCheckpointError, match="plain file names"):
        open_foreign(tmp_path / "x")
    index = {"weight_map": {"w": "model-00001-of-00001.safetensors"}}
    (tmp_path / "x" / "model.safetensors.index.json").write_text(json.dumps(index))
    with pytest.raises(CorruptCheckpointError, match="missing"):
        open_foreign(tmp_path / "x")
    np.save(tmp_path / "obj.npy", np.array([1, 2]))
    np.savez(tmp_path / "o.npz", a=np.array([{"x": 1}], dtype=object))
    with pytest.raises(CorruptCheckpointError, match="pickle"):
        open_foreign(tmp_path / "o.npz")


def test_verify_says_what_it_could_check(tmp_path: Path) -> None:
    safetensors.numpy.save_file(values(), str(tmp_path / "m.safetensors"))
    report = verify_foreign(tmp_path / "m.safetensors")
    assert report.ok
    assert report.nbytes == sum(v.nbytes for v in values().values())
    assert "offsets" in report.checks
    assert "no checksums" in report.unchecked
    raw = bytearray((tmp_path / "m.safetensors").read_bytes())
    (tmp_path / "t.safetensors").write_bytes(bytes(raw[:-4]))
    report = verify_foreign(tmp_path / "t.safetensors")
    assert not report.ok
    assert report.problems[0].kind == "CorruptCheckpointError"
    np.savez(tmp_path / "m.npz", w=np.arange(1000, dtype=np.float32))
    assert verify_foreign(tmp_path / "m.npz").ok
    raw = bytearray((tmp_path / "m.npz").read_bytes())
    raw[len(raw) // 2] ^= 0xFF  # inside w's data: zip's CRC-32 catches it
    (tmp_path / "bad.npz").write_bytes(bytes(raw))
    report = verify_foreign(tmp_path / "bad.npz")
    assert not report.ok
    assert "CRC" in report.problems[0].message or "crc" in report.problems[0].message.lower()


def test_errors_are_flowsnap_errors(tmp_path: Path) -> None:
    (tmp_path / "e.safetensors").write_bytes(b"")
    with pytest.raises(FlowsnapError, match="too short"):
        open_foreign(tmp_path / "e.safetensors")


def test_big_endian_npz_members_read_as_little_endian(tmp_path: Path) -> None:
    want = np.arange(6, dtype=">f4").reshape(2, 3)
    np.savez(tmp_path / "be.npz", w=want)
    t = open_foreign(tmp_path / "be.npz")["w"]
    assert t.dtype == np.dtype("<f4")
    np.testing.assert_array_equal(t.numpy(), want)
    convert(str(tmp_path / "be.npz"), str(tmp_path / "be.safetensors"))
    np.testing.assert_array_equal(open_foreign(tmp_path / "be.safetensors")["w"].numpy(), want)
