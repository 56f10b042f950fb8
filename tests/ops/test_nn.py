"""flow.nn ops against NumPy oracles (and PyTorch where installed): conv2d with OneFlow's
layouts and SAME_LOWER padding, pooling, bias_add, softmax and the losses."""

from __future__ import annotations

import itertools
import math

import jax.numpy as jnp
import numpy as np
import pytest

import flowsnap as flow
from flowsnap.errors import ArgumentError
from flowsnap.ops._conv import padding_pairs

RNG = np.random.default_rng(0)


def np_pad_pairs(mode: str, size: int, k: int, s: int, d: int = 1) -> tuple[int, int]:
    """OneFlow's rule, written independently: out = ceil(in / s), extra pad before for LOWER."""
    if mode == "VALID":
        return (0, 0)
    eff = (k - 1) * d + 1
    total = max(0, (math.ceil(size / s) - 1) * s + eff - size)
    lo, hi = total // 2, total - total // 2
    return (hi, lo) if mode in ("SAME", "SAME_LOWER") else (lo, hi)


def np_conv_nchw(x, w, stride, pads, dilation, groups):  # type: ignore[no-untyped-def]
    x = np.pad(x, ((0, 0), (0, 0), pads[0], pads[1]))
    n, _, h, wd = x.shape
    o, cg, kh, kw = w.shape
    og = o // groups
    ho = (h - ((kh - 1) * dilation[0] + 1)) // stride[0] + 1
    wo = (wd - ((kw - 1) * dilation[1] + 1)) // stride[1] + 1
    out = np.zeros((n, o, ho, wo), np.float64)
    for g, i, j in itertools.product(range(groups), range(kh), range(kw)):
        r0, c0 = i * dilation[0], j * dilation[1]
        patch = x[
            :,
            g * cg : (g + 1) * cg,
            r0 : r0 + stride[0] * (ho - 1) + 1 : stride[0],
            c0 : c0 + stride[1] * (wo - 1) + 1 : stride[1],
        ]
        out[:, g * og : (g + 1) * og] += np.einsum(
            "nchw,oc->nohw", patch, w[g * og : (g + 1) * og, :, i, j]
        )
    return out


@pytest.mark.parametrize(
    ("size", "k", "s", "d", "mode"),
    [
        (5, 2, 1, 1, "SAME"),
        (6, 3, 2, 1, "SAME"),
        (7, 3, 2, 2, "SAME_UPPER"),
        (8, 4, 3, 1, "SAME"),
        (28, 2, 2, 1, "SAME"),
        (9, 3, 1, 1, "VALID"),
    ],
)
def test_padding_rule_matches_oneflow(size: int, k: int, s: int, d: int, mode: str) -> None:
    got = padding_pairs(mode, [size], [k], [s], [d], "test")
    assert got == [np_pad_pairs(mode, size, k, s, d)]


def test_same_lower_puts_the_extra_pad_first() -> None:
    # in=5, k=2, s=1: total pad 1 goes before (TensorFlow would put it after).
    assert padding_pairs("SAME", [5], [2], [1], [1], "t") == [(1, 0)]
    assert padding_pairs("SAME_UPPER", [5], [2], [1], [1], "t") == [(0, 1)]


