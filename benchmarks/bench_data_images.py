"""The ImageNet-style image pipeline benchmark (issue #12): images/s of flowsnap's host image ops
against a PyTorch ``DataLoader`` doing the same transforms, in the same run, on the same number of
threads/workers.

Data: 256 JPEGs of 500x375 (quality 90, photo-like texture), generated in memory, batch 32.

Pipelines (each image: decode to RGB, random-resized crop with area [0.08, 1] and aspect ratio
[3/4, 4/3], resize to 224x224 bilinear, random left-right mirror, normalize with ImageNet's
mean/std into a float32 ``(32, 3, 224, 224)`` NCHW batch):

* ``flowsnap (3 ops)``: OneFlow's usual ImageNet graph as flowsnap's host functions:
  ``decode_random_crop`` (``OFRecordImageDecoderRandomCrop``) -> ``resize_to_fixed``
  (``image.Resize``) -> ``coin_flip`` + ``crop_mirror_normalize``, each op parallel over one
  ``ThreadPoolExecutor(T)``;
* ``flowsnap (fused)``: ``decode_random_crop_resize`` (``ImageDecoderRandomCropResize``) ->
  ``crop_mirror_normalize``;
* ``torch DataLoader``: ``DataLoader(num_workers=T, batch_size=32, persistent_workers=True)``
  over a ``Dataset`` whose ``__getitem__`` does the same transforms by hand with Pillow and NumPy
  (Pillow decode, the same crop rule, ``Image.resize(BILINEAR)``, flip, normalize); torchvision
  is not used because no torchvision wheel matching the project's CPU build of torch 2.13.0
  imports here (PyPI's 0.28.0 fails with "operator torchvision::nms does not exist").

Run: ``.venv/bin/python benchmarks/bench_data_images.py [--quick] [--append]``; ``bench_data.py``
runs it too.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

from flowsnap import data  # noqa: E402

BATCH = 32
SIZE = 224
MEAN = [123.68, 116.779, 103.939]
STD = [58.393, 57.12, 57.375]


def make_jpegs(count: int, seed: int = 0) -> list[bytes]:
    """``count`` photo-like 500x375 JPEGs (quality 90), some portrait, some landscape."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:375, 0:500].astype(np.float32)
    out = []
    for i in range(count):
        base = np.stack(
            [
                np.sin(x / (11 + i % 7)) * 90 + 128,
                np.cos(y / (9 + i % 5)) * 90 + 128,
                (x * (i % 3 + 1) + y) % 200 + 20,
            ],
            -1,
        )
        pixels = (base + rng.normal(0, 18, base.shape)).clip(0, 255).astype(np.uint8)
        if i % 4 == 3:
            pixels = np.ascontiguousarray(pixels.transpose(1, 0, 2))
        buf = io.BytesIO()
        Image.fromarray(pixels).save(buf, "JPEG", quality=90)
        out.append(buf.getvalue())
    return out


def flowsnap_three_ops(pool: ThreadPoolExecutor) -> Callable[[list[bytes], int], Any]:
    """OneFlow's decode-random-crop -> resize -> coin flip + crop-mirror-normalize."""

    def batch(blobs: list[bytes], index: int) -> Any:
        rng = np.random.default_rng([0, index])
        crops = data.decode_random_crop(blobs, rng, color_space="RGB", pool=pool)
        resized, _ = data.resize_to_fixed(
            crops, SIZE, SIZE, interpolation_type="bilinear", pool=pool
        )
        mirror = data.coin_flip(len(blobs), rng)
        return data.crop_mirror_normalize(
            resized, mirror=mirror, color_space="RGB", mean=MEAN, std=STD, pool=pool
        )

    return batch


def flowsnap_fused(pool: ThreadPoolExecutor) -> Callable[[list[bytes], int], Any]:
    """``ImageDecoderRandomCropResize`` -> coin flip + crop-mirror-normalize."""

    def batch(blobs: list[bytes], index: int) -> Any:
        rng = np.random.default_rng([0, index])
        resized = data.decode_random_crop_resize(
            blobs, rng, target_width=SIZE, target_height=SIZE, pool=pool
        )
        mirror = data.coin_flip(len(blobs), rng)
        return data.crop_mirror_normalize(
            resized, mirror=mirror, color_space="RGB", mean=MEAN, std=STD, pool=pool
        )

    return batch


