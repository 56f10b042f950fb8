"""``oneflow/core/framework/variable_meta_info.proto`` (identical v0.3.1 to v1.0):
``VariableMetaInfo``, the message of a checkpoint's ``meta`` file, the very class
``flowsnap.format`` parses ``meta`` files with.
"""

from __future__ import annotations

from typing import Any

from flowsnap.core._schema import publish_shared

DESCRIPTOR = publish_shared("oneflow/core/framework/variable_meta_info.proto", globals())


def __getattr__(name: str) -> Any:
    """Only for type checkers: the module's names are made at import, by ``publish``."""
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
