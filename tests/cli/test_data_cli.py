"""``flowsnap ofrecord`` and the converters behind it: a tiny image folder (PNG and JPEG made with
Pillow), IDX files, ``.npz`` arrays; --inspect; exit codes 2 and 3; --help."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from flowsnap.cli import main
from flowsnap.data import OFRecordDataset, decode_bytes, decode_raw, read_idx


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    root = tmp_path / "images"
    rng = np.random.default_rng(0)
    for cls, fmt in (("cat", "PNG"), ("dog", "JPEG"), ("emu", "PNG")):
        (root / cls).mkdir(parents=True)
        for k in range(3):
            pixels = rng.integers(0, 256, (5 + k, 7, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / cls / f"{k}.{fmt.lower()}", fmt)
    (root / "dog" / "notes.txt").write_text("not an image")
    return root


def test_image_folder(image_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "of"
    code, text = run(
        "ofrecord", str(image_folder), str(out), "--parts", "2", "--suffix-length", "5"
    )
    assert code == 0
    assert "9 records in 2 parts (part-00000 ... part-00001)" in text
    assert (out / "labels.txt").read_text() == "cat\ndog\nemu\n"
    ds = OFRecordDataset(out, 2, part_name_suffix_length=5)
    records = ds.read(range(len(ds)))
    labels = decode_raw(records, "class/label", (), np.int32)
    encoded = decode_bytes(records, "encoded")
    files = {
        p.read_bytes(): ["cat", "dog", "emu"].index(p.parent.name)
        for p in image_folder.glob("*/*.*g")
    }
    assert len(files) == 9
    assert sorted(e.tobytes() for e in encoded) == sorted(files)
    assert [files[e.tobytes()] for e in encoded] == labels.tolist()
    assert labels.tolist() != sorted(labels.tolist())  # shuffled by default (seed 0)
    Image.open(io.BytesIO(encoded[0].tobytes())).verify()  # the file's bytes, not re-encoded
    code, _ = run("ofrecord", str(image_folder), str(tmp_path / "sorted"), "--no-shuffle")
    assert code == 0
    labels = decode_raw(
        OFRecordDataset(tmp_path / "sorted").read(range(9)), "class/label", (), np.int32
    )
    assert labels.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]


def _write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape
    )
    data = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)


def test_idx_directory_one_dataset_per_split(tmp_path: Path) -> None:
    src = tmp_path / "mnist"
    src.mkdir()
    rng = np.random.default_rng(1)
    x = {
        s: rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        for s, n in (("train", 12), ("t10k", 5))
    }
    y = {s: rng.integers(0, 10, len(x[s]), dtype=np.uint8) for s in x}
    for s, images in x.items():
        _write_idx(src / f"{s}-images-idx3-ubyte.gz", images)
        _write_idx(src / f"{s}-labels-idx1-ubyte", y[s])
    code, text = run("ofrecord", str(src), str(tmp_path / "of"), "--records-per-part", "5")
    assert code == 0, text
    for s, images in x.items():
        ds = OFRecordDataset(tmp_path / "of" / s)
        assert len(ds) == len(images)
        recs = ds.read(range(len(ds)))
        np.testing.assert_array_equal(decode_raw(recs, "images", (28, 28), np.uint8), images)
        np.testing.assert_array_equal(decode_raw(recs, "labels", (), np.int32), y[s])
    assert OFRecordDataset(tmp_path / "of" / "train").part_lengths == (5, 5, 2)
    code, _ = run(
        "ofrecord",
        str(src / "t10k-images-idx3-ubyte.gz"),
        str(tmp_path / "f"),
        "--images-as",
        "float",
    )
    assert code == 0
    recs = OFRecordDataset(tmp_path / "f").read(range(5))
    want = read_idx(src / "t10k-images-idx3-ubyte.gz").astype(np.float32) / 255
    np.testing.assert_array_equal(decode_raw(recs, "images", (28, 28), np.float32), want)


def test_npz_one_feature_per_array(tmp_path: Path) -> None:
    arrays = {
        "x": np.random.default_rng(2).standard_normal((6, 2, 3)).astype(np.float32),
        "y": np.arange(6, dtype=np.int64),
        "w": np.linspace(0, 1, 6),
        "m": np.arange(12, dtype=np.uint8).reshape(6, 2),
    }
    np.savez(tmp_path / "a.npz", **arrays)
    code, text = run("ofrecord", str(tmp_path / "a.npz"), str(tmp_path / "of"), "--json")
    assert code == 0
    doc = json.loads(text)
    assert doc["source"] == "npz"
    assert doc["datasets"][0]["records"] == 6
    recs = OFRecordDataset(tmp_path / "of").read(range(6))
    np.testing.assert_array_equal(decode_raw(recs, "x", (2, 3), np.float32), arrays["x"])
    np.testing.assert_array_equal(decode_raw(recs, "y", (), np.int64), arrays["y"])
    np.testing.assert_array_equal(decode_raw(recs, "w", (), np.float64), arrays["w"])
    np.testing.assert_array_equal(decode_raw(recs, "m", (2,), np.uint8), arrays["m"])
    assert recs[0].feature["w"].WhichOneof("kind") == "double_list"
    code, text = run("ofrecord", "--inspect", str(tmp_path / "of"))
    assert code == 0
    assert "6 records in 1 part (part-0: 6)" in text
    assert "  x: float list, 6 values" in text
    assert "  m: bytes list, 1 value of 2 B" in text
    code, text = run("ofrecord", "--inspect", str(tmp_path / "of"), "--json")
    assert json.loads(text)["records_per_part"] == [6]


def test_exit_codes_and_messages(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("ofrecord", str(tmp_path / "missing"), str(tmp_path / "o"))[0] == 3
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "a.txt").write_text("x")
    assert run("ofrecord", str(tmp_path / "a.txt"), str(tmp_path / "o"))[0] == 3
    assert "pass --from" in capsys.readouterr().err
    assert run("ofrecord", str(tmp_path))[0] == 2  # no OUT
    assert "OUT" in capsys.readouterr().err
    assert run("ofrecord", str(tmp_path), str(tmp_path / "o"), "--parts", "0")[0] == 2
    assert run("ofrecord", str(tmp_path), "o", "--parts", "1", "--records-per-part", "1")[0] == 2
    capsys.readouterr()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert run("ofrecord", str(empty), str(tmp_path / "o"))[0] == 3
    assert "no class subdirectories" in capsys.readouterr().err
    assert run("ofrecord", "--inspect", str(empty))[0] == 3
    assert "no OFRecord part part-0" in capsys.readouterr().err
    np.savez(tmp_path / "b.npz", x=np.zeros(3), y=np.zeros(4))
    assert run("ofrecord", str(tmp_path / "b.npz"), str(tmp_path / "o"))[0] == 3
    assert "same first dimension" in capsys.readouterr().err
    np.savez(tmp_path / "c.npz", x=np.zeros(3))
    assert run("ofrecord", str(tmp_path / "c.npz"), str(tmp_path / "c"))[0] == 0
    assert run("ofrecord", str(tmp_path / "c.npz"), str(tmp_path / "c"))[0] == 3
    assert "already holds an OFRecord dataset" in capsys.readouterr().err
    assert run("ofrecord", str(tmp_path / "c.npz"), str(tmp_path / "c"), "--overwrite")[0] == 0


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert run("ofrecord", "--help")[0] == 0
    text = capsys.readouterr().out
    for word in ("--parts", "--suffix-length", "--inspect", "class/label", "part-00000"):
        assert word in text
