"""Progress bars for long saves, loads and verifications (tqdm on stderr)."""

from __future__ import annotations

import sys
import threading
from typing import Any

# Below this many bytes an automatic progress bar is not worth drawing.
AUTO_THRESHOLD_BYTES = 256 * 2**20


class Progress:
    """A thread-safe byte counter that draws a tqdm bar when enabled."""

    def __init__(self, total: int, *, desc: str, enabled: bool | None) -> None:
        if enabled is None:
            enabled = total >= AUTO_THRESHOLD_BYTES and sys.stderr.isatty()
        self._bar: Any = None
        self._lock = threading.Lock()
        if enabled:
            from tqdm import tqdm

            self._bar = tqdm(
                total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024, leave=False
            )

    def update(self, nbytes: int) -> None:
        """Count ``nbytes`` more as done."""
        if self._bar is not None:
            with self._lock:
                self._bar.update(nbytes)

    def close(self) -> None:
        """Remove the bar."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
