"""Where flowsnap's image and random data ops differed from OneFlow's (found by running OneFlow
0.3's own op tests against flowsnap), each checked with our own data and oracles.

* Resizing follows OpenCV's ``cv::resize`` rules as OneFlow's kernels did: the oracle is
  :func:`reference_resize`, a per-pixel re-implementation written from OpenCV's documented
  sampling rules (float64, one output pixel at a time), independent of the vectorized code.
* Polygons become masks by ``cv::fillPoly``'s rules (even-odd, edges drawn), as OneFlow's kernel:
  the oracle is :func:`reference_fill_polygons`, those rules re-implemented in Python/NumPy.
* The production path calls OpenCV itself (``cv2.resize``, ``cv2.fillPoly``); these oracles are
  independent of it, and the known-value tests pin pixels without either.
* ``flow.record`` / ``flow.tensor_buffer`` are OneFlow's blob types of data ops' outputs.
* ``flow.random.bernoulli`` and friends draw in predict jobs too, as OneFlow's did.
* TensorBuffers of device tensors (``tensor_to_tensor_buffer`` of a placeholder) round-trip.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from PIL import Image

import flowsnap as flow
import flowsnap.typing as tp
from flowsnap import data
from flowsnap.errors import ArgumentError, UnsupportedDtypeError

Array = np.ndarray[Any, Any]


# -- the oracle ------------------------------------------------------------------------------


def _linear_weights(d: int, src: int, dst: int) -> list[tuple[int, float]]:
    f = (d + 0.5) * src / dst - 0.5
    s = math.floor(f)
    f -= s
    if s < 0:
        s, f = 0, 0.0
    if s >= src - 1:
        s, f = src - 1, 0.0
    return [(s, 1 - f), (min(s + 1, src - 1), f)]


def _area_weights(d: int, src: int, dst: int, coverage: bool) -> list[tuple[int, float]]:
    scale = src / dst
    if coverage:  # exact coverage of [d * scale, (d + 1) * scale) by each source pixel
        lo, hi = d * scale, min((d + 1) * scale, src)
        out = []
        for s in range(math.floor(lo), math.ceil(hi)):
            part = min(hi, s + 1) - max(lo, s)
            if part > 0:
                out.append((s, part / (hi - lo)))
        return out
    s = math.floor(d * scale)
    f = (d + 1) - (s + 1) * dst / src
    f = 0.0 if f <= 0 else f - math.floor(f)
    if s >= src - 1:
        s, f = src - 1, 0.0
    return [(s, 1 - f), (min(s + 1, src - 1), f)]


def _cubic_weights(d: int, src: int, dst: int) -> list[tuple[int, float]]:
    a = -0.75
    f = (d + 0.5) * src / dst - 0.5
    s = math.floor(f)
    x = f - s

    def kernel(t: float) -> float:
        t = abs(t)
        if t <= 1:
            return (a + 2) * t**3 - (a + 3) * t**2 + 1
        if t < 2:
            return a * t**3 - 5 * a * t**2 + 8 * a * t - 4 * a
        return 0.0

    return [(min(max(s + k, 0), src - 1), kernel(x - k)) for k in (-1, 0, 1, 2)]


def reference_resize(image: Array, width: int, height: int, kind: str) -> Array:
    """OpenCV's ``cv::resize`` rule for ``kind``, one output pixel at a time in float64."""
    src_h, src_w = image.shape[:2]
    values = image.astype(np.float64)
    out = np.zeros((height, width, image.shape[2]))
    if kind == "nearest_neighbor":
        for y in range(height):
            for x in range(width):
                sy = min(math.floor(y * src_h / height), src_h - 1)
                sx = min(math.floor(x * src_w / width), src_w - 1)
                out[y, x] = values[sy, sx]
        return out
    coverage = width <= src_w and height <= src_h
    for y in range(height):
        if kind == "bilinear":
            wy = _linear_weights(y, src_h, height)
        elif kind == "area":
            wy = _area_weights(y, src_h, height, coverage)
        else:
            wy = _cubic_weights(y, src_h, height)
        for x in range(width):
            if kind == "bilinear":
                wx = _linear_weights(x, src_w, width)
            elif kind == "area":
                wx = _area_weights(x, src_w, width, coverage)
            else:
                wx = _cubic_weights(x, src_w, width)
            for sy, ay in wy:
                for sx, ax in wx:
                    out[y, x] += ay * ax * values[sy, sx]
    return out


