"""flow.data.load_mnist / load_fashion_mnist: OneFlow's shapes, dtypes and normalization, the
sha256 check, the offline message, downloads, IDX parsing, and batch sizes that do not fit."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import flowsnap as flow
from flowsnap.data import read_idx
from flowsnap.data._mnist import FASHION_MNIST_DIR
from flowsnap.errors import DatasetError

RNG = np.random.default_rng(5)


def fake_mnist(path: Path, n_train: int = 600, n_test: int = 200) -> str:
    np.savez(
        path,
        x_train=RNG.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        y_train=RNG.integers(0, 10, n_train, dtype=np.uint8),
        x_test=RNG.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        y_test=RNG.integers(0, 10, n_test, dtype=np.uint8),
    )
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(autouse=True)
def empty_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWSNAP_DATA", str(tmp_path / "cache"))


def test_load_mnist_shapes_dtypes_and_normalization(tmp_path: Path) -> None:
    sha = fake_mnist(tmp_path / "mnist.npz")
    (train_x, train_y), (test_x, test_y) = flow.data.load_mnist(
        100, 50, hash_check=sha, out_dir=str(tmp_path)
    )
    assert (train_x.shape, train_x.dtype) == ((6, 100, 1, 28, 28), np.float32)
    assert (train_y.shape, train_y.dtype) == ((6, 100), np.int32)
    assert test_x.shape == (4, 50, 1, 28, 28)
    assert test_y.shape == (4, 50)
    assert train_x.min() >= 0.0
    assert train_x.max() <= 1.0
    raw = np.load(tmp_path / "mnist.npz")
    np.testing.assert_allclose(train_x[0, 0, 0], raw["x_train"][0] / 255.0, rtol=1e-6)
    nhwc = flow.data.load_mnist(100, 50, "NHWC", hash_check=sha, out_dir=str(tmp_path))
    assert nhwc[0][0].shape == (6, 100, 28, 28, 1)


def test_bad_hash_is_a_clear_error(tmp_path: Path) -> None:
    fake_mnist(tmp_path / "mnist.npz")
    with pytest.raises(DatasetError, match=r"sha256 verification failed.*remove"):
        flow.data.load_mnist(out_dir=str(tmp_path))


def test_offline_says_where_to_put_the_file(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"Put the file at .*mnist\.npz"):
        flow.data.load_mnist(url="http://127.0.0.1:9/mnist.npz", out_dir=str(tmp_path / "x"))
    assert not list((tmp_path / "x").glob("*"))  # no partial file left behind


def test_the_cache_directory_is_searched(tmp_path: Path) -> None:
    (tmp_path / "cache").mkdir()
    sha = fake_mnist(tmp_path / "cache" / "mnist.npz")
    (train_x, _), _ = flow.data.load_mnist(hash_check=sha, out_dir=str(tmp_path / "elsewhere"))
    assert train_x.shape == (6, 100, 1, 28, 28)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    root = tmp_path / "served"
    root.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
            super().__init__(*args, directory=str(root), **kwargs)

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_download_with_hash_check(tmp_path: Path, server: str) -> None:
    sha = fake_mnist(tmp_path / "served" / "mnist.npz")
    out = tmp_path / "out"
    (train_x, _), _ = flow.data.load_mnist(
        url=f"{server}/mnist.npz", hash_check=sha, out_dir=str(out)
    )
    assert (out / "mnist.npz").is_file()
    assert train_x.shape == (6, 100, 1, 28, 28)


def test_batch_sizes_that_do_not_divide(tmp_path: Path) -> None:
    sha = fake_mnist(tmp_path / "mnist.npz")
    with pytest.raises(DatasetError, match="train_batch_size=7 does not divide the 600"):
        flow.data.load_mnist(7, 50, hash_check=sha, out_dir=str(tmp_path))
    (train_x, train_y), _ = flow.data.load_mnist(
        7, 50, hash_check=sha, out_dir=str(tmp_path), drop_remainder=True
    )
    assert train_x.shape == (85, 7, 1, 28, 28)
    assert train_y.shape == (85, 7)


def test_pickled_content_is_never_loaded(tmp_path: Path) -> None:
    path = tmp_path / "mnist.npz"
    np.savez(
        path,
        x_train=np.array([object()], dtype=object),
        y_train=np.zeros(1),
        x_test=np.zeros(1),
        y_test=np.zeros(1),
    )
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(DatasetError, match=r"not OneFlow's mnist\.npz"):
        flow.data.load_mnist(hash_check=sha, out_dir=str(tmp_path))


def write_idx(path: Path, array: np.ndarray, *, compress: bool) -> None:  # type: ignore[type-arg]
    header = bytes([0, 0, 0x08, array.ndim]) + np.array(array.shape, ">u4").tobytes()
    data = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(data) if compress else data)


def test_fashion_mnist_from_idx_files(tmp_path: Path) -> None:
    images = RNG.integers(0, 256, (300, 28, 28), dtype=np.uint8)
    labels = RNG.integers(0, 10, 300, dtype=np.uint8)
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", images, compress=True)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", labels, compress=True)
    write_idx(tmp_path / "t10k-images-idx3-ubyte", images[:100], compress=False)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", labels[:100], compress=False)
    (train_x, train_y), (test_x, _) = flow.data.load_fashion_mnist(100, 100, data_dir=tmp_path)
    assert train_x.shape == (3, 100, 1, 28, 28)
    np.testing.assert_array_equal(train_y.ravel(), labels)
    np.testing.assert_allclose(test_x.reshape(100, 28, 28), images[:100] / 255.0, rtol=1e-6)


def test_bad_idx_files_are_clear_errors(tmp_path: Path) -> None:
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03\x04rest")
    with pytest.raises(DatasetError, match="not an IDX file"):
        read_idx(tmp_path / "bad")
    write_idx(tmp_path / "short", np.zeros((2, 3), np.uint8), compress=False)
    (tmp_path / "short").write_bytes((tmp_path / "short").read_bytes()[:-1])
    with pytest.raises(DatasetError, match=r"shape \(2, 3\)"):
        read_idx(tmp_path / "short")
    with pytest.raises(DatasetError, match="apt-get install dataset-fashion-mnist"):
        flow.data.load_fashion_mnist(data_dir=tmp_path / "nothing")


@pytest.mark.skipif(
    not os.path.isdir(FASHION_MNIST_DIR),
    reason="Debian's dataset-fashion-mnist is not installed (make test installs it)",
)
def test_the_real_fashion_mnist() -> None:
    (train_x, train_y), (test_x, test_y) = flow.data.load_fashion_mnist()
    assert train_x.shape == (600, 100, 1, 28, 28)
    assert test_x.shape == (100, 100, 1, 28, 28)
    assert sorted(np.unique(train_y)) == list(range(10))
    assert np.bincount(test_y.ravel()).tolist() == [1000] * 10
