"""The facts of OneFlow's ``.proto`` schemas (``oneflow_proto_facts.json``, written by
``scripts/make_proto_facts.py`` from OneFlow's repository at three tags: names, numbers, types,
labels, defaults, packing, oneofs and enum values only), the oracle ``flowsnap.core``'s schemas are
checked against."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FACTS = Path(__file__).parent / "oneflow_proto_facts.json"
TAGS = ("v0.3.4", "v0.4.0", "v0.5.0")


@dataclass(frozen=True)
class ProtoField:
    label: str  # optional, required, repeated ("optional" inside a oneof)
    type: str  # "float", "ShapeProto", "map<string,Feature>"
    name: str
    number: int
    default: str | None
    packed: bool
    oneof: str | None


@dataclass
class ProtoMessage:
    fields: dict[str, ProtoField] = field(default_factory=dict)


@dataclass
class ProtoFile:
    messages: dict[str, ProtoMessage] = field(default_factory=dict)  # "Outer.Inner" for nested
    enums: dict[str, dict[str, int]] = field(default_factory=dict)


@functools.cache
def _facts() -> dict[str, Any]:
    facts: dict[str, Any] = json.loads(FACTS.read_text())
    return facts


def read(tag: str, path: str) -> ProtoFile:
    """The facts of OneFlow's ``oneflow/core/<path>`` (``record/record.proto``) at ``tag``."""
    raw = _facts()[tag][path]
    messages = {
        name: ProtoMessage({f: ProtoField(name=f, **facts) for f, facts in fields.items()})
        for name, fields in raw["messages"].items()
    }
    return ProtoFile(messages, dict(raw["enums"]))
