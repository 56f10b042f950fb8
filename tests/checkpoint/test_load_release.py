"""load_variables frees the values it replaced (large models on a background thread), and the
new values are the loaded ones."""

from __future__ import annotations

import gc
import subprocess
import sys
import threading
import time
import weakref
from pathlib import Path

import numpy as np
import pytest

import flowsnap as flow
import flowsnap.typing as tp
from flowsnap.checkpoint import _load


def declare() -> None:
    @flow.global_function(type="predict")
    def job() -> tp.Numpy:
        return flow.get_variable("w", shape=(64, 32), initializer=flow.zeros_initializer()) + (
            flow.get_variable("b", shape=(32,), initializer=flow.zeros_initializer())
        )

    flow.get_all_variables()


@pytest.mark.parametrize("later_from", [0, 2**40])  # on a thread / inline
def test_replaced_values_are_freed_and_new_ones_loaded(
    tmp_path: Path, later_from: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    flow.clear_default_session()
    declare()
    rng = np.random.default_rng(5)
    new = {"w": rng.random((64, 32), np.float32), "b": rng.random(32, np.float32)}
    flow.checkpoint.save(tmp_path / "ckpt", new)
    old = flow.get_all_variables()
    refs = [weakref.ref(old[name].value) for name in ("w", "b")]  # the arrays replaced
    del old
    gc.collect()
    monkeypatch.setattr(_load, "RELEASE_LATER_BYTES", later_from)
    flow.load_variables(flow.checkpoint.get(tmp_path / "ckpt"))

    def releasing() -> bool:
        thread = any(t.name == "flowsnap-release" for t in threading.enumerate())
        return thread or any(r() is not None for r in refs)

    deadline = time.monotonic() + 10
    while releasing() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert all(r() is None for r in refs)  # freed, and the thread that freed them ended
    assert not releasing()
    got = {k: v.numpy() for k, v in flow.get_all_variables().items()}
    for name, value in new.items():
        np.testing.assert_array_equal(got[name], value)
    flow.clear_default_session()


EXIT_AT_ONCE = """
import sys
import numpy as np
import flowsnap as flow
import flowsnap.typing as tp
from flowsnap.checkpoint import _load

_load.RELEASE_LATER_BYTES = 0  # every release on the background thread
names = [f"v{i:03d}" for i in range(64)]

@flow.global_function(type="predict")
def job() -> tp.Numpy:
    total = 0
    for name in names:
        total = total + flow.math.reduce_sum(
            flow.get_variable(name, shape=(256, 256), initializer=flow.ones_initializer())
        )
    return total

flow.get_all_variables()
flow.load_variables(flow.checkpoint.get(sys.argv[1]))
print("loaded")
"""


def test_exiting_right_after_a_load_is_clean(tmp_path: Path) -> None:
    """The process may end while the replaced values are being freed: it waits for that, it
    does not abort (a daemon thread stopped inside XLA's deallocation would)."""
    rng = np.random.default_rng(9)
    values = {f"v{i:03d}": rng.random((256, 256), np.float32) for i in range(64)}
    flow.checkpoint.save(tmp_path / "ckpt", values)
    for _ in range(2):
        done = subprocess.run(
            [sys.executable, "-c", EXIT_AT_ONCE, str(tmp_path / "ckpt")],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        assert done.stdout.strip() == "loaded"
