"""One process of a sharded-checkpoint test (started by test_sharded_checkpoint*.py).

Usage: ``_ckpt_worker.py PROCESS NPROCS PORT SCENARIO DIR [ARG]``; the CPU device count comes from
``XLA_FLAGS``. Prints one line ``RESULT <json>``. Scenarios:

* ``save``: save the reference variables, sharded over every device of every process (several
  layouts), to ``DIR/ckpt`` (ARG: ``async`` saves in the background);
* ``load``: load ``DIR/ckpt`` (saved with any layout and process count) into other layouts and
  compare with the reference values;
* ``kill``: save, but process ARG dies (SIGKILL) in the middle of writing its shards;
* ``manager``: a CheckpointManager with background saves and retention over several steps.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import traceback
from typing import Any

import numpy as np


def reference() -> dict[str, np.ndarray]:
    """The values every process knows (the same on all)."""
    rng = np.random.default_rng(1234)
    return {
        "rows": rng.standard_normal((48, 24)).astype(np.float32),
        "cols": rng.standard_normal((16, 40)).astype(np.float32),
        "cube": rng.integers(-1000, 1000, (8, 6, 16)).astype(np.int32),
        "vec": rng.standard_normal(64).astype(np.float32),
        "scalar": np.array(3.5, np.float32),
        "host": np.arange(10, dtype=np.int32),
        "local": rng.standard_normal((3, 5)).astype(np.float32),
    }


def layouts(jax: Any, variant: int) -> dict[str, Any]:
    """A sharding per variable; ``variant`` picks one of several layouts of the same devices."""
    from jax.sharding import Mesh, NamedSharding
    from jax.sharding import PartitionSpec as P

    devices = np.array(jax.devices())
    n = devices.size
    flat = Mesh(devices, ("a",))
    procs = jax.process_count()
    grid = Mesh(devices.reshape(procs, n // procs), ("p", "d"))
    if variant == 0:
        specs = {
            "rows": (flat, P("a")),
            "cols": (flat, P(None, "a")),
            "cube": (grid, P("p", None, "d")),
            "vec": (flat, P("a")),
            "scalar": (flat, P()),
        }
    else:
        specs = {
            "rows": (grid, P("d", "p")),
            "cols": (flat, P("a", None)),
            "cube": (grid, P(None, None, ("p", "d"))),
            "vec": (grid, P()),
            "scalar": (grid, P()),
        }
    return {name: NamedSharding(mesh, spec) for name, (mesh, spec) in specs.items()}


def main() -> None:
    process, nprocs, port, scenario, root = sys.argv[1:6]
    extra = sys.argv[6] if len(sys.argv) > 6 else ""
    import jax

    if int(nprocs) > 1:
        jax.distributed.initialize(
            coordinator_address=f"127.0.0.1:{port}",
            num_processes=int(nprocs),
            process_id=int(process),
        )
    result: dict[str, Any] = {"process": jax.process_index(), "devices": jax.device_count()}
    try:
        result.update(SCENARIOS[scenario](jax, root, extra))
    except BaseException as exc:  # reported to the test, which shows it
        result["error"] = f"{type(exc).__name__}: {exc}"
        result["traceback"] = traceback.format_exc()
    print("RESULT " + json.dumps(result), flush=True)
    if scenario != "kill" and int(nprocs) > 1:
        # JAX's shutdown barrier: process 0 hosts the coordination service, and JAX stops a
        # process that loses it, so no process may leave before the others are done.
        jax.distributed.shutdown()
    os._exit(0)  # with a dead peer, skip the shutdown barrier (it would wait for it)


def sharded_values(jax: Any, variant: int) -> dict[str, Any]:
    ref = reference()
    out: dict[str, Any] = {}
    for name, sharding in layouts(jax, variant).items():
        value = ref[name]
        out[name] = jax.make_array_from_callback(value.shape, sharding, lambda i, v=value: v[i])
    out["host"] = ref["host"]
    # an array on this process's first device only (each process has its own copy)
    out["local"] = jax.device_put(ref["local"], jax.local_devices()[0])
    return out


def save(jax: Any, root: str, extra: str) -> dict[str, Any]:
    import flowsnap as flow

    variant = 1 if "variant1" in extra else 0
    values = sharded_values(jax, variant)
    path = os.path.join(root, "ckpt")
    if "async" in extra:
        saved = flow.checkpoint.save(path, values, durable=False, blocking=False).wait(60)
    else:
        saved = flow.checkpoint.save(path, values, durable=False, metadata={"by": "test"})
    return {
        "chunks": {n: len(e.chunks or ()) for n, e in saved.manifest.variables.items()},
        "format_version": saved.manifest.format_version,
    }


def load(jax: Any, root: str, extra: str) -> dict[str, Any]:
    from flowsnap.checkpoint._shardload import load_sharded
    from flowsnap.format import open_snapshot

    snap = open_snapshot(os.path.join(root, "ckpt"))
    ref = reference()
    checked = []
    for variant in (0, 1):
        for name, sharding in layouts(jax, variant).items():
            array = load_sharded(snap[name], sharding, ref[name].dtype)
            assert array.sharding == sharding
            for shard in array.addressable_shards:
                got = np.asarray(shard.data)
                want = ref[name][shard.index]
                if not np.array_equal(got, want) or got.dtype != want.dtype:
                    raise AssertionError(f"{name} {shard.index}: loaded {got}, expected {want}")
            checked.append(name)
    return {"checked": checked}


def kill(jax: Any, root: str, extra: str) -> dict[str, Any]:
    import flowsnap as flow
    import flowsnap.checkpoint._distributed as dist

    victim = int(extra)
    write_part = dist.write_part

    def dying(tmp: str, var: Any, process: int, **kwargs: Any) -> Any:
        if process == victim and var.name == "cube":
            os.kill(os.getpid(), signal.SIGKILL)
        return write_part(tmp, var, process, **kwargs)

    dist.write_part = dying  # type: ignore[assignment]
    try:
        flow.checkpoint.save(os.path.join(root, "ckpt"), sharded_values(jax, 0), durable=False)
    except Exception as exc:
        return {"failed": f"{type(exc).__name__}: {exc}"}
    return {"failed": None}


def manager(jax: Any, root: str, extra: str) -> dict[str, Any]:
    import flowsnap as flow

    mgr = flow.checkpoint.CheckpointManager(
        os.path.join(root, "steps"), max_to_keep=2, async_save=True, durable=False
    )
    values = sharded_values(jax, 0)
    for step in range(4):
        values["vec"] = values["vec"] + 1
        mgr.save(step, values)
    mgr.wait()
    steps = mgr.all_steps()
    snap = flow.checkpoint.get(mgr.path(steps[-1]))
    last = np.asarray(snap["vec"].numpy())  # type: ignore[index]
    return {"steps": steps, "last_vec_offset": float((last - reference()["vec"]).mean())}


def matrix(jax: Any, root: str, extra: str) -> dict[str, Any]:
    """Save on 1, 2, 4 and 8 devices (leading, non-leading and 2-D layouts), load each into
    every other count and layout, bit-exactly; the files equal an unsharded save's."""
    from jax.sharding import Mesh, NamedSharding
    from jax.sharding import PartitionSpec as P

    import flowsnap as flow
    from flowsnap.checkpoint._shardload import load_sharded
    from flowsnap.format import open_snapshot, verify_snapshot, write_snapshot

    rng = np.random.default_rng(7)
    value = {
        "w": rng.standard_normal((24, 40)).astype(np.float32),
        "e": rng.integers(0, 2**31 - 1, (8, 3, 16)).astype(np.int32),
    }
    write_snapshot(os.path.join(root, "plain"), value, durable=False)

    def sharding(n: int, kind: str, ndim: int) -> Any:
        devices = np.array(jax.devices()[:n])
        if kind == "lead":
            return NamedSharding(Mesh(devices, ("a",)), P("a"))
        if kind == "last":
            return NamedSharding(Mesh(devices, ("a",)), P(*([None] * (ndim - 1)), "a"))
        grid = Mesh(devices.reshape(2, n // 2) if n > 1 else devices.reshape(1, 1), ("x", "y"))
        return NamedSharding(grid, P("y", *([None] * (ndim - 2)), "x"))

    kinds = [(n, k) for n in (1, 2, 4, 8) for k in ("lead", "last", "grid")]
    saved = 0
    loads = 0
    for n, kind in kinds:
        path = os.path.join(root, f"s{n}{kind}")
        arrays = {
            name: jax.make_array_from_callback(
                v.shape, sharding(n, kind, v.ndim), lambda i, v=v: v[i]
            )
            for name, v in value.items()
        }
        flow.checkpoint.save(path, arrays, durable=False)
        for name in value:
            for part in ("out", "meta"):
                mine = os.path.join(path, name, part)
                with (
                    open(mine, "rb") as a,
                    open(os.path.join(root, "plain", name, part), "rb") as b,
                ):
                    if a.read() != b.read():
                        raise AssertionError(f"{mine} differs from the unsharded save")
        saved += 1
        report = verify_snapshot(path)  # on this one host, without devices
        if not report.ok or report.checked != tuple(sorted(value)):
            raise AssertionError(f"{path} does not verify: {report.problems}")
        snap = open_snapshot(path)
        for n2, kind2 in kinds:
            for name, v in value.items():
                target = sharding(n2, kind2, v.ndim)
                array = load_sharded(snap[name], target, v.dtype)
                if array.sharding != target or not np.array_equal(np.asarray(array), v):
                    raise AssertionError(f"{path} {name} -> {n2} {kind2}: wrong values")
                loads += 1
    # an unsharded (whole-file checksum) checkpoint loads into sharded targets too
    plain = open_snapshot(os.path.join(root, "plain"))
    for n2, kind2 in kinds:
        for name, v in value.items():
            array = load_sharded(plain[name], sharding(n2, kind2, v.ndim), v.dtype)
            if not np.array_equal(np.asarray(array), v):
                raise AssertionError(f"unsharded {name} -> {n2} {kind2}: wrong values")
    return {"saved": saved, "loads": loads}


def session(jax: Any, root: str, extra: str) -> dict[str, Any]:
    """load_variables keeps each variable's sharding (or takes shardings=); save() of sharded
    live variables writes OneFlow's files; a damaged chunk fails the load and changes nothing."""
    from jax.sharding import Mesh, NamedSharding
    from jax.sharding import PartitionSpec as P

    import flowsnap as flow
    from flowsnap._store import current_session
    from flowsnap.errors import ChecksumMismatchError

    @flow.global_function(type="predict")
    def job() -> flow.typing.Numpy:
        return flow.get_variable("emb", shape=(32, 8), initializer=flow.zeros_initializer())

    sess = current_session()
    sess.start()
    mesh = Mesh(np.array(jax.devices()), ("a",))
    rows = NamedSharding(mesh, P("a"))
    cols = NamedSharding(mesh, P(None, "a"))
    value = np.arange(256, dtype=np.float32).reshape(32, 8)
    sess.values["emb"] = jax.device_put(value, rows)
    path = os.path.join(root, "live")
    flow.checkpoint.save(path)  # every variable of the session, sharded
    sess.values["emb"] = jax.device_put(np.zeros_like(value), cols)
    report = flow.load_variables(flow.checkpoint.get(path))
    loaded = sess.values["emb"]
    result: dict[str, Any] = {
        "loaded": list(report.loaded),
        "kept_sharding": loaded.sharding == cols,
        "equal": bool(np.array_equal(np.asarray(loaded), value)),
    }
    flow.load_variables(flow.checkpoint.get(path), shardings={"emb": rows})
    result["explicit_sharding"] = sess.values["emb"].sharding == rows
    flow.load_variables({"emb": value + 1})  # a NumPy value, into the current sharding
    result["numpy_kept_sharding"] = sess.values["emb"].sharding == rows and bool(
        np.array_equal(np.asarray(sess.values["emb"]), value + 1)
    )
    with open(os.path.join(path, "emb", "out"), "r+b") as f:
        f.seek(700)
        byte = f.read(1)
        f.seek(700)
        f.write(bytes([byte[0] ^ 0x10]))
    sess.values["emb"] = jax.device_put(np.zeros_like(value), cols)
    try:
        flow.load_variables(flow.checkpoint.get(path))
    except ChecksumMismatchError as exc:
        result["damage"] = str(exc)
    result["unchanged"] = bool(np.all(np.asarray(sess.values["emb"]) == 0))
    return result


SCENARIOS = {
    "save": save,
    "load": load,
    "kill": kill,
    "manager": manager,
    "matrix": matrix,
    "session": session,
}

if __name__ == "__main__":
    main()
