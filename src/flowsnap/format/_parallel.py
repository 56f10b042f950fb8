"""Run per-variable I/O on a thread pool: big variables one per task, small ones batched."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

# A task is one variable of at least this many bytes, or a batch of smaller ones up to this size.
BATCH_BYTES = 2**20
BATCH_ITEMS = 256


def default_workers() -> int:
    """Threads for file I/O: system calls and hashing release the GIL, so a few per core pay off."""
    return max(2, min(16, 2 * (os.cpu_count() or 1)))


def run_parallel(
    fn: Callable[[T], R], items: Sequence[T], sizes: Sequence[int], *, workers: int | None
) -> list[R]:
    """Return ``[fn(item) for item in items]``, computed on a thread pool.

    The first exception cancels the work not yet started and is re-raised once running tasks end.
    """
    workers = default_workers() if workers is None else workers
    if workers <= 1 or len(items) <= 1:
        return [fn(item) for item in items]

    order = sorted(range(len(items)), key=lambda i: -sizes[i])
    batches: list[list[int]] = []
    small: list[int] = []
    small_bytes = 0
    for i in order:
        if sizes[i] >= BATCH_BYTES:
            batches.append([i])
            continue
        small.append(i)
        small_bytes += sizes[i]
        if small_bytes >= BATCH_BYTES or len(small) >= BATCH_ITEMS:
            batches.append(small)
            small, small_bytes = [], 0
    if small:
        batches.append(small)

    results: list[R | None] = [None] * len(items)

    def run(batch: list[int]) -> None:
        for i in batch:
            results[i] = fn(items[i])

    with ThreadPoolExecutor(max_workers=min(workers, len(batches))) as pool:
        futures: list[Future[None]] = [pool.submit(run, b) for b in batches]
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        failed = [f for f in futures if f in done and f.exception() is not None]
        if failed:
            for f in futures:
                f.cancel()
            wait(futures)
            raise failed[0].exception()  # type: ignore[misc]
    return results  # type: ignore[return-value]
