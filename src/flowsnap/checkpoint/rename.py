"""Rename rules ``regex -> replacement``: the first rule whose pattern matches a name rewrites it
(``load_variables(rename=...)`` and ``flowsnap convert --rename``)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

Rules = Mapping[str, str] | Sequence[tuple[str, str]]


class RenameRules:
    """Compiled rules, tried in order; names no rule matches stay as they are."""

    def __init__(self, rules: Rules | None = None) -> None:
        pairs: Iterable[tuple[str, str]] = (
            () if rules is None else rules.items() if isinstance(rules, Mapping) else rules
        )
        try:
            self.rules = [(re.compile(pattern), repl) for pattern, repl in pairs]
        except (re.error, ValueError, TypeError) as exc:
            raise ValueError(
                f"rename rules must be {{regex: replacement}} or (regex, replacement) pairs: {exc}"
            ) from None

    @classmethod
    def parse(cls, specs: Sequence[str]) -> RenameRules:
        """Rules from ``REGEX=REPLACEMENT`` strings (the command line's form)."""
        pairs = []
        for spec in specs:
            pattern, sep, repl = spec.partition("=")
            if not sep:
                raise ValueError(f"--rename {spec!r}: expected REGEX=REPLACEMENT")
            pairs.append((pattern, repl))
        return cls(pairs)

    def __call__(self, name: str) -> str:
        for pattern, repl in self.rules:
            if pattern.search(name):
                return pattern.sub(repl, name, count=1)
        return name


def compile_patterns(value: str | Sequence[str] | None, what: str) -> list[re.Pattern[str]]:
    """Regexes from one pattern or a list of them (None: none)."""
    if value is None:
        return []
    try:
        return [re.compile(p) for p in ([value] if isinstance(value, str) else value)]
    except re.error as exc:
        raise ValueError(f"bad {what} pattern: {exc}") from None
