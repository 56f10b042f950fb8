"""After a large initialization the session hands the C heap's freed scratch back to the OS."""

from __future__ import annotations

import time

import jax.numpy as jnp
import numpy as np
import pytest

import flowsnap as flow
from flowsnap._store import _init_parts


class Recorder:
    def __init__(self) -> None:
        self.calls: list[int] = []

    def __call__(self, pad: int) -> int:
        self.calls.append(pad)
        return 1


def test_trims_once_values_are_ready(monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = Recorder()
    monkeypatch.setattr(_init_parts, "_malloc_trim", lambda: recorder)
    monkeypatch.setattr(_init_parts, "TRIM_BYTES", 16)
    thread = _init_parts.release_scratch([jnp.ones(8, jnp.float32)])
    assert thread is not None
    thread.join(timeout=30)
    assert recorder.calls == [0]


def test_small_initializations_and_missing_trim_do_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = Recorder()
    monkeypatch.setattr(_init_parts, "_malloc_trim", lambda: recorder)
    assert _init_parts.release_scratch([jnp.ones(8, jnp.float32)]) is None  # 32 B < TRIM_BYTES
    monkeypatch.setattr(_init_parts, "_malloc_trim", lambda: None)
    monkeypatch.setattr(_init_parts, "TRIM_BYTES", 0)
    assert _init_parts.release_scratch([jnp.ones(8, jnp.float32)]) is None
    assert recorder.calls == []


def test_session_start_releases_scratch_and_keeps_values(monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = Recorder()
    monkeypatch.setattr(_init_parts, "_malloc_trim", lambda: recorder)
    monkeypatch.setattr(_init_parts, "TRIM_BYTES", 0)
    flow.clear_default_session()
    try:

        @flow.global_function()
        def job() -> flow.typing.Numpy:
            return flow.get_variable(
                "w", shape=(3, 4), initializer=flow.random_normal_initializer()
            )

        first = job()
        again = job()
        np.testing.assert_array_equal(first, again)  # the values survived the trim
        deadline = time.monotonic() + 30
        while not recorder.calls and time.monotonic() < deadline:
            time.sleep(0.01)
        assert recorder.calls
        assert set(recorder.calls) == {0}
    finally:
        flow.clear_default_session()


def test_the_c_library_has_malloc_trim_on_linux() -> None:
    import sys

    if not sys.platform.startswith("linux"):
        pytest.skip("glibc only")
    _init_parts._malloc_trim.cache_clear()
    assert _init_parts._malloc_trim() is not None
