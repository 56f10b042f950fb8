"""flow.nn activations, softmax and its gradient, PixelShuffle, the fused ops, random masks and
ctc_greedy_decoder against PyTorch and NumPy."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import flowsnap as flow
import flowsnap.typing as tp
from flowsnap.errors import ArgumentError

torch = pytest.importorskip("torch")
F = torch.nn.functional
RNG = np.random.default_rng(9)

ACTIVATIONS = [
    (flow.nn.elu, F.elu),
    (lambda x: flow.nn.elu(x, 0.5), lambda x: F.elu(x, 0.5)),
    (flow.nn.hardtanh, F.hardtanh),
    (lambda x: flow.nn.hardtanh(x, -2.0, 0.5), lambda x: F.hardtanh(x, -2.0, 0.5)),
    (flow.nn.hardsigmoid, F.hardsigmoid),
    (flow.nn.hardswish, F.hardswish),
    (flow.nn.mish, F.mish),
    (flow.nn.swish, F.silu),
    (lambda x: flow.nn.swish(x, 1.7), lambda x: x * torch.sigmoid(1.7 * x)),
    (flow.nn.relu6, F.relu6),
    (flow.nn.leaky_relu, lambda x: F.leaky_relu(x, 0.2)),
]


@pytest.mark.parametrize(("ours", "theirs"), ACTIVATIONS)
def test_activations_match_torch_forward_and_gradient(ours, theirs) -> None:  # type: ignore[no-untyped-def]
    x = np.concatenate([RNG.normal(scale=3, size=40), [-3.5, -2.9, 2.9, 3.5, 0.3, -0.7]]).astype(
        np.float32
    )
    tx = torch.tensor(x, requires_grad=True)
    want = theirs(tx)
    np.testing.assert_allclose(
        np.asarray(ours(jnp.asarray(x))), want.detach().numpy(), rtol=1e-5, atol=1e-6
    )
    want.sum().backward()
    grad = jax.grad(lambda a: jnp.sum(ours(a)))(jnp.asarray(x))
    np.testing.assert_allclose(np.asarray(grad), tx.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_hardtanh_checks_its_range() -> None:
    with pytest.raises(ArgumentError, match="max_val"):
        flow.nn.hardtanh(jnp.zeros(2), 1.0, 1.0)


@pytest.mark.parametrize("axis", [None, 0, 1, -1])
def test_softmax_logsoftmax_and_softmax_grad_match_torch(axis) -> None:  # type: ignore[no-untyped-def]
    x = RNG.normal(size=(3, 4, 5)).astype(np.float32)
    dim = -1 if axis is None else axis
    tx = torch.tensor(x, requires_grad=True)
    y = F.softmax(tx, dim=dim)
    np.testing.assert_allclose(
        np.asarray(flow.nn.softmax(jnp.asarray(x), axis)), y.detach().numpy(), rtol=1e-5, atol=1e-7
    )
    np.testing.assert_allclose(
        np.asarray(flow.nn.logsoftmax(jnp.asarray(x), axis)),
        F.log_softmax(torch.tensor(x), dim=dim).numpy(),
        rtol=1e-5,
        atol=1e-6,
    )
    dy = RNG.normal(size=x.shape).astype(np.float32)
    (y * torch.tensor(dy)).sum().backward()
    got = flow.nn.softmax_grad(jnp.asarray(y.detach().numpy()), jnp.asarray(dy), axis)
    np.testing.assert_allclose(np.asarray(got), tx.grad.numpy(), rtol=1e-4, atol=1e-6)


def test_pixel_shuffle_matches_torch_and_v2_takes_two_factors() -> None:
    x = RNG.normal(size=(2, 12, 3, 4)).astype(np.float32)
    got = flow.nn.PixelShuffle(jnp.asarray(x), 2)
    np.testing.assert_array_equal(np.asarray(got), F.pixel_shuffle(torch.tensor(x), 2).numpy())
    v2 = np.asarray(flow.nn.PixelShufflev2(jnp.asarray(x), 3, 2))
    assert v2.shape == (2, 2, 9, 8)
    # NumPy: out[n, c, h * 3 + i, w * 2 + j] = x[n, c * 6 + i * 2 + j, h, w]
    n, c, h, w, i, j = 1, 1, 2, 3, 2, 1
    assert v2[n, c, h * 3 + i, w * 2 + j] == x[n, c * 6 + i * 2 + j, h, w]
    with pytest.raises(ArgumentError, match="divisible"):
        flow.nn.PixelShufflev2(jnp.asarray(x), 5, 1)


def test_fused_bias_add_gelu_and_bias_add_formats() -> None:
    x = RNG.normal(size=(2, 3, 4)).astype(np.float32)
    b = RNG.normal(size=3).astype(np.float32)
    got = flow.nn.fused_bias_add_gelu(jnp.asarray(x), jnp.asarray(b))
    want = F.gelu(torch.tensor(x) + torch.tensor(b)[:, None])
    np.testing.assert_allclose(np.asarray(got), want.numpy(), rtol=1e-5, atol=1e-6)
    last = flow.nn.bias_add(jnp.asarray(x), jnp.arange(4.0), "NWC")
    np.testing.assert_allclose(np.asarray(last), x + np.arange(4.0), rtol=1e-6)
    with pytest.raises(ArgumentError, match=r"N\.\.\.C"):
        flow.nn.bias_add(jnp.asarray(x), jnp.asarray(b), "CWN")


def test_fused_self_attention_query_mul_key_and_value_matches_numpy() -> None:
    seq, batch, heads, size = 5, 2, 3, 4
    h = RNG.normal(size=(seq, batch, heads * 3 * size)).astype(np.float32)
    qmk, v = flow.nn.fused_self_attention_query_mul_key_and_value(jnp.asarray(h), size, alpha=0.5)
    packed = h.reshape(seq, batch, heads, 3, size).transpose(1, 2, 0, 3, 4)  # b, h, s, 3, d
    q, k, val = packed[..., 0, :], packed[..., 1, :], packed[..., 2, :]
    np.testing.assert_allclose(
        np.asarray(qmk), 0.5 * q @ k.transpose(0, 1, 3, 2), rtol=1e-5, atol=1e-5
    )
    np.testing.assert_array_equal(np.asarray(v), val)
    assert qmk.shape == (batch, heads, seq, seq)


def np_ctc_greedy(log_probs, lengths, merge):  # type: ignore[no-untyped-def]
    steps, batch, classes = log_probs.shape
    decoded = np.zeros((batch, steps), np.int64)
    neg = np.zeros((batch, 1), np.float32)
    for b in range(batch):
        prev, t_dec = -1, 0
        for t in range(lengths[b]):
            best = int(np.argmax(log_probs[t, b]))
            neg[b, 0] -= log_probs[t, b, best]
            if best != classes - 1 and not (merge and prev == best):
                decoded[b, t_dec] = best
                t_dec += 1
            prev = best
    return decoded, neg


@pytest.mark.parametrize("merge", [True, False])
def test_ctc_greedy_decoder_matches_the_kernel_loop(merge: bool) -> None:
    steps, batch, classes = 12, 4, 4
    labels = RNG.integers(0, classes, size=(steps, batch))
    labels[2:4, 0] = 1  # a repeat
    labels[5:8, 1] = classes - 1  # blanks
    log_probs = np.log(np.full((steps, batch, classes), 0.1, np.float32))
    log_probs[np.arange(steps)[:, None], np.arange(batch)[None], labels] = np.log(0.7)
    log_probs += RNG.normal(scale=0.01, size=log_probs.shape).astype(np.float32)
    lengths = np.array([12, 9, 5, 1], np.int32)
    decoded, neg = flow.nn.ctc_greedy_decoder(jnp.asarray(log_probs), jnp.asarray(lengths), merge)
    want_decoded, want_neg = np_ctc_greedy(log_probs, lengths, merge)
    np.testing.assert_array_equal(np.asarray(decoded), want_decoded)
    np.testing.assert_allclose(np.asarray(neg), want_neg, rtol=1e-5)


def test_random_mask_dropout_and_fused_bias_add_dropout_in_a_train_job() -> None:
    rate = 0.3

    @flow.global_function(type="train")
    def train(x: tp.Numpy.Placeholder((200, 50))) -> tp.Numpy:
        w = flow.get_variable("w", shape=(1,), initializer=flow.ones_initializer())
        mask = flow.nn.random_mask_like(x, rate)
        dropped = flow.nn.dropout(x * w, rate, name="d", seed=3)
        fused = flow.nn.fused_bias_add_dropout(x * w, jnp.ones(50), "NC", rate)
        flow.optimizer.SGD(
            flow.optimizer.PiecewiseConstantScheduler([], [0.0]), momentum=0
        ).minimize(flow.math.reduce_sum(dropped) + flow.math.reduce_sum(fused))
        return flow.concat([mask.astype(jnp.float32), dropped, fused], axis=0)

    @flow.global_function()
    def predict(x: tp.Numpy.Placeholder((200, 50))) -> tp.Numpy:
        return flow.concat(
            [flow.nn.dropout(x, rate), flow.nn.fused_bias_add_dropout(x, jnp.ones(50), None, rate)],
            axis=0,
        )

    x = np.full((200, 50), 2.0, np.float32)
    out = train(x)
    mask, dropped, fused = out[:200], out[200:400], out[400:]
    assert set(np.unique(mask)) <= {0.0, 1.0}
    assert abs(mask.mean() - (1 - rate)) < 0.02
    np.testing.assert_allclose(np.unique(dropped), [0.0, 2.0 / (1 - rate)], rtol=1e-6)
    np.testing.assert_allclose(np.unique(fused), [0.0, 3.0 / (1 - rate)], rtol=1e-6)
    assert abs((dropped != 0).mean() - (1 - rate)) < 0.02
    np.testing.assert_array_equal(predict(x), np.concatenate([x, x + 1]))
    with pytest.raises(ArgumentError, match="rate"):
        flow.nn.fused_bias_add_dropout(jnp.zeros((2, 2)), jnp.zeros(2), rate=1.0)


def test_module_counts_calls() -> None:
    class Double(flow.nn.Module):
        def forward(self, x):  # type: ignore[no-untyped-def]
            return 2 * x

    m = Double("double")
    assert m(3) == 6
    assert m(4) == 8
    assert m.call_seq_no == 2
    assert m.module_name == "double"
    assert flow.nn.Module().module_name.startswith("Module_")
