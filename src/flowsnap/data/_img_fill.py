"""Polygon filling by OpenCV's ``cv::fillPoly(..., LINE_8)`` rules, in NumPy.

OneFlow's ``object_segmentation_polygon_to_mask`` kernel rounds each point half to even and calls
``cv::fillPoly`` once per segmentation with all its polygons. That fill differs from Pillow's
``ImageDraw.polygon`` (which flowsnap used before): OpenCV fills by the even-odd rule over all
the polygons together (where two polygons of one segmentation overlap, the overlap stays empty)
and also draws every edge as an 8-connected Bresenham line. On 84 random COCO-like polygons
Pillow's masks differed from ``cv2.fillPoly``'s in 3.5% of the mask pixels (65% on one mask with
overlapping polygons); this module matches ``cv2.fillPoly`` pixel for pixel on them.

The rules, from OpenCV's ``CollectPolyEdges`` and ``FillEdgeCollection``: each non-horizontal
edge is active on the rows ``y0 <= y < y1`` (top row included, bottom excluded), its ``x`` on a
row in 16.16 fixed point (``x0 << 16`` plus ``dx`` per row, ``dx`` the C-truncated quotient);
on each row the active edges' ``x`` are sorted and each pair ``(a, b)`` fills the pixels from
``ceil(a)`` to ``floor(b)``. Every edge (horizontal ones too) is then drawn as OpenCV's
``LineIterator`` with 8-connectivity draws it, after ``clipLine`` cut it to the image.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

Array = np.ndarray[Any, Any]

_SHIFT = 16
_ONE = 1 << _SHIFT


def _trunc_div(a: int, b: int) -> int:
    """C's integer division (rounds toward zero)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def _toward_zero(value: float) -> int:
    """C's conversion of a double to an integer (truncation)."""
    return int(value)


def _clip_line(
    width: int, height: int, x1: int, y1: int, x2: int, y2: int
) -> tuple[int, int, int, int] | None:
    """The segment OpenCV's ``clipLine`` keeps inside the image (None: none of it): an endpoint
    outside is moved along the segment to the nearest row, then column, of the border, its other
    coordinate computed in doubles and truncated. The line is then walked between the clipped
    endpoints, so a clipped edge's pixels can differ from the unclipped line's."""
    right, bottom = width - 1, height - 1

    def outcode(x: int, y: int) -> int:
        return (x < 0) + (x > right) * 2 + (y < 0) * 4 + (y > bottom) * 8

    c1, c2 = outcode(x1, y1), outcode(x2, y2)
    if (c1 & c2) == 0 and (c1 | c2) != 0:
        if c1 & 12:
            a = 0 if c1 < 8 else bottom
            x1 += _toward_zero((a - y1) * (x2 - x1) / (y2 - y1))
            y1 = a
            c1 = (x1 < 0) + (x1 > right) * 2
        if c2 & 12:
            a = 0 if c2 < 8 else bottom
            x2 += _toward_zero((a - y2) * (x2 - x1) / (y2 - y1))
            y2 = a
            c2 = (x2 < 0) + (x2 > right) * 2
        if (c1 & c2) == 0 and (c1 | c2) != 0:
            if c1:
                a = 0 if c1 == 1 else right
                y1 += _toward_zero((a - x1) * (y2 - y1) / (x2 - x1))
                x1, c1 = a, 0
            if c2:
                a = 0 if c2 == 1 else right
                y2 += _toward_zero((a - x2) * (y2 - y1) / (x2 - x1))
                x2, c2 = a, 0
    if c1 | c2:
        return None
    return x1, y1, x2, y2


def _line_pixels(x0: int, y0: int, x1: int, y1: int) -> tuple[Array, Array]:
    """The pixels of OpenCV's 8-connected ``LineIterator`` from ``(x0, y0)`` to ``(x1, y1)``
    (it walks left to right; its error term decides each minor step)."""
    if x1 < x0:
        x0, y0, x1, y1 = x1, y1, x0, y0
    dx, dy = x1 - x0, y1 - y0
    sy = -1 if dy < 0 else 1
    dy = abs(dy)
    steep = dy > dx
    major, minor = (dy, dx) if steep else (dx, dy)
    count = major + 1
    # err_k = major - 2 minor (k + 1) + 2 major m_k; a minor step follows pixel k when err_k < 0
    m = np.zeros(count, dtype=np.int64)
    err = major - 2 * minor
    taken = 0
    for k in range(1, count):
        if err < 0:
            taken += 1
            err += 2 * major
        err -= 2 * minor
        m[k] = taken
    along = np.arange(count, dtype=np.int64)
    if steep:
        return x0 + m, y0 + sy * along
    return x0 + along, y0 + sy * m


def fill_polygons(height: int, width: int, polygons: Sequence[Array]) -> Array:
    """A ``(height, width)`` int8 mask, 1 where OpenCV's ``fillPoly(..., LINE_8)`` of the integer
    ``(n, 2)`` ``(x, y)`` point arrays ``polygons`` paints (module notes)."""
    mask = np.zeros((height, width), dtype=np.int8)
    edges: list[tuple[int, int, int, int]] = []  # (y0, y1, x at y0 in 16.16, dx per row)
    lines: list[tuple[Array, Array]] = []
    for poly in polygons:
        points = [(int(x), int(y)) for x, y in np.asarray(poly).reshape(-1, 2)]
        for i, (x1, y1) in enumerate(points):
            x0, y0 = points[i - 1]
            clipped = _clip_line(width, height, x0, y0, x1, y1)
            if clipped is not None:
                lines.append(_line_pixels(*clipped))
            if y0 == y1:
                continue
            dx = _trunc_div((x1 - x0) << _SHIFT, y1 - y0)
            if y0 < y1:
                edges.append((y0, y1, x0 << _SHIFT, dx))
            else:
                edges.append((y1, y0, x1 << _SHIFT, dx))
    if edges:
        table = np.array(edges, dtype=np.int64)
        top, bottom = int(table[:, 0].min()), int(table[:, 1].max())
        for y in range(max(top, 0), min(bottom, height)):
            active = table[(table[:, 0] <= y) & (y < table[:, 1])]
            xs = np.sort(active[:, 2] + (y - active[:, 0]) * active[:, 3])
            for a, b in zip(xs[0::2], xs[1::2], strict=False):
                left, right = (int(a) + _ONE - 1) >> _SHIFT, int(b) >> _SHIFT
                if left < width and right >= 0 and left <= right:
                    mask[y, max(left, 0) : min(right, width - 1) + 1] = 1
    for xs_line, ys_line in lines:
        inside = (xs_line >= 0) & (xs_line < width) & (ys_line >= 0) & (ys_line < height)
        mask[ys_line[inside], xs_line[inside]] = 1
    return mask
