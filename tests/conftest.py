"""Shared fixtures: paths to the golden checkpoints and a few array builders."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
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
    """What each golden fixture must do (written by scripts/make_golden.py)."""
    cases: dict[str, dict[str, str]] = json.loads((GOLDEN / "CASES.json").read_text())
    return cases


@pytest.fixture(autouse=True)
def fresh_session() -> Iterator[None]:
    """Each test starts with an empty default session (only where the runtime is loaded, so the
    format and CLI tests never import JAX)."""
    store = sys.modules.get("flowsnap._store")
    if store is not None:
        store.clear_default_session()
    yield
    store = sys.modules.get("flowsnap._store")
    if store is not None:
        store.clear_default_session()
