"""Conversion round trips, checked with the real readers: the ``safetensors`` package and
``torch.load(weights_only=True)``; sharded safetensors; npz; renames and casts; bad input."""

from __future__ import annotations

import json
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest
import safetensors.numpy

from flowsnap.errors import CorruptCheckpointError, TargetExistsError
from flowsnap.format import open_snapshot, write_snapshot
from flowsnap.tools import (
    ConversionError,
    RenameRules,
    convert,
    read_safetensors,
    read_tensors,
    write_safetensors,
)


def model() -> dict[str, np.ndarray]:  # type: ignore[type-arg]
    rng = np.random.default_rng(7)
    return {
        "dense1-weight": rng.normal(size=(16, 12)).astype(np.float32),
        "dense1-bias": rng.normal(size=16).astype(np.float32),
        "emb": rng.normal(size=(5, 3)).astype(ml_dtypes.bfloat16),
        "half": rng.normal(size=(4,)).astype(np.float16),
        "double": rng.normal(size=(2, 2)),
        "System-Train-TrainStep-train_job": np.array([123], np.int64),
        "mask": np.array([True, False, True]),
        "scalar": np.array(2.5, np.float32),
        "empty": np.zeros((0, 3), np.float32),
    }


@pytest.fixture
def snapshot(tmp_path: Path) -> Path:
    write_snapshot(tmp_path / "ckpt", model(), durable=False)
    return tmp_path / "ckpt"


def same(a: dict, b: dict) -> None:  # type: ignore[type-arg]
    assert sorted(a) == sorted(b)
    for name, value in a.items():
        x, y = np.asarray(value), np.asarray(b[name])
        assert (x.dtype, x.shape) == (y.dtype, y.shape), name
        assert x.tobytes() == y.tobytes(), name


def test_flowsnap_to_safetensors_reads_with_the_safetensors_package(
    snapshot: Path, tmp_path: Path
) -> None:
    convert(str(snapshot), str(tmp_path / "model.safetensors"))
    want = {k: v for k, v in model().items() if v.dtype != ml_dtypes.bfloat16}
    # safetensors.numpy has no bfloat16: read the rest with the package, everything with ours
    from safetensors import safe_open

    with safe_open(str(tmp_path / "model.safetensors"), framework="numpy") as f:
        names = set(f.keys())
        for name, value in want.items():
            np.testing.assert_array_equal(f.get_tensor(name), value)
    assert names == set(model())
    same(read_safetensors(str(tmp_path / "model.safetensors")), model())


def test_safetensors_written_by_the_package_converts_back_bit_exactly(tmp_path: Path) -> None:
    arrays = {k: v for k, v in model().items() if v.dtype != ml_dtypes.bfloat16}
    safetensors.numpy.save_file(arrays, str(tmp_path / "in.safetensors"))
    convert(str(tmp_path / "in.safetensors"), str(tmp_path / "ckpt"))
    same({k: v.numpy() for k, v in open_snapshot(tmp_path / "ckpt").items()}, arrays)


