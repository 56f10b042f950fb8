"""A reader for the proto2 subset of OneFlow's ``.proto`` files in ``oneflow_proto/`` (messages,
nested messages, enums, oneofs, maps, ``[default = x, packed = true]``): the facts the schemas of
``flowsnap.core`` are checked against."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).parent / "oneflow_proto"
TAGS = ("v0.3.4", "v0.4.0", "v0.5.0")
_TOKEN = re.compile(r'"[^"]*"|[A-Za-z_][\w.]*|-?[\d.][\w.+-]*|[{}\[\]=;<>,]')


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


def read(tag: str, path: str) -> ProtoFile:
    """Parse ``oneflow_proto/<tag>/<path>`` (``record/record.proto``)."""
    text = re.sub(r"//[^\n]*", "", (HERE / tag / path).read_text())
    tokens = _TOKEN.findall(text)
    result = ProtoFile()
    _Parser(tokens, result).top()
    return result


class _Parser:
    def __init__(self, tokens: list[str], out: ProtoFile) -> None:
        self.tokens, self.i, self.out = tokens, 0, out

    def next(self) -> str:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def expect(self, token: str) -> None:
        got = self.next()
        assert got == token, f"expected {token!r}, got {got!r} at token {self.i}"

    def top(self) -> None:
        while self.i < len(self.tokens):
            word = self.next()
            if word in ("syntax", "package", "import", "option"):
                while self.next() != ";":
                    pass
            elif word == "message":
                self.message("")
            elif word == "enum":
                self.enum("")
            else:
                raise AssertionError(f"unexpected {word!r}")

    def enum(self, prefix: str) -> None:
        name = prefix + self.next()
        self.expect("{")
        values: dict[str, int] = {}
        while (word := self.next()) != "}":
            self.expect("=")
            values[word] = int(self.next())
            self.expect(";")
        self.out.enums[name] = values

    def message(self, prefix: str) -> None:
        name = prefix + self.next()
        message = self.out.messages.setdefault(name, ProtoMessage())
        self.expect("{")
        self.body(name, message, None)

    def body(self, name: str, message: ProtoMessage, oneof: str | None) -> None:
        while (word := self.next()) != "}":
            if word == "message":
                self.message(name + ".")
            elif word == "enum":
                self.enum(name + ".")
            elif word == "oneof":
                group = self.next()
                self.expect("{")
                self.body(name, message, group)
            elif word == "map":
                self.expect("<")
                key = self.next()
                self.expect(",")
                value = self.next()
                self.expect(">")
                self.field(message, "repeated", f"map<{key},{value}>", oneof)
            elif word in ("optional", "required", "repeated"):
                self.field(message, word, self.next(), oneof)
            else:  # a oneof member: no label
                self.field(message, "optional", word, oneof)

    def field(self, message: ProtoMessage, label: str, type_: str, oneof: str | None) -> None:
        name = self.next()
        self.expect("=")
        number = int(self.next())
        options: dict[str, str] = {}
        word = self.next()
        if word == "[":
            while True:
                key = self.next()
                self.expect("=")
                options[key] = self.next()
                if self.next() == "]":
                    break
            word = self.next()
        assert word == ";", word
        default = options.get("default")
        if default is not None:
            default = default.strip('"')
        packed = options.get("packed") == "true"
        message.fields[name] = ProtoField(label, type_, name, number, default, packed, oneof)
