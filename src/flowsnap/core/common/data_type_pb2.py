"""``oneflow/core/common/data_type.proto``: the ``DataType`` enum and ``OptInt64``.

One definition with the checkpoint format (``flowsnap.format``'s DataType table, the union of
OneFlow's versions: v0.3.4 and v0.4.0 end at ``kTensorBuffer = 10``, v0.5.0 adds
``kBFloat16 = 11`` (and the sentinel ``kMaxDataType = 12``, not a type, left out), later
versions ``kBool = 12`` and on).
"""

from __future__ import annotations

from typing import Any

from flowsnap.core._schema import publish_shared

DESCRIPTOR = publish_shared("oneflow/core/common/data_type.proto", globals())


def __getattr__(name: str) -> Any:
    """Only for type checkers: the module's names are made at import, by ``publish``."""
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