def _photo(height: int, width: int, seed: int) -> Array:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 7 % 256, y * 11 % 256, (x * y + seed) % 256], -1).astype(float)
    return (base + rng.normal(0, 20, base.shape)).clip(0, 255).astype(np.uint8)


# -- the fillPoly oracle: OpenCV's rules re-implemented (flowsnap's production path before it
# called cv2.fillPoly). From OpenCV's CollectPolyEdges and FillEdgeCollection: each
# non-horizontal edge is active on the rows y0 <= y < y1, its x on a row in 16.16 fixed point
# (x0 << 16 plus dx per row, dx the C-truncated quotient); on each row the active edges' x are
# sorted and each pair (a, b) fills the pixels ceil(a)..floor(b) (even-odd over all polygons);
# every edge (horizontal ones too) is then drawn as the 8-connected LineIterator draws it, after
# clipLine cut it to the image.

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


def reference_fill_polygons(height: int, width: int, polygons: Sequence[Array]) -> Array:
    """A ``(height, width)`` int8 mask, 1 where OpenCV's ``fillPoly(..., LINE_8)`` of the integer
    ``(n, 2)`` ``(x, y)`` point arrays ``polygons`` paints, by the rules noted above."""
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


# -- resizing: OpenCV's rules ----------------------------------------------------------------

KINDS = ["bilinear", "nearest_neighbor", "area", "bicubic"]
SIZES = [(13, 9), (48, 40), (20, 31), (7, 45)]  # shrink, grow, mixed, mixed other way


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("size", SIZES)
def test_resize_follows_opencv_rules(kind: str, size: tuple[int, int]) -> None:
    image = _photo(27, 33, 1)
    width, height = size
    want = reference_resize(image, width, height, kind)
    got_float = data.resize_image(image.astype(np.float32), width, height, interpolation_type=kind)
    assert got_float.dtype == np.float32
    assert got_float.shape == (height, width, 3)
    # float32 sums against float64 ones; area drops slivers under 1e-3 of a pixel, as OpenCV
    np.testing.assert_allclose(got_float, want, atol=0.3 if kind == "area" else 2e-3)
    got_u8 = data.resize_image(image, width, height, interpolation_type=kind)
    assert got_u8.dtype == np.uint8
    diff = np.abs(got_u8.astype(float) - np.clip(np.rint(want), 0, 255))
    assert diff.max() <= 1  # OpenCV rounds fixed-point sums: within one grey level


@pytest.mark.parametrize("kind", KINDS)
def test_resize_matches_the_oracle_on_random_sizes(kind: str) -> None:
    # cv2.resize (the production path) against the per-pixel oracle on random shapes, 1 and 3
    # channels, uint8 and float32
    rng = np.random.default_rng(11)
    for _ in range(4):
        src_h, src_w = (int(v) for v in rng.integers(2, 40, 2))
        dst_h, dst_w = (int(v) for v in rng.integers(1, 40, 2))
        channels = int(rng.choice([1, 3]))
        image = rng.integers(0, 256, (src_h, src_w, channels), dtype=np.uint8)
        want = reference_resize(image, dst_w, dst_h, kind)
        got = data.resize_image(image.astype(np.float32), dst_w, dst_h, interpolation_type=kind)
        assert got.shape == (dst_h, dst_w, channels)
        np.testing.assert_allclose(got, want, atol=0.3 if kind == "area" else 5e-3)
        got_u8 = data.resize_image(image, dst_w, dst_h, interpolation_type=kind)
        assert got_u8.shape == (dst_h, dst_w, channels)
        assert np.abs(got_u8.astype(float) - np.clip(np.rint(want), 0, 255)).max() <= 1


