"""Runs jobs on 1 device and on a mesh of CPU devices in one process, and reports what the tests
check, as JSON on stdout (the pytest process keeps its one device: this runs in a subprocess
started with ``XLA_FLAGS=--xla_force_host_platform_device_count=4``).

Usage: ``python _mesh_worker.py <group>`` with group ``data`` (data parallelism, both logical
views, placement errors) or ``model`` (split variables: dense, embedding, 2-d hierarchy).
"""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Callable
from typing import Any

import jax
import numpy as np

import flowsnap as flow
from flowsnap import typing as tp

RTOL, ATOL = 1e-5, 1e-6
STEPS = 3
rng = np.random.default_rng(0)
X = rng.normal(size=(8, 6)).astype(np.float32)
Y = rng.normal(size=(8, 3)).astype(np.float32)
IDS = rng.integers(0, 16, size=(8,)).astype(np.int32)


def ids_for(ndev: int) -> str:
    return "0:0" if ndev == 1 else f"0:0-{ndev - 1}"


def variables() -> dict[str, np.ndarray]:
    return {k: v.numpy() for k, v in flow.get_all_variables().items()}


def spec_of(name: str) -> str:
    sharding = flow.get_all_variables()[name].value.sharding
    return str(getattr(sharding, "spec", "single-device"))