class TorchImages:
    """A ``torch.utils.data.Dataset`` doing the same transforms by hand (Pillow + NumPy)."""

    def __init__(self, blobs: list[bytes]) -> None:
        self.blobs = blobs
        self.mean = np.asarray(MEAN, np.float32)
        self.inv_std = 1 / np.asarray(STD, np.float32)

    def __len__(self) -> int:
        return len(self.blobs)

    def __getitem__(self, index: int) -> Any:
        import torch

        rng = np.random.default_rng([1, index])
        image = Image.open(io.BytesIO(self.blobs[index])).convert("RGB")
        w = data.random_crop_window(image.height, image.width, rng)
        image = image.crop((w.x, w.y, w.x + w.width, w.y + w.height))
        image = image.resize((SIZE, SIZE), Image.Resampling.BILINEAR)
        if rng.random() < 0.5:
            image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        pixels = (np.asarray(image, np.float32) - self.mean) * self.inv_std
        return torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1)))


def bench_image_pipeline(
    count: int, rounds: int, threads: list[int]
) -> list[tuple[str, int, float, float, float]]:
    """Rows ``(system, threads, median, min, max)`` of images/s over ``count`` images."""
    import torch
    from torch.utils.data import DataLoader

    torch.set_num_threads(1)
    blobs = make_jpegs(count)
    batches = [blobs[s : s + BATCH] for s in range(0, count - BATCH + 1, BATCH)]
    n_images = len(batches) * BATCH
    rows = []
    for t in threads:
        with ThreadPoolExecutor(t) as pool:
            for name, make in (
                ("flowsnap (3 ops)", flowsnap_three_ops),
                ("flowsnap (fused)", flowsnap_fused),
            ):
                fn = make(pool)
                out = fn(batches[0], 0)  # warm-up, and a shape check
                if out.shape != (BATCH, 3, SIZE, SIZE) or out.dtype != np.float32:
                    raise SystemExit(f"{name} made {out.dtype} {out.shape}")
                rates = []
                for _ in range(rounds):
                    t0 = time.perf_counter()
                    for i, b in enumerate(batches):
                        fn(b, i)
                    rates.append(n_images / (time.perf_counter() - t0))
                rows.append((name, t, statistics.median(rates), min(rates), max(rates)))
        loader = DataLoader(
            TorchImages(blobs[:n_images]),
            batch_size=BATCH,
            num_workers=t,
            persistent_workers=True,
            prefetch_factor=2,
        )
        for x in loader:  # warm-up epoch: workers started, imports done
            if tuple(x.shape) != (BATCH, 3, SIZE, SIZE):
                raise SystemExit(f"torch made {tuple(x.shape)}")
        rates = []
        for _ in range(rounds):
            t0 = time.perf_counter()
            seen = sum(int(x.shape[0]) for x in loader)
            rates.append(seen / (time.perf_counter() - t0))
        del loader
        rows.append(("torch DataLoader", t, statistics.median(rates), min(rates), max(rates)))
    return rows


def bench_decoders(count: int, rounds: int) -> list[tuple[str, float, float, float]]:
    """Rows ``(decoder, median, min, max)`` of JPEGs/s decoded on one thread: the numbers behind
    flowsnap's choice of JPEG decoder. ``cv2.imdecode`` is what OneFlow's kernels called (BGR,
    OneFlow's default color space; RGB adds a ``cvtColor``); its pixels must equal simplejpeg's
    (PyTurboJPEG is not measured: it needs a system libturbojpeg that pip does not install)."""
    import cv2
    import simplejpeg

    blobs = make_jpegs(count, seed=1)
    cv2.setNumThreads(1)

    def pillow(blob: bytes) -> Any:
        return np.asarray(Image.open(io.BytesIO(blob)).convert("RGB"))

    def turbo(blob: bytes) -> Any:
        return simplejpeg.decode_jpeg(blob, colorspace="RGB")

    def turbo_bgr(blob: bytes) -> Any:
        return simplejpeg.decode_jpeg(blob, colorspace="BGR")

    def opencv_bgr(blob: bytes) -> Any:
        return cv2.imdecode(np.frombuffer(blob, np.uint8), cv2.IMREAD_COLOR)

    def opencv(blob: bytes) -> Any:
        return cv2.cvtColor(opencv_bgr(blob), cv2.COLOR_BGR2RGB)

    for blob in blobs:
        if not np.array_equal(pillow(blob), turbo(blob)):
            raise SystemExit("simplejpeg and Pillow decode different pixels")
        if not np.array_equal(opencv_bgr(blob), turbo_bgr(blob)):
            raise SystemExit("simplejpeg and cv2.imdecode decode different pixels")
    rows = []
    for name, fn in (
        ("Pillow (RGB)", pillow),
        ("simplejpeg (RGB)", turbo),
        ("cv2.imdecode + cvtColor (RGB)", opencv),
        ("simplejpeg (BGR)", turbo_bgr),
        ("cv2.imdecode (BGR)", opencv_bgr),
    ):
        rates = []
        for _ in range(rounds):
            t0 = time.perf_counter()
            for blob in blobs:
                fn(blob)
            rates.append(count / (time.perf_counter() - t0))
        rows.append((name, statistics.median(rates), min(rates), max(rates)))
    return rows


