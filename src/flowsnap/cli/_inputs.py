"""What every ``flowsnap`` subcommand shares: opening a checkpoint of any format with the
command's options (``--allow-incomplete``, ``--no-verify``, ``--like``, ``--shapes``), and
writing numbers and messages in command-line words."""

from __future__ import annotations

import argparse
import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

from flowsnap.errors import FlowsnapError, MissingMetaError, plural
from flowsnap.foreign import ForeignTensor, open_checkpoint
from flowsnap.format import StoredVariable

Tensor = StoredVariable | ForeignTensor


class UsageError(Exception):
    """Bad arguments found after parsing (exit code 2)."""


def write_json(doc: Any, out: TextIO) -> None:
    """Write ``doc`` as strict JSON (NaN and infinities as the strings ``"nan"``, ``"inf"``,
    ``"-inf"``, which every JSON parser accepts), then a newline."""
    json.dump(_finite(doc), out, indent=1, allow_nan=False)
    out.write("\n")


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def human(nbytes: int) -> str:
    """``1.5 MiB``."""
    size = float(nbytes)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{nbytes} B"  # pragma: no cover


def open_input(path: str, args: argparse.Namespace) -> StoredVariable | Mapping[str, Tensor]:
    """Open ``path`` (any format) as the command's options say."""
    return open_checkpoint(
        path,
        verify=not getattr(args, "no_verify", False),
        allow_incomplete=getattr(args, "allow_incomplete", False),
        shapes=shapes_from(args),
    )


def open_tensors(path: str, args: argparse.Namespace) -> dict[str, Tensor]:
    """Like :func:`open_input`, a single variable's directory giving a one-entry dict."""
    opened = open_input(path, args)
    return {opened.name: opened} if isinstance(opened, StoredVariable) else dict(opened)


def shapes_from(args: argparse.Namespace) -> dict[str, tuple[tuple[int, ...], Any]]:
    """``{name: (shape, dtype)}`` from ``--like CKPT`` (every variable of CKPT with a known
    shape) and ``--shapes JSON`` (which wins)."""
    shapes: dict[str, tuple[tuple[int, ...], Any]] = {}
    for like in getattr(args, "like", None) or ():
        opened = open_checkpoint(like, allow_incomplete=True)
        tensors = {opened.name: opened} if isinstance(opened, StoredVariable) else opened
        for name, t in tensors.items():
            if t.shape is not None and t.dtype is not None:
                shapes[name] = (tuple(t.shape), t.dtype)
    spec = getattr(args, "shapes", None)
    if spec:
        shapes.update(parse_shapes(spec))
    return shapes


def parse_shapes(spec: str) -> dict[str, tuple[tuple[int, ...], Any]]:
    """``--shapes``: a JSON object ``{"name": {"shape": [..], "dtype": "float32"}}`` (or
    ``{"name": [[..], "float32"]}``), inline or in a file."""
    text = spec
    if not spec.lstrip().startswith("{"):
        if not os.path.isfile(spec):
            raise UsageError(
                f"--shapes {spec!r}: neither a JSON object nor an existing file; give e.g. "
                '\'{"dense1-weight": {"shape": [10, 784], "dtype": "float32"}}\' or a file '
                "holding that"
            )
        with open(spec, encoding="utf-8") as f:
            text = f.read()
    try:
        doc = json.loads(text)
        if not isinstance(doc, dict):
            raise ValueError("not a JSON object")
        out: dict[str, tuple[tuple[int, ...], Any]] = {}
        for name, entry in doc.items():
            shape, dtype = (entry["shape"], entry["dtype"]) if isinstance(entry, dict) else entry
            if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
                raise ValueError(f"{name!r}: shape must be a list of non-negative integers")
            out[str(name)] = (tuple(shape), str(dtype))
        return out
    except (ValueError, KeyError, TypeError) as exc:
        raise UsageError(
            f"--shapes: {exc}; expected a JSON object like "
            '{"dense1-weight": {"shape": [10, 784], "dtype": "float32"}}'
        ) from None


def require_shapes(tensors: Mapping[str, Tensor], names: Sequence[str] | None = None) -> None:
    """Refuse, in command-line words, legacy variables whose shape is still unknown."""
    unknown = [n for n in (list(tensors) if names is None else names) if tensors[n].shape is None]
    if unknown:
        shown = ", ".join(map(repr, unknown[:5])) + (" ..." if len(unknown) > 5 else "")
        raise MissingMetaError(
            f"{plural(len(unknown), 'variable')} ({shown}) "
            f"{'has' if len(unknown) == 1 else 'have'} no meta file (a legacy OneFlow "
            "checkpoint), so shape and dtype are unknown: take them from a checkpoint of the "
            "same model with --like CKPT, or give them with --shapes "
            '\'{"name": {"shape": [10, 784], "dtype": "float32"}}\''
        )


def compile_regexes(option: str, patterns: Sequence[str]) -> None:
    """Refuse a bad regex with the option's name (before anything is read)."""
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise UsageError(
                f"{option} {pattern!r}: not a valid regular expression: {exc}"
            ) from None


# The library's messages name Python parameters; the command has flags for the same things.
_CLI_WORDS = (
    (re.compile(r"[\w.]+=\w+ \(flowsnap commands?: ([^)]*)\)"), r"\1"),
    (re.compile(r"allow_incomplete=True"), "--allow-incomplete"),
    (re.compile(r"(open (it|the snapshot) |read it )?with verify=False"), "pass --no-verify"),
    (re.compile(r"verify=False"), "--no-verify"),
    (
        re.compile(r"[Cc]all \.with_meta\(shape, dtype\).*?(for you\.|before saving it)"),
        "pass --like CKPT (a checkpoint of the same model with meta) or --shapes JSON.",
    ),
    (re.compile(r"open it with open_variable\(\) or open_path\(\)"), "name the directory"),
    (re.compile(r"pass overwrite=True[^;.]*"), "remove it first or choose another name"),
)


def cli_words(message: str) -> str:
    """A library message with Python spellings replaced by the command's flags."""
    for pattern, words in _CLI_WORDS:
        message = pattern.sub(words, message)
    return message


def describe(exc: BaseException) -> tuple[str, str]:
    """``(kind, message)`` of an error as the command shows it."""
    if isinstance(exc, UsageError):
        return "UsageError", str(exc)
    if isinstance(exc, FlowsnapError):
        return type(exc).__name__, cli_words(str(exc))
    return type(exc).__name__, str(exc)
