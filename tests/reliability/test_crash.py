"""Crash consistency: a saving process SIGKILLed at random moments never leaves a damaged or
half-written checkpoint (scripts/crash_harness.py; FLOWSNAP_RELIABILITY=long for the long run)."""

from __future__ import annotations

import os
from pathlib import Path

from scripts.crash_harness import run

LONG = os.environ.get("FLOWSNAP_RELIABILITY") == "long"


def test_random_kills_never_damage_a_checkpoint(tmp_path: Path) -> None:
    kills, size_mb = (300, 300) if LONG else (12, 32)
    report = run(tmp_path / "crash", kills, size_mb, seed=1)
    assert report.failures == []
    assert report.kills == kills
    assert report.checkpoints_verified > 0
