"""Summary statistics of a stored variable, computed in one streaming pass (``flowsnap show``)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from flowsnap.foreign import ForeignTensor
from flowsnap.format import StoredVariable
from flowsnap.format.internals import Progress
from flowsnap.tools._stream import typed_chunks


@dataclass(frozen=True)
class Stats:
    """Statistics of one variable's values (complex values: of their magnitudes).

    Attributes:
        name, dtype, shape: the variable.
        count: number of elements.
        nan, posinf, neginf: counts of non-finite values.
        zeros: count of exact zeros.
        min, max, mean, std: over the finite values (None when there are none).
        preview: the first few values, in C order, each written with the fewest digits that
            read back as the same value of the variable's dtype (float32 ``0.1`` is ``0.1``,
            not ``0.10000000149011612``).
    """

    name: str
    dtype: str
    shape: tuple[int, ...]
    count: int
    nan: int
    posinf: int
    neginf: int
    zeros: int
    min: float | None
    max: float | None
    mean: float | None
    std: float | None
    preview: list[Any]

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


def variable_stats(
    var: StoredVariable | ForeignTensor,
    *,
    preview: int = 8,
    verify: bool = True,
    progress: bool | None = None,
) -> Stats:
    """Stream ``var`` once (bounded memory) and summarize it; the checksum is verified. A
    progress bar is drawn for large variables on a terminal (or as ``progress`` says)."""
    bar = Progress(var.nbytes, desc=f"show {var.name}", enabled=progress)
    try:
        return _stats(var, preview, verify, bar)
    finally:
        bar.close()


def _stats(var: StoredVariable | ForeignTensor, preview: int, verify: bool, bar: Progress) -> Stats:
    count = nan = posinf = neginf = zeros = 0
    n_finite, mean, m2 = 0, 0.0, 0.0
    lo, hi = math.inf, -math.inf
    head: list[Any] = []
    for chunk in typed_chunks(var, verify=verify, progress=bar):
        if len(head) < preview:
            head.extend(_plain(v) for v in chunk[: preview - len(head)])
        values = _as_real(chunk)
        count += values.size
        zeros += int(np.count_nonzero(values == 0))
        if values.dtype.kind == "f":
            isnan = np.isnan(values)
            nan += int(isnan.sum())
            posinf += int(np.count_nonzero(values == np.inf))
            neginf += int(np.count_nonzero(values == -np.inf))
            values = values[np.isfinite(values)]
        if values.size == 0:
            continue
        lo, hi = min(lo, float(values.min())), max(hi, float(values.max()))
        as64 = values.astype(np.float64)
        c_mean = float(as64.mean())
        c_m2 = float(((as64 - c_mean) ** 2).sum())
        total = n_finite + values.size
        delta = c_mean - mean
        mean += delta * values.size / total
        m2 += c_m2 + delta * delta * n_finite * values.size / total  # Chan et al.
        n_finite = total
    has = n_finite > 0
    return Stats(
        name=var.name,
        dtype=str(var.dtype),
        shape=tuple(var.shape or ()),
        count=count,
        nan=nan,
        posinf=posinf,
        neginf=neginf,
        zeros=zeros,
        min=lo if has else None,
        max=hi if has else None,
        mean=mean if has else None,
        std=math.sqrt(m2 / n_finite) if has else None,
        preview=head,
    )


def _as_real(chunk: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    if chunk.dtype.kind == "c":
        magnitude: np.ndarray[Any, Any] = np.abs(chunk)
        return magnitude
    if chunk.dtype.kind == "b":
        return chunk.astype(np.uint8)
    if (chunk.dtype.kind == "f" and chunk.dtype.itemsize < 4) or chunk.dtype.kind == "V":
        widened: np.ndarray[Any, Any] = chunk.astype(np.float32)  # float16, bfloat16
        return widened
    return chunk


def _plain(value: Any) -> Any:
    """A NumPy scalar as a JSON-ready Python value, floats in their own precision."""
    kind = np.dtype(type(value)).kind if isinstance(value, np.generic) else ""
    if kind == "c":
        return [_shortest(value.real), _shortest(value.imag)]
    if kind == "b":
        return bool(value)
    if kind in "iu" and kind:
        return int(value)
    if isinstance(value, np.generic) and (kind == "f" or np.dtype(type(value)).kind == "V"):
        return _shortest(value)
    return value.item() if isinstance(value, np.generic) else value


def _shortest(value: Any) -> float:
    """The float with the fewest significant digits that converts back to ``value``'s type
    unchanged."""
    as_float = float(value)
    if not math.isfinite(as_float):
        return as_float
    kind = type(value)
    for digits in range(1, 18):
        candidate = float(f"{as_float:.{digits}g}")
        if kind(candidate) == value:
            return candidate
    return as_float  # pragma: no cover - 17 digits always round-trip
