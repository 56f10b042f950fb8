"""An ImageNet-training-shaped OneFlow program (written for flowsnap's tests, in OneFlow 0.4's
style, as the model zoo's ``of_cnn_train_val.py``): a train job reading JPEG OFRecords with
``ofrecord_reader`` + ``OFRecordImageDecoderRandomCrop`` + ``image.Resize`` + ``random.CoinFlip`` +
``image.CropMirrorNormalize``, a validation job with ``OFRecordImageDecoder`` + shorter-side
``Resize`` + a centre crop, a small CNN with batch norm, SGD with momentum and a warmed-up cosine
schedule, results delivered through ``async_get`` callbacks.

usage: flowsnap run resnet_style.py TRAIN_DIR VAL_DIR EPOCHS
Prints ``train <epoch> <loss> <accuracy>`` and ``val <epoch> <accuracy>`` per epoch.
"""

import sys

import numpy as np
import oneflow as flow

TRAIN, VAL, EPOCHS = sys.argv[1], sys.argv[2], int(sys.argv[3])
BATCH, SIZE, CLASSES, TRAIN_N, VAL_N = 8, 24, 4, 32, 16
MEAN, STD = [123.68, 116.779, 103.939], [58.393, 57.12, 57.375]


def train_data():
    record = flow.data.ofrecord_reader(
        TRAIN,
        batch_size=BATCH,
        data_part_num=2,
        part_name_suffix_length=5,
        random_shuffle=True,
        shuffle_after_epoch=True,
    )
    label = flow.data.OFRecordRawDecoder(record, "class/label", shape=(), dtype=flow.int32)
    image = flow.data.OFRecordImageDecoderRandomCrop(record, "encoded", color_space="RGB")
    image = flow.image.Resize(image, target_size=[SIZE, SIZE])[0]
    mirror = flow.random.CoinFlip(batch_size=BATCH)
    image = flow.image.CropMirrorNormalize(
        image,
        mirror_blob=mirror,
        color_space="RGB",
        output_layout="NCHW",
        mean=MEAN,
        std=STD,
        output_dtype=flow.float,
    )
    return label, image


def val_data():
    record = flow.data.ofrecord_reader(
        VAL,
        batch_size=BATCH,
        data_part_num=2,
        part_name_suffix_length=5,
        shuffle_after_epoch=False,
    )
    image = flow.data.OFRecordImageDecoder(record, "encoded", color_space="RGB")
    label = flow.data.OFRecordRawDecoder(record, "class/label", shape=(), dtype=flow.int32)
    image = flow.image.Resize(
        image, resize_side="shorter", keep_aspect_ratio=True, target_size=SIZE + 4
    )[0]
    image = flow.image.CropMirrorNormalize(
        image,
        color_space="RGB",
        output_layout="NCHW",
        crop_h=SIZE,
        crop_w=SIZE,
        crop_pos_y=0.5,
        crop_pos_x=0.5,
        mean=MEAN,
        std=STD,
        output_dtype=flow.float,
    )
    return label, image


def net(images, training):
    x = images
    for i, ch in enumerate((8, 16)):
        init = flow.variance_scaling_initializer(2, "fan_in", "random_normal", data_format="NCHW")
        x = flow.layers.conv2d(
            x, ch, 3, padding="SAME", name=f"conv{i}", use_bias=False, kernel_initializer=init
        )
        x = flow.layers.batch_normalization(x, axis=1, training=training, name=f"bn{i}")
        x = flow.nn.relu(x)
        x = flow.nn.max_pool2d(x, 2, 2, "VALID")
    x = flow.math.reduce_mean(x, axis=[2, 3])
    return flow.layers.dense(x, CLASSES, name="fc")


def train_config():
    cfg = flow.function_config()
    cfg.default_logical_view(flow.scope.consistent_view())
    cfg.default_data_type(flow.float)
    cfg.cudnn_conv_heuristic_search_algo(False)
    cfg.enable_fuse_add_to_output(True)
    return cfg


@flow.global_function("train", train_config())
def train_net():
    labels, images = train_data()
    logits = net(images, True)
    one_hot = flow.one_hot(
        labels, depth=CLASSES, dtype=logits.dtype, on_value=0.925, off_value=0.025
    )
    loss = flow.math.reduce_mean(flow.nn.softmax_cross_entropy_with_logits(one_hot, logits))
    steps = EPOCHS * TRAIN_N // BATCH
    lr = flow.optimizer.CosineScheduler(
        base_lr=0.1, steps=steps - 4, warmup=flow.optimizer.warmup.linear(4, 0)
    )
    flow.optimizer.SGD(lr, momentum=0.875).minimize(loss)
    return {"loss": loss, "predictions": flow.nn.softmax(logits), "labels": labels}


@flow.global_function("predict", train_config())
def val_net():
    labels, images = val_data()
    return {"predictions": flow.nn.softmax(net(images, False)), "labels": labels, "images": images}


class Metric:
    def __init__(self):
        self.losses, self.correct, self.seen = [], 0, 0

    def cb(self, outputs):
        if "loss" in outputs:
            loss = outputs["loss"].numpy()
            assert loss.shape == (1,), loss.shape  # OneFlow's lazy blobs are at least 1-d
            self.losses.append(float(loss[0]))
        else:
            images = outputs["images"].numpy()
            assert images.shape == (BATCH, 3, SIZE, SIZE), images.shape
            assert images.dtype == np.float32, images.dtype
        pred = outputs["predictions"].numpy().argmax(1)
        self.correct += int((pred == outputs["labels"].numpy()).sum())
        self.seen += pred.size


for epoch in range(EPOCHS):
    m = Metric()
    for _ in range(TRAIN_N // BATCH):
        train_net().async_get(m.cb)
    v = Metric()
    for _ in range(VAL_N // BATCH):
        val_net().async_get(v.cb)
    flow.sync_default_session()
    print("train", epoch, f"{np.mean(m.losses):.6f}", f"{m.correct / m.seen:.4f}")
    print("val", epoch, f"{v.correct / v.seen:.4f}")