def image_table(rows: list[tuple[str, int, float, float, float]]) -> str:
    """A markdown table with the same-run ratio to the torch DataLoader at the same threads."""
    base = {t: med for name, t, med, _, _ in rows if name == "torch DataLoader"}
    lines = [
        "| pipeline | threads/workers | images/s (median) | min-max | vs torch DataLoader |",
        "|---|---|---|---|---|",
    ]
    for name, t, med, lo, hi in rows:
        lines.append(f"| {name} | {t} | {med:,.0f} | {lo:,.0f}-{hi:,.0f} | {med / base[t]:.2f}x |")
    return "\n".join(lines)


def versions() -> str:
    """Library versions that decide the numbers."""
    import cv2
    import PIL
    import simplejpeg
    import torch

    return (
        f"Pillow {PIL.__version__}, simplejpeg {simplejpeg.__version__}, OpenCV "
        f"{cv2.__version__}, NumPy {np.__version__}, torch {torch.__version__}"
    )


def image_section(quick: bool, rounds: int | None = None) -> str:
    """Run the pipeline benchmark and return its RESULTS.md section."""
    count = 128 if quick else 256
    rounds = rounds or (2 if quick else 3)
    threads = [1, 2] if (os.cpu_count() or 1) >= 2 else [1]
    load = os.getloadavg()
    rows = bench_image_pipeline(count, rounds, threads)
    decoders = bench_decoders(count, rounds)
    base = decoders[0][1]
    decode_table = "\n".join(
        [
            "| JPEG decoder (500x375, 1 thread) | images/s (median) | min-max | vs Pillow |",
            "|---|---|---|---|",
        ]
        + [
            f"| {n} | {m:,.0f} | {lo:,.0f}-{hi:,.0f} | {m / base:.2f}x |"
            for n, m, lo, hi in decoders
        ]
    )
    return (
        f"## `bench_data_images.py` ImageNet-style pipeline, "
        f"{time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC\n\n"
        f"{count} JPEGs of 500x375 (q90), batch {BATCH}, {rounds} rounds; decode, random-resized "
        f"crop, resize to {SIZE}x{SIZE} bilinear, mirror, normalize to float32 NCHW. Machine: "
        f"{os.cpu_count()} CPUs, {platform.python_implementation()} {platform.python_version()}, "
        f"{versions()}, load average {load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f} before, "
        f"{os.getloadavg()[0]:.1f} after. The torch side is a DataLoader with the transforms "
        f"written by hand in Pillow/NumPy (no torchvision build for torch 2.13.0+cpu imports "
        f"here).\n\n{image_table(rows)}\n\n{decode_table}\n"
    )


def main(argv: list[str] | None = None) -> None:
    """Run the pipeline benchmark; ``--append`` adds its table to RESULTS.md."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="128 images, 2 rounds")
    p.add_argument("--rounds", type=int, default=None)
    p.add_argument("--append", action="store_true", help="append the table to RESULTS.md")
    args = p.parse_args(argv)
    text = image_section(args.quick, args.rounds)
    print(text)
    if args.append:
        with open(HERE / "RESULTS.md", "a") as f:
            f.write("\n" + text)


if __name__ == "__main__":
    main()
