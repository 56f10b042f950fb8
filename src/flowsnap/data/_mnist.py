"""``flow.data.load_mnist`` and ``flow.data.load_fashion_mnist`` (reference section 8).

Both return OneFlow's batched arrays: ``((train_images, train_labels), (test_images,
test_labels))`` with images float32 in [0, 1] shaped ``(batches, batch, 1, 28, 28)`` for NCHW (else
``(batches, batch, 28, 28, 1)``) and labels int32 shaped ``(batches, batch)``.

``load_mnist`` reads OneFlow's ``mnist.npz`` (found in ``out_dir`` or the cache directory, else
downloaded with a progress bar), checks its sha256, and never unpickles (OneFlow loaded it with
``allow_pickle=True``). ``load_fashion_mnist`` reads the standard IDX files, by default from
Debian's ``dataset-fashion-mnist`` package. NumPy only.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from flowsnap.errors import DatasetError

_log = logging.getLogger("flowsnap")

MNIST_URL = "https://oneflow-public.oss-cn-beijing.aliyuncs.com/datasets/mnist.npz"
MNIST_SHA256 = "63d4344077849053dc3036b247fa012b2b381de53fd055a66b539dffd76cf08e"
FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"

Array = np.ndarray[Any, Any]
Split = tuple[Array, Array]


def cache_dir() -> Path:
    """Where downloaded datasets are kept: ``$FLOWSNAP_DATA``, else ``~/.cache/flowsnap``."""
    return Path(os.environ.get("FLOWSNAP_DATA") or Path.home() / ".cache" / "flowsnap")


def load_mnist(
    train_batch_size: int = 100,
    test_batch_size: int = 100,
    data_format: str = "NCHW",
    url: str = MNIST_URL,
    hash_check: str = MNIST_SHA256,
    out_dir: str = ".",
    *,
    drop_remainder: bool = False,
) -> tuple[Split, Split]:
    """MNIST, batched as OneFlow's ``flow.data.load_mnist``.

    ``mnist.npz`` is looked for in ``out_dir``, then in :func:`cache_dir`; if absent it is
    downloaded from ``url`` into ``out_dir`` (with a progress bar). Its sha256 must equal
    ``hash_check``.

    Args:
        train_batch_size: images per training batch; must divide 60000 unless ``drop_remainder``.
        test_batch_size: images per test batch; must divide 10000 unless ``drop_remainder``.
        data_format: ``"NCHW"`` gives ``(..., 1, 28, 28)``; anything else ``(..., 28, 28, 1)``.
        url: where to download ``mnist.npz`` from.
        hash_check: the file's expected sha256 (hex).
        out_dir: where to look for and download ``mnist.npz``.
        drop_remainder: drop the last incomplete batch instead of raising.

    Raises:
        DatasetError: the file cannot be found or downloaded (the message says where to put it),
            its sha256 differs, its content is not MNIST, or a batch size does not divide it.
    """
    path = _find_or_download("mnist.npz", url, hash_check, Path(out_dir))
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in ("x_train", "y_train", "x_test", "y_test")}
    except (KeyError, ValueError, OSError) as exc:
        raise DatasetError(
            f"{path} is not OneFlow's mnist.npz (x_train, y_train, x_test, y_test arrays): {exc}"
        ) from None
    return _batched(arrays, train_batch_size, test_batch_size, data_format, drop_remainder, path)


def load_fashion_mnist(
    train_batch_size: int = 100,
    test_batch_size: int = 100,
    data_format: str = "NCHW",
    data_dir: str | os.PathLike[str] | None = None,
    *,
    drop_remainder: bool = False,
) -> tuple[Split, Split]:
    """Fashion-MNIST, with the same output as :func:`load_mnist`.

    Reads ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``
    and ``t10k-labels-idx1-ubyte`` (each optionally ``.gz``) from ``data_dir``, by default
    ``$FLOWSNAP_FASHION_MNIST`` or ``/usr/share/datasets/fashion-mnist`` (Debian's
    ``dataset-fashion-mnist`` package).

    Raises:
        DatasetError: a file is missing or not a valid IDX file, or a batch size does not fit.
    """
    root = Path(data_dir or os.environ.get("FLOWSNAP_FASHION_MNIST") or FASHION_MNIST_DIR)
    arrays = {
        "x_train": read_idx(_idx_file(root, "train-images-idx3-ubyte")),
        "y_train": read_idx(_idx_file(root, "train-labels-idx1-ubyte")),
        "x_test": read_idx(_idx_file(root, "t10k-images-idx3-ubyte")),
        "y_test": read_idx(_idx_file(root, "t10k-labels-idx1-ubyte")),
    }
    return _batched(arrays, train_batch_size, test_batch_size, data_format, drop_remainder, root)


def _idx_file(root: Path, stem: str) -> Path:
    for candidate in (root / stem, root / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    raise DatasetError(
        f"Fashion-MNIST file {stem}[.gz] not found in {root}. Install Debian's package "
        "(apt-get install dataset-fashion-mnist, which puts the files in "
        f"{FASHION_MNIST_DIR}), or pass data_dir= to a directory holding the four IDX files."
    )


_IDX_TYPES: dict[int, np.dtype[Any]] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx(path: str | os.PathLike[str]) -> Array:
    """Read one IDX file (MNIST's format; gzip-compressed if the name ends in ``.gz``).

    Raises:
        DatasetError: the header is wrong or the data is shorter or longer than it says.
    """
    path = Path(path)
    try:
        if not path.is_file():  # never a FIFO or a device
            raise DatasetError(f"{path} is not a regular file")
        with open(path, "rb") as f:
            raw = f.read()
        if path.suffix == ".gz":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise DatasetError(f"cannot read IDX file {path}: {exc}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise DatasetError(f"{path} is not an IDX file (bad magic number {raw[:4].hex()})")
    dtype, ndim = _IDX_TYPES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DatasetError(f"{path}: truncated IDX header")
    shape = tuple(int(d) for d in np.frombuffer(raw, ">u4", ndim, 4))
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header != expected:
        raise DatasetError(
            f"{path}: the header says shape {shape} ({expected} bytes of data), the file has "
            f"{len(raw) - header}"
        )
    return np.frombuffer(raw, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def _batched(
    arrays: dict[str, Array],
    train_batch: int,
    test_batch: int,
    data_format: str,
    drop_remainder: bool,
    source: Path,
) -> tuple[Split, Split]:
    out = []
    for split, batch in (("train", train_batch), ("test", test_batch)):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.ndim != 3 or x.shape[1:] != (28, 28) or y.shape != (x.shape[0],):
            raise DatasetError(
                f"{source}: {split} images must be (n, 28, 28) with n labels, got {x.shape} and "
                f"{y.shape}"
            )
        n = x.shape[0]
        if not isinstance(batch, int) or batch <= 0:
            raise DatasetError(f"{split}_batch_size must be a positive int, got {batch!r}")
        if n % batch:
            if not drop_remainder:
                raise DatasetError(
                    f"{split}_batch_size={batch} does not divide the {n} {split} images; use a "
                    f"divisor of {n} (e.g. 100) or drop_remainder=True"
                )
            n -= n % batch
        images = x[:n].astype(np.float32) / 255.0
        shape = (-1, batch, 1, 28, 28) if data_format == "NCHW" else (-1, batch, 28, 28, 1)
        out.append((images.reshape(shape), y[:n].astype(np.int32).reshape(-1, batch)))
    return out[0], out[1]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _find_or_download(name: str, url: str, sha256: str, out_dir: Path) -> Path:
    for candidate in (out_dir / name, cache_dir() / name):
        if candidate.is_file():
            _check_hash(candidate, sha256)
            _log.info("File %s already exist, path: %s", name, candidate)
            return candidate
    target = out_dir / name
    _download(url, target, name)
    _check_hash(target, sha256)
    return target


def _check_hash(path: Path, sha256: str) -> None:
    got = _sha256(path)
    if got != sha256:
        raise DatasetError(
            f"sha256 verification failed for {path}: expected {sha256}, got {got}; remove "
            f"{path} and try again"
        )


def _download(url: str, target: Path, name: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            from tqdm import tqdm

            with tempfile.NamedTemporaryFile(
                dir=target.parent, prefix=f".{name}.", delete=False
            ) as tmp:
                try:
                    with tqdm(total=total, unit="B", unit_scale=True, desc=name) as bar:
                        for block in iter(lambda: response.read(1 << 20), b""):
                            tmp.write(block)
                            bar.update(len(block))
                except BaseException:
                    os.unlink(tmp.name)
                    raise
            shutil.move(tmp.name, target)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise DatasetError(
            f"{name} is not in {target.parent} or {cache_dir()}, and downloading it from {url} "
            f"failed ({exc}). Put the file at {target.resolve()} (or in {cache_dir()}) and run "
            "again."
        ) from None
