"""``oneflow/core/common/shape.proto`` (identical in v0.3.4, v0.4.0, v0.5.0): ``ShapeProto``,
``ShapeSignature``, ``ShapeSignatureList``; one definition with the checkpoint format.
"""

from __future__ import annotations

from typing import Any

from flowsnap.core._schema import publish_shared

DESCRIPTOR = publish_shared("oneflow/core/common/shape.proto", globals())


def __getattr__(name: str) -> Any:
    """Only for type checkers: the module's names are made at import, by ``publish``."""
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
