"""Progress bars for long saves, loads and verifications (tqdm on stderr).

A bar is drawn only on a terminal: when stderr is a file or a pipe (CI logs, ``2> log``), no
``\\r`` frames are written; a bar asked for explicitly there becomes one plain line when the
work ends.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

# Below this many bytes an automatic progress bar is not worth drawing.
AUTO_THRESHOLD_BYTES = 256 * 2**20


def _human(nbytes: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if nbytes < 1024 or unit == "GiB":
            return f"{nbytes:.0f} {unit}" if unit == "B" else f"{nbytes:.1f} {unit}"
        nbytes /= 1024
    return f"{nbytes:.1f} GiB"  # pragma: no cover


class Progress:
    """A thread-safe byte counter that draws a tqdm bar when enabled (on a terminal), or writes
    one summary line at the end when enabled explicitly and stderr is not a terminal."""

    def __init__(self, total: int, *, desc: str, enabled: bool | None) -> None:
        terminal = _isatty()
        if enabled is None:
            enabled = total >= AUTO_THRESHOLD_BYTES and terminal
        self._bar: Any = None
        self._lock = threading.Lock()
        self._line: tuple[str, float] | None = None
        self._done = 0
        if enabled and terminal:
            from tqdm import tqdm

            self._bar = tqdm(
                total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024, leave=False
            )
        elif enabled:
            self._line = (desc, time.perf_counter())

    def update(self, nbytes: int) -> None:
        """Count ``nbytes`` more as done."""
        if self._bar is not None:
            with self._lock:
                self._bar.update(nbytes)
        elif self._line is not None:
            with self._lock:
                self._done += nbytes

    def close(self) -> None:
        """Remove the bar (or write the one summary line)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        if self._line is not None:
            desc, start = self._line
            self._line = None
            seconds = time.perf_counter() - start
            print(f"{desc}: {_human(self._done)} in {seconds:.1f} s", file=sys.stderr)


def _isatty() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced or closed stderr
        return False
