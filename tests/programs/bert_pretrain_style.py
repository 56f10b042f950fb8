"""A BERT-pretraining-shaped OneFlow program (written for flowsnap's tests, in OneFlow 0.5's
style): it writes its own OFRecords with ``oneflow.core.record.record_pb2`` (int64 and float
lists, as OneFlow's BERT data-prep wrote them), reads them in the job with ``ofrecord_reader`` and
``OFRecordRawDecoder``, and trains a one-layer masked-LM with gradient accumulation, mixed
precision, a dynamic loss scale and ``op_conf_util.kNone`` activations.

usage: flowsnap run bert_pretrain_style.py DATA_DIR STEPS
Prints ``step <i> <loss values>`` per call and ``decoded ok`` after checking the decoders.
"""

import os
import struct
import sys

import numpy as np
import oneflow.compatible.single_client as flow
import oneflow.core.operator.op_conf_pb2 as op_conf_util
import oneflow.core.record.record_pb2 as of_record
from oneflow.compatible.single_client import typing as tp

DATA, STEPS = sys.argv[1], int(sys.argv[2])
SEQ, PRED, VOCAB, HIDDEN, BATCH, ACC = 16, 4, 32, 32, 8, 2


def make_records(n):
    rng = np.random.default_rng(1)
    rows = []
    for _ in range(n):
        ids = rng.integers(5, 9, SEQ)  # a four-token language: learnable
        pos = np.sort(rng.choice(SEQ, PRED, replace=False))
        rows.append(
            {
                "input_ids": np.where(np.isin(np.arange(SEQ), pos), 3, ids),
                "input_mask": np.ones(SEQ, np.int64),
                "segment_ids": (np.arange(SEQ) >= SEQ // 2).astype(np.int64),
                "masked_lm_positions": pos,
                "masked_lm_ids": ids[pos],
                "masked_lm_weights": np.ones(PRED, np.float32),
                "next_sentence_labels": np.array([int(rng.integers(0, 2))]),
            }
        )
    return rows


def write_part(path, rows):
    with open(path, "wb") as f:
        for row in rows:
            feature = {}
            for k, v in row.items():
                if v.dtype == np.float32:
                    feature[k] = of_record.Feature(float_list=of_record.FloatList(value=v))
                else:
                    values = [int(x) for x in v]
                    feature[k] = of_record.Feature(int64_list=of_record.Int64List(value=values))
            data = of_record.OFRecord(feature=feature).SerializeToString()
            f.write(struct.pack("<q", len(data)))
            f.write(data)


ROWS = make_records(32)
os.makedirs(DATA, exist_ok=True)
write_part(os.path.join(DATA, "part-0"), ROWS[:16])
write_part(os.path.join(DATA, "part-1"), ROWS[16:])


def decoders(shuffle):
    record = flow.data.ofrecord_reader(
        DATA, batch_size=BATCH, data_part_num=2, random_shuffle=shuffle, shuffle_after_epoch=shuffle
    )
    out = {}
    for name, shape, dtype in (
        ("input_ids", [SEQ], flow.int32),
        ("next_sentence_labels", [1], flow.int32),
        ("input_mask", [SEQ], flow.int32),
        ("segment_ids", [SEQ], flow.int32),
        ("masked_lm_ids", [PRED], flow.int32),
        ("masked_lm_positions", [PRED], flow.int32),
        ("masked_lm_weights", [PRED], flow.float),
    ):
        out[name] = flow.data.OFRecordRawDecoder(record, name, shape=shape, dtype=dtype)
    return out


def dense(x, units, name, act=op_conf_util.kNone):
    w = flow.get_variable(
        name + "-weight",
        shape=(x.shape[-1], units),
        initializer=flow.truncated_normal(0.02),
    )
    b = flow.get_variable(name + "-bias", shape=(units,), initializer=flow.constant_initializer(0))
    y = flow.nn.bias_add(flow.matmul(x, w), b)
    if act == op_conf_util.kTanH:
        y = flow.math.tanh(y)
    return y


read_cfg = flow.FunctionConfig()
read_cfg.default_logical_view(flow.scope.consistent_view())


@flow.global_function(type="predict", function_config=read_cfg)
def read_job() -> tp.Numpy:
    d = decoders(shuffle=False)
    return flow.concat(
        [
            d["input_ids"],
            d["next_sentence_labels"],
            d["masked_lm_positions"],
            flow.cast(d["masked_lm_weights"], flow.int32),
        ],
        axis=1,
    )


# the decoders give back exactly what was written (parts read in order, no shuffle)
got = read_job()
want = np.stack(
    [
        np.concatenate(
            [r["input_ids"], r["next_sentence_labels"], r["masked_lm_positions"], [1, 1, 1, 1]]
        )
        for r in ROWS[:BATCH]
    ]
)
assert got.shape == (BATCH, SEQ + 1 + PRED + PRED), got.shape
np.testing.assert_array_equal(got, want)
print("decoded ok")
flow.clear_default_session()

cfg = flow.FunctionConfig()
cfg.enable_auto_mixed_precision(True)
cfg.train.num_gradient_accumulation_steps(ACC)


@flow.global_function(type="train", function_config=cfg)
def pretrain_job() -> tp.Callback[tp.Numpy]:
    d = decoders(shuffle=True)
    table = flow.get_variable(
        "word_embeddings", shape=(VOCAB, HIDDEN), initializer=flow.truncated_normal(0.02)
    )
    seg_table = flow.get_variable(
        "token_type_embeddings", shape=(2, HIDDEN), initializer=flow.truncated_normal(0.02)
    )
    h = flow.gather(table, d["input_ids"], axis=0) + flow.gather(seg_table, d["segment_ids"])
    h = flow.layers.layer_norm(h, begin_norm_axis=-1, begin_params_axis=-1, name="LayerNorm")
    flat = dense(flow.reshape(h, (-1, HIDDEN)), HIDDEN, "transform", op_conf_util.kTanH)
    h = flow.reshape(flat, h.shape)
    picked = flow.gather(h, d["masked_lm_positions"], axis=1, batch_dims=1)
    logits = flow.matmul(flow.reshape(picked, (-1, HIDDEN)), table, transpose_b=True)
    labels = flow.reshape(d["masked_lm_ids"], (-1,))
    per_token = flow.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)
    weights = flow.reshape(d["masked_lm_weights"], (-1,))
    loss = flow.math.reduce_sum(per_token * weights) / (flow.math.reduce_sum(weights) + 1e-5)
    lr = flow.optimizer.PolynomialScheduler(
        5e-2, STEPS, 0.0, warmup=flow.optimizer.warmup.linear(2, 0)
    )
    flow.optimizer.AdamW(
        lr,
        epsilon=1e-6,
        weight_decay=0.01,
        weight_decay_excludes=["bias", "LayerNorm"],
        grad_clipping=flow.optimizer.grad_clipping.by_global_norm(1.0),
        loss_scale_policy=flow.optimizer.loss_scale.dynamic_loss_scale(
            initial_loss_scale=2**20, increment_period=2000
        ),
    ).minimize(loss)
    return loss


for step in range(STEPS):

    def report(loss, step=step):
        print("step", step, *(f"{x:.6f}" for x in loss))

    pretrain_job()(report)
flow.sync_default_session()
scale = flow.get_all_variables()["System-Train-DynamicLossScale-pretrain_job-LossScale"]
print("loss scale", float(scale.numpy()[0]))
