"""Speed (and, with OpenCV installed, agreement) of flowsnap's image resize by OpenCV's rules.

flowsnap's ``flow.image.Resize`` and the random-crop-resize decoder follow ``cv::resize`` as
OneFlow's kernels called it (``flowsnap/data/_img_resize.py``). This measures, in one run, the
time per image of each interpolation mode on random-resized crops of 500x375 photos resized to
224x224 uint8, against Pillow's filters of the same names (what flowsnap used before: faster,
but anti-aliased and with other sampling rules) and, when ``cv2`` imports (it is not a dependency:
``pip install opencv-python-headless`` into a scratch environment), OpenCV itself, with the largest
difference from OpenCV's pixels.

    .venv/bin/python benchmarks/bench_resize.py [--images 64] [--rounds 5]
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


def main() -> None:
    """Print a Markdown table of ms/image per mode and implementation."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    crops = _crops(args.images)
    try:
        import cv2  # type: ignore[import-not-found]
    except ImportError:
        cv2 = None
    flags = (
        {}
        if cv2 is None
        else {
            "bilinear": cv2.INTER_LINEAR,
            "area": cv2.INTER_AREA,
            "nearest_neighbor": cv2.INTER_NEAREST,
            "bicubic": cv2.INTER_CUBIC,
        }
    )
    load = os.getloadavg()[0]
    print(
        f"{args.images} random-resized crops of 500x375 -> 224x224 uint8, {args.rounds} rounds, "
        f"1 thread; {platform.python_version()}, NumPy {np.__version__}, Pillow "
        f"{Image.__version__}"
        + ("" if cv2 is None else f", OpenCV {cv2.__version__}")
        + f"; load average {load:.1f}\n"
    )
    print(
        "| mode | flowsnap ms/image | Pillow filter ms/image | OpenCV ms/image | flowsnap vs "
        "OpenCV max diff | Pillow vs OpenCV max diff |"
    )
    print("|---|---|---|---|---|---|")
    for mode, pil_filter in MODES.items():
        ours = _time(
            lambda c, m=mode: data.resize_image(c, 224, 224, interpolation_type=m),
            crops,
            args.rounds,
        )
        pil = _time(
            lambda c, f=pil_filter: Image.fromarray(c).resize((224, 224), f), crops, args.rounds
        )
        cv_ms = diff_ours = diff_pil = "-"
        if cv2 is not None:
            flag = flags[mode]
            opencv = _time(
                lambda c, f=flag: cv2.resize(c, (224, 224), interpolation=f), crops, args.rounds
            )
            cv_ms = f"{opencv:.2f}"
            worst_ours = worst_pil = 0
            for crop in crops:
                ref = cv2.resize(crop, (224, 224), interpolation=flags[mode]).astype(int)
                got = data.resize_image(crop, 224, 224, interpolation_type=mode).astype(int)
                old = np.asarray(Image.fromarray(crop).resize((224, 224), pil_filter)).astype(int)
                worst_ours = max(worst_ours, int(np.abs(got - ref).max()))
                worst_pil = max(worst_pil, int(np.abs(old - ref).max()))
            diff_ours, diff_pil = str(worst_ours), str(worst_pil)
        print(f"| {mode} | {ours:.2f} | {pil:.2f} | {cv_ms} | {diff_ours} | {diff_pil} |")


if __name__ == "__main__":
    main()
