"""Two processes of 2 CPU devices each (``jax.distributed`` on localhost, set up from OneFlow's
``flow.env.machine``/``ctrl_port``): a data-parallel train step over the 4 devices of both
processes gives the one-process, one-device result, on every process, in both logical views."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import numpy as np

from tests.distributed._mp_worker import make_job, train_values
from tests.distributed._run import HERE, device_env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_two_processes_train_as_one_device() -> None:
    port = free_port()
    procs = [
        subprocess.Popen(
            [sys.executable, str(HERE / "_mp_worker.py"), str(port)],
            env=device_env(2, RANK=str(rank)),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for rank in (0, 1)
    ]
    results = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=180)
            lines = [line for line in out.splitlines() if line.startswith("RESULT ")]
            assert lines, f"worker exited {proc.returncode} without a result:\n{out}\n{err[-5000:]}"
            results.append(json.loads(lines[0][len("RESULT ") :]))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    loss, reference = train_values(make_job())  # this process: one device
    assert sorted(r["process"] for r in results) == [0, 1]
    for result in results:
        assert result["processes"] == 2
        for view in ("consistent", "mirrored"):
            got = result[view]
            assert got["devices"] == 4
            assert got["w_spec"] == "P(None, 'p0')"
            np.testing.assert_allclose(got["loss"], loss, rtol=1e-5, atol=1e-6)
            assert set(got["values"]) == set(reference)
            for name, value in reference.items():
                np.testing.assert_allclose(got["values"][name], value, rtol=1e-5, atol=1e-6)
