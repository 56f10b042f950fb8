"""One process of a 2-process run (``RANK`` 0 or 1, 2 CPU devices each): OneFlow's
``flow.env.machine``/``ctrl_port`` start ``jax.distributed``, ``flow.config.cpu_device_num(2)``
makes the default placement both machines' devices (a 4-device mesh), and a data-parallel train
job runs a few steps, in the consistent view and then in the mirrored view (one array per
device of both processes). Prints the trained variables after ``RESULT`` as JSON.

Usage: ``RANK=<r> python _mp_worker.py <port>``; :func:`make_job` is also the one-device
reference of the test.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import numpy as np

import flowsnap as flow
from flowsnap import typing as tp

STEPS = 3


def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    return (
        rng.normal(size=(8, 6)).astype(np.float32),
        rng.normal(size=(8, 2)).astype(np.float32),
    )


def make_job(mirrored: bool = False) -> Any:
    """A train job with no placement (the default one runs it), a broadcast and a split weight;
    ``mirrored``: one array per device in and out (``tp.ListNumpy``)."""
    holder = tp.ListNumpy.Placeholder if mirrored else tp.Numpy.Placeholder
    per = 2 if mirrored else 8
    result = tp.ListNumpy if mirrored else tp.Numpy

    @flow.global_function(type="train")
    def train(x: holder((per, 6)), y: holder((per, 2))) -> result:  # type: ignore[valid-type]
        w = flow.get_variable(
            "w",
            shape=(6, 8),
            initializer=flow.random_normal_initializer(),
            distribute=flow.distribute.split(1),
        )
        v = flow.get_variable("v", shape=(8, 2), initializer=flow.random_normal_initializer())
        out = flow.matmul(flow.math.tanh(flow.matmul(x, w)), v)
        loss = flow.math.reduce_sum(flow.math.square(out - y), axis=1)
        flow.optimizer.Adam(flow.optimizer.PiecewiseConstantScheduler([], [0.05])).minimize(loss)
        return loss

    return train


def train_values(train: Any, mirrored: bool = False) -> tuple[list[float], dict[str, Any]]:
    x, y = data()
    args = (list(np.split(x, 4)), list(np.split(y, 4))) if mirrored else (x, y)
    loss = None
    for _ in range(STEPS):
        loss = train(*args)
    if mirrored:
        loss = np.concatenate(loss)
    values = {k: v.numpy().tolist() for k, v in flow.get_all_variables().items()}
    return np.asarray(loss).tolist(), values


def configure() -> None:
    """OneFlow's multi-machine set-up (the first call starts jax.distributed)."""
    flow.env.machine([{"addr": "127.0.0.1"}, {"addr": "127.0.0.1"}])
    flow.env.ctrl_port(int(sys.argv[1]))
    flow.config.cpu_device_num(2)


if __name__ == "__main__":
    import jax

    report: dict[str, Any] = {}
    for view in ("consistent", "mirrored"):
        flow.clear_default_session()
        configure()
        train = make_job(mirrored=view == "mirrored")
        loss, values = train_values(train, mirrored=view == "mirrored")
        report[view] = {
            "devices": train.where.size,
            "w_spec": str(flow.get_all_variables()["w"].value.sharding.spec),
            "loss": loss,
            "values": values,
        }
    report["process"] = jax.process_index()
    report["processes"] = jax.process_count()
    print("RESULT " + json.dumps(report))
    sys.stdout.flush()
