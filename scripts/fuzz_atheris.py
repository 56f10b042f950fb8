"""Coverage-guided fuzzing of the readers with atheris (on demand; CI runs the hypothesis fuzzers).

    pip install atheris
    python scripts/fuzz_atheris.py meta -atheris_runs=200000
    python scripts/fuzz_atheris.py snapshot -max_total_time=600
    python scripts/fuzz_atheris.py safetensors -max_total_time=600

Targets:
  * ``meta``: ``parse_meta`` on arbitrary bytes;
  * ``snapshot``: a one-variable snapshot whose ``meta``, ``out`` and ``snapshot_done`` come from
    the input, opened, verified and read;
  * ``safetensors``: ``read_safetensors`` on arbitrary bytes.

Every outcome must be a flowsnap error or a correct result; anything else (another exception, a
crash, a hang, a huge allocation) is a finding that atheris reports with the input that caused it.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

import contextlib

import atheris

with atheris.instrument_imports():
    from flowsnap.errors import FlowsnapError
    from flowsnap.format import open_snapshot, parse_meta, verify_snapshot
    from flowsnap.tools import read_safetensors

WORK = Path(tempfile.mkdtemp(prefix="flowsnap-fuzz-"))


def fuzz_meta(data: bytes) -> None:
    with contextlib.suppress(FlowsnapError):
        parse_meta(data, where="fuzz/meta")


def fuzz_snapshot(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    root = WORK / "snap"
    var = root / "w"
    var.mkdir(parents=True, exist_ok=True)
    (var / "meta").write_bytes(fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 200)))
    (var / "out").write_bytes(fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 4096)))
    (root / "snapshot_done").write_bytes(fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 600)))
    try:
        snap = open_snapshot(root)
        verify_snapshot(root)
        for stored in snap.values():
            array = stored.numpy()
            assert array.nbytes <= os.path.getsize(var / "out")
    except FlowsnapError:
        pass


def fuzz_safetensors(data: bytes) -> None:
    path = WORK / "f.safetensors"
    path.write_bytes(data)
    try:
        for array in read_safetensors(str(path)).values():
            assert array.nbytes <= len(data)
            np.asarray(array).sum()
    except FlowsnapError:
        pass


TARGETS = {"meta": fuzz_meta, "snapshot": fuzz_snapshot, "safetensors": fuzz_safetensors}


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in TARGETS:
        sys.exit(f"usage: {sys.argv[0]} {{{'|'.join(TARGETS)}}} [libFuzzer options]")
    target = TARGETS[sys.argv.pop(1)]
    atheris.Setup(sys.argv, target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