def test_bilinear_shrink_does_not_antialias() -> None:
    # shrinking by exactly 3 samples the centre of each 3x3 block (OpenCV's INTER_LINEAR, as
    # OneFlow's kernels); Pillow's anti-aliased bilinear filter would blend the whole block
    rng = np.random.default_rng(4)
    image = rng.integers(0, 256, (18, 24, 3), dtype=np.uint8)
    got = data.resize_image(image, 8, 6, interpolation_type="bilinear")
    np.testing.assert_array_equal(got, image[1::3, 1::3])
    pil = np.asarray(Image.fromarray(image).resize((8, 6), Image.Resampling.BILINEAR))
    assert np.abs(pil.astype(int) - got).max() > 20  # the difference this fixes


def test_nearest_takes_the_top_left_source_pixel() -> None:
    image = np.arange(4 * 6 * 1, dtype=np.float32).reshape(4, 6, 1)
    got = data.resize_image(image, 4, 3, interpolation_type="nn")
    # x: floor(i * 6 / 4) = 0, 1, 3, 4; y: floor(j * 4 / 3) = 0, 1, 2
    np.testing.assert_array_equal(got[:, :, 0], image[[0, 1, 2]][:, [0, 1, 3, 4], 0])


def test_area_shrink_averages_covered_area() -> None:
    # 5 -> 2 columns: each output covers 2.5 source pixels, the middle one half
    image = np.array([[[0.0], [10.0], [20.0], [30.0], [40.0]]], dtype=np.float32)
    got = data.resize_image(image, 2, 1, interpolation_type="area")
    np.testing.assert_allclose(got[0, :, 0], [(0 + 10 + 10) / 2.5, (10 + 30 + 40) / 2.5])


def test_uint8_known_values_of_each_kind() -> None:
    # worked by hand from OpenCV's rules, rounded to nearest (no oracle involved)
    row = np.array([[[0], [100]]], dtype=np.uint8)
    # bilinear 2 -> 4: samples at x = -0.25, 0.25, 0.75, 1.25 (clamped at the edges)
    got = data.resize_image(row, 4, 1, interpolation_type="bilinear")
    np.testing.assert_array_equal(got[0, :, 0], [0, 25, 75, 100])
    # bicubic, a = -0.75: 100 * (k(0.75) + k(1.75)) = 22.7 and 100 * (1 - k(1.25)) = 110.5, the
    # overshoot of OpenCV's kernel (Pillow's a = -0.5 would give 107); -10.5 saturates to 0
    got = data.resize_image(row, 4, 1, interpolation_type="bicubic")
    np.testing.assert_array_equal(got[0, :, 0], [0, 23, 77, 111])
    # area 4x2 -> 2x1: the mean of each 2x2 block, 0.75 rounds to 1
    block = np.array([[0, 1, 10, 20], [1, 1, 30, 40]], dtype=np.uint8)[:, :, None]
    got = data.resize_image(block, 2, 1, interpolation_type="area")
    np.testing.assert_array_equal(got[0, :, 0], [1, 25])


def test_auto_is_linear_when_growing_and_area_when_shrinking() -> None:
    image = _photo(20, 30, 2).astype(np.float32)
    grown = data.resize_image(image, 40, 25, interpolation_type="auto")
    np.testing.assert_array_equal(
        grown, data.resize_image(image, 40, 25, interpolation_type="bilinear")
    )
    shrunk = data.resize_image(image, 12, 9, interpolation_type="auto")
    np.testing.assert_array_equal(
        shrunk, data.resize_image(image, 12, 9, interpolation_type="area")
    )


