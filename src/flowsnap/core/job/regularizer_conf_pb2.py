"""``oneflow/core/job/regularizer_conf.proto`` (identical in OneFlow v0.3.4, v0.4.0, v0.5.0):
``L1L2RegularizerConf`` and ``RegularizerConf``, what ``flow.regularizers.l1_l2(...)`` returned.
"""

from __future__ import annotations

from typing import Any

from flowsnap.core._schema import file_descriptor_proto, message, oneof, optional, publish

DESCRIPTOR = publish(
    file_descriptor_proto(
        "oneflow/core/job/regularizer_conf.proto",
        message(
            "L1L2RegularizerConf",
            optional("float", "l1", 1, "0.0"),
            optional("float", "l2", 2, "0.0"),
        ),
        message("RegularizerConf", oneof("type", optional("L1L2RegularizerConf", "l1_l2_conf", 1))),
    ),
    globals(),
)


def __getattr__(name: str) -> Any:
    """Only for type checkers: the module's names are made at import, by ``publish``."""
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
