"""flow.image, flow.random, flow.image_*/object_* and flow.data's image decoders inside jobs: each
job's fed arrays equal flowsnap.data's host functions applied by hand to the same records with the
same seeds (batch k of an op with seed s draws from numpy.random.default_rng([s, k]))."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

import flowsnap as flow
import flowsnap.typing as tp
from flowsnap import data
from flowsnap.errors import ArgumentError, TraceError

N = 6
MEAN, STD = [123.68, 116.78, 103.94], [58.39, 57.12, 57.38]


def _jpeg(height: int, width: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 3 % 256, y * 5 % 256, (x + y + seed * 40) % 256], -1).astype(float)
    pixels = (base + rng.normal(0, 10, base.shape)).clip(0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "JPEG", quality=92)
    return buf.getvalue()


JPEGS = [_jpeg(30 + 4 * i, 44 - 3 * i, i) for i in range(N)]
LABELS = np.arange(N, dtype=np.int32) % 3


@pytest.fixture
def image_dir(tmp_path: Path) -> str:
    records = [{"encoded": JPEGS[i], "label": LABELS[i : i + 1]} for i in range(N)]
    data.write_ofrecord(records, tmp_path / "of", data_part_num=2, fsync=False)
    return str(tmp_path / "of")


def _batch(k: int, size: int) -> list[int]:
    return [(k * size + i) % N for i in range(size)]  # the reader's order: no shuffling


def test_a_job_with_no_placeholders_reads_jpegs_augments_and_trains(image_dir: str) -> None:
    @flow.global_function(type="train")
    def train() -> tuple[tp.Numpy, tp.Numpy, tp.Numpy, tp.Numpy]:
        rec = flow.data.ofrecord_reader(image_dir, batch_size=4, data_part_num=2)
        image = flow.data.OFRecordImageDecoderRandomCrop(rec, "encoded", color_space="RGB", seed=5)
        label = flow.data.OFRecordRawDecoder(rec, "label", shape=(), dtype=flow.int32)
        resized, scale, new_size = flow.image.Resize(image, target_size=(16, 16))
        mirror = flow.random.CoinFlip(batch_size=4, seed=7)
        x = flow.image.CropMirrorNormalize(
            resized,
            mirror_blob=mirror,
            color_space="RGB",
            crop_h=12,
            crop_w=12,
            mean=MEAN,
            std=STD,
        )
        h = flow.layers.conv2d(x, 2, 3, padding="SAME", name="conv")
        logits = flow.layers.dense(flow.reshape(h, (4, -1)), 3, name="fc")
        loss = flow.nn.sparse_softmax_cross_entropy_with_logits(label, logits)
        flow.optimizer.SGD(flow.optimizer.PiecewiseConstantScheduler([], [0.01])).minimize(loss)
        assert new_size is None
        return loss, x, mirror, scale

    before = flow.get_all_variables()["conv-weight"].numpy().copy()
    for k in range(2):
        loss, x, mirror, scale = train()
        encoded = [JPEGS[i] for i in _batch(k, 4)]
        crops = data.decode_random_crop(encoded, np.random.default_rng([5, k]), color_space="RGB")
        resized, want_scale = data.resize_to_fixed(crops, 16, 16)
        want_mirror = data.coin_flip(4, np.random.default_rng([7, k]))
        want = data.crop_mirror_normalize(
            resized,
            mirror=want_mirror,
            color_space="RGB",
            crop_h=12,
            crop_w=12,
            mean=MEAN,
            std=STD,
        )
        assert x.shape == (4, 3, 12, 12)
        assert x.dtype == np.float32
        np.testing.assert_array_equal(mirror, want_mirror)
        np.testing.assert_array_equal(x, want)
        np.testing.assert_array_equal(scale, want_scale)
        assert np.isfinite(loss).all()
    assert not np.array_equal(flow.get_all_variables()["conv-weight"].numpy(), before)


def test_unseeded_augmentation_resumes_exactly(image_dir: str, tmp_path: Path) -> None:
    def build() -> Any:
        @flow.global_function(type="train")
        def train() -> tp.Numpy:
            rec = flow.data.ofrecord_reader(image_dir, batch_size=3, data_part_num=2)
            image = flow.data.OFRecordImageDecoderRandomCrop(rec, "encoded")  # no seed
            resized, _, _ = flow.image.Resize(image, target_size=(10, 8))
            x = flow.image.CropMirrorNormalize(
                resized, mirror_blob=flow.random.CoinFlip(batch_size=3), mean=[128.0]
            )
            w = flow.get_variable("w", (3, 8, 10), initializer=flow.constant_initializer(0.01))
            loss = flow.math.reduce_mean(flow.math.reduce_sum(x * w, axis=[1, 2, 3]) ** 2)
            flow.optimizer.SGD(flow.optimizer.PiecewiseConstantScheduler([], [1e-4])).minimize(loss)
            return x

        return train

    job = build()
    first = [job() for _ in range(2)]
    flow.checkpoint.save(str(tmp_path / "ck"))
    uninterrupted = [job() for _ in range(3)]
    final = flow.get_all_variables()["w"].numpy()
    assert not np.array_equal(uninterrupted[0], uninterrupted[2])  # random crops and flips

    flow.clear_default_session()
    job = build()
    np.testing.assert_array_equal(job(), first[0])  # the same session seed: the same stream
    flow.load_variables(flow.checkpoint.get(str(tmp_path / "ck")))
    for a, b in zip(uninterrupted, [job() for _ in range(3)], strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(flow.get_all_variables()["w"].numpy(), final)  # bitwise


def test_decode_keep_aspect_resize_batch_align_and_target_resize(image_dir: str) -> None:
    @flow.global_function()
    def job() -> tuple[tp.Numpy, tp.Numpy, tp.Numpy, tp.Numpy]:
        rec = flow.data.ofrecord_reader(image_dir, batch_size=3, data_part_num=2)
        raw = flow.data.OFRecordBytesDecoder(rec, "encoded")
        images = flow.image.decode(raw)  # BGR, OneFlow's default
        resized, scale, new_size = flow.image.Resize(
            images, target_size=20, keep_aspect_ratio=True, interpolation_type="bilinear"
        )
        aligned = flow.image.batch_align(resized, shape=(40, 40, 3), dtype=flow.float, alignment=8)
        _, size2, _ = flow.image_target_resize(images, 10, max_size=12)
        return aligned, scale, new_size, size2

    aligned, scale, new_size, target_sizes = job()
    decoded = data.decode_images([JPEGS[i] for i in _batch(0, 3)])
    out, want_size, want_scale = data.resize_keep_aspect_ratio(
        decoded, 20, interpolation_type="bilinear"
    )
    np.testing.assert_array_equal(new_size, want_size)
    np.testing.assert_array_equal(scale, want_scale)
    assert aligned.shape == (3, 40, 40, 3)
    assert aligned.dtype == np.float32
    np.testing.assert_array_equal(
        aligned, data.batch_align(out, alignment=8, shape=(40, 40, 3), dtype=np.float32)
    )
    _, target_size, _ = data.resize_keep_aspect_ratio(decoded, 10, max_size=12)
    np.testing.assert_array_equal(target_sizes, target_size)


def test_decoder_random_crop_resize_flip_normalize_and_random_crop(image_dir: str) -> None:
    @flow.global_function()
    def job() -> tuple[tp.Numpy, tp.Numpy, tp.Numpy]:
        rec = flow.data.ofrecord_reader(image_dir, batch_size=4, data_part_num=2)
        raw = flow.data.OFRecordBytesDecoder(rec, "encoded")
        fused = flow.data.ImageDecoderRandomCropResize(raw, 24, 18, seed=3)
        codes = flow.random.coin_flip(batch_size=4, seed=9)
        floats = flow.image_normalize(
            flow.image_flip(flow.image_decode(raw, dtype=flow.float), codes), std=STD, mean=MEAN
        )
        crops = flow.image.random_crop(flow.image.decode(raw), seed=4)
        small, _, _ = flow.image.resize(
            floats, target_size=(8, 8), dtype=flow.float, interpolation_type="nearest_neighbor"
        )
        cropped, _, _ = flow.image.resize(crops, target_size=(8, 8))
        return fused, small, cropped

    for k in range(2):
        fused, small, cropped = job()
        encoded = [JPEGS[i] for i in _batch(k, 4)]
        np.testing.assert_array_equal(
            fused,
            data.decode_random_crop_resize(
                encoded, np.random.default_rng([3, k]), target_width=24, target_height=18
            ),
        )
        codes = data.coin_flip(4, np.random.default_rng([9, k]))
        floats = data.flip_images(data.decode_images(encoded, dtype=np.float32), codes)
        want, _ = data.resize_to_fixed(
            data.normalize_images(floats, STD, MEAN),
            8,
            8,
            dtype=np.float32,
            interpolation_type="nearest_neighbor",
        )
        np.testing.assert_allclose(small, want, rtol=1e-6)
        crops = data.random_crop_images(data.decode_images(encoded), np.random.default_rng([4, k]))
        np.testing.assert_array_equal(cropped, data.resize_to_fixed(crops, 8, 8)[0])


def test_classification_reader_decodes_images_and_labels(image_dir: str) -> None:
    @flow.global_function()
    def job() -> tuple[tp.Numpy, tp.Numpy]:
        images, labels = flow.data.ofrecord_image_classification_reader(
            image_dir, "encoded", "label", batch_size=4, data_part_num=2, color_space="RGB"
        )
        x = flow.image.CropMirrorNormalize(
            images,
            color_space="RGB",
            crop_h=24,
            crop_w=20,
            output_layout="NHWC",
            output_dtype=flow.float16,
        )
        return x, labels

    for k in range(2):
        x, labels = job()
        idx = _batch(k, 4)
        np.testing.assert_array_equal(labels, LABELS[idx])
        decoded = data.decode_images([JPEGS[i] for i in idx], color_space="RGB")
        assert x.dtype == np.float16
        np.testing.assert_array_equal(
            x,
            data.crop_mirror_normalize(
                decoded,
                color_space="RGB",
                crop_h=24,
                crop_w=20,
                output_layout="NHWC",
                output_dtype=np.float16,
            ),
        )


def test_boxes_polygons_and_tensor_buffers() -> None:
    @flow.global_function()
    def job() -> tuple[tp.Numpy, tp.Numpy, tp.Numpy, tp.Numpy]:
        bbox = flow.gen_tensor_buffer((2,), [(1, 4), (1, 4)], [1.0, 2.0])
        sizes = flow.gen_tensor_buffer((2,), [(2,), (2,)], [10.0, 20.0], data_type=flow.int32)
        size = flow.tensor_buffer_to_tensor(sizes, dtype=flow.int32, instance_shape=(2,))
        scales = flow.gen_tensor_buffer((2,), [(2,), (2,)], [0.5, 2.0])
        scale = flow.tensor_buffer_to_tensor(scales, dtype=flow.float, instance_shape=(2,))
        flipped = flow.object_bbox_flip(bbox, size, 1)
        scaled = flow.object_bbox_scale(flipped, scale)
        first, second = flow.tensor_buffer_to_list_of_tensors(scaled, (1, 4), flow.float)
        points = flow.tensor_to_tensor_buffer(
            flow.tensor_buffer_to_tensor(bbox, flow.float, (2, 2)), instance_dims=2
        )
        poly = flow.object_segmentation_polygon_flip(points, size, 2)
        return (
            flow.tensor_buffer_to_tensor(flipped, flow.float, (4,)),
            first,
            second,
            flow.tensor_buffer_to_tensor(poly, flow.float, (2, 2)),
        )

    flipped, first, second, poly = job()
    # image 0 is 10 wide, image 1 20; a left-right flip maps x to width - x - 1
    np.testing.assert_array_equal(flipped, [[8, 1, 8, 1], [17, 2, 17, 2]])
    np.testing.assert_array_equal(first, flipped[:1] * 0.5)
    np.testing.assert_array_equal(second, flipped[1:] * 2.0)
    # polygon points (x, y) = (v, v); an up-down flip maps y to height - y
    np.testing.assert_array_equal(poly[0], [[1, 9], [1, 9]])
    np.testing.assert_array_equal(poly[1], [[2, 18], [2, 18]])


def test_random_device_ops_in_a_train_job() -> None:
    @flow.global_function(type="train")
    def job(x: tp.Numpy.Placeholder((8, 3))) -> tuple[tp.Numpy, tp.Numpy, tp.Numpy, tp.Numpy]:
        w = flow.get_variable("w", (3,), initializer=flow.constant_initializer(1.0))
        flow.optimizer.SGD(flow.optimizer.PiecewiseConstantScheduler([], [0.1])).minimize(
            flow.math.reduce_sum(x * w)
        )
        probs = flow.constant(0.0, shape=(4, 5)) + flow.constant(1.0, shape=(4, 5)) * (
            flow.range(5, dtype=flow.float) >= 3
        )
        drawn = flow.random.bernoulli(probs, name="b")
        order = flow.random.generate_random_batch_permutation_indices(x, seed=1, name="perm")
        shuffled = flow.random.shuffle(x, seed=1, name="perm")
        halves = flow.constant(0.5, shape=(2, 4000))
        return drawn, order, shuffled, flow.random.bernoulli(halves) - flow.random.bernoulli(halves)

    x = np.arange(24, dtype=np.float32).reshape(8, 3)
    drawn, order, shuffled, halves = job(x)
    np.testing.assert_array_equal(drawn, np.tile([0, 0, 0, 1, 1], (4, 1)))  # p of 0 and 1 exact
    assert drawn.dtype == np.float32
    assert sorted(order.tolist()) == list(range(8))
    assert order.dtype == np.int32
    np.testing.assert_array_equal(shuffled, x[order])  # same name and seed: same permutation
    # two unnamed draws are independent: their difference is -1, 0, 1 with 1/4, 1/2, 1/4
    assert 0.2 < (halves == 1).mean() < 0.3
    assert 0.2 < (halves == -1).mean() < 0.3
    seed, has_seed = flow.random.gen_seed(42)
    assert (seed, has_seed) == (42, True)
    assert flow.random.gen_seed()[1] is True


def test_data_ops_outside_a_job_are_refused() -> None:
    with pytest.raises(TraceError, match="runs inside the body of a job"):
        flow.random.CoinFlip(batch_size=2)


def test_device_values_cannot_feed_image_ops() -> None:
    @flow.global_function()
    def device_input(x: tp.Numpy.Placeholder((2, 4, 4, 3), dtype=flow.uint8)) -> tp.Numpy:
        return flow.image.CropMirrorNormalize(x)

    with pytest.raises(TraceError, match="values computed on the device cannot flow back"):
        device_input(np.zeros((2, 4, 4, 3), np.uint8))


def test_bad_resize_size_is_explained(image_dir: str) -> None:
    @flow.global_function()
    def bad_size() -> tp.Numpy:
        rec = flow.data.ofrecord_reader(image_dir, batch_size=2, data_part_num=2)
        image = flow.data.OFRecordImageDecoder(rec, "encoded")
        return flow.image.Resize(image, target_size=224)[0]

    with pytest.raises(ArgumentError, match=r"target_size must be \(width, height\)"):
        bad_size()


# OneFlow-Benchmark's ResNet-50 data loader (ofrecord_util.load_imagenet_for_training), unmodified
# apart from the sizes, under `flowsnap run` with OneFlow 0.3's `import oneflow`.
PROGRAM = """
import io, struct, sys
import numpy as np
from PIL import Image
import oneflow as flow
import oneflow.typing as tp
import oneflow.core.record.record_pb2 as ofrecord

