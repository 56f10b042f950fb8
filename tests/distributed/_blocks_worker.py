"""One process of test_block_checksums.py's multi-process runs.

Usage: ``_blocks_worker.py PROCESS NPROCS PORT SCENARIO DIR``; the CPU device count comes from
``XLA_FLAGS``. Prints one line ``RESULT <json>``. Scenarios:

* ``save``: save :func:`values` sharded over every device of every process (``cols`` split
  along its last axis, ``mid`` along its middle one, ``rows`` along the leading one) to
  ``DIR/ckpt``;
* ``load``: load ``DIR/ckpt`` into the save's layout, counting the bytes of ``out`` files read
  (every ``os.preadv``/``os.pread``, the positioned reads all readers make), then into another
  layout (rows); a load that fails reports its error instead of raising.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from typing import Any

import numpy as np


def values() -> dict[str, np.ndarray]:
    """The values every process knows."""
    rng = np.random.default_rng(99)
    return {
        # rows of 8 KiB: each process's half is a page away from the next (gaps of a page or
        # more are not read through)
        "cols": rng.standard_normal((40, 2048)).astype(np.float32),
        "mid": rng.integers(-(2**30), 2**30, (4, 8, 256)).astype(np.int32),
        "rows": rng.standard_normal((16, 3)).astype(np.float32),
    }


def layout(jax: Any, name: str, *, same: bool) -> Any:
    """The save's sharding of a variable (``same``), or another one (split by rows)."""
    from jax.sharding import Mesh, NamedSharding
    from jax.sharding import PartitionSpec as P

    mesh = Mesh(np.array(jax.devices()), ("a",))
    if not same or name == "rows":
        return NamedSharding(mesh, P("a"))
    return NamedSharding(mesh, P(None, "a") if name == "cols" else P(None, "a", None))


def main() -> None:
    process, nprocs, port, scenario, root = sys.argv[1:6]
    import jax

    jax.distributed.initialize(
        coordinator_address=f"127.0.0.1:{port}",
        num_processes=int(nprocs),
        process_id=int(process),
    )
    result: dict[str, Any] = {"process": jax.process_index(), "devices": jax.device_count()}
    try:
        result.update(save(jax, root) if scenario == "save" else load(jax, root))
    except BaseException as exc:  # reported to the test, which shows it
        result["error"] = f"{type(exc).__name__}: {exc}"
        result["traceback"] = traceback.format_exc()
    print("RESULT " + json.dumps(result), flush=True)
    jax.distributed.shutdown()  # no process leaves before the others are done
    os._exit(0)


def save(jax: Any, root: str) -> dict[str, Any]:
    import flowsnap as flow

    arrays = {
        name: jax.make_array_from_callback(
            v.shape, layout(jax, name, same=True), lambda i, v=v: v[i]
        )
        for name, v in values().items()
    }
    saved = flow.checkpoint.save(os.path.join(root, "ckpt"), arrays, durable=False)
    return {"blocks": {n: len(e.blocks or ()) for n, e in saved.manifest.variables.items()}}


def load(jax: Any, root: str) -> dict[str, Any]:
    from flowsnap.checkpoint._shardload import load_sharded
    from flowsnap.format import open_snapshot

    snap = open_snapshot(os.path.join(root, "ckpt"))
    read = {"bytes": 0}
    real_preadv, real_pread = os.preadv, os.pread

    def preadv(fd: int, buffers: list[Any], offset: int) -> int:
        n = real_preadv(fd, buffers, offset)
        read["bytes"] += n
        return n

    def pread(fd: int, size: int, offset: int) -> bytes:
        data = real_pread(fd, size, offset)
        read["bytes"] += len(data)
        return data

    out: dict[str, Any] = {"read": {}, "own": {}, "errors": {}}
    for same in (True, False):
        for name, value in values().items():
            sharding = layout(jax, name, same=same)
            key = f"{name}/{'same' if same else 'other'}"
            read["bytes"] = 0
            os.preadv, os.pread = preadv, pread  # type: ignore[assignment]
            try:
                array = load_sharded(snap[name], sharding, value.dtype)
            except Exception as exc:
                out["errors"][key] = f"{type(exc).__name__}: {exc}"
                continue
            finally:
                os.preadv, os.pread = real_preadv, real_pread  # type: ignore[assignment]
            out["read"][key] = read["bytes"]
            mine = {}
            for shard in array.addressable_shards:
                got = np.asarray(shard.data)
                if not np.array_equal(got, value[shard.index]) or got.dtype != value.dtype:
                    raise AssertionError(f"{key} {shard.index}: wrong values")
                mine[str(shard.index)] = got.nbytes
            out["own"][key] = sum(mine.values())
    return out


if __name__ == "__main__":
    main()
