"""The data checksum: XXH3-64, seed 0, as 16 lowercase hex digits (SPEC.md section 5)."""

from __future__ import annotations

from typing import Any, Protocol

import xxhash

ALGORITHM = "xxh3-64"


class Hasher(Protocol):
    """A streaming hash: ``update`` with successive chunks, then ``hexdigest``."""

    def update(self, data: object, /) -> None: ...

    def hexdigest(self) -> str: ...


def new_hasher() -> Hasher:
    """Return a fresh streaming hasher for ``out`` data."""
    hasher: Any = xxhash.xxh3_64()
    return hasher  # type: ignore[no-any-return]
