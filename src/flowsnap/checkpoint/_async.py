"""Asynchronous saves: copy the variables to host memory, then write in the background.

``flow.checkpoint.save(path, blocking=False)`` returns a :class:`SaveHandle` as soon as every value
is held in a form that later device work cannot change (the snapshot, see :func:`stage`): the
training step that runs next, even one that donates the variables' buffers, cannot change or
delete what is being saved. Real copies (accelerator arrays, NumPy arrays) are made on a few
threads in parallel; the files are then written, checksummed, fsynced and published atomically on
a background thread.

Limits, so that memory stays bounded and failures are never lost:

* at most one save in flight per target path (a second one is refused at once);
* staged bytes are bounded by a budget (default: one save at a time; ``set_staging_budget``
  raises it); a save that would exceed it waits for earlier saves to finish first;
* a save that failed in the background raises its error from ``wait()``, or else from the next
  save, and never publishes anything (the writer removes its temporary directory);
* interpreter exit waits for saves in flight (the worker threads are joined).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import jax
import numpy as np

from flowsnap.checkpoint._report import SavedCheckpoint
from flowsnap.errors import TargetExistsError
from flowsnap.format import Manifest, StoredVariable, write_snapshot


class SaveHandle:
    """A save running in the background."""

    def __init__(self, path: str, nbytes: int, future: Future[Manifest]) -> None:
        self.path = path
        self.nbytes = nbytes
        self._future = future
        self._observed = False

    def done(self) -> bool:
        """Whether the save has finished (successfully or not)."""
        return self._future.done()

    def wait(self, timeout: float | None = None) -> SavedCheckpoint:
        """Wait until the checkpoint is published; return what was saved (a
        :class:`SavedCheckpoint`, the manifest in ``.manifest``) or raise its error.

        Raises:
            TimeoutError: not finished within ``timeout`` seconds.
            SnapshotWriteError (and the writer's other errors): the save failed; nothing was
                published.
        """
        try:
            return SavedCheckpoint(self.path, self._future.result(timeout))
        finally:
            if self._future.done():
                self._observed = True

    def exception(self) -> BaseException | None:
        """The error of a finished save, or None."""
        return self._future.exception() if self._future.done() else None

    def __repr__(self) -> str:
        state = "done" if self.done() else "running"
        return f"SaveHandle({self.path!r}, {self.nbytes} bytes, {state})"


class AsyncSaver:
    """Runs background saves with bounded staging memory (one per process: :func:`saver`)."""

    def __init__(self, budget_bytes: int | None = None) -> None:
        self.budget_bytes = budget_bytes
        self._lock = threading.Condition()
        self._in_flight: dict[str, SaveHandle] = {}
        self._staged = 0
        self._finished: list[SaveHandle] = []
        self._pool = ThreadPoolExecutor(2, thread_name_prefix="flowsnap-save")
        self._stagers = ThreadPoolExecutor(
            max(2, os.cpu_count() or 1), thread_name_prefix="flowsnap-stage"
        )

    def save(
        self,
        path: str | os.PathLike[str],
        values: Mapping[str, Any],
        *,
        durable: bool,
        metadata: Mapping[str, Any] | None,
        legacy: bool,
        overwrite: bool = False,
    ) -> SaveHandle:
        """Stage ``values`` (host copies) and write them to ``path`` in the background."""
        target = os.path.abspath(os.fspath(path))
        self.raise_unobserved_failure()
        nbytes = sum(_nbytes(v) for v in values.values())
        with self._lock:
            if target in self._in_flight:
                raise TargetExistsError(
                    f"cannot save to {target}: a save to it is still in progress; wait() for it "
                    "or choose another path"
                )
            while self._in_flight and not self._fits(nbytes):
                self._lock.wait()
            self._staged += nbytes
            placeholder: Future[Manifest] = Future()
            self._in_flight[target] = SaveHandle(target, nbytes, placeholder)
        # Zero-copy values (CPU arrays, files) are staged here; real copies run on the staging
        # threads (largest first, to balance them), and the writer starts when they are done, so
        # it does not compete with them for the CPU while the caller waits.
        cheap = {n: v for n, v in values.items() if _zero_copy(v)}
        order = sorted(set(values) - set(cheap), key=lambda n: -_nbytes(values[n]))
        copies = {name: self._stagers.submit(stage, values[name]) for name in order}
        try:
            staged = {name: stage(value) for name, value in cheap.items()}
            staged.update({name: copies[name].result() for name in order})
        except BaseException:
            for copy in copies.values():
                copy.cancel()
            self._release(target)
            raise
        sources = {name: staged[name] for name in values}
        future = self._pool.submit(
            write_snapshot,
            target,
            sources,
            durable=durable,
            metadata=metadata,
            legacy=legacy,
            overwrite=overwrite,
        )
        handle = SaveHandle(target, nbytes, future)
        with self._lock:
            self._in_flight[target] = handle
        future.add_done_callback(lambda _: self._finish(handle))
        return handle

    def submit(self, path: str, nbytes: int, run: Callable[[], Manifest]) -> SaveHandle:
        """Run an already staged save (``run`` returns the manifest) in the background, with
        the same limits as :meth:`save` (one save per target, the staging budget)."""
        target = os.path.abspath(path)
        self.raise_unobserved_failure()
        with self._lock:
            if target in self._in_flight:
                raise TargetExistsError(
                    f"cannot save to {target}: a save to it is still in progress; wait() for it "
                    "or choose another path"
                )
            while self._in_flight and not self._fits(nbytes):
                self._lock.wait()
            self._staged += nbytes
            future = self._pool.submit(run)
            handle = SaveHandle(target, nbytes, future)
            self._in_flight[target] = handle
        future.add_done_callback(lambda _: self._finish(handle))
        return handle

    def _fits(self, nbytes: int) -> bool:
        if self.budget_bytes is None:
            return False  # default: one save at a time
        return self._staged + nbytes <= self.budget_bytes

    def _release(self, target: str) -> None:
        with self._lock:
            handle = self._in_flight.pop(target, None)
            if handle is not None:
                self._staged -= handle.nbytes
            self._lock.notify_all()

    def _finish(self, handle: SaveHandle) -> None:
        with self._lock:
            self._finished.append(handle)
        self._release(handle.path)

    def raise_unobserved_failure(self) -> None:
        """Raise the error of a finished background save nobody has waited for (once)."""
        with self._lock:
            failed = [h for h in self._finished if not h._observed and h.exception() is not None]
            self._finished = [h for h in self._finished if not h._observed and h not in failed]
        for handle in failed:
            handle._observed = True
        if failed:
            raise failed[0].exception()  # type: ignore[misc]


def stage(value: Any) -> Any:
    """A host array holding ``value`` as it is now, which later device work cannot change.

    * a JAX array on the CPU: a zero-copy NumPy view. The view is an external reference to the
      buffer, and XLA never donates a buffer with external references: a donating step that
      runs next writes its results elsewhere and the viewed bytes stay as they are (pinned by
      ``test_a_zero_copy_view_survives_a_donating_step``);
    * a JAX array on an accelerator: a copy to host memory;
    * anything else (NumPy arrays the caller may mutate): a copy.
    """
    if isinstance(value, StoredVariable):
        return value  # files are copied by the writer, verified
    if isinstance(value, jax.Array):
        if all(d.platform == "cpu" for d in value.devices()):
            return np.asarray(value)
        return np.asarray(jax.device_get(value))
    return np.array(value, copy=True)


def _zero_copy(value: Any) -> bool:
    """Whether :func:`stage` takes ``value`` without copying its bytes."""
    if isinstance(value, StoredVariable):
        return True
    return isinstance(value, jax.Array) and all(d.platform == "cpu" for d in value.devices())


def _nbytes(value: Any) -> int:
    if isinstance(value, StoredVariable):
        return 0  # not staged in memory
    count = int(np.prod(getattr(value, "shape", ())))
    return count * int(np.dtype(value.dtype).itemsize)


_saver = AsyncSaver()


def saver() -> AsyncSaver:
    """The process's background saver."""
    return _saver


def set_staging_budget(nbytes: int | None) -> None:
    """Allow several background saves at once as long as their host copies fit in ``nbytes``
    (None: one save at a time, the default)."""
    if nbytes is not None and nbytes <= 0:
        raise ValueError(f"staging budget must be > 0 bytes or None, got {nbytes}")
    _saver.budget_bytes = nbytes