def compare(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> list[str]:
    """Names whose values differ beyond float reassociation (and names only in one)."""
    bad = sorted(set(a) ^ set(b))
    for name in sorted(set(a) & set(b)):
        if not np.allclose(a[name], b[name], rtol=RTOL, atol=ATOL):
            bad.append(f"{name}: max diff {np.max(np.abs(a[name] - b[name]))}")
    return bad


def mlp_job(ndev: int, *, mirrored: bool, w_dist: Any = None, optimizer: str = "adam") -> Any:
    """A two-layer regression trained with Adam (or momentum SGD) on ``ndev`` devices."""
    flow.clear_default_session()
    cfg = flow.FunctionConfig()
    if mirrored:
        cfg.default_logical_view(flow.scope.mirrored_view())
    batch = 8 // ndev if mirrored else 8
    holder = tp.ListNumpy.Placeholder if mirrored else tp.Numpy.Placeholder
    result = tp.ListNumpy if mirrored else tp.Numpy  # noqa: F841 - read by the annotation below

    @flow.global_function(type="train", function_config=cfg)
    def train(x: holder((batch, 6)), y: holder((batch, 3))) -> result:  # type: ignore[valid-type]
        with flow.scope.placement("cpu", ids_for(ndev)):
            w = flow.get_variable(
                "w", shape=(6, 8), initializer=flow.random_normal_initializer(), distribute=w_dist
            )
            hidden = flow.math.relu(flow.matmul(x, w))
            out = flow.layers.dense(hidden, 3, name="out")
            loss = flow.math.reduce_sum(flow.math.square(out - y), axis=1)
            lr = flow.optimizer.PiecewiseConstantScheduler([], [0.05])
            opt = (
                flow.optimizer.Adam(lr)
                if optimizer == "adam"
                else flow.optimizer.SGD(lr, momentum=0.9)
            )
            opt.minimize(loss)
            return loss

    return train


def run_mlp(ndev: int, *, mirrored: bool = False, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
    train = mlp_job(ndev, mirrored=mirrored, **kwargs)
    out = None
    for _ in range(STEPS):
        args = (list(np.split(X, ndev)), list(np.split(Y, ndev))) if mirrored else (X, Y)
        out = train(*args)
    return out, variables()


def check(report: dict[str, Any], name: str, fn: Callable[[], Any]) -> None:
    try:
        report[name] = fn()
    except Exception:  # the test names the scenario that broke
        report[name] = {"error": traceback.format_exc()}


# -- data parallelism ---------------------------------------------------------------------------


def data_group(report: dict[str, Any]) -> None:
    ref_loss, ref = run_mlp(1)

    def consistent() -> Any:
        loss, got = run_mlp(4)
        return {
            "mismatch": compare(ref, got),
            "loss_close": bool(np.allclose(loss, ref_loss, RTOL, ATOL)),
            "w_spec": spec_of("w"),
            "devices": len(flow.get_all_variables()["w"].value.sharding.device_set),
        }

    def mirrored() -> Any:
        losses, got = run_mlp(4, mirrored=True)
        return {
            "mismatch": compare(ref, got),
            "parts": [list(np.shape(p)) for p in losses],
            "loss_close": bool(np.allclose(np.concatenate(losses), ref_loss, RTOL, ATOL)),
        }

    def mirrored_local_blobs() -> Any:
        """An un-annotated mirrored job's LocalBlobs hold each device's part."""
        flow.clear_default_session()
        cfg = flow.FunctionConfig()
        cfg.default_logical_view(flow.scope.mirrored_view())

        @flow.global_function(function_config=cfg)
        def double(x: tp.ListNumpy.Placeholder((2, 6))):  # type: ignore[no-untyped-def]
            with flow.scope.placement("cpu", "0:0-3"):
                return x * 2

        blob = double(list(np.split(X, 4))).get()
        pairs = zip(blob.numpy_list(), np.split(X, 4), strict=True)
        return {
            "parallel_num": blob.parallel_num(),
            "parts_close": all(np.allclose(p, 2 * q) for p, q in pairs),
            "device_2": bool(np.allclose(blob.numpy(2), 2 * X[4:6])),
            "whole": bool(np.allclose(blob.numpy(), 2 * X)),
        }

    def momentum() -> Any:
        _, ref_sgd = run_mlp(1, optimizer="sgd")
        _, got = run_mlp(4, optimizer="sgd")
        return {"mismatch": compare(ref_sgd, got)}

    def default_placement() -> Any:
        """flow.config.cpu_device_num(4): a job without a placement runs on 4 devices."""
        flow.clear_default_session()
        flow.config.cpu_device_num(4)

        @flow.global_function()
        def double(x: tp.Numpy.Placeholder((8, 6))) -> tp.Numpy:
            return x * 2

        out = double(X)
        scope_num = []

        @flow.global_function()
        def where() -> tp.Numpy:
            scope_num.append(flow.current_scope().device_parallel_desc_symbol.parallel_num)
            return flow.constant(1.0)

        where()
        return {
            "devices": double.where.size if hasattr(double.where, "size") else 1,
            "close": bool(np.allclose(out, X * 2)),
            "parallel_num": scope_num[0],
        }

    def gpu_falls_back_to_cpus() -> Any:
        flow.clear_default_session()
        flow.config.gpu_device_num(4)

        @flow.global_function()
        def double(x: tp.Numpy.Placeholder((8, 6))) -> tp.Numpy:
            with flow.scope.placement("gpu", "0:0-3"):
                return x * 2

        out = double(X)
        return {
            "platform": double.device.platform,
            "devices": double.where.size,
            "close": bool(np.allclose(out, X * 2)),
        }

    def errors() -> Any:
        found = {}
        flow.clear_default_session()

        @flow.global_function()
        def uneven(x: tp.Numpy.Placeholder((6, 6))) -> tp.Numpy:
            with flow.scope.placement("cpu", "0:0-3"):
                return x * 2

        try:
            uneven(X[:6])
        except Exception as exc:
            found["uneven_batch"] = f"{type(exc).__name__}: {exc}"
        flow.clear_default_session()

        @flow.global_function()
        def too_many(x: tp.Numpy.Placeholder((8, 6))) -> tp.Numpy:
            with flow.scope.placement("cpu", "0:0-7"):
                return x * 2

        try:
            too_many(X)
        except Exception as exc:
            found["too_many_devices"] = f"{type(exc).__name__}: {exc}"
        flow.clear_default_session()

        @flow.global_function()
        def per_device(x: tp.ListNumpy.Placeholder((2, 6))) -> tp.ListNumpy:
            with flow.scope.placement("cpu", "0:0-3"):
                return x * 2

        try:
            per_device([X[:2]] * 3)
        except Exception as exc:
            found["mirrored_count"] = f"{type(exc).__name__}: {exc}"
        try:
            per_device([X[:2], X[:2], X[:2], X[:1]])
        except Exception as exc:
            found["mirrored_shapes"] = f"{type(exc).__name__}: {exc}"
        return found

    check(report, "consistent", consistent)
    check(report, "mirrored", mirrored)
    check(report, "mirrored_local_blobs", mirrored_local_blobs)
    check(report, "momentum", momentum)
    check(report, "default_placement", default_placement)
    check(report, "gpu_falls_back_to_cpus", gpu_falls_back_to_cpus)
    check(report, "errors", errors)


# -- model parallelism --------------------------------------------------------------------------


def embedding_job(ndev: int, dist: Any) -> Any:
    flow.clear_default_session()

    @flow.global_function(type="train")
    def train(
        ids: tp.Numpy.Placeholder((8,), dtype=flow.int32), y: tp.Numpy.Placeholder((8, 3))
    ) -> tp.Numpy:
        with flow.scope.placement("cpu", ids_for(ndev)):
            table = flow.get_variable(
                "table",
                shape=(16, 4),
                initializer=flow.random_uniform_initializer(),
                distribute=dist,
            )
            rows = flow.gather(table, ids)
            out = flow.layers.dense(rows, 3, name="head")
            loss = flow.math.reduce_mean(flow.math.square(out - y), axis=1)
            flow.optimizer.Adam(flow.optimizer.PiecewiseConstantScheduler([], [0.1])).minimize(loss)
            return loss

    return train


def dense_split_job(ndev: int, split: bool) -> Any:
    """flow.layers.dense with a split weight (OneFlow's ``model_distribute=split(0)``)."""
    flow.clear_default_session()

    @flow.global_function(type="train")
    def train(x: tp.Numpy.Placeholder((8, 6)), y: tp.Numpy.Placeholder((8, 8))) -> tp.Numpy:
        with flow.scope.placement("cpu", ids_for(ndev)):
            dist = flow.distribute.split(0) if split else flow.distribute.broadcast()
            out = flow.layers.dense(x, 8, name="fc", model_distribute=dist)
            loss = flow.math.reduce_sum(flow.math.square(out - y), axis=1)
            flow.optimizer.SGD(
                flow.optimizer.PiecewiseConstantScheduler([], [0.05]), momentum=0.9
            ).minimize(loss)
            return loss

    return train


def hierarchy_job(hierarchy: list[int] | None) -> Any:
    """Data parallel over the first hierarchy axis, the weight split over the second:
    how OneFlow's GPT combined the two (``nd_sbp=["B", "S(1)"]``), with its layout casts."""
    flow.clear_default_session()
    ids = "0:0" if hierarchy is None else "0:0-3"

    @flow.global_function(type="train")
    def train(x: tp.Numpy.Placeholder((8, 6)), y: tp.Numpy.Placeholder((8, 8))) -> tp.Numpy:
        with flow.scope.placement("cpu", ids, hierarchy=hierarchy):
            w = flow.get_variable(
                "w",
                shape=(6, 8),
                initializer=flow.random_normal_initializer(),
                nd_sbp=["B", "S(1)"],
            )
            v = flow.get_variable(
                "v",
                shape=(8, 8),
                initializer=flow.random_normal_initializer(),
                nd_sbp=["S(0)", "B"],
            )
            x = flow.hierarchical_parallel_cast(x, nd_sbp=["S(0)", "B"])
            hidden = flow.math.tanh(flow.matmul(x, w))
            hidden = flow.parallel_cast(hidden, distribute=flow.distribute.broadcast())
            out = flow.matmul(hidden, v)
            loss = flow.math.reduce_sum(flow.math.square(out - y), axis=1)
            lr = flow.optimizer.PiecewiseConstantScheduler([], [0.05])
            flow.optimizer.Adam(lr).minimize(loss)
            return loss

    return train


def train_steps(train: Any, *args: Any) -> Any:
    out = None
    for _ in range(STEPS):
        out = train(*args)
    return out


def model_group(report: dict[str, Any]) -> None:
    y8 = rng.normal(size=(8, 8)).astype(np.float32)

    def initial_split_values() -> Any:
        """A split variable's initial value is the one-device value."""

        def value_on(ndev: int) -> Any:
            flow.clear_default_session()

            @flow.global_function()
            def show() -> tp.Numpy:
                with flow.scope.placement("cpu", ids_for(ndev)):
                    return flow.get_variable(
                        "w",
                        shape=(8, 12),
                        initializer=flow.truncated_normal(0.1),
                        distribute=flow.distribute.split(1),
                    )

            return show()

        one = value_on(1)
        four = value_on(4)
        return {"equal": bool(np.array_equal(one, four)), "spec": spec_of("w")}

    def dense() -> Any:
        ref_loss = train_steps(dense_split_job(1, False), X, y8)
        ref = variables()
        loss = train_steps(dense_split_job(4, True), X, y8)
        got = variables()
        return {
            "mismatch": compare(ref, got),
            "loss_close": bool(np.allclose(loss, ref_loss, RTOL, ATOL)),
            "weight_spec": spec_of("fc-weight"),
            "slot_spec": spec_of("fc-weight-momentum"),
            "bias_spec": spec_of("fc-bias"),
        }

    def embedding() -> Any:
        y3 = Y
        train_steps(embedding_job(1, None), IDS, y3)
        ref = variables()
        train_steps(embedding_job(4, flow.distribute.split(0)), IDS, y3)
        got = variables()
        shard_shapes = sorted(
            {s.data.shape for s in flow.get_all_variables()["table"].value.addressable_shards}
        )
        return {
            "mismatch": compare(ref, got),
            "table_spec": spec_of("table"),
            "slot_specs": [spec_of("table-m"), spec_of("table-v")],
            "shard_shapes": [list(s) for s in shard_shapes],
        }

    def hierarchy() -> Any:
        ref_loss = train_steps(hierarchy_job(None), X, y8)
        ref = variables()
        loss = train_steps(hierarchy_job([2, 2]), X, y8)
        got = variables()
        return {
            "mismatch": compare(ref, got),
            "loss_close": bool(np.allclose(loss, ref_loss, RTOL, ATOL)),
            "w_spec": spec_of("w"),
            "v_spec": spec_of("v"),
            "mesh": dict(flow.get_all_variables()["w"].value.sharding.mesh.shape),
        }

    def uneven_split() -> Any:
        """A 6-row variable split over 4 devices is held whole, with a note; same values."""
        _, ref = run_mlp(1, w_dist=flow.distribute.split(0))
        _, got = run_mlp(4, w_dist=flow.distribute.split(0))
        session = flow.get_all_variables()["w"]._session  # the notes live there
        return {
            "mismatch": compare(ref, got),
            "w_spec": spec_of("w"),
            "note": session.layout_notes.get("w", ""),
        }

    check(report, "initial_split_values", initial_split_values)
    check(report, "dense", dense)
    check(report, "embedding", embedding)
    check(report, "hierarchy", hierarchy)
    check(report, "uneven_split", uneven_split)


if __name__ == "__main__":
    result: dict[str, Any] = {"devices": jax.device_count()}
    {"data": data_group, "model": model_group}[sys.argv[1]](result)
    print("RESULT " + json.dumps(result))
