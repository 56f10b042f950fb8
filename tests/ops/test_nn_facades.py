"""Every flow.nn / flow.layers name of OneFlow 0.3.4, 0.4.0 and 0.5.0 resolves under that
version's facade with its full signature, except the eager (PyTorch-style) API that 0.4 and 0.5
exported under ``nn`` and the loss registration that needs the engine; and calls written with
each version's positional order reach the same implementation."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from flowsnap.compat import facade, get_facade

VERSIONS = ["0.3", "0.4", "0.5"]
# OneFlow 0.4/0.5's eager API under nn (tensors mutated in place, modules holding parameters),
# and losses.add_loss (a loss registered for FunctionConfig.train's optimizer): not flow.nn's work
ELSEWHERE = {"nn.Parameter", "nn.Embedding", "losses.add_loss"}


@pytest.mark.parametrize("version", VERSIONS)
def test_every_nn_and_layers_name_is_provided(version: str) -> None:
    f = get_facade(version)
    missing = []
    for name in sorted(f.table.entries):
        if name.split(".")[0] not in ("nn", "layers", "losses"):
            continue
        if name in ELSEWHERE or name.startswith("nn.init."):
            continue
        status = f.resolve(name).status
        if status != "provided":
            missing.append(f"{name}: {status} {f.resolve(name).reason}")
    assert not missing


def test_positional_orders_of_each_version() -> None:
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(1, 2, 5)).astype(np.float32))
    w = jnp.asarray(rng.normal(size=(3, 2, 3)).astype(np.float32))
    outs = [facade(v).nn.conv1d(x, w, 1, "SAME", "NCW", 1, 1) for v in VERSIONS]
    for out in outs[1:]:
        np.testing.assert_array_equal(np.asarray(out), np.asarray(outs[0]))
    x4 = jnp.asarray(rng.normal(size=(1, 2, 5, 5)).astype(np.float32))
    w4 = jnp.asarray(rng.normal(size=(3, 2, 3, 3)).astype(np.float32))
    old = facade("0.3").nn.conv2d(x4, w4, 1, "SAME", "NCHW", 1)
    new = facade("0.5").nn.conv2d(x4, w4, 1, "SAME", None, "NCHW", 1)
    np.testing.assert_array_equal(np.asarray(old), np.asarray(new))
    probs = jnp.asarray([[0.2, 0.8]])
    loss = facade("0.3").nn.BCELoss(probs, jnp.asarray([[0.0, 1.0]]), None, "sum")
    np.testing.assert_allclose(float(loss), -np.log(0.8) * 2, rtol=1e-6)
