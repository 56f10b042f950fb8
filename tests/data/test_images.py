"""Host image ops (flowsnap.data's image functions) against independent oracles: Pillow's own
decoder, a per-pixel re-implementation of OpenCV's resize rules, NumPy re-implementations of
crop/mirror/normalize/layout, and the bounds of OneFlow's random-crop rule over many draws."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageOps

from flowsnap import data
from flowsnap.errors import ArgumentError, DatasetError
from tests.ops.test_image_ops_oneflow_cases import reference_resize


def _photo(height: int, width: int, seed: int) -> np.ndarray[Any, Any]:
    """A smooth image with texture (JPEG-friendly, yet every pixel differs)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack(
        [np.sin(x / 17 + seed) * 90 + 128, np.cos(y / 13) * 90 + 128, (x + y) % 200 + 20], -1
    )
    return (base + rng.normal(0, 12, base.shape)).clip(0, 255).astype(np.uint8)


def _encode(array: np.ndarray[Any, Any], fmt: str, **kwargs: Any) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, fmt, **kwargs)
    return buf.getvalue()


@pytest.fixture(scope="module")
def jpegs() -> list[bytes]:
    sizes = [(375, 500), (500, 375), (120, 90), (64, 64)]
    return [_encode(_photo(h, w, i), "JPEG", quality=90) for i, (h, w) in enumerate(sizes)]


@pytest.fixture(scope="module")
def pool() -> Any:
    with ThreadPoolExecutor(4) as executor:
        yield executor


# --- decoding -------------------------------------------------------------------------------


def test_jpeg_decode_matches_pillow_in_every_color_space(jpegs: list[bytes], pool: Any) -> None:
    rgb = data.decode_images(jpegs, color_space="RGB", pool=pool)
    bgr = data.decode_images(jpegs, pool=pool)  # OneFlow's default is BGR
    gray = data.decode_images(jpegs, color_space="GRAY")
    for blob, got_rgb, got_bgr, got_gray in zip(jpegs, rgb, bgr, gray, strict=True):
        want = np.asarray(Image.open(io.BytesIO(blob)).convert("RGB"))
        assert got_rgb.dtype == np.uint8
        assert got_rgb.shape == want.shape
        np.testing.assert_array_equal(got_rgb, want)
        np.testing.assert_array_equal(got_bgr, want[:, :, ::-1])
        with Image.open(io.BytesIO(blob)) as im:
            im.draft("L", im.size)  # libjpeg's own grayscale output, as OpenCV's IMREAD_GRAYSCALE
            want_gray = np.asarray(im.convert("L"))
        assert got_gray.shape == (*want.shape[:2], 1)
        assert np.abs(got_gray[:, :, 0].astype(int) - want_gray).max() <= 1


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "P"])
def test_png_decode_matches_pillow(mode: str) -> None:
    image = Image.fromarray(_photo(40, 70, 3)).convert(mode)
    blob = _encode(np.asarray(image), "PNG") if mode != "P" else _palette_png(image)
    want_rgb = np.asarray(Image.open(io.BytesIO(blob)).convert("RGB"))
    want_gray = np.asarray(Image.open(io.BytesIO(blob)).convert("L"))
    np.testing.assert_array_equal(data.decode_image(blob, color_space="RGB"), want_rgb)
    np.testing.assert_array_equal(data.decode_image(blob), want_rgb[:, :, ::-1])
    np.testing.assert_array_equal(data.decode_image(blob, color_space="GRAY")[:, :, 0], want_gray)


def _palette_png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


def test_decode_float32_and_numpy_bytes(jpegs: list[bytes]) -> None:
    as_array = np.frombuffer(jpegs[2], dtype=np.uint8)  # OFRecordBytesDecoder hands arrays
    (got,) = data.decode_images([as_array], color_space="RGB", dtype=np.float32)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, data.decode_image(jpegs[2], color_space="RGB"))


def test_exif_orientation_is_applied_like_opencv() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to view
    blob = _encode(_photo(30, 50, 1), "JPEG", quality=95, exif=exif.tobytes())
    want = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(blob))).convert("RGB"))
    got = data.decode_image(blob, color_space="RGB")
    assert got.shape == (50, 30, 3)
    np.testing.assert_array_equal(got, want)


