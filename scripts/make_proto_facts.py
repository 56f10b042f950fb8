"""Regenerate ``tests/core/oneflow_proto_facts.json``: the facts of OneFlow's ``.proto`` schemas
(message and field names, numbers, types, labels, defaults, packing, oneofs; enum values) that
``tests/core/test_schemas.py`` checks ``flowsnap.core`` against. Only these facts are stored, never
OneFlow's files.

Usage::

    python scripts/make_proto_facts.py ONEFLOW_GIT_DIR   # a clone of github.com/Oneflow-Inc/oneflow

It reads ``oneflow/core/<path>`` at the tags v0.3.4, v0.4.0 and v0.5.0 with ``git show``.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

TAGS = ("v0.3.4", "v0.4.0", "v0.5.0")
PATHS = (
    "record/record.proto",
    "common/data_type.proto",
    "common/shape.proto",
    "framework/variable_meta_info.proto",
    "job/initializer_conf.proto",
    "job/regularizer_conf.proto",
    "job/learning_rate_schedule_conf.proto",
    "job/job_conf.proto",
    "operator/op_conf.proto",
)
# op_conf.proto declares every operator; flowsnap.core declares these of it
KEEP = {"operator/op_conf.proto": ("ActivationType", "VariableOpConf", "OperatorConf")}
OUT = Path(__file__).parent.parent / "tests" / "core" / "oneflow_proto_facts.json"
_TOKEN = re.compile(r'"[^"]*"|[A-Za-z_][\w.]*|-?[\d.][\w.+-]*|[{}\[\]=;<>,()]')


def parse(text: str) -> dict[str, Any]:
    """``{"messages": {name: {field: facts}}, "enums": {name: {value: number}}}``."""
    tokens = _TOKEN.findall(re.sub(r"//[^\n]*", "", text))
    out: dict[str, Any] = {"messages": {}, "enums": {}}
    _Parser(tokens, out).top()
    return out


class _Parser:
    def __init__(self, tokens: list[str], out: dict[str, Any]) -> None:
        self.tokens, self.i, self.out = tokens, 0, out

    def next(self) -> str:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def expect(self, token: str) -> None:
        got = self.next()
        if got != token:
            raise ValueError(f"expected {token!r}, got {got!r} at token {self.i}")

    def skip_statement(self) -> None:
        while self.next() != ";":
            pass

    def top(self) -> None:
        while self.i < len(self.tokens):
            word = self.next()
            if word in ("syntax", "package", "import", "option"):
                self.skip_statement()
            elif word == "message":
                self.message("")
            elif word == "enum":
                self.enum("")
            else:
                raise ValueError(f"unexpected {word!r}")

    def enum(self, prefix: str) -> None:
        name = prefix + self.next()
        self.expect("{")
        values: dict[str, int] = {}
        while (word := self.next()) != "}":
            if word in ("option", "reserved"):
                self.skip_statement()
                continue
            self.expect("=")
            values[word] = int(self.next())
            if self.next() == "[":
                while self.next() != "]":
                    pass
                self.next()
        self.out["enums"][name] = values

    def message(self, prefix: str) -> None:
        name = prefix + self.next()
        fields = self.out["messages"].setdefault(name, {})
        self.expect("{")
        self.body(name, fields, None)

    def body(self, name: str, fields: dict[str, Any], oneof: str | None) -> None:
        while (word := self.next()) != "}":
            if word == "message":
                self.message(name + ".")
            elif word == "enum":
                self.enum(name + ".")
            elif word in ("option", "reserved", "extensions"):
                self.skip_statement()
            elif word == "oneof":
                group = self.next()
                self.expect("{")
                self.body(name, fields, group)
            elif word == "map":
                self.expect("<")
                key = self.next()
                self.expect(",")
                value = self.next()
                self.expect(">")
                self.field(fields, "repeated", f"map<{key},{value}>", oneof)
            elif word in ("optional", "required", "repeated"):
                self.field(fields, word, self.next(), oneof)
            else:  # a oneof member: no label
                self.field(fields, "optional", word, oneof)

    def field(self, fields: dict[str, Any], label: str, type_: str, oneof: str | None) -> None:
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
        if word != ";":
            raise ValueError(f"field {name}: expected ';', got {word!r}")
        default = options.get("default")
        fields[name] = {
            "label": label,
            "type": type_,
            "number": number,
            "default": None if default is None else default.strip('"'),
            "packed": options.get("packed") == "true",
            "oneof": oneof,
        }


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    facts: dict[str, dict[str, Any]] = {}
    for tag in TAGS:
        facts[tag] = {}
        for path in PATHS:
            text = subprocess.run(
                ["git", f"--git-dir={argv[0]}", "show", f"{tag}:oneflow/core/{path}"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            parsed = parse(text)
            keep = KEEP.get(path)
            if keep is not None:
                for kind in ("messages", "enums"):
                    parsed[kind] = {
                        n: v for n, v in parsed[kind].items() if n.split(".")[0] in keep
                    }
            facts[tag][path] = parsed
    OUT.write_text(json.dumps(facts, indent=1, sort_keys=True) + "\n")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
