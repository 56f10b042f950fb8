"""Data-reading benchmarks (issue #12). One function per benchmark; ``main`` runs them.

``bench_records``: records/s of reading MNIST-shaped samples (a 28x28 uint8 image and an int32
label) in batches of 32, sequentially and in a shuffled order:

* ``ofrecord``: :class:`flowsnap.data.OFRecordDataset` (index cached, one ``pread`` per run of
  consecutive records) + protobuf parse + :func:`flowsnap.data.decode_raw` of ``images`` (bytes,
  as ``flowsnap ofrecord`` writes IDX images) and ``labels`` (int32), into ``(32, 28, 28)`` uint8
  and ``(32,)`` int32 arrays: what ``flow.data.ofrecord_reader`` + two ``OFRecordRawDecoder``
  compute per batch;
* ``npy mmap``: two ``.npy`` arrays (images, labels) opened with ``mmap_mode="r"``, a batch
  gathered by fancy indexing (the fastest a host reader of this data can be);
* ``npy per record``: one ``.npz``-free ``.npy`` file per image (``np.load`` each), the layout of
  a folder of samples.

``bench_data_images.image_section``: images/s of the ImageNet-style image pipeline against a torch
``DataLoader`` (see ``bench_data_images.py``; ``--no-images`` skips it).

Run: ``.venv/bin/python benchmarks/bench_data.py [--quick] [--append]`` (``--append`` adds the
table to ``RESULTS.md``).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

from flowsnap.data import OFRecordDataset, decode_raw, write_ofrecord  # noqa: E402

BATCH = 32
Row = tuple[str, str, float, float, float]


def _time(fn: Callable[[], int], rounds: int) -> tuple[float, float, float]:
    """Records/s of ``fn`` (which returns how many records it read): median, min, max."""
    rates = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        n = fn()
        rates.append(n / (time.perf_counter() - t0))
    return statistics.median(rates), min(rates), max(rates)


def bench_records(n: int, rounds: int, per_record: int) -> list[Row]:
    """Rows ``(system, order, median, min, max)`` of records/s."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, n).astype(np.int32)
    order = {"sequential": np.arange(n), "shuffled": rng.permutation(n)}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_ofrecord(
            ({"images": images[i], "labels": labels[i : i + 1]} for i in range(n)),
            root / "of",
            data_part_num=4,
            fsync=False,
        )
        np.save(root / "images.npy", images)
        np.save(root / "labels.npy", labels)
        (root / "each").mkdir()
        for i in range(per_record):
            np.save(root / "each" / f"{i}.npy", images[i])
        ds = OFRecordDataset(root / "of")

        def ofrecord(idx: np.ndarray[Any, Any]) -> Callable[[], int]:
            def run() -> int:
                for s in range(0, len(idx) - BATCH + 1, BATCH):
                    recs = ds.read(idx[s : s + BATCH])
                    x = decode_raw(recs, "images", (28, 28), np.uint8)
                    y = decode_raw(recs, "labels", (), np.int32)
                    assert x.shape == (BATCH, 28, 28)
                    assert y.shape == (BATCH,)
                return len(idx) - len(idx) % BATCH

            return run

        def npy_mmap(idx: np.ndarray[Any, Any]) -> Callable[[], int]:
            def run() -> int:
                xs = np.load(root / "images.npy", mmap_mode="r")
                ys = np.load(root / "labels.npy", mmap_mode="r")
                for s in range(0, len(idx) - BATCH + 1, BATCH):
                    b = np.sort(idx[s : s + BATCH])
                    x, y = np.asarray(xs[b]), np.asarray(ys[b])
                    assert x.shape == (BATCH, 28, 28)
                    assert y.shape == (BATCH,)
                return len(idx) - len(idx) % BATCH

            return run

        def npy_each(idx: np.ndarray[Any, Any]) -> Callable[[], int]:
            idx = idx[idx < per_record]

            def run() -> int:
                for s in range(0, len(idx) - BATCH + 1, BATCH):
                    x = np.stack([np.load(root / "each" / f"{i}.npy") for i in idx[s : s + BATCH]])
                    y = labels[idx[s : s + BATCH]]
                    assert x.shape == (BATCH, 28, 28)
                    assert y.shape == (BATCH,)
                return len(idx) - len(idx) % BATCH

            return run

        # Same data, same order: check that the two readers agree before timing them.
        check = order["shuffled"][:BATCH]
        got = decode_raw(ds.read(check), "images", (28, 28), np.uint8)
        if not np.array_equal(got, images[check]):
            raise SystemExit("OFRecord reading disagrees with the source arrays")
        for name, make in (
            ("ofrecord", ofrecord),
            ("npy mmap", npy_mmap),
            ("npy per record", npy_each),
        ):
            for kind, idx in order.items():
                rows.append((name, kind, *_time(make(idx), rounds)))
    return rows


def table(rows: list[Row]) -> str:
    """A markdown table with the same-run ratio to the mmap'd ``.npy`` reader."""
    base = {kind: med for name, kind, med, _, _ in rows if name == "npy mmap"}
    lines = [
        "| reader | order | records/s (median) | min-max | vs npy mmap |",
        "|---|---|---|---|---|",
    ]
    for name, kind, med, lo, hi in rows:
        lines.append(
            f"| {name} | {kind} | {med:,.0f} | {lo:,.0f}-{hi:,.0f} | {med / base[kind]:.3f}x |"
        )
    return "\n".join(lines)


def machine() -> str:
    """One line: CPU count, Python, NumPy, protobuf backend, load average."""
    from google.protobuf.internal import api_implementation

    load = os.getloadavg()
    return (
        f"{os.cpu_count()} CPUs, {platform.python_implementation()} {platform.python_version()}, "
        f"NumPy {np.__version__}, protobuf {api_implementation.Type()}, load average "
        f"{load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f}"
    )


def main(argv: list[str] | None = None) -> None:
    """Run the benchmarks and print (and with ``--append``, record) their tables."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="10,000 records, 3 rounds")
    p.add_argument("--rounds", type=int, default=None)
    p.add_argument("--append", action="store_true", help="append the table to RESULTS.md")
    p.add_argument("--no-images", action="store_true", help="skip the image-pipeline benchmark")
    args = p.parse_args(argv)
    n = 10_000 if args.quick else 60_000
    rounds = args.rounds or (3 if args.quick else 5)
    before = machine()
    rows = bench_records(n, rounds, per_record=min(n, 5_000))
    text = (
        f"## `bench_data.py` records, {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC, "
        f"{n:,} records, batch {BATCH}, {rounds} rounds\n\n"
        f"Machine: {before} (after: load {os.getloadavg()[0]:.1f}). `npy per record` reads "
        f"the first {min(n, 5_000):,} records only.\n\n{table(rows)}\n"
    )
    if not args.no_images:  # the image pipeline: its own module, bench_data_images.py
        from bench_data_images import image_section

        text += "\n" + image_section(args.quick, args.rounds)
    print(text)
    if args.append:
        with open(HERE / "RESULTS.md", "a") as f:
            f.write("\n" + text)


if __name__ == "__main__":
    main()