def test_damaged_image_names_its_index(jpegs: list[bytes]) -> None:
    with pytest.raises(DatasetError, match=r"image 1 of the batch.*not a decodable image"):
        data.decode_images([jpegs[0], b"not an image at all"])
    with pytest.raises(DatasetError, match="image 0"):
        data.decode_images([jpegs[0][: len(jpegs[0]) // 3]])


def test_bad_arguments_say_what_is_allowed(jpegs: list[bytes]) -> None:
    with pytest.raises(ArgumentError, match="got dict; decode the image feature of OFRecords"):
        data.decode_images([{"encoded": jpegs[0]}])
    with pytest.raises(ArgumentError, match="color_space must be one of 'BGR', 'RGB' or 'GRAY'"):
        data.decode_images(jpegs, color_space="YUV")
    with pytest.raises(ArgumentError, match="interpolation_type must be one of"):
        data.resize_to_fixed([_photo(4, 4, 0)], 2, 2, interpolation_type="lanczos")


# --- resizing -------------------------------------------------------------------------------


@pytest.mark.parametrize("interp", ["bilinear", "nearest_neighbor", "bicubic", "area", "auto"])
def test_resize_to_fixed_follows_opencv(interp: str, pool: Any) -> None:
    # pixels by OpenCV's cv::resize rules (OneFlow's kernels): reference_resize is the per-pixel
    # oracle of tests/ops/test_image_ops_oneflow_cases.py; uint8 within one level of its rounding
    images = [_photo(60, 80, 0), _photo(20, 30, 1)]
    batch, scale = data.resize_to_fixed(images, 48, 40, interpolation_type=interp, pool=pool)
    assert batch.shape == (2, 40, 48, 3)
    assert batch.dtype == np.uint8
    for image, got in zip(images, batch, strict=True):
        shrinks = image.shape[0] * image.shape[1] > 48 * 40
        name = interp if interp != "auto" else ("area" if shrinks else "bilinear")
        want = np.clip(np.rint(reference_resize(image, 48, 40, name)), 0, 255)
        assert np.abs(got.astype(float) - want).max() <= 1
    np.testing.assert_allclose(scale, [[48 / 80, 40 / 60], [48 / 30, 40 / 20]], rtol=1e-6)


def test_resize_float_gray_and_dtype_conversion() -> None:
    gray = _photo(30, 40, 2)[:, :, :1].astype(np.float32)
    batch, _ = data.resize_to_fixed(
        [gray], 20, 10, channels=1, dtype=np.float32, interpolation_type="bilinear"
    )
    want = reference_resize(gray, 20, 10, "bilinear")[:, :, 0]
    np.testing.assert_allclose(batch[0, :, :, 0], want, atol=2e-3)
    as_uint8, _ = data.resize_to_fixed([gray], 20, 10, channels=1, interpolation_type="bilinear")
    np.testing.assert_array_equal(as_uint8[0, :, :, 0], np.clip(np.rint(batch[0, :, :, 0]), 0, 255))
    with pytest.raises(ArgumentError, match=r"image 0 has shape \(30, 40, 1\).*3 channels"):
        data.resize_to_fixed([gray], 20, 10)


def test_keep_aspect_ratio_sizes_follow_oneflows_rounding() -> None:
    # shorter side to 256: 375x500 -> 256 x round(256 / 0.75 = 341.33)
    assert data.keep_aspect_ratio_size(375, 500, 256) == (341, 256)
    assert data.keep_aspect_ratio_size(500, 375, 256) == (256, 341)
    # the longer side bounded by max_size: then the shorter side follows it
    assert data.keep_aspect_ratio_size(100, 400, 200, max_size=600) == (600, 150)
    # longer side to 100, shorter at least min_size
    assert data.keep_aspect_ratio_size(100, 400, 100, resize_longer=True) == (100, 25)
    assert data.keep_aspect_ratio_size(100, 400, 100, min_size=40, resize_longer=True) == (160, 40)
    # halves round to even, as std::nearbyint under FE_TONEAREST: 2 * 1.25 = 2.5 -> 2
    assert data.keep_aspect_ratio_size(4, 5, 2) == (2, 2)
    with pytest.raises(ArgumentError, match="target_size 300 > max_size 200"):
        data.keep_aspect_ratio_size(10, 10, 300, max_size=200)


def test_resize_keep_aspect_ratio_outputs(pool: Any) -> None:
    images = [_photo(30, 60, 0), _photo(45, 15, 1)]
    out, size, scale = data.resize_keep_aspect_ratio(
        images, 20, interpolation_type="bicubic", pool=pool
    )
    assert [im.shape for im in out] == [(20, 40, 3), (60, 20, 3)]
    np.testing.assert_array_equal(size, [[40, 20], [20, 60]])
    np.testing.assert_allclose(scale, [[40 / 60, 20 / 30], [20 / 15, 60 / 45]], rtol=1e-6)
    want = np.clip(np.rint(reference_resize(images[0], 40, 20, "bicubic")), 0, 255)
    assert np.abs(out[0].astype(float) - want).max() <= 1


# --- random crop ----------------------------------------------------------------------------


def test_random_crop_windows_respect_area_and_ratio_bounds() -> None:
    rng = np.random.default_rng(0)
    windows = [data.random_crop_window(375, 500, rng) for _ in range(2000)]
    areas = np.array([w.height * w.width / (375 * 500) for w in windows])
    ratios = np.array([w.width / w.height for w in windows])
    assert all(0 <= w.y <= 375 - w.height and 0 <= w.x <= 500 - w.width for w in windows)
    assert ratios.min() >= np.float32(0.75)
    assert ratios.max() <= np.float32(1.333333)
    # rounding each side to whole pixels moves the area by at most about one row and column
    assert areas.min() >= 0.08 * 0.97
    assert areas.max() <= 1.0
    assert areas.max() > 0.9
    assert areas.min() < 0.1
    assert len({(w.y, w.x) for w in windows}) > 1500  # anchors vary


def test_random_crop_is_deterministic_given_a_seed_and_pool_independent(pool: Any) -> None:
    images = [_photo(80 + 7 * i, 120 - 5 * i, i) for i in range(6)]
    a = data.random_crop_images(images, np.random.default_rng(7), pool=pool)
    b = data.random_crop_images(images, np.random.default_rng(7))
    c = data.random_crop_images(images, np.random.default_rng(8))
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    assert any(x.shape != z.shape or not np.array_equal(x, z) for x, z in zip(a, c, strict=True))
    # image i is cropped with its own generator, seeded by the i-th draw of the batch's rng
    gens = data.image_generators(np.random.default_rng(7), len(images))
    for image, got, gen in zip(images, a, gens, strict=True):
        w = data.random_crop_window(image.shape[0], image.shape[1], gen)
        np.testing.assert_array_equal(got, image[w.y : w.y + w.height, w.x : w.x + w.width])


def test_random_crop_too_wide_image_gets_the_widest_allowed_window() -> None:
    # 10x1000: even a full-height window at the largest ratio is under the smallest area
    w = data.random_crop_window(10, 1000, np.random.default_rng(0))
    assert (w.height, w.width) == (10, 13)  # int(10 * 1.333333)
    w = data.random_crop_window(1000, 10, np.random.default_rng(0))
    assert (w.height, w.width) == (13, 10)  # int(10 / 0.75)


class _MaxDraws:
    """A generator stand-in drawing the top of every range: every attempt fails on a square."""

    def uniform(self, low: float, high: float) -> float:
        return high

    def integers(self, low: int, high: int, endpoint: bool = False) -> int:
        return low


def test_random_crop_falls_back_when_every_attempt_fails() -> None:
    rng: Any = _MaxDraws()
    # square: the whole image (its ratio 1 is allowed; the largest area is all of it)
    assert data.random_crop_window(100, 100, rng) == data.CropWindow(0, 0, 100, 100)
    # too wide for the ratio range: full height at the largest ratio
    assert data.random_crop_window(100, 200, rng) == data.CropWindow(0, 0, 100, 133)
    with pytest.raises(ArgumentError, match="random_area must be two numbers"):
        data.random_crop_window(10, 10, rng, random_area=[0.5])
    with pytest.raises(ArgumentError, match="num_attempts must be an int >= 1"):
        data.random_crop_window(10, 10, rng, num_attempts=0)


def test_decode_random_crop_and_resize_compose(jpegs: list[bytes], pool: Any) -> None:
    crops = data.decode_random_crop(jpegs, np.random.default_rng(3), color_space="RGB", pool=pool)
    gens = data.image_generators(np.random.default_rng(3), len(jpegs))
    for blob, crop, gen in zip(jpegs, crops, gens, strict=True):
        full = data.decode_image(blob, color_space="RGB")
        w = data.random_crop_window(full.shape[0], full.shape[1], gen)
        np.testing.assert_array_equal(crop, full[w.y : w.y + w.height, w.x : w.x + w.width])
    resized = data.decode_random_crop_resize(
        jpegs, np.random.default_rng(3), target_width=32, target_height=24, pool=pool
    )
    assert resized.shape == (len(jpegs), 24, 32, 3)
    assert resized.dtype == np.uint8
    for crop, got in zip(crops, resized, strict=True):
        want = np.clip(np.rint(reference_resize(crop, 32, 24, "bilinear")), 0, 255)
        assert np.abs(got.astype(float) - want).max() <= 1
    plain = data.decode_random_crop(jpegs, None)
    np.testing.assert_array_equal(plain[0], data.decode_image(jpegs[0]))


# --- crop, mirror, normalize ----------------------------------------------------------------


def _cmn_oracle(
    image: Any,
    crop_h: int,
    crop_w: int,
    pos_y: float,
    pos_x: float,
    mirror: bool,
    mean: Any,
    std: Any,
    layout: str,
) -> Any:
    y0 = int((image.shape[0] - crop_h) * pos_y)
    x0 = int((image.shape[1] - crop_w) * pos_x)
    crop = image[y0 : y0 + crop_h, x0 : x0 + crop_w].astype(np.float64)
    if mirror:
        crop = crop[:, ::-1]
    out = (crop - np.asarray(mean, np.float64)) / np.asarray(std, np.float64)
    return out.transpose(2, 0, 1) if layout == "NCHW" else out


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_crop_mirror_normalize_matches_numpy(layout: str, pool: Any) -> None:
    images = [_photo(40, 50, 0), _photo(33, 61, 1), _photo(24, 24, 2)]
    mirror = np.array([1, 0, 1], dtype=np.int8)
    mean, std = [123.68, 116.779, 103.939], [58.393, 57.12, 57.375]
    out = data.crop_mirror_normalize(
        images,
        mirror=mirror,
        output_layout=layout,
        crop_h=24,
        crop_w=20,
        crop_pos_y=0.25,
        crop_pos_x=0.75,
        mean=mean,
        std=std,
        pool=pool,
    )
    assert out.dtype == np.float32
    assert out.shape == ((3, 3, 24, 20) if layout == "NCHW" else (3, 24, 20, 3))
    for image, flag, got in zip(images, mirror, out, strict=True):
        want = _cmn_oracle(image, 24, 20, 0.25, 0.75, bool(flag), mean, std, layout)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_crop_mirror_normalize_defaults_float16_and_gray() -> None:
    batch = np.stack([_photo(16, 16, i) for i in range(2)])  # a static uint8 NHWC batch
    out = data.crop_mirror_normalize(batch)  # no crop, no mirror, mean 0, std 1, NCHW
    np.testing.assert_array_equal(out, batch.transpose(0, 3, 1, 2).astype(np.float32))
    half = data.crop_mirror_normalize(batch, mean=[127.5], std=[127.5], output_dtype=np.float16)
    assert half.dtype == np.float16
    np.testing.assert_allclose(half, (batch.transpose(0, 3, 1, 2) - 127.5) / 127.5, atol=1e-3)
    gray = [_photo(10, 12, 0)[:, :, :1]]
    out = data.crop_mirror_normalize(gray, color_space="GRAY", crop_h=8, crop_w=8, mirror=[1])
    np.testing.assert_array_equal(out[0, 0], gray[0][1:9, 2:10, 0][:, ::-1])


def test_crop_mirror_normalize_errors_name_the_fix() -> None:
    with pytest.raises(ArgumentError, match="image 0 is 10x12, smaller than the crop 16x16"):
        data.crop_mirror_normalize([_photo(10, 12, 0)], crop_h=16, crop_w=16)
    with pytest.raises(ArgumentError, match="2 different sizes; give crop_h and crop_w"):
        data.crop_mirror_normalize([_photo(10, 12, 0), _photo(12, 10, 0)])
    with pytest.raises(ArgumentError, match="mean must hold 1 or 3 values"):
        data.crop_mirror_normalize([_photo(4, 4, 0)], mean=[1.0, 2.0])
    with pytest.raises(ArgumentError, match="output_layout must be 'NCHW' or 'NHWC'"):
        data.crop_mirror_normalize([_photo(4, 4, 0)], output_layout="CHW")


# --- flip, normalize, align, coin flip, detection helpers -----------------------------------


def test_flip_normalize_align_and_coin_flip(pool: Any) -> None:
    images = [_photo(5, 7, 0), _photo(6, 3, 1), _photo(4, 4, 2), _photo(3, 3, 3)]
    flipped = data.flip_images(images, [0, 1, 2, 3], pool=pool)
    for image, got, want in zip(
        images,
        flipped,
        [lambda a: a, lambda a: a[:, ::-1], lambda a: a[::-1], lambda a: a[::-1, ::-1]],
        strict=True,
    ):
        np.testing.assert_array_equal(got, want(image))
    floats = [im.astype(np.float32) for im in images]
    normed = data.normalize_images(floats, std=[2.0, 4.0, 8.0], mean=[1.0, 2.0, 3.0])
    np.testing.assert_allclose(normed[1], (floats[1] - [1, 2, 3]) / [2, 4, 8], rtol=1e-6)
    with pytest.raises(ArgumentError, match=r"decode with dtype=flow\.float"):
        data.normalize_images(images, std=[1, 1, 1], mean=[0, 0, 0])
    aligned = data.batch_align(images, alignment=4)
    assert aligned.shape == (4, 8, 8, 3)
    np.testing.assert_array_equal(aligned[1, :6, :3], images[1])
    assert not aligned[1, 6:].any()
    assert not aligned[1, :, 3:].any()
    static = data.batch_align(images, alignment=2, shape=(10, 10, 3), dtype=np.float32)
    assert static.shape == (4, 10, 10, 3)
    assert static.dtype == np.float32
    with pytest.raises(ArgumentError, match="power of 2"):
        data.batch_align(images, alignment=3)
    flags = data.coin_flip(10000, np.random.default_rng(0), probability=0.3)
    assert flags.dtype == np.int8
    assert set(np.unique(flags)) == {0, 1}
    assert abs(flags.mean() - 0.3) < 0.02
    np.testing.assert_array_equal(
        flags, data.coin_flip(10000, np.random.default_rng(0), probability=0.3)
    )


def test_box_and_polygon_helpers() -> None:
    boxes = [np.array([[10.0, 20.0, 30.0, 60.0]], np.float32)]
    size = np.array([[100, 80]], np.int32)  # (width, height)
    (lr,) = data.bbox_flip(boxes, size, 1)
    np.testing.assert_array_equal(lr, [[100 - 30 - 1, 20, 100 - 10 - 1, 60]])
    (both,) = data.bbox_flip(boxes, size, [3])
    np.testing.assert_array_equal(both, [[69, 80 - 60 - 1, 89, 80 - 20 - 1]])
    (scaled,) = data.bbox_scale(boxes, [[0.5, 2.0]])
    np.testing.assert_array_equal(scaled, [[5, 40, 15, 120]])
    polys = [np.array([[2.0, 3.0], [8.0, 3.0], [8.0, 6.0], [2.0, 6.0]], np.float32)]
    (pf,) = data.polygon_flip(polys, [[10, 9]], 2)
    np.testing.assert_array_equal(pf, [[2, 6], [8, 6], [8, 3], [2, 3]])
    (ps,) = data.polygon_scale(polys, [[2.0, 0.5]])
    np.testing.assert_array_equal(ps, polys[0] * [2.0, 0.5])
    index = [np.array([[0, 0, 0], [1, 0, 0], [2, 0, 0], [3, 0, 0]])]
    (masks,) = data.polygon_to_mask(polys, index, [[10, 9]])
    want = np.zeros((1, 9, 10), np.int8)
    want[0, 3:7, 2:9] = 1  # the rectangle, edges included
    np.testing.assert_array_equal(masks, want)