def test_resize_job_output_uses_opencv_rules() -> None:
    # OneFlow's flow.image.Resize to a fixed size, bilinear, float output from uint8 input
    images = [_photo(30, 40, 0), _photo(22, 26, 1)]

    @flow.global_function(type="predict")
    def job() -> tuple[tp.Numpy, tp.Numpy]:
        buffer = flow.gen_tensor_buffer((2,), [(1,), (1,)], [0.0, 0.0])
        decoded = _images_source(buffer, images)
        out, scale, _ = flow.image.Resize(
            decoded,
            target_size=(16, 12),
            dtype=flow.float32,
            interpolation_type="bilinear",
        )
        return out, scale

    out, scale = job()
    assert out.dtype == np.float32
    for image, got in zip(images, out, strict=True):
        # OneFlow's kernel resizes in the input's dtype (uint8), then converts to float
        want = np.rint(reference_resize(image, 16, 12, "bilinear"))
        assert np.abs(got - want).max() <= 1
        assert np.array_equal(got, np.rint(got))
    np.testing.assert_allclose(scale, [[16 / 40, 12 / 30], [16 / 26, 12 / 22]], rtol=1e-6)


def _images_source(buffer: Any, images: list[Array]) -> Any:
    """A TensorBuffer of fixed test images (a data op replacing gen_tensor_buffer's values)."""
    from flowsnap._engine import host_op

    return host_op(
        "test_images", lambda call, _: [im.copy() for im in images], (buffer,), fed=False
    )


# -- polygons to masks: OpenCV's fillPoly ----------------------------------------------------


def test_polygon_mask_fills_even_odd_with_edges_drawn() -> None:
    # two overlapping squares of one segmentation: OneFlow's cv::fillPoly fills by the even-odd
    # rule, so the inside of the overlap stays empty; every edge is drawn (Pillow's polygon fill,
    # used before, painted the union)
    square_a = [[2, 2], [8, 2], [8, 8], [2, 8]]
    square_b = [[5, 5], [11, 5], [11, 11], [5, 11]]
    points = np.array(square_a + square_b, np.float32)
    index = np.array([[i, 0, 0] for i in range(4)] + [[i, 1, 0] for i in range(4)])
    (masks,) = data.polygon_to_mask([points], [index], [[14, 13]])
    want = np.zeros((13, 14), np.int8)
    want[2:9, 2:9] = 1
    want[5:12, 5:12] = 1
    want[6:8, 6:8] = 0  # covered twice: even
    np.testing.assert_array_equal(masks[0], want)


def test_polygon_mask_interior_and_exterior() -> None:
    # a triangle: pixels more than one pixel inside are set, more than one pixel outside are not
    tri = np.array([[3.4, 2.6], [36.5, 9.5], [12.2, 27.7]], np.float32)
    index = np.array([[i, 0, 0] for i in range(3)])
    (masks,) = data.polygon_to_mask([tri], [index], [[40, 30]])
    corners = np.rint(tri).astype(float)  # points round half to even, as OneFlow's kernel
    ys, xs = np.mgrid[0:30, 0:40]
    signed = []
    for (x0, y0), (x1, y1) in zip(corners, np.roll(corners, -1, axis=0), strict=True):
        length = math.hypot(x1 - x0, y1 - y0)
        signed.append(((x1 - x0) * (ys - y0) - (y1 - y0) * (xs - x0)) / length)
    distance = np.min(np.stack(signed), axis=0)  # > 0 inside (this winding), < 0 outside
    assert masks.shape == (1, 30, 40)
    assert (distance > 1.0).sum() > 20  # enough pixels on each side to check
    assert (distance < -1.0).sum() > 20
    assert masks[0][distance > 1.0].all()
    assert not masks[0][distance < -1.0].any()


