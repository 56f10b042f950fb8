"""Resizing and polygon filling with OpenCV itself, as OneFlow's image kernels called it.

OneFlow's ``image_resize_to_fixed``, ``image_resize_keep_aspect_ratio`` and
``image_target_resize`` kernels call ``cv::resize`` with the flag ``GetCvInterpolationFlag`` maps
``interpolation_type`` to: ``"bilinear"`` -> ``INTER_LINEAR``, ``"nearest_neighbor"``/``"nn"`` ->
``INTER_NEAREST``, ``"bicubic"`` -> ``INTER_CUBIC``, ``"area"`` -> ``INTER_AREA``, and ``"auto"``
-> ``INTER_LINEAR`` when ``res_w * res_h >= org_w * org_h``, else ``INTER_AREA`` (the rule is in
``_images.opencv_interpolation``). ``object_segmentation_polygon_to_mask`` calls ``cv::fillPoly``
(``LINE_8``) once per segmentation with all its polygons. flowsnap calls the same functions
through ``opencv-python-headless`` (a main dependency), so its pixels are OpenCV's.

Earlier flowsnap re-implemented these rules in NumPy and Pillow (within one grey level of OpenCV,
3-90x slower); that re-implementation lives on as the tests' independent oracle
(``tests/ops/test_image_ops_oneflow_cases.py``), against which this path is checked.

Threads: OpenCV runs large resizes on its own thread pool (``cv2.setNumThreads``; a 224x224
output is below its split threshold and runs on the calling thread). When flowsnap runs a batch
on its own thread pool, each worker already owns a core, so :func:`single_threaded_in_workers`
sets OpenCV to one thread (once per process: a later ``cv2.setNumThreads`` by the user stands);
``benchmarks/RESULTS.md`` has the measurement. ``cv2`` functions release the GIL.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

Array = np.ndarray[Any, Any]

# the cv2 interpolation flag of each of flowsnap's kinds (cv2 is imported on first use: it adds
# 0.1-0.2 s to ``import flowsnap.data``, which jobs without image ops need not pay)
CV_FLAG_NAMES: dict[str, str] = {
    "bilinear": "INTER_LINEAR",
    "nearest_neighbor": "INTER_NEAREST",
    "area": "INTER_AREA",
    "bicubic": "INTER_CUBIC",
}

_threads_lock = threading.Lock()
_threads_set = threading.Event()


def single_threaded_in_workers() -> None:
    """Set OpenCV's own thread pool to one thread, the first time flowsnap runs image work on a
    thread pool of its own (nested pools oversubscribe the cores; module notes)."""
    if _threads_set.is_set():
        return
    with _threads_lock:
        if not _threads_set.is_set():
            import cv2

            cv2.setNumThreads(1)
            _threads_set.set()


def resize(image: Array, width: int, height: int, kind: str) -> Array:
    """``cv2.resize`` of an ``(H, W, C)`` uint8 or float32 image to ``(height, width, C)`` with the
    OpenCV flag of ``kind`` (one of :data:`CV_FLAG_NAMES`' keys); same dtype as the input."""
    import cv2

    src = image if image.flags.c_contiguous else np.ascontiguousarray(image)
    flag = int(getattr(cv2, CV_FLAG_NAMES[kind]))
    out: Array = cv2.resize(src, (width, height), interpolation=flag)
    return out[:, :, None] if out.ndim == 2 else out


def fill_polygons(height: int, width: int, polygons: Sequence[Array]) -> Array:
    """A ``(height, width)`` int8 mask, 1 where ``cv2.fillPoly(..., LINE_8)`` of the integer
    ``(n, 2)`` ``(x, y)`` point arrays ``polygons`` paints: all polygons at once, so by the
    even-odd rule where they overlap, every edge drawn as an 8-connected line."""
    import cv2

    mask = np.zeros((height, width), dtype=np.uint8)
    points = [np.asarray(p, dtype=np.int32).reshape(-1, 1, 2) for p in polygons]
    if points:
        cv2.fillPoly(mask, points, 1, lineType=cv2.LINE_8)
    return mask.view(np.int8)
