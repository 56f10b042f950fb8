"""Differences between two checkpoints, variable by variable (``flowsnap diff``); the two may be
of different formats (a flowsnap checkpoint and its ``.safetensors`` export compare equal)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from flowsnap.foreign import ForeignTensor
from flowsnap.format import StoredVariable
from flowsnap.format.internals import Progress
from flowsnap.tools._stream import typed_chunks


@dataclass(frozen=True)
class VariableDiff:
    """How one name differs between checkpoints A and B.

    Attributes:
        name: the variable.
        status: ``"added"`` (only in B), ``"removed"`` (only in A), ``"changed"`` or ``"same"``.
        shape_a, shape_b, dtype_a, dtype_b: as stored (None where absent).
        differing: elements that differ (None when shapes or dtypes differ).
        max_abs_diff: the largest absolute difference (inf where a non-finite value differs).
    """

    name: str
    status: str
    shape_a: tuple[int, ...] | None = None
    shape_b: tuple[int, ...] | None = None
    dtype_a: str | None = None
    dtype_b: str | None = None
    differing: int | None = None
    max_abs_diff: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


Tensors = Mapping[str, StoredVariable | ForeignTensor]


def diff_snapshots(
    a: Tensors, b: Tensors, *, verify: bool = True, progress: bool | None = None
) -> list[VariableDiff]:
    """Compare every variable of ``a`` and ``b`` (streaming; identical recorded checksums are
    trusted without reading the data). A progress bar is drawn for large checkpoints on a
    terminal (or as ``progress`` says)."""
    common = set(a) & set(b)
    bar = Progress(sum(a[n].nbytes for n in common), desc="diff", enabled=progress)
    try:
        return _diff_all(a, b, verify, bar)
    finally:
        bar.close()


def _diff_all(a: Tensors, b: Tensors, verify: bool, bar: Progress) -> list[VariableDiff]:
    out = []
    for name in sorted(set(a) | set(b)):
        if name not in b:
            va = a[name]
            out.append(VariableDiff(name, "removed", shape_a=va.shape, dtype_a=str(va.dtype)))
        elif name not in a:
            vb = b[name]
            out.append(VariableDiff(name, "added", shape_b=vb.shape, dtype_b=str(vb.dtype)))
        else:
            out.append(diff_variables(a[name], b[name], verify=verify, progress=bar))
    return out


def diff_variables(
    va: StoredVariable | ForeignTensor,
    vb: StoredVariable | ForeignTensor,
    *,
    verify: bool = True,
    progress: Progress | None = None,
) -> VariableDiff:
    """Compare two stored variables (or tensors of other formats) of the same name."""
    base = {
        "name": va.name,
        "shape_a": va.shape,
        "shape_b": vb.shape,
        "dtype_a": str(va.dtype),
        "dtype_b": str(vb.dtype),
    }
    if (va.shape, va.dtype) != (vb.shape, vb.dtype):
        return VariableDiff(status="changed", **base)  # type: ignore[arg-type]
    if va.expected_checksum and va.expected_checksum == vb.expected_checksum:
        if progress is not None:
            progress.update(va.nbytes)
        return VariableDiff(status="same", differing=0, max_abs_diff=0.0, **base)  # type: ignore[arg-type]
    differing, worst = 0, 0.0
    for ca, cb in zip(
        typed_chunks(va, verify=verify, progress=progress),
        typed_chunks(vb, verify=verify),
        strict=True,
    ):
        if ca.tobytes() == cb.tobytes():
            continue
        x, y = _numeric(ca), _numeric(cb)
        same = (x == y) | (np.isnan(x) & np.isnan(y))
        differing += int(np.count_nonzero(~same))
        with np.errstate(invalid="ignore", over="ignore"):
            gap = np.abs(x[~same] - y[~same])
        gap = np.where(np.isnan(gap), np.inf, gap)
        if gap.size:
            worst = max(worst, float(gap.max()))
    status = "same" if differing == 0 else "changed"
    return VariableDiff(status=status, differing=differing, max_abs_diff=worst, **base)  # type: ignore[arg-type]


def _numeric(chunk: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    if chunk.dtype.kind == "c":
        return chunk.astype(np.complex128)
    return chunk.astype(np.float64)