data_dir = sys.argv[1]
rng = np.random.RandomState(0)
for part in range(2):
    with open(data_dir + "/part-%05d" % part, "wb") as f:
        for i in range(4):
            buf = io.BytesIO()
            Image.fromarray(rng.randint(0, 255, (40 + i, 50, 3)).astype(np.uint8)).save(buf, "JPEG")
            record = ofrecord.OFRecord(feature={
                "encoded": ofrecord.Feature(bytes_list=ofrecord.BytesList(value=[buf.getvalue()])),
                "class/label": ofrecord.Feature(int32_list=ofrecord.Int32List(value=[i % 2])),
            })
            data = record.SerializeToString()
            f.write(struct.pack("q", len(data)))
            f.write(data)


def load_imagenet_for_training(data_dir, batch_size):
    color_space = "RGB"
    ofrecord = flow.data.ofrecord_reader(data_dir, batch_size=batch_size, data_part_num=2,
                                         part_name_suffix_length=5, random_shuffle=True,
                                         shuffle_after_epoch=True)
    label = flow.data.OFRecordRawDecoder(ofrecord, "class/label", shape=(), dtype=flow.int32)
    image = flow.data.OFRecordImageDecoderRandomCrop(ofrecord, "encoded", color_space=color_space)
    rsz = flow.image.Resize(image, resize_x=24, resize_y=24, color_space=color_space)
    rng = flow.random.CoinFlip(batch_size=batch_size)
    normal = flow.image.CropMirrorNormalize(rsz, mirror_blob=rng, color_space=color_space,
                                            mean=[123.68, 116.779, 103.939],
                                            std=[58.393, 57.12, 57.375], output_dtype=flow.float)
    return label, normal


@flow.global_function(type="train")
def train_job() -> tp.Numpy:
    label, image = load_imagenet_for_training(data_dir, 4)
    h = flow.layers.conv2d(image, 4, 3, padding="SAME", activation=flow.nn.relu, name="conv1")
    logits = flow.layers.dense(flow.reshape(h, (4, -1)), 2, name="fc")
    loss = flow.nn.sparse_softmax_cross_entropy_with_logits(label, logits)
    lr = flow.optimizer.PiecewiseConstantScheduler([], [0.01])
    flow.optimizer.SGD(lr, momentum=0).minimize(loss)
    return loss

losses = [float(train_job().mean()) for _ in range(3)]
assert all(np.isfinite(losses)), losses
print("losses", losses)
"""


def test_oneflow_benchmarks_imagenet_loader_runs_unmodified(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from flowsnap.cli import main

    script = tmp_path / "train.py"
    script.write_text(PROGRAM)
    (tmp_path / "data").mkdir()
    assert main(["run", str(script), str(tmp_path / "data")]) == 0, capsys.readouterr().err
    assert "losses" in capsys.readouterr().out
