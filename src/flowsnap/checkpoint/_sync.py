"""Messages between the processes of a multi-process save, through the ``jax.distributed``
key-value store: small metadata only (directory names, statuses, chunk records), never data."""

from __future__ import annotations

import contextlib
import errno
import itertools
import json
import os
import threading
from collections.abc import Mapping
from typing import Any

import jax

from flowsnap import errors
from flowsnap.errors import FlowsnapError, SnapshotWriteError

_sequence = itertools.count()
_sequence_lock = threading.Lock()
_unacked: list[str] = []  # process 0: key prefixes of finished saves, to delete once acknowledged


def sync_timeout_s() -> float:
    """How long a process waits for the others at each step of a save (``FLOWSNAP_SYNC_TIMEOUT_S``,
    default 300 s): after that, a process that did not report is taken as dead."""
    raw = os.environ.get("FLOWSNAP_SYNC_TIMEOUT_S", "300")
    try:
        value = float(raw)
    except ValueError:
        raise errors.ArgumentError(
            f"FLOWSNAP_SYNC_TIMEOUT_S={raw!r} is not a number of seconds; set it to e.g. 300"
        ) from None
    if value <= 0:
        raise errors.ArgumentError(f"FLOWSNAP_SYNC_TIMEOUT_S must be > 0 seconds, got {raw!r}")
    return value


def _client() -> Any:
    """JAX's distributed client (its key-value store; the public API has none)."""
    try:
        from jax._src import distributed

        return distributed.global_state.client
    except (ImportError, AttributeError) as exc:
        raise SnapshotWriteError(
            errno.EINVAL,
            f"cannot save: this JAX ({jax.__version__}) does not expose the jax.distributed "
            f"client flowsnap coordinates multi-process saves with ({exc}); use the JAX "
            "version flowsnap was tested with (0.10)",
        ) from None


class Sync:
    """Messages between the processes of one save through the ``jax.distributed`` key-value
    store (no-ops in a single-process run)."""

    def __init__(self, sequence: int) -> None:
        self.process = jax.process_index()
        self.count = jax.process_count()
        self.client = _client() if self.count > 1 else None
        self.prefix = f"flowsnap/save/{sequence}"
        self.timeout_ms = int(sync_timeout_s() * 1000)
        if self.count > 1 and self.client is None:
            raise SnapshotWriteError(
                errno.EINVAL,
                "cannot save: this is a multi-process run, but jax.distributed has no client; "
                "call jax.distributed.initialize() (or flow.env.machine(...)) first",
            )

    def post(self, key: str, payload: Mapping[str, Any]) -> None:
        if self.client is None:
            return
        try:
            self.client.key_value_set(f"{self.prefix}/{key}", json.dumps(payload))
        except Exception as exc:  # the client raises its own runtime error
            raise SnapshotWriteError(
                errno.ECONNRESET,
                f"cannot save: process {self.process} could not report '{key}' to the "
                f"jax.distributed coordinator (process 0), which failed or died "
                f"({type(exc).__name__}). Nothing was published; save again.",
            ) from None

    def get(self, key: str, process: int) -> dict[str, Any]:
        if self.client is None:
            raise SnapshotWriteError(errno.EINVAL, "internal: no jax.distributed client")
        try:
            text = self.client.blocking_key_value_get(f"{self.prefix}/{key}", self.timeout_ms)
        except Exception as exc:  # the client raises its own runtime error on a timeout
            raise SnapshotWriteError(
                errno.ETIMEDOUT,
                f"cannot save: process {process} did not report '{key}' within "
                f"{self.timeout_ms / 1000:g} s (FLOWSNAP_SYNC_TIMEOUT_S); it failed or died "
                f"({type(exc).__name__}). Nothing was published; save again.",
            ) from None
        doc: dict[str, Any] = json.loads(text)
        return doc

    def finished(self) -> None:
        """This process read everything of this save: acknowledge it, so that process 0 may
        delete its keys later (:meth:`collect`)."""
        if self.client is None:
            return
        with contextlib.suppress(Exception):  # housekeeping only
            self.client.key_value_set(f"{self.prefix}/ack/{self.process}", "1")
        if self.process == 0:
            with _sequence_lock:
                _unacked.append(self.prefix)

    def collect(self) -> None:
        """Process 0: delete the keys of earlier saves every process acknowledged (a save's keys
        may go only once no process can still be waiting to read them)."""
        if self.client is None or self.process != 0:
            return
        with _sequence_lock:
            pending = list(_unacked)
        for prefix in pending:
            try:
                for p in range(self.count):
                    self.client.key_value_try_get(f"{prefix}/ack/{p}")
                self.client.key_value_delete(f"{prefix}/")
            except Exception:  # not acknowledged by everyone yet (or gone): look again later
                continue
            with _sequence_lock:
                if prefix in _unacked:  # another thread may have collected it meanwhile
                    _unacked.remove(prefix)

    def gather(self, key: str, payload: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Post this process's ``payload`` and return every process's, in process order."""
        if self.client is None:
            return [dict(payload)]
        self.post(f"{key}/{self.process}", payload)
        return [self.get(f"{key}/{p}", p) for p in range(self.count)]


def barrier(what: str) -> None:
    """Wait until every process of a multi-process run got here (no-op in a single process);
    e.g. after process 0 applied a retention policy, so that every process then lists the same
    checkpoints.

    Raises:
        SnapshotWriteError: a process did not arrive within ``FLOWSNAP_SYNC_TIMEOUT_S``.
    """
    if jax.process_count() == 1:
        return
    with _sequence_lock:
        sequence = next(_sequence)
    sync = Sync(sequence)
    sync.collect()
    sync.gather(what, {"ok": True})
    sync.finished()


def failure(exc: BaseException) -> dict[str, Any]:
    return {"error": str(exc), "kind": type(exc).__name__}


def raise_reported(docs: list[dict[str, Any]], what: str) -> None:
    for process, doc in enumerate(docs):
        if "error" in doc:
            cls = getattr(errors, str(doc.get("kind")), None)
            message = f"{what}: process {process} failed: {doc['error']}"
            if isinstance(cls, type) and issubclass(cls, FlowsnapError):
                raise cls(errno.EIO, message) if issubclass(cls, OSError) else cls(message)
            raise SnapshotWriteError(errno.EIO, message)


def next_sequence() -> int:
    """The number of the next save or barrier (the same on every process: they make the same
    calls in the same order)."""
    with _sequence_lock:
        return next(_sequence)