def test_polygon_mask_of_a_polygon_reaching_outside_the_image() -> None:
    # COCO polygons touch the border; scaled and rounded, a point can land one pixel outside
    poly = np.array([[-3.0, 4.0], [25.0, -2.0], [22.0, 19.0], [4.0, 16.0]], np.float32)
    index = np.array([[i, 0, 0] for i in range(4)])
    (masks,) = data.polygon_to_mask([poly], [index], [[20, 15]])
    assert masks.shape == (1, 15, 20)
    assert masks.dtype == np.int8
    # pixels well inside the polygon (checked against its edges) are set
    ys, xs = np.mgrid[0:15, 0:20]
    corners = poly.astype(float)
    signed = []
    for (x0, y0), (x1, y1) in zip(corners, np.roll(corners, -1, axis=0), strict=True):
        length = math.hypot(x1 - x0, y1 - y0)
        signed.append(((x1 - x0) * (ys - y0) - (y1 - y0) * (xs - x0)) / length)
    distance = np.min(np.stack(signed), axis=0)
    assert (distance > 1.0).sum() > 20  # enough pixels on each side to check
    assert (distance < -1.0).sum() > 20
    assert masks[0][distance > 1.0].all()
    assert not masks[0][distance < -1.0].any()


def _random_segmentation(rng: np.random.Generator, width: int, height: int) -> list[Array]:
    """One to three COCO-like polygons (3-12 points) with every point inside the image."""
    polys = []
    for _ in range(int(rng.integers(1, 4))):
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        count = int(rng.integers(3, 13))
        angles = np.sort(rng.uniform(0, 2 * np.pi, count))
        radius = rng.uniform(1, max(width, height) / 2, count)
        xs = np.clip(cx + radius * np.cos(angles), 0, width - 1)
        ys = np.clip(cy + radius * np.sin(angles), 0, height - 1)
        polys.append(np.stack([xs, ys], -1).astype(np.float32))
    return polys


def test_polygon_mask_matches_the_fillpoly_oracle() -> None:
    # the production path (cv2.fillPoly) against the rules re-implemented above, pixel for
    # pixel, on 60 random segmentations (overlapping polygons included)
    rng = np.random.default_rng(7)
    painted = 0
    for case in range(60):
        width, height = int(rng.integers(5, 70)), int(rng.integers(5, 70))
        polys = _random_segmentation(rng, width, height)
        points = np.concatenate(polys)
        index = np.array(
            [[i, p, 0] for p, poly in enumerate(polys) for i in range(len(poly))], np.int32
        )
        (masks,) = data.polygon_to_mask([points], [index], [[width, height]])
        rounded = [np.rint(poly).astype(np.int64) for poly in polys]  # half to even, as OneFlow
        want = reference_fill_polygons(height, width, rounded)
        assert masks.dtype == np.int8
        np.testing.assert_array_equal(masks[0], want, err_msg=f"case {case}")
        painted += int(want.sum())
    assert painted > 10_000  # the cases paint something to compare


def test_pooled_image_work_runs_opencv_single_threaded() -> None:
    # flowsnap's pool owns the cores: a batch on a pool sets OpenCV's own pool to one thread
    from concurrent.futures import ThreadPoolExecutor

    import cv2

    images = [_photo(30, 40, 0), _photo(22, 26, 1)]
    with ThreadPoolExecutor(2) as pool:
        batch, _ = data.resize_to_fixed(images, 20, 10, interpolation_type="bicubic", pool=pool)
    assert cv2.getNumThreads() == 1
    for image, got in zip(images, batch, strict=True):
        want = np.clip(np.rint(reference_resize(image, 20, 10, "bicubic")), 0, 255)
        assert np.abs(got.astype(float) - want).max() <= 1


# -- blob dtypes -----------------------------------------------------------------------------


def test_record_and_tensor_buffer_are_blob_dtypes() -> None:
    assert flow.record is not flow.tensor_buffer
    assert repr(flow.record) == "flow.record"
    assert repr(flow.tensor_buffer) == "flow.tensor_buffer"
    assert flow.record != np.dtype(object)
    assert flow.tensor_buffer != flow.float32
    for blob_dtype in (flow.record, flow.tensor_buffer):
        with pytest.raises(UnsupportedDtypeError, match="not an element type") as info:
            tp.Numpy.Placeholder((2,), dtype=blob_dtype)
        assert "flow.float32" in str(info.value)

    @flow.global_function(type="predict")
    def job() -> tp.Numpy:
        return flow.get_variable("w", shape=(2,), dtype=flow.tensor_buffer)

    with pytest.raises(UnsupportedDtypeError, match=r"get_variable.*flow.tensor_buffer.*not an"):
        job()


