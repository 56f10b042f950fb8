"""flow.layers.upsample_2d against PyTorch's interpolate, forward and gradients, and
categorical_ordinal_encoder against a Python dictionary across steps."""

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
RNG = np.random.default_rng(8)


@pytest.mark.parametrize(
    ("size", "interpolation", "align_corners"),
    [
        ((2, 2), "nearest", False),
        ((3, 2), "nearest", False),
        (2, "bilinear", False),
        ((2, 3), "bilinear", False),
        ((3, 2), "bilinear", True),
    ],
)
def test_upsample_2d_matches_torch(size, interpolation, align_corners) -> None:  # type: ignore[no-untyped-def]
    x = RNG.normal(size=(2, 3, 4, 5)).astype(np.float32)
    scale = (size, size) if isinstance(size, int) else size
    tx = torch.tensor(x, requires_grad=True)
    kwargs = {} if interpolation == "nearest" else {"align_corners": align_corners}
    want = F.interpolate(tx, scale_factor=scale, mode=interpolation, **kwargs)

    def run(a, fmt="NCHW"):  # type: ignore[no-untyped-def]
        return flow.layers.upsample_2d(a, size, align_corners, fmt, interpolation)

    got = run(jnp.asarray(x))
    np.testing.assert_allclose(np.asarray(got), want.detach().numpy(), rtol=1e-5, atol=1e-6)
    cot = RNG.normal(size=want.shape).astype(np.float32)
    (want * torch.tensor(cot)).sum().backward()
    grad = jax.grad(lambda a: jnp.sum(run(a) * cot))(jnp.asarray(x))
    np.testing.assert_allclose(np.asarray(grad), tx.grad.numpy(), rtol=1e-5, atol=1e-5)
    nhwc = run(jnp.asarray(x.transpose(0, 2, 3, 1)), "NHWC")
    np.testing.assert_allclose(np.asarray(nhwc).transpose(0, 3, 1, 2), np.asarray(got), rtol=1e-6)


def test_upsample_2d_argument_checks() -> None:
    x = jnp.zeros((1, 1, 2, 2))
    with pytest.raises(ArgumentError, match="align_corners"):
        flow.layers.upsample_2d(x, 2, align_corners=True)
    with pytest.raises(ArgumentError, match="interpolation"):
        flow.layers.upsample_2d(x, 2, interpolation="bicubic")
    with pytest.raises(ArgumentError, match="size"):
        flow.layers.upsample_2d(x, (2, 0))


def test_categorical_ordinal_encoder_numbers_ids_in_order_across_steps() -> None:
    capacity = 16

    @flow.global_function()
    def encode(ids: tp.Numpy.Placeholder((6,), dtype=flow.int32)) -> tp.Numpy:
        return flow.layers.categorical_ordinal_encoder(ids, capacity, name="enc")

    seen: dict[int, int] = {}

    def oracle(batch: list[int]) -> list[int]:
        return [seen.setdefault(i, len(seen) + 1) for i in batch]

    batches = ([5, 13, 5, 21, 7, 13], [21, 99, 3, 5, 99, 100], [-3, 7, -3, 100, 42, 1])
    for batch in batches:  # 5 and 21, 3 and 99 collide mod 16
        got = encode(np.array(batch, np.int32))
        np.testing.assert_array_equal(got, oracle(batch))
    v = {k: x.numpy() for k, x in flow.get_all_variables().items()}
    assert list(v) == ["enc-Table", "enc-Size"]
    assert v["enc-Size"].tolist() == [len(seen)]
    assert not flow.get_all_variables()["enc-Table"].spec.trainable
    keys, numbers = v["enc-Table"][0::2], v["enc-Table"][1::2]
    assert {int(k): int(n) for k, n in zip(keys, numbers, strict=True) if k} == seen
    assert keys[5 % capacity] == 5  # the first id takes its home slot
    # a negative id starts probing at size_t(id) % capacity, as OneFlow's kernel: slot 13 is
    # taken (by 13), so -3 ((2**64 - 3) % 16 == 13) lands in the next free one
    assert int(np.flatnonzero(keys == -3)[0]) == 14


def test_categorical_ordinal_encoder_updates_a_large_table_in_place() -> None:
    """Each probe updates one slot (not a copy of the whole table): 4,000 ids into a table of
    capacity 100,000 encode quickly, consistently with the ids."""
    ids = RNG.integers(-(2**31), 2**31 - 1, size=4000).astype(np.int32)
    ids = np.concatenate([ids[:3000], ids[:1000]])  # repeats

    @flow.global_function()
    def encode(x: tp.Numpy.Placeholder((4000,), dtype=flow.int32)) -> tp.Numpy:
        return flow.layers.categorical_ordinal_encoder(x, 100_000, name="big")

    got = encode(ids)
    _, first = np.unique(ids, return_index=True)
    order = np.argsort(first)  # ids in order of first appearance get 1, 2, 3...
    want = {int(ids[first[i]]): rank + 1 for rank, i in enumerate(order)}
    np.testing.assert_array_equal(got, [want[int(i)] for i in ids])
