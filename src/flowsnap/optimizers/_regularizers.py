"""Regularizers: ``flow.regularizers.l1/l2/l1_l2`` (reference 1.4).

A regularizer is a record of its two coefficients; in a train job the gradient of a variable with
one becomes ``g + l1 * (w >= 0 ? 1 : -1) + l2 * w`` (:func:`regularize_gradient`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from flowsnap.errors import ArgumentError


@dataclass(frozen=True)
class Regularizer:
    """l1 and l2 coefficients (OneFlow's ``RegularizerConf``)."""

    l1: float = 0.0
    l2: float = 0.0

    def __post_init__(self) -> None:
        for name, value in (("l1", self.l1), ("l2", self.l2)):
            if not (math.isfinite(value) and value >= 0):
                raise ArgumentError(f"regularizer {name} must be a finite number >= 0, got {value}")


def l1(l: float = 0.01) -> Regularizer:  # noqa: E741 - OneFlow's parameter name
    """l1 regularization with coefficient ``l``."""
    return Regularizer(l1=l)


def l2(l: float = 0.01) -> Regularizer:  # noqa: E741 - OneFlow's parameter name
    """l2 regularization with coefficient ``l`` (added as ``l * w``: no factor 2)."""
    return Regularizer(l2=l)


def l1_l2(l1: float = 0.01, l2: float = 0.01) -> Regularizer:
    """Both at once."""
    return Regularizer(l1=l1, l2=l2)
