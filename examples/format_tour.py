"""A tour of the flowsnap checkpoint format: save, inspect, verify, damage, load.

Run with ``make demo``. It writes into ./demo_out/ (removed first).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from flowsnap.cli import main as flowsnap
from flowsnap.errors import ChecksumMismatchError
from flowsnap.format import open_path, open_snapshot, verify_snapshot, write_snapshot

OUT = Path("demo_out")


def lenet_like(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The variables of the seed chapter's LeNet, with random values."""
    shapes = {
        "conv1-weight": (32, 1, 5, 5),
        "conv1-bias": (32,),
        "conv2-weight": (64, 32, 5, 5),
        "conv2-bias": (64,),
        "dense1-weight": (512, 3136),
        "dense1-bias": (512,),
        "dense2-weight": (10, 512),
        "dense2-bias": (10,),
    }
    variables = {k: (rng.standard_normal(s) * 0.1).astype(np.float32) for k, s in shapes.items()}
    variables["System-Train-TrainStep-train_job"] = np.array([1000], dtype=np.int64)
    return variables


def tree(root: Path) -> None:
    """Print a directory tree like the seed chapter's."""
    print(f"{root.name}/")
    for entry in sorted(
        (p for p in root.iterdir() if p.name[0] != "."), key=lambda p: p.name.lower()
    ):
        print(f"├── {entry.name}")
        if entry.is_dir():
            for child in sorted(entry.iterdir()):
                print(f"│   ├── {child.name}")


def main() -> None:
    if OUT.exists():
        shutil.rmtree(OUT)
    rng = np.random.default_rng(0)
    variables = lenet_like(rng)

    print("== 1. Save (atomic, fsynced, checksummed) to demo_out/lenet_models_name")
    write_snapshot(OUT / "lenet_models_name", variables, metadata={"epoch": 3})
    tree(OUT / "lenet_models_name")
    meta = (OUT / "lenet_models_name" / "conv1-weight" / "meta").read_text()
    print("\nconv1-weight/meta (protobuf text, byte-identical to OneFlow's):\n" + meta)

    print("== 2. Inspect with the CLI: flowsnap ls")
    flowsnap(["ls", str(OUT / "lenet_models_name")])

    print("\n== 3. Load lazily; only what is asked for is read")
    snap = open_snapshot(OUT / "lenet_models_name")
    w = snap["dense1-weight"]
    print(f"{w!r}\nrows 0:2 of dense1-weight, first 4 columns:\n{w.read(0, 2)[:, :4]}")
    loaded = snap.load()
    assert all(np.array_equal(loaded[k], v) for k, v in variables.items())
    print(f"all {len(loaded)} variables loaded and checksum-verified, bit-identical")
    single = open_path(OUT / "lenet_models_name" / "System-Train-TrainStep-train_job")
    print(f"a variable directory on its own (checkpoint.get rule): {single.numpy()}")

    print("\n== 4. Refuse to overwrite a checkpoint")
    try:
        write_snapshot(OUT / "lenet_models_name", variables)
    except FileExistsError as exc:
        print(f"{type(exc).__name__}: {exc}")

    print("\n== 5. Damage one byte; verify finds it, loading refuses it")
    out = OUT / "lenet_models_name" / "conv2-weight" / "out"
    data = bytearray(out.read_bytes())
    data[1234] ^= 0x01
    out.write_bytes(bytes(data))
    flowsnap(["verify", str(OUT / "lenet_models_name")])
    try:
        open_snapshot(OUT / "lenet_models_name")["conv2-weight"].numpy()
    except ChecksumMismatchError as exc:
        print(f"{type(exc).__name__}: {exc}")
    print(f"\nverify_snapshot(...).ok = {verify_snapshot(OUT / 'lenet_models_name').ok}")


if __name__ == "__main__":
    main()
