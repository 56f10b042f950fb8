"""The process's summary writer: one event file, as OneFlow's ``EventsWriter``.

``create_summary_writer(logdir)`` opens ``<logdir>/event/events.out.tfevents.<secs>.<host>.<pid>``
(OneFlow named it ``event.<secs>.log``; TensorBoard reads only files whose names hold
``tfevents``, so flowsnap uses TensorBoard's name in OneFlow's directory) and writes the
``file_version`` event first. Every event is framed as a TFRecord and written at once; ``flush``
pushes the file to the operating system. One writer per process, shared by all jobs, as OneFlow's
was: host callbacks of compiled steps run on other threads, so it is guarded by a lock, not held
in a context variable.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any, BinaryIO

from flowsnap.errors import SessionError
from flowsnap.summary._proto import message_class
from flowsnap.summary._records import frame

FILE_VERSION = "brain.Event:2"
_counter = itertools.count()


class EventWriter:
    """Appends ``Event`` records to one event file under ``<logdir>/event/``."""

    def __init__(self, logdir: str | os.PathLike[str]) -> None:
        self.logdir = Path(logdir)
        directory = self.logdir / "event"
        directory.mkdir(parents=True, exist_ok=True)
        now = int(time.time())
        name = f"events.out.tfevents.{now}.{socket.gethostname()}.{os.getpid()}.{next(_counter)}"
        self.path = directory / name
        self._file: BinaryIO | None = open(self.path, "ab")  # noqa: SIM115 - held open
        self._lock = threading.Lock()
        event = message_class("tensorboard.Event")(wall_time=float(now), file_version=FILE_VERSION)
        self.write(event)
        self.flush()

    def write(self, event: Any) -> None:
        """Append ``event`` (a ``tensorboard.Event`` message)."""
        record = frame(event.SerializeToString())
        with self._lock:
            if self._file is None:
                raise SessionError(f"the summary writer of {self.logdir} is closed")
            self._file.write(record)

    def flush(self) -> None:
        """Hand what was written to the operating system."""
        with self._lock:
            if self._file is not None:
                self._file.flush()

    def close(self) -> None:
        """Flush and close the file."""
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


_lock = threading.Lock()
_current: dict[str, EventWriter] = {}  # "writer" -> the process's writer


def _wait_for_callbacks() -> None:
    """Let the summary callbacks of the steps dispatched so far run (when JAX is loaded)."""
    import sys

    jax = sys.modules.get("jax")
    if jax is not None:
        with contextlib.suppress(Exception):  # at interpreter exit JAX may be torn down
            jax.effects_barrier()


def open_writer(logdir: str | os.PathLike[str]) -> EventWriter:
    """Make a writer of ``logdir`` the process's writer (closing the previous one)."""
    with _lock:
        previous = _current.pop("writer", None)
        if previous is not None:
            previous.close()
        writer = _current["writer"] = EventWriter(logdir)
        return writer


def current_writer(what: str) -> EventWriter:
    """The process's writer.

    Raises:
        SessionError: none was created.
    """
    with _lock:
        writer = _current.get("writer")
    if writer is None:
        raise SessionError(
            f"{what}: there is no summary writer; call "
            "flow.summary.create_summary_writer(logdir) first (in a job or outside one)"
        )
    return writer


def flush_writer(*, wait: bool = False) -> None:
    """Flush the process's writer, if there is one (``wait``: after the pending summary
    callbacks; not from inside a callback)."""
    if wait:
        _wait_for_callbacks()
    with _lock:
        writer = _current.get("writer")
    if writer is not None:
        writer.flush()


def close_writer() -> None:
    """Close the process's writer, if there is one (after the pending summary callbacks)."""
    _wait_for_callbacks()
    with _lock:
        writer = _current.pop("writer", None)
    if writer is not None:
        writer.close()


atexit.register(close_writer)