def test_data_op_blobs_carry_oneflows_blob_dtypes() -> None:
    seen: dict[str, Any] = {}

    @flow.global_function(type="predict")
    def job() -> tp.Numpy:
        buffer = flow.gen_tensor_buffer((2,), [(2, 2, 3), (3, 2, 3)], [1.0, 2.0], flow.uint8)
        flipped = flow.image.flip(buffer, 1)
        seen["buffer"], seen["flipped"] = buffer.dtype, flipped.dtype
        return flow.image.batch_align(flipped, shape=(4, 2, 3), dtype=flow.uint8, alignment=1)

    job()
    assert seen == {"buffer": flow.tensor_buffer, "flipped": flow.tensor_buffer}


# -- random ops in predict jobs --------------------------------------------------------------


def test_bernoulli_draws_in_a_predict_job() -> None:
    probs = np.tile(np.array([0.0, 1.0, 0.5, 0.5], np.float32), (500, 1))

    @flow.global_function(type="predict")
    def job(p: tp.Numpy.Placeholder((500, 4))) -> tp.Numpy:
        return flow.random.bernoulli(p)

    first, second = job(probs), job(probs)
    assert first.dtype == np.float32
    assert first.shape == (500, 4)
    assert set(np.unique(first)) <= {0.0, 1.0}
    np.testing.assert_array_equal(first[:, 0], 0)
    np.testing.assert_array_equal(first[:, 1], 1)
    assert 0.4 < first[:, 2:].mean() < 0.6  # 1000 fair draws
    assert not np.array_equal(first, second)  # each call draws anew


def test_shuffle_and_permutation_in_a_predict_job() -> None:
    x = np.arange(64, dtype=np.float32).reshape(32, 2)

    @flow.global_function(type="predict")
    def job(v: tp.Numpy.Placeholder((32, 2))) -> tuple[tp.Numpy, tp.Numpy]:
        return flow.random.shuffle(v), flow.random.generate_random_batch_permutation_indices(v)

    shuffled, order = job(x)
    assert sorted(shuffled[:, 0].tolist()) == x[:, 0].tolist()
    np.testing.assert_array_equal(shuffled[:, 1], shuffled[:, 0] + 1)  # rows stay whole
    assert order.dtype == np.int32
    assert sorted(order.tolist()) == list(range(32))


# -- TensorBuffers of device tensors ---------------------------------------------------------


def test_tensor_buffer_of_a_placeholder_round_trips() -> None:
    x = np.random.default_rng(0).random((4, 3, 5, 2)).astype(np.float32)

    @flow.global_function(type="predict")
    def job(v: tp.Numpy.Placeholder((4, 3, 5, 2))) -> tuple[tp.Numpy, tp.Numpy]:
        buffer = flow.tensor_to_tensor_buffer(v, instance_dims=2)
        assert buffer.dtype is flow.tensor_buffer
        assert tuple(buffer.shape) == (4, 3)
        back = flow.tensor_buffer_to_tensor(buffer, dtype=flow.float32, instance_shape=(5, 2))
        flat = flow.tensor_buffer_to_tensor(buffer, dtype=flow.int32, instance_shape=(10,))
        return back, flat

    back, flat = job(x)
    np.testing.assert_array_equal(back, x)
    np.testing.assert_array_equal(flat, x.reshape(4, 3, 10).astype(np.int32))


def test_tensor_buffer_of_a_placeholder_checks_the_instance_shape() -> None:
    @flow.global_function(type="predict")
    def job(v: tp.Numpy.Placeholder((4, 3, 5))) -> tp.Numpy:
        buffer = flow.tensor_to_tensor_buffer(v, instance_dims=1)
        return flow.tensor_buffer_to_tensor(buffer, dtype=flow.float32, instance_shape=(4,))

    with pytest.raises(ArgumentError, match=r"elements have shape \[5\].*instance_shape \[4\]"):
        job(np.zeros((4, 3, 5), np.float32))
