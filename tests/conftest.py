"""Shared fixtures: paths to the golden checkpoints and a few array builders."""

from __future__ import annotations

import json
import os
from pathlib import Path

import hypothesis
import pytest

GOLDEN = Path(__file__).parent / "golden"

hypothesis.settings.register_profile(
    "flowsnap", deadline=None, max_examples=60, derandomize=True, print_blob=True
)
hypothesis.settings.register_profile("long", deadline=None, max_examples=2000)
hypothesis.settings.load_profile(os.environ.get("FLOWSNAP_HYPOTHESIS", "flowsnap"))


@pytest.fixture(scope="session")
def golden() -> Path:
    """The directory of committed reference checkpoints."""
    return GOLDEN


@pytest.fixture(scope="session")
def golden_cases() -> dict[str, dict[str, str]]:
    """What each golden fixture must do (written by tools/make_golden.py)."""
    cases: dict[str, dict[str, str]] = json.loads((GOLDEN / "CASES.json").read_text())
    return cases