def test_round_trips_through_every_format_are_bit_exact(snapshot: Path, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    reference = {k: v.numpy() for k, v in open_snapshot(snapshot).items()}
    convert(str(snapshot), str(tmp_path / "a.safetensors"))
    convert(str(tmp_path / "a.safetensors"), str(tmp_path / "b.pt"))
    convert(str(tmp_path / "b.pt"), str(tmp_path / "c_dir"), max_shard_bytes=600)
    convert(str(tmp_path / "c_dir"), str(tmp_path / "d"))
    same({k: v.numpy() for k, v in open_snapshot(tmp_path / "d").items()}, reference)
    no_bf16 = {k: v for k, v in reference.items() if v.dtype != ml_dtypes.bfloat16}
    write_snapshot(tmp_path / "e", no_bf16, durable=False)
    convert(str(tmp_path / "e"), str(tmp_path / "e.npz"))
    convert(str(tmp_path / "e.npz"), str(tmp_path / "f"))
    same({k: v.numpy() for k, v in open_snapshot(tmp_path / "f").items()}, no_bf16)


def test_pytorch_files_are_read_with_weights_only(snapshot: Path, tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    convert(str(snapshot), str(tmp_path / "m.pt"))
    state = torch.load(tmp_path / "m.pt", weights_only=True)
    assert state["emb"].dtype == torch.bfloat16
    np.testing.assert_array_equal(state["dense1-weight"].numpy(), model()["dense1-weight"])

    class Evil:
        def __reduce__(self) -> tuple:  # type: ignore[type-arg]
            return (print, ("pwned",))

    torch.save({"w": torch.zeros(2), "evil": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(CorruptCheckpointError, match="weights_only=True"):
        read_tensors(str(tmp_path / "evil.pt"))


def test_sharded_output_has_an_index_the_package_agrees_with(
    snapshot: Path, tmp_path: Path
) -> None:
    convert(str(snapshot), str(tmp_path / "sharded"), max_shard_bytes=800)
    index = json.loads((tmp_path / "sharded" / "model.safetensors.index.json").read_text())
    shards = sorted(set(index["weight_map"].values()))
    assert len(shards) > 1
    assert shards[0] == f"model-00001-of-{len(shards):05d}.safetensors"
    from safetensors import safe_open

    for name, shard in index["weight_map"].items():
        with safe_open(str(tmp_path / "sharded" / shard), framework="numpy") as f:
            assert name in f.keys()  # noqa: SIM118 - safe_open is not a dict
    same(read_tensors(str(tmp_path / "sharded" / "model.safetensors.index.json")), model())


def test_rename_and_cast(snapshot: Path, tmp_path: Path) -> None:
    done = convert(
        str(snapshot),
        str(tmp_path / "out"),
        dtype="bf16",
        rename=RenameRules.parse([r"^dense1-(.*)=encoder.\1"]),
    )
    out = open_snapshot(tmp_path / "out")
    assert "encoder.weight" in out
    assert done.renamed == {"dense1-weight": "encoder.weight", "dense1-bias": "encoder.bias"}
    assert out["encoder.weight"].dtype == ml_dtypes.bfloat16
    assert out["System-Train-TrainStep-train_job"].dtype == np.int64  # integers are not cast
    np.testing.assert_array_equal(
        out["encoder.weight"].numpy(), model()["dense1-weight"].astype(ml_dtypes.bfloat16)
    )


def test_errors(snapshot: Path, tmp_path: Path) -> None:
    with pytest.raises(ConversionError, match="two tensors would be named"):
        convert(str(snapshot), str(tmp_path / "x"), rename=RenameRules([(".*", "same")]))
    with pytest.raises(ConversionError, match="--dtype"):
        convert(str(snapshot), str(tmp_path / "y"), dtype="int4")
    convert(str(snapshot), str(tmp_path / "z.safetensors"))
    with pytest.raises(TargetExistsError):
        convert(str(snapshot), str(tmp_path / "z.safetensors"))
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes((10**6).to_bytes(8, "little") + b"{}")
    with pytest.raises(CorruptCheckpointError, match="header length"):
        read_safetensors(str(bad))
    header = json.dumps({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 8]}}).encode()
    bad.write_bytes(len(header).to_bytes(8, "little") + header + b"\0" * 16)
    with pytest.raises(CorruptCheckpointError, match="needs 16 bytes"):
        read_safetensors(str(bad))
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files left


def test_writer_matches_the_package_byte_for_byte_layout(tmp_path: Path) -> None:
    arrays = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.ones(3, np.int64)}
    write_safetensors(str(tmp_path / "ours.safetensors"), arrays.items(), {"format": "np"})
    loaded = safetensors.numpy.load_file(str(tmp_path / "ours.safetensors"))
    same(loaded, arrays)
