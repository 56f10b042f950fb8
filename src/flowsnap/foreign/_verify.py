"""Checking a checkpoint in another format as far as the format allows (``flowsnap verify``).

safetensors and PyTorch ``state_dict`` files record no checksum of the values; what can be checked
is the structure (headers, dtypes, shapes, offsets inside the file) and that every byte can be
read. ``.npz`` and PyTorch's zip files do hold a CRC-32 per member, which is checked.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass, field

from flowsnap.errors import CorruptCheckpointError, FlowsnapError
from flowsnap.foreign._npz import NPZ_ERRORS
from flowsnap.foreign._open import detect_format, open_foreign
from flowsnap.format import Problem

_CHECKS = {
    "safetensors": (
        "header, dtype, shape and offsets of every tensor; every byte read",
        "the values: safetensors records no checksums, so changed bytes go unnoticed",
    ),
    "safetensors-sharded": (
        "the index; each shard's header, dtypes, shapes and offsets; every byte read",
        "the values: safetensors records no checksums, so changed bytes go unnoticed",
    ),
    "npz": (
        "every member's header and size, and its zip CRC-32",
        "nothing more than CRC-32 catches (it detects accidental damage, not deliberate edits)",
    ),
    "torch": (
        "loadable with weights_only=True, every tensor's size, the zip CRC-32 of every record",
        "nothing more than CRC-32 catches (it detects accidental damage, not deliberate edits)",
    ),
}


@dataclass(frozen=True)
class ForeignReport:
    """The result of :func:`verify_foreign`.

    Attributes:
        path, format: what was checked.
        checked: names of the tensors read.
        nbytes: bytes of tensor data read.
        problems: everything found wrong.
        checks: what the format allowed to check.
        unchecked: what it did not allow to check.
    """

    path: str
    format: str
    checked: tuple[str, ...] = ()
    nbytes: int = 0
    problems: tuple[Problem, ...] = field(default_factory=tuple)
    checks: str = ""
    unchecked: str = ""

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.problems


def verify_foreign(path: str | os.PathLike[str], *, fmt: str | None = None) -> ForeignReport:
    """Check a ``.safetensors`` (one or sharded), PyTorch or ``.npz`` checkpoint as far as its
    format allows; the report says what could not be checked."""
    p = os.fspath(path)
    fmt = fmt or detect_format(p)
    checks, unchecked = _CHECKS.get(fmt, ("", ""))
    report = ForeignReport(p, fmt, checks=checks, unchecked=unchecked)
    try:
        tensors = open_foreign(p, fmt=fmt)
    except CorruptCheckpointError as exc:
        return _with(report, problems=(Problem(None, type(exc).__name__, str(exc)),))
    problems: list[Problem] = []
    if fmt == "torch":
        problems.extend(_zip_crc(p))
    nbytes = 0
    for name, tensor in tensors.items():
        try:
            for view in tensor.iter_chunks():
                nbytes += len(view)
        except FlowsnapError as exc:
            problems.append(Problem(name, type(exc).__name__, str(exc)))
        except NPZ_ERRORS as exc:
            problems.append(Problem(name, "CorruptCheckpointError", f"{p}: {name!r}: {exc}"))
    return _with(report, checked=tuple(tensors), nbytes=nbytes, problems=tuple(problems))


def _zip_crc(path: str) -> list[Problem]:
    try:
        with zipfile.ZipFile(os.path.realpath(path)) as archive:
            bad = archive.testzip()
    except zipfile.BadZipFile:
        return []  # PyTorch's legacy (pre-1.6) format is not a zip: no CRC to check
    except (OSError, ValueError, EOFError) as exc:
        return [Problem(None, "CorruptCheckpointError", f"{path}: {exc}")]
    if bad is None:
        return []
    return [
        Problem(
            None,
            "ChecksumMismatchError",
            f"{path}: the record {bad} does not match its zip CRC-32; the file is damaged",
        )
    ]


def _with(report: ForeignReport, **changes: object) -> ForeignReport:
    from dataclasses import replace

    return replace(report, **changes)  # type: ignore[arg-type]
