"""A GPT-pretraining-shaped OneFlow program (written for flowsnap's tests, in the style of
OneFlow's Megatron-style GPT): tokens read in the job by ``megatron_gpt_mmap_data_loader`` from a
Megatron ``.bin``/``.idx`` dataset, variables declared with ``parallel_distribution=[]`` (what that
program passes on one device), a causal LM trained with gradient accumulation, and a metric that
counts micro-batches as ``loss.shape[0]`` as that program's did.

usage: flowsnap run gpt_style.py DATASET_PREFIX STEPS ACCUMULATION
Prints ``step <i> <micro-batches> <mean loss>`` per call.
"""

import sys

import oneflow as flow

PREFIX, STEPS, ACC = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
SEQ, VOCAB, HIDDEN, MICRO = 8, 64, 32, 4


def var(name, shape, init):
    return flow.get_variable(name, shape=shape, initializer=init, parallel_distribution=[])


cfg = flow.function_config()
cfg.enable_fuse_add_to_output(True)
cfg.prune_parallel_cast_ops(True)
if ACC > 1:
    cfg.train.num_gradient_accumulation_steps(ACC)


@flow.global_function("train", cfg)
def train():
    with flow.scope.placement("cpu", "0:0"):
        x = flow.data.megatron_gpt_mmap_data_loader(
            data_file_prefix=PREFIX,
            seq_length=SEQ,
            num_samples=STEPS * MICRO * ACC,
            batch_size=MICRO,
            dtype=flow.int64,
            shuffle=True,
            random_seed=1234,
            split_sizes=[1],
            split_index=0,
            name="gpt_data_loader",
        )
    data = flow.slice(x, begin=(None, 0), size=(None, SEQ))
    labels = flow.slice(x, begin=(None, 1), size=(None, SEQ))
    wte = var("wte", (VOCAB, HIDDEN), flow.random_normal_initializer(stddev=0.02))
    wpe = var("wpe", (SEQ, HIDDEN), flow.random_normal_initializer(stddev=0.02))
    h = flow.gather(wte, data) + wpe
    w = var("w", (HIDDEN, HIDDEN), flow.random_normal_initializer(stddev=0.02))
    h = h + flow.math.gelu(flow.matmul(flow.reshape(h, (-1, HIDDEN)), w)).reshape(h.shape)
    logits = flow.matmul(flow.reshape(h, (-1, HIDDEN)), wte, transpose_b=True)
    loss = flow.nn.sparse_softmax_cross_entropy_with_logits(flow.flatten(labels), logits)
    loss = flow.math.reduce_mean(flow.amp_white_identity(loss))
    flow.optimizer.AdamW(
        flow.optimizer.PiecewiseConstantScheduler([], [0.02]),
        weight_decay=1e-2,
        grad_clipping=flow.optimizer.grad_clipping.by_global_norm(1.0),
    ).minimize(loss)
    return {"loss": loss}


def metric(step):
    def callback(outputs):
        loss = outputs["loss"].numpy()
        micro_batches = loss.shape[0]  # OneFlow's GPT metric: one value per micro-batch
        print("step", step, micro_batches, f"{loss.sum() / micro_batches:.6f}")

    return callback


for step in range(STEPS):
    train().async_get(metric(step))
flow.sync_default_session()
