"""Datasets to OFRecord parts: an image folder, MNIST-style IDX files, ``.npz`` arrays.

- **Image folder** (:func:`image_folder_to_ofrecord`): one subdirectory per class (class ``k`` is
  the ``k``-th name in sorted order, as torchvision's ``ImageFolder`` numbers them); each image
  file becomes a record with the features of OneFlow's ImageNet OFRecords: ``encoded`` (the
  file's bytes, not decoded: what ``OFRecordImageDecoder(ofrecord, "encoded")`` reads) and
  ``class/label`` (an ``int32_list`` of one value, read with
  ``OFRecordRawDecoder(ofrecord, "class/label", shape=(), dtype=flow.int32)``). The files are
  shuffled with ``seed`` by default, as ImageNet's conversion scripts did, so that each part holds
  every class. ``labels.txt`` beside the parts lists the class names, one per line, in label order.
- **IDX** (:func:`idx_to_ofrecord`): an images file and its labels file (MNIST, Fashion-MNIST)
  become records with ``images`` (the image's raw ``uint8`` bytes, 784 for 28x28; or
  ``float_list`` values in [0, 1] with ``images_as="float"``) and ``labels`` (``int32_list``).
- **npz** (:func:`npz_to_ofrecord`): each array is a feature named by its key; record ``i`` holds
  row ``i`` of every array (all arrays must have the same first dimension), typed as
  :func:`flowsnap.data.ofrecord_feature` says.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from flowsnap.data._mnist import read_idx
from flowsnap.data._ofrecord_write import Progress, WrittenDataset, write_ofrecord
from flowsnap.errors import ArgumentError, DatasetError, plural

IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".ppm", ".pgm", ".tif", ".tiff", ".webp"}
)


class _Lazy(Sequence[Any]):
    """A sequence whose items are made on demand (write_ofrecord reads each once, in order)."""

    def __init__(self, n: int, make: Any) -> None:
        self._n, self._make = n, make

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, i: Any) -> Any:
        return self._make(i)

    def __iter__(self) -> Iterator[Any]:
        return (self._make(i) for i in range(self._n))


def list_image_folder(root: str | os.PathLike[str]) -> tuple[list[str], list[tuple[Path, int]]]:
    """The classes (sorted subdirectory names) and ``(file, label)`` of every image, sorted.

    Raises:
        DatasetError: ``root`` is not a directory, has no class subdirectory or no image.
    """
    top = Path(root)
    if not top.is_dir():
        raise DatasetError(f"image folder {top} is not a directory")
    classes = sorted(d.name for d in top.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not classes:
        raise DatasetError(
            f"image folder {top} has no class subdirectories; expected {top}/<class>/<image>"
        )
    files: list[tuple[Path, int]] = []
    for label, name in enumerate(classes):
        for dirpath, dirnames, filenames in os.walk(top / name, followlinks=True):
            dirnames.sort()
            for fn in sorted(filenames):
                if Path(fn).suffix.lower() in IMAGE_SUFFIXES and not fn.startswith("."):
                    files.append((Path(dirpath) / fn, label))
    if not files:
        raise DatasetError(
            f"image folder {top} has no image files ({', '.join(sorted(IMAGE_SUFFIXES))}) in its "
            f"class subdirectories {classes[:5]}"
        )
    return classes, files


def image_folder_to_ofrecord(
    root: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    shuffle: bool = True,
    seed: int = 0,
    progress: Progress | None = None,
    **write_args: Any,
) -> WrittenDataset:
    """Write the images of ``root/<class>/...`` as OFRecords (``encoded``, ``class/label``).

    ``write_args`` go to :func:`flowsnap.data.write_ofrecord` (``data_part_num``,
    ``records_per_part``, ``part_name_prefix``, ``part_name_suffix_length``, ``overwrite``).

    Raises:
        DatasetError: the folder has no classes or images, or an image cannot be read.
    """
    classes, files = list_image_folder(root)
    if shuffle:
        order = np.random.default_rng(seed).permutation(len(files))
        files = [files[int(i)] for i in order]

    def make(i: int) -> dict[str, Any]:
        path, label = files[i]
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise DatasetError(f"cannot read image {path}: {exc.strerror or exc}") from None
        if not data:
            raise DatasetError(f"image {path} is an empty file")
        return {"encoded": data, "class/label": np.array([label], np.int32)}

    done = write_ofrecord(_Lazy(len(files), make), out_dir, progress=progress, **write_args)
    Path(out_dir, "labels.txt").write_text("".join(f"{c}\n" for c in classes))
    return done


def idx_pairs(root: str | os.PathLike[str]) -> list[tuple[str, Path, Path]]:
    """The ``(split, images file, labels file)`` pairs of a directory of IDX files, e.g.
    ``("train", train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz)``; or the one pair of
    ``root`` when it is an images file itself."""
    top = Path(root)
    candidates = [top] if top.is_file() else sorted(top.glob("*images*idx3-ubyte*"))
    pairs = []
    for images in candidates:
        if "images" not in images.name or "idx3-ubyte" not in images.name:
            continue
        stem = images.name.replace("images", "labels").replace("idx3-ubyte", "idx1-ubyte")
        stem = stem.removesuffix(".gz")
        found = [images.with_name(n) for n in (stem, stem + ".gz")]
        labels = next((f for f in found if f.is_file()), None)
        if labels is None:
            raise DatasetError(
                f"IDX images {images} has no labels file {stem}[.gz] beside it; put it there "
                "(one label per image)"
            )
        split = images.name.split("-images")[0].rstrip("-_.") or "data"
        pairs.append((split, images, labels))
    return pairs


def idx_to_ofrecord(
    images: str | os.PathLike[str],
    labels: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    images_as: str = "bytes",
    progress: Progress | None = None,
    **write_args: Any,
) -> WrittenDataset:
    """Write an IDX images file and its labels as OFRecords (``images``, ``labels``).

    ``images_as="bytes"`` stores each image's raw ``uint8`` bytes (decode with
    ``dtype=flow.uint8``, shape ``(28, 28)``); ``"float"`` stores float32 values in [0, 1] (as
    ``flow.data.load_mnist`` gives them). ``write_args`` go to
    :func:`flowsnap.data.write_ofrecord`.

    Raises:
        ArgumentError: ``images_as`` is neither ``"bytes"`` nor ``"float"``.
        DatasetError: a file is not IDX, or the counts of images and labels differ.
    """
    if images_as not in ("bytes", "float"):
        raise ArgumentError(f"images_as must be 'bytes' or 'float', got {images_as!r}")
    x, y = read_idx(images), read_idx(labels)
    if y.ndim != 1 or x.shape[0] != y.shape[0]:
        raise DatasetError(
            f"{images} holds {plural(x.shape[0], 'image')} but {labels} holds labels of shape "
            f"{y.shape}; expected one label per image"
        )
    if images_as == "bytes" and x.dtype != np.uint8:
        raise DatasetError(f"{images} holds {x.dtype} values; images_as='bytes' needs uint8")
    y32 = y.astype(np.int32)

    def make(i: int) -> dict[str, Any]:
        img = x[i] if images_as == "bytes" else (x[i].astype(np.float32) / 255.0)
        return {"images": img, "labels": y32[i : i + 1]}

    return write_ofrecord(_Lazy(len(y), make), out_dir, progress=progress, **write_args)


def npz_to_ofrecord(
    path: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    progress: Progress | None = None,
    **write_args: Any,
) -> WrittenDataset:
    """Write the arrays of an ``.npz`` file as OFRecords, one feature per array, one record per
    row. ``write_args`` go to :func:`flowsnap.data.write_ofrecord`.

    Raises:
        DatasetError: the file is not a readable ``.npz`` of numeric arrays (pickled object
            arrays are refused), holds no array, or its arrays differ in their first dimension.
    """
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise DatasetError(f"cannot read {path} as .npz: {exc}") from None
    if not arrays:
        raise DatasetError(f"{path} holds no arrays")
    lengths = {k: (a.shape[0] if a.ndim else None) for k, a in arrays.items()}
    if None in lengths.values() or len(set(lengths.values())) != 1:
        raise DatasetError(
            f"{path}: every array must have the same first dimension (one row per record); "
            f"found {', '.join(f'{k}: {a.shape}' for k, a in arrays.items())}"
        )
    n = int(next(iter(lengths.values())) or 0)

    def make(i: int) -> dict[str, Any]:
        return {k: a[i] if a.ndim > 1 else a[i : i + 1] for k, a in arrays.items()}

    return write_ofrecord(_Lazy(n, make), out_dir, progress=progress, **write_args)
