"""Save JAX arrays that live on a GPU and load them back onto it (run where a GPU is available).

``write_snapshot`` takes anything with ``__array__``; for a device array that is the device-to-host
copy. This script checks the round trip bit for bit on the GPT-2-medium shapes of
``bench_format.py`` and times its phases. Usage: ``python benchmarks/gpu_format_check.py DIR``.
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_format import gpt2_medium_shapes
from flowsnap.format import open_snapshot, write_snapshot


def main() -> None:
    work = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/flowsnap-gpu")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    device = jax.devices()[0]
    print(f"device: {device.device_kind} ({device.platform}), jax {jax.__version__}")
    shapes = gpt2_medium_shapes()
    keys = jax.random.split(jax.random.key(0), len(shapes))
    params = {
        name: jax.random.normal(k, shape, jnp.float32)
        for k, (name, shape) in zip(keys, shapes.items(), strict=True)
    }
    params["wte-bf16"] = params["wte"].astype(jnp.bfloat16)
    jax.block_until_ready(params)
    nbytes = sum(p.nbytes for p in params.values())
    print(f"{len(params)} arrays, {nbytes / 1e9:.3f} GB on {params['wte'].devices()}")

    for rep in range(2):
        path = work / f"ckpt{rep}"
        start = time.perf_counter()
        write_snapshot(path, params, durable=False)
        save = time.perf_counter() - start

        start = time.perf_counter()
        host = open_snapshot(path).load()
        load = time.perf_counter() - start
        start = time.perf_counter()
        back = jax.device_put(host, device)
        jax.block_until_ready(back)
        to_device = time.perf_counter() - start

        for name, original in params.items():
            same = np.array_equal(
                np.asarray(back[name]).view(np.uint8), np.asarray(original).view(np.uint8)
            )
            if not same or back[name].dtype != original.dtype:
                raise SystemExit(f"MISMATCH in {name}")
        print(
            f"round {rep}: save from GPU {save:.3f} s ({nbytes / save / 1e9:.2f} GB/s), "
            f"load verified {load:.3f} s ({nbytes / load / 1e9:.2f} GB/s), "
            f"host->GPU {to_device:.3f} s; all {len(params)} arrays bit-identical"
        )
        shutil.rmtree(path)


if __name__ == "__main__":
    main()