@pytest.mark.parametrize(
    ("padding", "stride", "dilation", "groups"),
    [
        ("SAME", 1, 1, 1),
        ("SAME", 2, 1, 1),
        ("VALID", 1, 2, 1),
        ("SAME", 1, 1, 2),
        ("SAME_UPPER", 2, 1, 1),
        ([[1, 2], [0, 1]], 1, 1, 1),
    ],
)
def test_conv2d_nchw_matches_numpy(padding, stride, dilation, groups) -> None:  # type: ignore[no-untyped-def]
    x = RNG.normal(size=(2, 4, 7, 6)).astype(np.float32)
    w = RNG.normal(size=(6, 4 // groups, 2, 3)).astype(np.float32)
    got = np.asarray(
        flow.nn.conv2d(
            jnp.asarray(x), jnp.asarray(w), stride, padding, None, "NCHW", dilation, groups
        )
    )
    if isinstance(padding, str):
        pads = [
            np_pad_pairs(padding, n, k, stride, dilation)
            for n, k in zip((7, 6), (2, 3), strict=True)
        ]
    else:
        pads = [tuple(p) for p in padding]
    want = np_conv_nchw(
        x.astype(np.float64),
        w.astype(np.float64),
        (stride, stride),
        pads,
        (dilation, dilation),
        groups,
    )
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_conv2d_nhwc_uses_out_kh_kw_in_weights() -> None:
    x = RNG.normal(size=(2, 4, 7, 6)).astype(np.float32)  # NCHW
    w = RNG.normal(size=(5, 4, 3, 3)).astype(np.float32)  # OIHW
    nchw = flow.nn.conv2d(jnp.asarray(x), jnp.asarray(w), 1, "SAME", None, "NCHW")
    nhwc = flow.nn.conv2d(
        jnp.asarray(x.transpose(0, 2, 3, 1)),
        jnp.asarray(w.transpose(0, 2, 3, 1)),
        1,
        "SAME",
        None,
        "NHWC",
    )
    np.testing.assert_allclose(np.asarray(nhwc).transpose(0, 3, 1, 2), nchw, rtol=1e-5, atol=1e-5)


def test_conv2d_against_pytorch_when_installed() -> None:
    torch = pytest.importorskip("torch")
    x = RNG.normal(size=(2, 4, 9, 9)).astype(np.float32)
    w = RNG.normal(size=(8, 2, 3, 3)).astype(np.float32)
    got = flow.nn.conv2d(jnp.asarray(x), jnp.asarray(w), 2, [[1, 1], [1, 1]], None, "NCHW", 1, 2)
    want = torch.nn.functional.conv2d(
        torch.tensor(x), torch.tensor(w), stride=2, padding=1, groups=2
    )
    np.testing.assert_allclose(np.asarray(got), want.numpy(), rtol=1e-4, atol=1e-4)


def np_pool(x, k, s, pads, average):  # type: ignore[no-untyped-def]
    n, c, h, w = x.shape
    ho = (h + sum(pads[0]) - k) // s + 1
    wo = (w + sum(pads[1]) - k) // s + 1
    out = np.zeros((n, c, ho, wo))
    for i, j in itertools.product(range(ho), range(wo)):
        r0, c0 = i * s - pads[0][0], j * s - pads[1][0]
        win = x[:, :, max(r0, 0) : r0 + k, max(c0, 0) : c0 + k]  # padding never counted
        out[:, :, i, j] = win.mean(axis=(2, 3)) if average else win.max(axis=(2, 3))
    return out


@pytest.mark.parametrize("average", [False, True])
@pytest.mark.parametrize(
    ("k", "s", "padding"), [(2, 2, "SAME"), (3, 2, "SAME"), (3, 1, "VALID"), (2, 1, "SAME")]
)
def test_pooling_matches_numpy(average: bool, k: int, s: int, padding: str) -> None:
    x = RNG.normal(size=(2, 3, 7, 8)).astype(np.float32)
    op = flow.nn.avg_pool2d if average else flow.nn.max_pool2d
    got = np.asarray(op(jnp.asarray(x), k, s, padding, "NCHW"))
    pads = [np_pad_pairs(padding, n, k, s) for n in (7, 8)]
    np.testing.assert_allclose(got, np_pool(x, k, s, pads, average), rtol=1e-5, atol=1e-6)
    got_nhwc = op(jnp.asarray(x.transpose(0, 2, 3, 1)), k, s, padding, "NHWC")
    np.testing.assert_allclose(np.asarray(got_nhwc).transpose(0, 3, 1, 2), got, rtol=1e-6)


def test_lenet_pooling_shapes() -> None:
    x = jnp.zeros((1, 32, 28, 28))
    pooled = flow.nn.max_pool2d(x, ksize=2, strides=2, padding="SAME", data_format="NCHW")
    assert pooled.shape == (1, 32, 14, 14)


def test_bias_add_axis_follows_data_format() -> None:
    x = jnp.zeros((2, 3, 4, 5))
    assert np.asarray(flow.nn.bias_add(x, jnp.arange(3.0)))[0, 2, 0, 0] == 2
    assert np.asarray(flow.nn.bias_add(x, jnp.arange(5.0), "NHWC"))[0, 0, 0, 4] == 4
    with pytest.raises(ArgumentError, match="channels"):
        flow.nn.bias_add(x, jnp.arange(4.0))


def test_sparse_cross_entropy_is_per_example_with_labels_first() -> None:
    logits = RNG.normal(size=(6, 10)).astype(np.float32)
    labels = RNG.integers(0, 10, 6).astype(np.int32)
    got = np.asarray(
        flow.nn.sparse_softmax_cross_entropy_with_logits(jnp.asarray(labels), jnp.asarray(logits))
    )
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    np.testing.assert_allclose(got, -logp[np.arange(6), labels], rtol=1e-5)
    assert got.shape == (6,)
    trailing = flow.nn.sparse_softmax_cross_entropy_with_logits(
        jnp.asarray(labels[:, None]), jnp.asarray(logits)
    )
    np.testing.assert_allclose(np.asarray(trailing), got)
    with pytest.raises(ArgumentError, match="labels come first"):
        flow.nn.sparse_softmax_cross_entropy_with_logits(jnp.asarray(logits), jnp.asarray(labels))


def test_dense_cross_entropy_and_softmax() -> None:
    logits = RNG.normal(size=(4, 5)).astype(np.float32)
    labels = np.eye(5, dtype=np.float32)[[0, 3, 2, 4]]
    soft = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    np.testing.assert_allclose(np.asarray(flow.nn.softmax(jnp.asarray(logits))), soft, rtol=1e-5)
    got = flow.nn.softmax_cross_entropy_with_logits(jnp.asarray(labels), jnp.asarray(logits))
    np.testing.assert_allclose(np.asarray(got), -(labels * np.log(soft)).sum(-1), rtol=1e-5)
    z = np.array([0.0, 1.0, 1.0], np.float32)
    x = np.array([-2.0, 0.5, 30.0], np.float32)
    want = np.log1p(np.exp(-np.abs(x))) + np.maximum(x, 0) - x * z
    got_sig = flow.nn.sigmoid_cross_entropy_with_logits(jnp.asarray(z), jnp.asarray(x))
    np.testing.assert_allclose(np.asarray(got_sig), want, rtol=1e-5, atol=1e-6)


def test_moments_are_biased() -> None:
    x = RNG.normal(size=(8, 3)).astype(np.float32)
    mean, var = flow.nn.moments(jnp.asarray(x), [0])
    np.testing.assert_allclose(np.asarray(mean), x.mean(0), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(var), x.var(0), rtol=1e-5)


def test_dropout_outside_train_jobs_is_identity_and_checks_rate() -> None:
    x = jnp.ones((3, 3))
    assert flow.nn.dropout(x, rate=0.5) is x
    with pytest.raises(ArgumentError, match="rate"):
        flow.nn.dropout(x, rate=1.0)


def test_bad_data_format_is_a_clear_error() -> None:
    with pytest.raises(ArgumentError, match="NCHW or NHWC"):
        flow.nn.max_pool2d(jnp.zeros((1, 1, 4, 4)), 2, 2, "SAME", "CHWN")


def test_conv2d_a_data_format_given_as_bias_is_explained() -> None:
    """A 0.3/0.4 positional call (data_format fifth) in 0.5's order names the fix."""
    x = jnp.zeros((1, 2, 4, 4), jnp.float32)
    w = jnp.zeros((3, 2, 3, 3), jnp.float32)
    with pytest.raises(ArgumentError, match=r"--oneflow-version 0\.4"):
        flow.nn.conv2d(x, w, 1, "SAME", "NCHW")
