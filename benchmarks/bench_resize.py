"""Speed and agreement of flowsnap's image resize (``cv2.resize``, as OneFlow's kernels).

flowsnap's ``flow.image.Resize`` and the random-crop-resize decoder call ``cv2.resize`` with
OneFlow's interpolation flags (``flowsnap/data/_img_resize.py``). This measures, in one run, the
time per image of each interpolation mode on random-resized crops of 500x375 photos resized to
224x224 uint8: flowsnap's ``resize_image`` (its checks plus ``cv2.resize``), ``cv2.resize``
called directly (flowsnap's overhead is the difference), and Pillow's filters of the same names
(what flowsnap used before issue #12: anti-aliased, other sampling rules), with the largest
difference from OpenCV's pixels. ``--threads N`` also times a batch through flowsnap's
``resize_to_fixed`` on an N-thread pool, with OpenCV's own pool left at its default and set to 1.

    .venv/bin/python benchmarks/bench_resize.py [--images 64] [--rounds 5] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from PIL import Image

from flowsnap import data

MODES = {
    "bilinear": Image.Resampling.BILINEAR,
    "area": Image.Resampling.BOX,
    "nearest_neighbor": Image.Resampling.NEAREST,
    "bicubic": Image.Resampling.BICUBIC,
}


def _crops(count: int) -> list[np.ndarray[Any, Any]]:
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:375, 0:500]
    out = []
    for i in range(count):
        base = np.stack(
            [np.sin(x / 9 + i) * 100 + 128, np.cos(y / 7) * 100 + 128, (x * y) % 256], -1
        )
        photo = (base + rng.normal(0, 15, base.shape)).clip(0, 255).astype(np.uint8)
        w = data.random_crop_window(375, 500, rng)
        out.append(np.ascontiguousarray(photo[w.y : w.y + w.height, w.x : w.x + w.width]))
    return out


def _time(fn: Callable[[np.ndarray[Any, Any]], Any], crops: list[Any], rounds: int) -> float:
    per_round = []
    for _ in range(rounds):
        start = time.perf_counter()
        for crop in crops:
            fn(crop)
        per_round.append((time.perf_counter() - start) / len(crops) * 1e3)
    return statistics.median(per_round)


def _time_pool(crops: list[Any], threads: int, cv_threads: int, big: bool, rounds: int) -> float:
    """ms/image of one batch on a ``threads`` pool with OpenCV at ``cv_threads``: bilinear to
    224x224 (``resize_to_fixed``), or with ``big`` to the shorter side 800 (longer at most 1333,
    ``resize_keep_aspect_ratio``: the detection models' resize, big enough for OpenCV to split)."""
    from concurrent.futures import ThreadPoolExecutor

    import cv2

    def batch(pool: Any) -> None:
        if big:
            data.resize_keep_aspect_ratio(
                crops, 800, max_size=1333, interpolation_type="bilinear", pool=pool
            )
        else:
            data.resize_to_fixed(crops, 224, 224, interpolation_type="bilinear", pool=pool)

    per_round = []
    with ThreadPoolExecutor(threads) as pool:
        batch(pool)  # warm-up; flowsnap sets OpenCV to 1 thread here
        cv2.setNumThreads(cv_threads)  # what is measured
        for _ in range(rounds):
            start = time.perf_counter()
            batch(pool)
            per_round.append((time.perf_counter() - start) / len(crops) * 1e3)
    return statistics.median(per_round)


def main() -> None:
    """Print a Markdown table of ms/image per mode and implementation."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()

    import cv2

    crops = _crops(args.images)
    flags = {
        "bilinear": cv2.INTER_LINEAR,
        "area": cv2.INTER_AREA,
        "nearest_neighbor": cv2.INTER_NEAREST,
        "bicubic": cv2.INTER_CUBIC,
    }
    default_threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    load = os.getloadavg()
    print(
        f"{args.images} random-resized crops of 500x375 -> 224x224 uint8, {args.rounds} rounds "
        f"(median), 1 thread; Python {platform.python_version()}, NumPy {np.__version__}, Pillow "
        f"{Image.__version__}, OpenCV {cv2.__version__}; {os.cpu_count()} CPUs, load average "
        f"{load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f}\n"
    )
    print(
        "| mode | flowsnap ms/image | cv2.resize ms/image | Pillow filter ms/image | "
        "flowsnap vs OpenCV max diff | Pillow vs OpenCV max diff |"
    )
    print("|---|---|---|---|---|---|")
    for mode, pil_filter in MODES.items():
        flag = flags[mode]
        ours = _time(
            lambda c, m=mode: data.resize_image(c, 224, 224, interpolation_type=m),
            crops,
            args.rounds,
        )
        opencv = _time(
            lambda c, f=flag: cv2.resize(c, (224, 224), interpolation=f), crops, args.rounds
        )
        pil = _time(
            lambda c, f=pil_filter: Image.fromarray(c).resize((224, 224), f), crops, args.rounds
        )
        worst_ours = worst_pil = 0
        for crop in crops:
            ref = cv2.resize(crop, (224, 224), interpolation=flag).astype(int)
            got = data.resize_image(crop, 224, 224, interpolation_type=mode).astype(int)
            old = np.asarray(Image.fromarray(crop).resize((224, 224), pil_filter)).astype(int)
            worst_ours = max(worst_ours, int(np.abs(got - ref).max()))
            worst_pil = max(worst_pil, int(np.abs(old - ref).max()))
        print(f"| {mode} | {ours:.3f} | {opencv:.3f} | {pil:.2f} | {worst_ours} | {worst_pil} |")
    if args.threads:
        print(f"\n| batch on a {args.threads}-thread pool | OpenCV threads | ms/image |")
        print("|---|---|---|")
        for big in (False, True):
            name = "shorter side 800 (<= 1333)" if big else "224x224"
            for cv_threads in (default_threads, 1, default_threads, 1):
                ms = _time_pool(crops, args.threads, cv_threads, big, args.rounds)
                print(f"| {name} bilinear | {cv_threads} | {ms:.3f} |")


if __name__ == "__main__":
    main()
